//! One connection to one server, for `clawtalk mcp probe` and doctor: start it, list its
//! tools, stop it, and say how long each step took.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::time::timeout;

use clawtalk_config::McpServerConfig;

use crate::connect::{Handler, connect};
use crate::names::exposed_name;

/// What a probe found.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    /// Start and MCP handshake.
    pub connect_time: Duration,
    /// `tools/list`, when the handshake succeeded.
    pub list_time: Option<Duration>,
    /// Exposed names of the tools that pass `toolFilter`.
    pub tools: Vec<String>,
    /// Tools the server has that `toolFilter` hides.
    pub filtered_out: usize,
    /// Server name and version, as it introduced itself.
    pub server_info: Option<String>,
    pub error: Option<String>,
}

/// Connects to `config` (enabled or not), lists its tools and closes the session.
pub async fn probe(config: &McpServerConfig) -> ProbeReport {
    let started = Instant::now();
    let handler = Handler::new(Arc::new(Notify::new()));
    let session = match timeout(config.connect_timeout, connect(config, handler)).await {
        Ok(Ok(session)) => session,
        Ok(Err(e)) => return failed(started.elapsed(), e),
        Err(_) => {
            return failed(
                started.elapsed(),
                format!(
                    "did not complete the MCP handshake within {}s (connectTimeout)",
                    config.connect_timeout.as_secs()
                ),
            );
        }
    };
    let connect_time = started.elapsed();
    let server_info = session
        .peer_info()
        .and_then(|info| info.server_info.clone())
        .map(|server| format!("{} {}", server.name, server.version));
    let listing = Instant::now();
    let listed = timeout(config.connect_timeout, session.list_all_tools()).await;
    let list_time = Some(listing.elapsed());
    let mut report = ProbeReport {
        connect_time,
        list_time,
        tools: Vec::new(),
        filtered_out: 0,
        server_info,
        error: None,
    };
    match listed {
        Ok(Ok(tools)) => {
            for tool in tools {
                if config.tool_filter.allows(&config.name, &tool.name) {
                    report.tools.push(exposed_name(&config.name, &tool.name));
                } else {
                    report.filtered_out += 1;
                }
            }
            report.tools.sort();
        }
        Ok(Err(e)) => report.error = Some(format!("tools/list failed: {e}")),
        Err(_) => {
            report.error = Some(format!(
                "tools/list took longer than {}s",
                config.connect_timeout.as_secs()
            ));
        }
    }
    let _ = timeout(Duration::from_secs(5), session.cancel()).await;
    report
}

fn failed(connect_time: Duration, error: String) -> ProbeReport {
    ProbeReport {
        connect_time,
        list_time: None,
        tools: Vec::new(),
        filtered_out: 0,
        server_info: None,
        error: Some(error),
    }
}
