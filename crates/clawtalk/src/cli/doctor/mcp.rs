//! Doctor checks of the MCP servers: each enabled one is started (or reached), its tools
//! listed, and stopped again, as `clawtalk mcp probe` does.

use super::Finding;
use clawtalk_config::{Config, McpTransport};

pub(super) async fn check_servers(config: &Config) -> Vec<Finding> {
    let checks = config.mcp.servers.iter().map(|server| async move {
        let subject = format!("mcp {}", server.name);
        if !server.enabled {
            return Finding::ok(subject, "disabled (enabled: false); not started");
        }
        let report = clawtalk_mcp::probe(server).await;
        match report.error {
            None if report.tools.is_empty() => Finding::warn(
                subject,
                format!(
                    "connected in {} ms but offers no tools{}; check toolFilter",
                    report.connect_time.as_millis(),
                    if report.filtered_out > 0 {
                        format!(" ({} hidden by toolFilter)", report.filtered_out)
                    } else {
                        String::new()
                    }
                ),
            ),
            None => Finding::ok(
                subject,
                format!(
                    "{} tool(s), connected in {} ms",
                    report.tools.len(),
                    report.connect_time.as_millis()
                ),
            ),
            Some(error) => Finding::problem(
                subject,
                format!(
                    "{error}; run `clawtalk mcp probe {}` for details, or set enabled: false",
                    server.name
                ),
            ),
        }
    });
    futures_util::future::join_all(checks).await
}

/// Header and env values of every server, masked in the report like the other secrets.
pub(super) fn secrets(config: &Config) -> Vec<String> {
    config
        .mcp
        .servers
        .iter()
        .flat_map(|server| match &server.transport {
            McpTransport::Stdio { env, .. } => {
                env.values().map(|v| v.expose().to_owned()).collect::<Vec<_>>()
            }
            McpTransport::StreamableHttp { headers, .. } => {
                headers.values().map(|v| v.expose().to_owned()).collect()
            }
        })
        .collect()
}
