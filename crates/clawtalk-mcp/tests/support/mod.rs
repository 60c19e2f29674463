//! Shared by the MCP tests: where the reference server is, and servers that misbehave.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clawtalk_config::{McpConfig, McpServerConfig, McpTransport, ToolFilter};

/// `@modelcontextprotocol/server-everything`'s entry point, from `CLAWTALK_MCP_EVERYTHING`
/// (the npm `--prefix` directory `.ci/run` installs it into, or the `dist/index.js` itself).
/// `None` (the test is skipped) outside CI; under `CI=true` a missing server fails the test.
pub fn everything() -> Option<PathBuf> {
    let found = std::env::var_os("CLAWTALK_MCP_EVERYTHING")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_file() {
                p
            } else {
                p.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
            }
        });
    match found {
        Some(path) if path.is_file() => Some(path),
        other => {
            let why = match other {
                Some(path) => format!("{} does not exist", path.display()),
                None => "CLAWTALK_MCP_EVERYTHING is not set".to_owned(),
            };
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "server-everything is missing under CI ({why}); .ci/run installs it"
            );
            eprintln!(
                "skipped: {why} (npm install --prefix target/mcp-everything @modelcontextprotocol/server-everything@2026.8.31)"
            );
            None
        }
    }
}

pub fn stdio(name: &str, command: &str, args: &[&str]) -> McpServerConfig {
    McpServerConfig {
        name: name.to_owned(),
        enabled: true,
        transport: McpTransport::Stdio {
            command: command.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: BTreeMap::new(),
            cwd: None,
        },
        tool_filter: ToolFilter::default(),
        timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(20),
        require_approval: false,
    }
}

pub fn config(servers: Vec<McpServerConfig>) -> McpConfig {
    McpConfig { servers }
}

/// A stdio MCP server written here, speaking line-delimited JSON-RPC by hand: tool `hello`
/// answers with its process id, `crash` exits the process, `hang` stops reading its input
/// (it never answers anything again, pings included).
pub const FLAKY_SERVER: &str = r#"
const readline = require('readline');
const rl = readline.createInterface({ input: process.stdin });
const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');
const tool = (name) => ({ name, description: name, inputSchema: { type: 'object', properties: {} } });
rl.on('line', (line) => {
  const m = JSON.parse(line);
  if (m.id === undefined) return;
  const reply = (result) => send({ jsonrpc: '2.0', id: m.id, result });
  switch (m.method) {
    case 'initialize':
      return reply({ protocolVersion: m.params.protocolVersion, capabilities: { tools: {} },
                     serverInfo: { name: 'flaky', version: '1.0.0' } });
    case 'ping': return reply({});
    case 'tools/list': return reply({ tools: [tool('hello'), tool('crash'), tool('hang')] });
    case 'tools/call':
      if (m.params.name === 'crash') process.exit(3);
      if (m.params.name === 'hang') { rl.close(); process.stdin.pause(); setInterval(() => {}, 1000); return; }
      return reply({ content: [{ type: 'text', text: 'pid ' + process.pid }] });
    default:
      return send({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'method not found' } });
  }
});
"#;

/// Writes [`FLAKY_SERVER`] into `dir` and returns its path.
pub fn flaky_script(dir: &Path) -> PathBuf {
    let path = dir.join("flaky.js");
    std::fs::write(&path, FLAKY_SERVER).expect("write the flaky server");
    path
}

/// Polls `check` every 20 ms until it holds, at most `limit`.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}
