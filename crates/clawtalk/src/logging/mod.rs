//! Logging set-up: stderr (human or JSON) and the gateway's JSON log file
//! ([`clawtalk_gateway::logfile`]), filtered by `RUST_LOG`, with third-party crates capped
//! ([`caps`]) and every value escaped and masked ([`escape`]).

pub mod caps;
pub mod escape;
pub mod filter;
pub mod tail;

use tracing::Subscriber;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

use escape::{EscapedFields, JsonLineGuard};

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The subscriber: `filter` (from `RUST_LOG`), the dependency cap unless `unsafe_dependencies`,
/// `stderr` in `format` (coloured when `ansi`), and JSON lines to `file`.
pub fn subscriber<E, F>(
    format: LogFormat,
    ansi: bool,
    filter: Targets,
    unsafe_dependencies: bool,
    stderr: E,
    file: F,
) -> Box<dyn Subscriber + Send + Sync>
where
    E: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    F: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let stderr_layer = match format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .fmt_fields(EscapedFields)
            .with_ansi(ansi)
            .with_writer(stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(JsonLineGuard(stderr))
            .boxed(),
    };
    let file_layer = tracing_subscriber::fmt::layer()
        .json()
        .with_ansi(false)
        .with_writer(JsonLineGuard(file));
    Box::new(
        tracing_subscriber::registry()
            .with(filter)
            .with(caps::dependency_cap(unsafe_dependencies))
            .with(stderr_layer)
            .with(file_layer),
    )
}

/// Installs the process's subscriber: stderr plus the log file once `gateway run` attaches it.
/// `RUST_LOG` overrides the default `info` level of the project's crates.
pub fn init(format: LogFormat) {
    use tracing_subscriber::util::SubscriberInitExt as _;
    let (filter, bad_filter) = match filter::parse(std::env::var("RUST_LOG").ok().as_deref()) {
        Ok(filter) => (filter, None),
        Err(e) => (filter::default_filter(), Some(e)),
    };
    let unsafe_dependencies = caps::unsafe_requested(std::env::var(caps::UNSAFE_ENV).ok().as_deref());
    // Colours for a person at a terminal only, not in a redirected or captured log.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    subscriber(
        format,
        ansi,
        filter,
        unsafe_dependencies,
        std::io::stderr,
        clawtalk_gateway::logfile::FileSink,
    )
    .init();
    if let Some(e) = bad_filter {
        tracing::warn!(
            "RUST_LOG not understood ({e}); logging at {}",
            filter::DEFAULT_LEVEL
        );
    }
    if unsafe_dependencies {
        tracing::warn!("{}", caps::UNSAFE_WARNING);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// Logs a few events through the real subscriber at `RUST_LOG=trace`; returns
    /// (stderr, file) text.
    fn run(format: LogFormat, unsafe_dependencies: bool, log: impl FnOnce()) -> (String, String) {
        run_with(format, false, unsafe_dependencies, log)
    }

    fn run_with(
        format: LogFormat,
        ansi: bool,
        unsafe_dependencies: bool,
        log: impl FnOnce(),
    ) -> (String, String) {
        let (stderr, file) = (Captured::default(), Captured::default());
        let subscriber = subscriber(
            format,
            ansi,
            Targets::new().with_default(tracing::level_filters::LevelFilter::TRACE),
            unsafe_dependencies,
            stderr.clone(),
            file.clone(),
        );
        tracing::subscriber::with_default(subscriber, log);
        (stderr.text(), file.text())
    }

    const NICK: &str = "Eve\nfake line\r\x1b[31mred\u{2028}x";

    fn hostile_events() {
        let account = "x\nfake line";
        tracing::warn!(account = %account, "webhook for an account that is not configured for HTTP");
        tracing::info!(nick = %NICK, quoted = NICK, debugged = ?NICK, "pairing requested");
        tracing::info!("message {NICK} in the text");
        let span = tracing::info_span!("turn", who = %NICK);
        span.in_scope(|| tracing::info!("inside"));
    }

    #[test]
    fn the_human_format_keeps_each_event_on_one_escaped_line() {
        let (stderr, _) = run(LogFormat::Pretty, false, hostile_events);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 4, "{stderr}");
        assert!(lines[0].contains("account=x\\nfake line"), "{}", lines[0]);
        assert!(
            lines[1].contains("nick=Eve\\nfake line\\r\\x1b[31mred\\u{2028}x"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains("message Eve\\nfake line"), "{}", lines[2]);
        assert!(
            lines[3].contains("who=Eve\\nfake line"),
            "span fields too: {}",
            lines[3]
        );
        assert!(!stderr.contains('\x1b') && !stderr.contains('\r') && !stderr.contains('\u{2028}'));
        // In colour, the formatter's own escapes stay and the nickname's is still escaped.
        let (coloured, _) = run_with(LogFormat::Pretty, true, false, hostile_events);
        assert_eq!(coloured.lines().count(), 4, "{coloured}");
        assert!(coloured.contains("\x1b[3mnick\x1b[0m"), "{coloured}");
        assert!(
            coloured.contains("Eve\\nfake line\\r\\x1b[31mred") && !coloured.contains("\x1b[31m"),
            "{coloured}"
        );
    }

    #[test]
    fn the_json_formats_keep_each_event_on_one_line() {
        let (stderr, file) = run(LogFormat::Json, false, hostile_events);
        for text in [&stderr, &file] {
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 4, "{text}");
            for line in lines {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                assert!(value.is_object());
            }
            assert!(!text.contains('\x1b') && !text.contains('\r') && !text.contains('\u{2028}'));
        }
    }

    #[test]
    fn url_credentials_are_masked_in_every_format() {
        let url = "https://bob:hunter2@llm.example/v1?api_key=k3y&x=1";
        for format in [LogFormat::Pretty, LogFormat::Json] {
            let (stderr, file) = run(format, false, || {
                tracing::warn!(%url, "model call failed: error sending request for url ({url})");
            });
            for text in [stderr, file] {
                assert!(text.contains("bob:***@llm.example/v1?api_key=***&x=1"), "{text}");
                assert!(!text.contains("hunter2") && !text.contains("k3y"), "{text}");
            }
        }
    }

    #[test]
    fn dependencies_stay_at_info_unless_the_unsafe_switch_is_set() {
        let events = || {
            tracing::trace!(target: "tungstenite::protocol", "frame: SECdependency-secret");
            tracing::debug!(target: "hyper_util::client", "header: dependency-header");
            tracing::info!(target: "tungstenite::protocol", "dependency info");
            tracing::trace!(target: "clawtalk_gateway", "own trace");
        };
        let (stderr, file) = run(LogFormat::Pretty, false, events);
        for text in [&stderr, &file] {
            assert!(
                !text.contains("dependency-secret") && !text.contains("dependency-header"),
                "{text}"
            );
            assert!(
                text.contains("dependency info") && text.contains("own trace"),
                "{text}"
            );
        }
        let (stderr, _) = run(LogFormat::Pretty, true, events);
        assert!(
            stderr.contains("SECdependency-secret") && stderr.contains("dependency-header"),
            "{stderr}"
        );
    }
}
