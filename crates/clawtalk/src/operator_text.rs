//! How the CLI and the web console word things for an operator: durations as people read
//! them, store refusals as what to do next.

use anyhow::anyhow;
use clawtalk_core::clock::EpochMs;
use clawtalk_store::{PairingError, StoreError};

/// A duration as an operator reads it: `45s`, `12m`, `3h05m`, `2d04h`. Negative counts as 0.
#[must_use]
pub fn human_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Pairing refusals in operator terms: the store reports expiry in epoch ms, which nobody
/// reads at a terminal.
pub(crate) fn decision_error(error: StoreError, verb: &str, now: EpochMs) -> anyhow::Error {
    match error {
        StoreError::Pairing(PairingError::Expired { code, expired_at_ms }) => anyhow!(
            "cannot {verb} pairing code {code}: it expired {} ago; ask the user to message the \
             bot again for a new code",
            human_duration(now.as_millis() - expired_at_ms.as_millis())
        ),
        StoreError::Pairing(PairingError::UnknownCode { code }) => anyhow!(
            "cannot {verb} pairing code {code}: no such code; check for typos, or run \
             `clawtalk pairing list` to see pending codes"
        ),
        StoreError::Pairing(PairingError::AlreadyDecided { code, status }) => {
            anyhow!("cannot {verb} pairing code {code}: it was already {status} (codes are single use)")
        }
        other => anyhow!("cannot {verb} the pairing code: {other}"),
    }
}

/// How an MCP server is started or reached, without env values, header values or URL
/// passwords.
#[must_use]
pub fn mcp_launch(server: &clawtalk_config::McpServerConfig) -> String {
    match &server.transport {
        clawtalk_config::McpTransport::Stdio { command, args, .. } => std::iter::once(command.as_str())
            .chain(args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        clawtalk_config::McpTransport::StreamableHttp { url, .. } => {
            clawtalk_config::redact_url_password(url.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(-5), "0s");
        assert_eq!(human_duration(45_000), "45s");
        assert_eq!(human_duration(12 * 60_000 + 5), "12m");
        assert_eq!(human_duration(3 * 3_600_000 + 5 * 60_000), "3h05m");
        assert_eq!(human_duration(2 * 86_400_000 + 4 * 3_600_000), "2d04h");
    }
}
