//! One task per enabled server: connect, list its tools, list them again on
//! `notifications/tools/list_changed`, and when the session ends (the process exited, the
//! connection broke) or a call found it hung, restart it after a capped, doubling delay.

use std::sync::Arc;
use std::time::Duration;

use rmcp::Peer;
use rmcp::RoleClient;
use tokio::sync::{Notify, mpsc};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use crate::McpTool;
use crate::connect::{Handler, connect};
use crate::names::exposed_name;
use crate::slot::{Phase, Slot};

/// Restart delays: the first, and the most it doubles to.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

pub async fn supervise(
    slot: Arc<Slot>,
    mut restarts: mpsc::Receiver<u64>,
    backoff: Backoff,
    shutdown: CancellationToken,
) {
    let name = slot.config.name.clone();
    let mut delay = backoff.initial;
    let mut epoch = 0;
    loop {
        epoch += 1;
        slot.update(|s| s.phase = Phase::Starting);
        let tools_changed = Arc::new(Notify::new());
        let connected = tokio::select! {
            () = shutdown.cancelled() => return,
            r = timeout(slot.config.connect_timeout, connect(&slot.config, Handler::new(Arc::clone(&tools_changed)))) => {
                r.unwrap_or_else(|_| Err(format!(
                    "did not complete the MCP handshake within {}s (connectTimeout)",
                    slot.config.connect_timeout.as_secs()
                )))
            }
        };
        let reason = match connected {
            Ok(session) => {
                let peer = session.peer().clone();
                match list_tools(&slot, &peer).await {
                    Ok(tools) => {
                        tracing::info!(server = %name, tools = tools.len(), "MCP server ready");
                        slot.update(|s| {
                            s.phase = Phase::Ready;
                            s.peer = Some(peer.clone());
                            s.epoch = epoch;
                            s.tools = tools.into();
                            s.last_error = None;
                            s.listings += 1;
                        });
                        delay = backoff.initial;
                        let waiting = session.waiting();
                        tokio::pin!(waiting);
                        loop {
                            tokio::select! {
                                () = shutdown.cancelled() => return,
                                _ = &mut waiting => break "the server closed the session (exited or disconnected)".to_owned(),
                                Some(asked) = restarts.recv() => {
                                    if asked == epoch {
                                        break "the server stopped answering".to_owned();
                                    }
                                }
                                () = tools_changed.notified() => {
                                    match list_tools(&slot, &peer).await {
                                        Ok(tools) => slot.update(|s| {
                                            s.tools = tools.into();
                                            s.listings += 1;
                                        }),
                                        Err(e) => tracing::warn!(server = %name, "listing changed tools failed: {e}"),
                                    }
                                }
                            }
                        }
                    }
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        tracing::warn!(server = %name, "MCP server unavailable: {reason}; restarting in {}s", delay.as_secs_f32());
        slot.update(|s| {
            s.phase = Phase::Down;
            s.peer = None;
            s.last_error = Some(reason);
        });
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(backoff.max);
        slot.update(|s| s.restarts += 1);
    }
}

/// The server's tools that pass its `toolFilter`, under their exposed names.
async fn list_tools(slot: &Slot, peer: &Peer<RoleClient>) -> Result<Vec<McpTool>, String> {
    let config = &slot.config;
    let listed = timeout(config.connect_timeout, peer.list_all_tools())
        .await
        .map_err(|_| {
            format!(
                "tools/list took longer than {}s",
                config.connect_timeout.as_secs()
            )
        })?
        .map_err(|e| format!("tools/list failed: {e}"))?;
    let mut tools: Vec<McpTool> = listed
        .into_iter()
        .filter(|t| config.tool_filter.allows(&config.name, &t.name))
        .map(|t| McpTool {
            name: exposed_name(&config.name, &t.name),
            server: config.name.clone(),
            tool: t.name.to_string(),
            description: t
                .description
                .as_deref()
                .or(t.title.as_deref())
                .unwrap_or_default()
                .to_owned(),
            input_schema: serde_json::Value::Object((*t.input_schema).clone()),
        })
        .collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    tools.dedup_by(|a, b| a.name == b.name);
    Ok(tools)
}
