//! The hub: every configured server, started in the background, and the one door through
//! which their tools are listed and called.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, ClientRequest, PingRequest};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use clawtalk_config::McpConfig;

use crate::McpTool;
use crate::content::render;
use crate::slot::{Phase, Slot, SlotState};
use crate::supervisor::{Backoff, supervise};

/// How long a server that let a call time out has to answer a ping before it counts as hung.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// The configured MCP servers. Cheap to clone; the servers stop when the last clone is dropped.
#[derive(Clone)]
pub struct McpHub {
    inner: Arc<Inner>,
}

struct Inner {
    slots: Vec<Arc<Slot>>,
    generation: Arc<AtomicU64>,
    shutdown: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A server as `clawtalk mcp list` and doctor show it.
#[derive(Debug, Clone)]
pub struct ServerStatus {
    pub name: String,
    /// `stdio` or `streamable-http`.
    pub transport: &'static str,
    pub phase: Phase,
    pub tools: Vec<String>,
    pub last_error: Option<String>,
    pub restarts: u32,
    pub listings: u32,
}

impl std::fmt::Debug for McpHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.inner.slots.iter().map(|s| &s.config.name))
            .finish()
    }
}

impl McpHub {
    /// Starts every enabled server in the background (a slow one delays nobody) and returns
    /// at once. Needs a Tokio runtime.
    #[must_use]
    pub fn start(config: &McpConfig) -> Self {
        Self::start_with(config, Backoff::default())
    }

    /// [`McpHub::start`] with other restart delays.
    #[must_use]
    pub fn start_with(config: &McpConfig, backoff: Backoff) -> Self {
        let generation = Arc::new(AtomicU64::new(0));
        let shutdown = CancellationToken::new();
        let mut slots = Vec::new();
        for server in &config.servers {
            let (restart, requests) = mpsc::channel(1);
            let slot = Arc::new(Slot {
                config: server.clone(),
                state: std::sync::RwLock::new(SlotState {
                    phase: if server.enabled {
                        Phase::Starting
                    } else {
                        Phase::Disabled
                    },
                    peer: None,
                    epoch: 0,
                    tools: Arc::from([]),
                    last_error: None,
                    restarts: 0,
                    listings: 0,
                }),
                restart,
                generation: Arc::clone(&generation),
            });
            if server.enabled {
                tokio::spawn(supervise(
                    Arc::clone(&slot),
                    requests,
                    backoff,
                    shutdown.child_token(),
                ));
            }
            slots.push(slot);
        }
        Self {
            inner: Arc::new(Inner {
                slots,
                generation,
                shutdown,
            }),
        }
    }

    /// True when no server is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.slots.is_empty()
    }

    /// Changes whenever any server's tools (or availability) change.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Every tool of every enabled server, as last listed, in name order. Tools of a server
    /// that is down stay listed; calling them answers that the server is unavailable.
    #[must_use]
    pub fn tools(&self) -> Vec<McpTool> {
        let mut tools: Vec<McpTool> = self
            .inner
            .slots
            .iter()
            .flat_map(|slot| slot.read().tools.to_vec())
            .collect();
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        tools.dedup_by(|a, b| a.name == b.name);
        tools
    }

    /// Whether the server offering `tool` (an exposed name) has `requireApproval` set.
    #[must_use]
    pub fn requires_approval(&self, tool: &str) -> bool {
        self.slot_of(tool)
            .is_some_and(|(slot, _)| slot.config.require_approval)
    }

    /// Each server's state.
    #[must_use]
    pub fn status(&self) -> Vec<ServerStatus> {
        self.inner
            .slots
            .iter()
            .map(|slot| {
                let state = slot.read();
                ServerStatus {
                    name: slot.config.name.clone(),
                    transport: slot.config.transport.kind(),
                    phase: state.phase,
                    tools: state.tools.iter().map(|t| t.name.clone()).collect(),
                    last_error: state.last_error.clone(),
                    restarts: state.restarts,
                    listings: state.listings,
                }
            })
            .collect()
    }

    /// Waits until every enabled server was tried at least once (ready or down), at most
    /// `limit`. True when all of them got that far.
    pub async fn settle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let settled = self.inner.slots.iter().all(|slot| {
                let state = slot.read();
                state.phase != Phase::Starting || state.restarts > 0
            });
            if settled {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn slot_of(&self, tool: &str) -> Option<(&Arc<Slot>, String)> {
        self.inner.slots.iter().find_map(|slot| {
            let state = slot.read();
            state
                .tools
                .iter()
                .find(|t| t.name == tool)
                .map(|t| (slot, t.tool.clone()))
        })
    }

    /// Calls a tool by its exposed name with the model's JSON arguments. Never waits longer
    /// than the server's `timeout`; an unavailable server answers at once. The `Err` text is
    /// for the model.
    pub async fn call(&self, tool: &str, arguments: &str) -> Result<String, String> {
        let Some((slot, raw_name)) = self.slot_of(tool) else {
            return Err(format!("no MCP tool named {tool:?}"));
        };
        let server = &slot.config.name;
        let (peer, epoch) = {
            let state = slot.read();
            match (&state.peer, state.phase) {
                (Some(peer), Phase::Ready) => (peer.clone(), state.epoch),
                (_, phase) => {
                    let why = state
                        .last_error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default();
                    return Err(format!(
                        "MCP server {server} is unavailable ({}{why}); it is being restarted, try again later or do without this tool",
                        phase.as_str()
                    ));
                }
            }
        };
        let arguments = parse_arguments(arguments)?;
        let mut params = CallToolRequestParams::new(raw_name);
        if let Some(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        let limit = slot.config.timeout;
        match tokio::time::timeout(limit, peer.call_tool(params)).await {
            Ok(Ok(result)) => {
                let value = serde_json::to_value(&result)
                    .map_err(|e| format!("unreadable result from MCP server {server}: {e}"))?;
                render(&value)
            }
            Ok(Err(e)) => {
                if matches!(
                    e,
                    rmcp::ServiceError::TransportClosed | rmcp::ServiceError::TransportSend(_)
                ) {
                    slot.request_restart(epoch);
                }
                Err(format!("MCP server {server} failed: {e}"))
            }
            Err(_) => {
                // A slow tool is not a hung server: only one that ignores a ping is restarted.
                let slot = Arc::clone(slot);
                tokio::spawn(async move {
                    let ping = ClientRequest::PingRequest(PingRequest::default());
                    let alive = tokio::time::timeout(PING_TIMEOUT, peer.send_request(ping)).await;
                    if !matches!(alive, Ok(Ok(_))) {
                        tracing::warn!(server = %slot.config.name, "MCP server does not answer a ping; restarting it");
                        slot.request_restart(epoch);
                    }
                });
                Err(format!(
                    "{tool} did not answer within {}s (timeout of MCP server {server})",
                    limit.as_secs()
                ))
            }
        }
    }
}

/// The model's argument text as a JSON object (`None` for no arguments).
fn parse_arguments(arguments: &str) -> Result<Option<serde_json::Map<String, serde_json::Value>>, String> {
    if arguments.trim().is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(serde_json::Value::Object(map)) => Ok(Some(map)),
        Ok(serde_json::Value::Null) => Ok(None),
        Ok(other) => Err(format!(
            "arguments must be a JSON object, got {}",
            match other {
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Number(_) => "a number",
                _ => "a boolean",
            }
        )),
        Err(e) => Err(format!("arguments are not valid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_must_be_an_object() {
        assert_eq!(parse_arguments("  "), Ok(None));
        assert_eq!(parse_arguments("null"), Ok(None));
        assert!(parse_arguments(r#"{"a":1}"#).unwrap().is_some());
        assert!(parse_arguments("[1]").unwrap_err().contains("an array"));
        assert!(parse_arguments("{oops").unwrap_err().contains("not valid JSON"));
    }
}
