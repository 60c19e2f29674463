//! Third-party crates log at most `info`, whatever `RUST_LOG` asks.
//!
//! At `debug`/`trace`, tungstenite dumps every WebSocket frame (DingTalk Stream frames carry
//! robot tokens, `SEC…` signing secrets typed by users and sessionWebhook session tokens) and
//! the handshake request with its `ticket`; hyper, h2, reqwest and rustls log headers and
//! bodies. So the cap is a filter of its own, after the `RUST_LOG` one, that no directive can
//! lift; [`UNSAFE_ENV`] turns it off for debugging a dependency, with a warning.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;

/// Set to `1` (or `true`) to let third-party crates log at the level `RUST_LOG` gives them.
pub const UNSAFE_ENV: &str = "CLAWTALK_UNSAFE_TRACE_DEPENDENCIES";

/// The project's own crates: these mask secrets themselves, so `RUST_LOG` rules them alone.
const OWN_CRATES: [&str; 4] = ["clawtalk", "dingtalk", "dingtalk_sim", "llm_mock"];

/// The highest level a third-party crate logs at.
pub const DEPENDENCY_CAP: LevelFilter = LevelFilter::INFO;

/// Whether [`UNSAFE_ENV`] asks for uncapped dependency logs.
#[must_use]
pub fn unsafe_requested(value: Option<&str>) -> bool {
    matches!(
        value.map(str::trim).map(str::to_ascii_lowercase).as_deref(),
        Some("1" | "true" | "yes" | "on")
    )
}

/// The cap filter, or none when [`UNSAFE_ENV`] is set.
#[must_use]
pub fn dependency_cap(unsafe_requested: bool) -> Option<Targets> {
    if unsafe_requested {
        return None;
    }
    let own = OWN_CRATES.iter().map(|name| (*name, LevelFilter::TRACE));
    Some(Targets::new().with_default(DEPENDENCY_CAP).with_targets(own))
}

/// The warning printed when the cap is off.
pub const UNSAFE_WARNING: &str = "CLAWTALK_UNSAFE_TRACE_DEPENDENCIES is set: third-party crates log at the level RUST_LOG gives them; at debug and trace that includes raw DingTalk frames, access tokens, signing secrets and session tokens. Use it only to debug a dependency, never in production, and delete the logs afterwards.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_takes_explicit_yes_values_only() {
        for yes in ["1", "true", "TRUE", " yes ", "on"] {
            assert!(unsafe_requested(Some(yes)), "{yes}");
        }
        for no in [None, Some(""), Some("0"), Some("false"), Some("trace")] {
            assert!(!unsafe_requested(no), "{no:?}");
        }
        assert!(dependency_cap(true).is_none());
    }

    #[test]
    fn dependencies_are_capped_and_own_crates_are_not() {
        let cap = dependency_cap(false).unwrap();
        for dependency in [
            "tungstenite::protocol",
            "tokio_tungstenite",
            "hyper_util::client",
            "h2::codec",
            "reqwest::connect",
            "rustls::client",
            "sqlx::query",
        ] {
            assert!(
                cap.would_enable(dependency, &tracing::Level::INFO),
                "{dependency}"
            );
            assert!(
                !cap.would_enable(dependency, &tracing::Level::DEBUG),
                "{dependency}"
            );
            assert!(
                !cap.would_enable(dependency, &tracing::Level::TRACE),
                "{dependency}"
            );
        }
        for own in ["clawtalk_gateway", "dingtalk::stream", "dingtalk_sim", "llm_mock"] {
            assert!(cap.would_enable(own, &tracing::Level::TRACE), "{own}");
        }
    }
}
