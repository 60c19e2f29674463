//! The `RUST_LOG` filter: comma-separated `target=level` directives and a bare level for every
//! other target, e.g. `debug,clawtalk=trace` or `clawtalk_mcp=debug`.
//!
//! This is tracing-subscriber's `Targets` filter, not its `EnvFilter`: `EnvFilter` adds span
//! and field-value directives (`target[span{field=value}]=level`), whose value patterns bring a
//! regular-expression engine into the binary; the documented uses of `RUST_LOG` need neither.

use std::str::FromStr as _;

use tracing_subscriber::filter::{LevelFilter, Targets};

/// The level of every target when `RUST_LOG` is unset, empty or not understood.
pub const DEFAULT_LEVEL: LevelFilter = LevelFilter::INFO;

/// [`DEFAULT_LEVEL`] for every target.
#[must_use]
pub fn default_filter() -> Targets {
    Targets::new().with_default(DEFAULT_LEVEL)
}

/// The filter for `value` (`RUST_LOG`'s contents): the default level when `value` is absent
/// or blank.
///
/// # Errors
/// A directive that is neither a level, a target, nor `target=level` (e.g. `clawtalk=loud`):
/// the message names it.
pub fn parse(value: Option<&str>) -> Result<Targets, String> {
    let directives: Vec<&str> = value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|directive| !directive.is_empty())
        .collect();
    if directives.is_empty() {
        return Ok(default_filter());
    }
    directives.join(",").parse::<Targets>().map_err(|e| {
        // The directive that failed, for the message (each parses on its own).
        match directives
            .iter()
            .find(|directive| Targets::from_str(directive).is_err())
        {
            Some(directive) => format!("`{directive}`: {e}"),
            None => e.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn enabled(filter: &Targets, target: &str, level: Level) -> bool {
        filter.would_enable(target, &level)
    }

    #[test]
    fn unset_or_blank_is_info_everywhere() {
        for value in [None, Some(""), Some("  "), Some(",")] {
            let filter = parse(value).unwrap();
            assert!(enabled(&filter, "clawtalk_gateway", Level::INFO), "{value:?}");
            assert!(!enabled(&filter, "clawtalk_gateway", Level::DEBUG), "{value:?}");
            assert!(enabled(&filter, "h2::codec", Level::INFO), "{value:?}");
        }
    }

    #[test]
    fn a_bare_level_and_per_target_levels() {
        let filter = parse(Some("debug, clawtalk=trace,")).unwrap();
        assert!(enabled(&filter, "clawtalk", Level::TRACE));
        // A target's prefix rules its modules and, as with EnvFilter, longer crate names.
        assert!(enabled(&filter, "clawtalk::cli", Level::TRACE));
        assert!(enabled(&filter, "clawtalk_gateway::run", Level::TRACE));
        assert!(enabled(&filter, "dingtalk::stream", Level::DEBUG));
        assert!(!enabled(&filter, "dingtalk::stream", Level::TRACE));
    }

    #[test]
    fn only_the_named_targets_without_a_bare_level() {
        let filter = parse(Some("clawtalk_mcp=debug")).unwrap();
        assert!(enabled(&filter, "clawtalk_mcp::stdio", Level::DEBUG));
        assert!(!enabled(&filter, "clawtalk_mcp::stdio", Level::TRACE));
        assert!(!enabled(&filter, "clawtalk_gateway", Level::ERROR));
    }

    #[test]
    fn the_more_specific_target_wins_whatever_the_order() {
        for value in [
            "clawtalk=debug,clawtalk_store=warn",
            "clawtalk_store=warn,clawtalk=debug",
        ] {
            let filter = parse(Some(value)).unwrap();
            assert!(
                !enabled(&filter, "clawtalk_store::sqlite", Level::INFO),
                "{value}"
            );
            assert!(enabled(&filter, "clawtalk_store::sqlite", Level::WARN), "{value}");
            assert!(enabled(&filter, "clawtalk::web", Level::DEBUG), "{value}");
        }
    }

    #[test]
    fn off_silences() {
        let filter = parse(Some("off")).unwrap();
        assert!(!enabled(&filter, "clawtalk", Level::ERROR));
    }

    #[test]
    fn a_bad_level_is_an_error_that_names_the_directive() {
        let error = parse(Some("info,clawtalk=loud")).unwrap_err();
        assert!(error.contains("`clawtalk=loud`"), "{error}");
    }
}
