//! The hub: every configured server, started in the background, and the one door through
//! which their tools are listed and called.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, ClientRequest, PingRequest};

use clawtalk_config::McpConfig;

use crate::McpTool;
use crate::content::render;
use crate::server::Server;
use crate::slot::{Phase, Slot};
use crate::supervisor::Backoff;

/// How long a server that let a call time out has to answer a ping before it counts as hung.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// The configured MCP servers. Cheap to clone; a server stops when the last hub holding it
/// is dropped (a hub made by [`McpHub::follow`] holds the servers it kept).
#[derive(Clone)]
pub struct McpHub {
    inner: Arc<Inner>,
}

struct Inner {
    /// In the config's order (by name).
    servers: Vec<Arc<Server>>,
    backoff: Backoff,
}

/// What [`McpHub::follow`] did, by server name. A disabled server counts as neither started
/// nor stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubChanges {
    /// Same settings: the running process (or connection) carries on.
    pub kept: Vec<String>,
    /// New or newly enabled.
    pub started: Vec<String>,
    /// Settings changed: a new process (or connection) with the new ones.
    pub restarted: Vec<String>,
    /// Removed or disabled.
    pub stopped: Vec<String>,
}

impl HubChanges {
    /// True when every server kept running as it was.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.started.is_empty() && self.restarted.is_empty() && self.stopped.is_empty()
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
            .entries(self.slots().map(|s| &s.config.name))
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
        Self::empty(backoff).follow(config).0
    }

    fn empty(backoff: Backoff) -> Self {
        Self {
            inner: Arc::new(Inner {
                servers: Vec::new(),
                backoff,
            }),
        }
    }

    /// The hub of `config` after a reload: a server whose settings are unchanged carries on
    /// (same process, same session, same tools), a changed one starts again with its new
    /// settings, an added one starts. Servers this hub holds that the new one does not
    /// stop once this hub is dropped, so a turn still running under it finishes its calls.
    /// Needs a Tokio runtime.
    #[must_use]
    pub fn follow(&self, config: &McpConfig) -> (Self, HubChanges) {
        let mut changes = HubChanges::default();
        let mut servers = Vec::with_capacity(config.servers.len());
        for wanted in &config.servers {
            let before = self
                .inner
                .servers
                .iter()
                .find(|s| s.slot.config.name == wanted.name);
            let name = wanted.name.clone();
            match before {
                Some(server) if server.slot.config == *wanted => {
                    changes.kept.push(name);
                    servers.push(Arc::clone(server));
                    continue;
                }
                Some(server) => match (server.slot.config.enabled, wanted.enabled) {
                    (true, true) => changes.restarted.push(name),
                    (false, true) => changes.started.push(name),
                    (true, false) => changes.stopped.push(name),
                    (false, false) => {}
                },
                None if wanted.enabled => changes.started.push(name),
                None => {}
            }
            servers.push(Server::start(wanted, self.inner.backoff));
        }
        changes.stopped.extend(
            self.inner
                .servers
                .iter()
                .filter(|s| s.slot.config.enabled && config.server(&s.slot.config.name).is_none())
                .map(|s| s.slot.config.name.clone()),
        );
        let hub = Self {
            inner: Arc::new(Inner {
                servers,
                backoff: self.inner.backoff,
            }),
        };
        (hub, changes)
    }

    fn slots(&self) -> impl Iterator<Item = &Arc<Slot>> {
        self.inner.servers.iter().map(|s| &s.slot)
    }

    /// True when no server is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.servers.is_empty()
    }

    /// Changes whenever any server's tools (or availability) change.
    #[must_use]
    pub fn generation(&self) -> u64 {
        // Each server's count only grows, so the sum changes whenever any of them does.
        self.slots()
            .map(|slot| slot.generation.load(Ordering::Acquire))
            .fold(0, u64::wrapping_add)
    }

    /// Every tool of every enabled server, as last listed, in name order. Tools of a server
    /// that is down stay listed; calling them answers that the server is unavailable.
    #[must_use]
    pub fn tools(&self) -> Vec<McpTool> {
        let mut tools: Vec<McpTool> = self.slots().flat_map(|slot| slot.read().tools.to_vec()).collect();
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
        self.slots()
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
            let settled = self.slots().all(|slot| {
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
        self.slots().find_map(|slot| {
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
