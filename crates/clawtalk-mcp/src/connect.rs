//! Opening one MCP session: start the child process or reach the URL, then the MCP handshake.

use std::process::Stdio;
use std::sync::Arc;

use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Notify;

use clawtalk_config::{McpServerConfig, McpTransport};

/// A live session with one server.
pub type Session = RunningService<RoleClient, Handler>;

/// What the client does with what the server sends unasked: a changed tool list is passed to
/// the server's supervisor, which lists the tools again.
pub struct Handler {
    tools_changed: Arc<Notify>,
}

impl Handler {
    pub fn new(tools_changed: Arc<Notify>) -> Self {
        Self { tools_changed }
    }
}

impl ClientHandler for Handler {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tools_changed.notify_one();
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("clawtalk", env!("CARGO_PKG_VERSION")),
        )
    }
}

/// Starts (stdio) or reaches (HTTP) the server and runs the MCP handshake. The caller bounds
/// the time it may take.
pub async fn connect(config: &McpServerConfig, handler: Handler) -> Result<Session, String> {
    match &config.transport {
        McpTransport::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args);
            for (key, value) in env {
                cmd.env(key, value.expose());
            }
            if let Some(dir) = cwd {
                cmd.current_dir(dir);
            }
            // Its own process group, killed as a whole when the session is dropped: launchers
            // such as npx leave the real server running as a grandchild otherwise.
            let mut wrapped = CommandWrap::from(cmd);
            wrapped.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
            let (transport, stderr) = TokioChildProcess::builder(wrapped)
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| spawn_error(command, &e))?;
            if let Some(stderr) = stderr {
                tokio::spawn(log_stderr(config.name.clone(), stderr));
            }
            handler
                .serve(transport)
                .await
                .map_err(|e| format!("MCP handshake failed: {e}"))
        }
        McpTransport::StreamableHttp { url, headers } => {
            let client = http_client(headers)?;
            let transport = StreamableHttpClientTransport::with_client(
                client,
                StreamableHttpClientTransportConfig::with_uri(url.as_str()),
            );
            handler.serve(transport).await.map_err(|e| {
                format!(
                    "MCP handshake with {} failed: {e}",
                    clawtalk_config::redact_url_password(url.as_str())
                )
            })
        }
    }
}

fn spawn_error(command: &str, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        format!("cannot start {command:?}: not found (install it or give its full path in command)")
    } else {
        format!("cannot start {command:?}: {e}")
    }
}

/// The server's own log lines (stderr) go to the gateway's log at debug level.
async fn log_stderr(server: String, stderr: tokio::process::ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(target: "clawtalk_mcp::server", server = %server, "{line}");
    }
}

/// An HTTP client with clawtalk's TLS (dingtalk::tls: ring and the Mozilla roots, no OpenSSL,
/// no aws-lc), sending the configured headers, marked sensitive so that no debug output shows
/// them.
fn http_client(
    headers: &std::collections::BTreeMap<String, dingtalk::Secret>,
) -> Result<reqwest::Client, String> {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("header name {name:?} is not valid"))?;
        let mut value = reqwest::header::HeaderValue::from_str(value.expose())
            .map_err(|_| format!("the value of header {name} is not valid header text"))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    dingtalk::tls::client_builder()
        .default_headers(map)
        .build()
        .map_err(|e| format!("HTTP client setup failed: {e}"))
}
