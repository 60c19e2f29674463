//! `mcp.servers.<name>`: MCP servers whose tools the agents may call, written as OpenClaw
//! writes them (docs/cli/mcp.md in openclaw/openclaw: stdio `command`/`args`/`env`/`cwd`,
//! Streamable HTTP `url`/`headers`/`transport`, `enabled`, `timeout`/`connectTimeout` in
//! seconds, `toolFilter.include`/`exclude`), plus clawtalk's `requireApproval`.
//!
//! ```json5
//! mcp: { servers: {
//!   everything: { command: "npx", args: ["-y", "@modelcontextprotocol/server-everything"] },
//!   docs: { url: "https://mcp.example.com/mcp", headers: { Authorization: "Bearer ${DOCS_TOKEN}" },
//!           toolFilter: { include: ["search*"] }, timeout: 20 },
//! } }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use dingtalk::Secret;
use url::Url;

use super::reader::{Ctx, IGNORED_KEY, Node, Obj, is_valid_id, path_value};

/// Default time one tool call may take.
pub const DEFAULT_MCP_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time to start a server and complete the MCP handshake.
pub const DEFAULT_MCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// `mcp.*`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct McpConfig {
    /// `mcp.servers`, in name order.
    pub servers: Vec<McpServerConfig>,
}

impl McpConfig {
    /// A server by name.
    #[must_use]
    pub fn server(&self, name: &str) -> Option<&McpServerConfig> {
        self.servers.iter().find(|s| s.name == name)
    }
}

/// One `mcp.servers.<name>` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct McpServerConfig {
    /// The key under `mcp.servers` (`[A-Za-z0-9_-]`, ≤ 64 chars): the prefix of its tools'
    /// names (`<name>__<tool>`).
    pub name: String,
    /// `enabled`, default true: a disabled server stays in the file but is never started.
    pub enabled: bool,
    /// How to reach it.
    pub transport: McpTransport,
    /// `toolFilter { include, exclude }`: which of its tools agents see.
    pub tool_filter: ToolFilter,
    /// `timeout` (seconds), default 60: one tool call, after which the model is told it timed out.
    pub timeout: Duration,
    /// `connectTimeout` (seconds), default 30: starting the server and the MCP handshake.
    pub connect_timeout: Duration,
    /// `requireApproval` (clawtalk key), default false: calls to this server's tools wait for
    /// the requester's approval.
    pub require_approval: bool,
}

/// Where a server runs.
#[derive(Debug, Clone, PartialEq)]
pub enum McpTransport {
    /// A child process speaking MCP over stdin/stdout.
    Stdio {
        /// `command`: the program (looked up in `PATH`).
        command: String,
        /// `args`.
        args: Vec<String>,
        /// `env`: added to the gateway's environment (values may hold API keys).
        env: BTreeMap<String, Secret>,
        /// `cwd` (or OpenClaw's `workingDirectory`).
        cwd: Option<PathBuf>,
    },
    /// A remote server over MCP's Streamable HTTP transport.
    StreamableHttp {
        /// `url`: the MCP endpoint.
        url: Url,
        /// `headers`: sent with every request (typically `Authorization`).
        headers: BTreeMap<String, Secret>,
    },
}

impl McpTransport {
    /// `stdio` or `streamable-http`, as OpenClaw names them.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Stdio { .. } => "stdio",
            Self::StreamableHttp { .. } => "streamable-http",
        }
    }
}

/// `toolFilter`: MCP tool names or simple `*` globs, matched against the raw name (`query`)
/// or the namespaced one (`docs__query`). Empty `include` means every tool; `exclude` wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolFilter {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl ToolFilter {
    /// Whether `server`'s tool `tool` is offered.
    #[must_use]
    pub fn allows(&self, server: &str, tool: &str) -> bool {
        let namespaced = format!("{server}__{tool}");
        let hit = |patterns: &[String]| {
            patterns
                .iter()
                .any(|p| glob_match(p, tool) || glob_match(p, &namespaced))
        };
        (self.include.is_empty() || hit(&self.include)) && !hit(&self.exclude)
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Variables that change how an interpreter starts (a prelude, a debugger, another module
/// path); OpenClaw refuses them in a server's `env` for the same reason.
const BLOCKED_ENV: &[&str] = &[
    "BASHOPTS",
    "BASH_ENV",
    "ENV",
    "FPATH",
    "KSH_ENV",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "DYLD_INSERT_LIBRARIES",
    "NODE_OPTIONS",
    "NODE_REDIRECT_WARNINGS",
    "NODE_REPL_EXTERNAL_MODULE",
    "NODE_REPL_HISTORY",
    "NODE_V8_COVERAGE",
    "PYTHONSTARTUP",
    "PYTHONPATH",
    "PERL5OPT",
    "RUBYOPT",
    "SHELLOPTS",
    "PS4",
    "TCLLIBPATH",
];

/// Keys OpenClaw defines on a server that clawtalk does not use.
const IGNORED_SERVER_KEYS: &[&str] = &[
    "name",
    "auth",
    "oauth",
    "sslVerify",
    "clientCert",
    "clientKey",
    "supportsParallelToolCalls",
    "codex",
    "connectionTimeoutMs",
    "requestTimeoutMs",
];

/// Reads the `mcp` section; problems are recorded in `cx`.
pub fn read_mcp(node: &Node<'_, '_>, cx: &mut Ctx<'_>) -> McpConfig {
    let Some(obj) = node.object(cx) else {
        return McpConfig::default();
    };
    let mut servers = Vec::new();
    if let Some(list) = obj.get("servers").and_then(|n| n.node().object(cx)) {
        let mut entries = list.entries();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (name, value) in entries {
            if let Some(server) = value.node().object(cx).and_then(|o| read_server(name, &o, cx)) {
                servers.push(server);
            }
        }
    }
    obj.finish(cx, &["enabled", "timeoutMs", "sessionIdleTtlMs"], IGNORED_KEY);
    McpConfig { servers }
}

fn read_server(name: &str, obj: &Obj<'_>, cx: &mut Ctx<'_>) -> Option<McpServerConfig> {
    obj.accept(&["comment"]);
    let name_ok = is_valid_id(name);
    if !name_ok {
        cx.diags.error(
            obj.path(),
            format!("MCP server name {name:?} cannot prefix tool names"),
            "use letters, digits, `-` and `_` only (at most 64), e.g. \"github\"",
        );
    }
    let enabled = obj.get("enabled").and_then(|n| n.node().bool(cx)).unwrap_or(true);
    let seconds = |key: &'static str, cx: &mut Ctx<'_>| {
        obj.get(key)
            .and_then(|n| n.node().int_in(cx, 1, 3600))
            .map(|s| Duration::from_secs(s.unsigned_abs()))
    };
    let timeout = seconds("timeout", cx).unwrap_or(DEFAULT_MCP_TIMEOUT);
    let connect_timeout = seconds("connectTimeout", cx).unwrap_or(DEFAULT_MCP_CONNECT_TIMEOUT);
    let require_approval = obj
        .get("requireApproval")
        .and_then(|n| n.node().bool(cx))
        .unwrap_or(false);
    let tool_filter = obj
        .get("toolFilter")
        .and_then(|n| n.node().object(cx))
        .map(|f| read_filter(&f, cx))
        .unwrap_or_default();
    let transport = read_transport(obj, cx);
    obj.finish(cx, IGNORED_SERVER_KEYS, IGNORED_KEY);
    Some(McpServerConfig {
        name: name_ok.then(|| name.to_owned())?,
        enabled,
        transport: transport?,
        tool_filter,
        timeout,
        connect_timeout,
        require_approval,
    })
}

fn read_filter(obj: &Obj<'_>, cx: &mut Ctx<'_>) -> ToolFilter {
    let list = |key: &'static str, cx: &mut Ctx<'_>| -> Vec<String> {
        let Some(items) = obj.get(key).and_then(|n| n.node().array(cx)) else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| item.node().nonempty_string(cx))
            .collect()
    };
    let filter = ToolFilter {
        include: list("include", cx),
        exclude: list("exclude", cx),
    };
    obj.finish(cx, &[], IGNORED_KEY);
    filter
}

fn read_transport(obj: &Obj<'_>, cx: &mut Ctx<'_>) -> Option<McpTransport> {
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Stdio,
        Http,
        Sse,
    }
    // `type` is the spelling of Claude Code's and Gemini's files, which OpenClaw also takes.
    let declared = ["transport", "type"].into_iter().find_map(|key| {
        obj.get(key).and_then(|n| {
            n.node().choice(
                cx,
                &[
                    ("stdio", Kind::Stdio),
                    ("streamable-http", Kind::Http),
                    ("http", Kind::Http),
                    ("sse", Kind::Sse),
                ],
            )
        })
    });
    let has_command = obj.has("command");
    let has_url = obj.has("url");
    let kind = match (declared, has_command, has_url) {
        (Some(Kind::Sse), _, _) => {
            cx.diags.error(
                obj.key_path("transport"),
                "the old HTTP+SSE transport is not supported",
                "use transport: \"streamable-http\" (most servers serve it at /mcp)",
            );
            return None;
        }
        (_, true, true) => {
            cx.diags.error(
                obj.path(),
                "server has both command and url",
                "keep command (a local stdio server) or url (a remote one), not both",
            );
            return None;
        }
        (_, false, false) => {
            cx.diags.error(
                obj.path(),
                "server has neither command nor url",
                "add command: \"npx\" (with args) for a local server, or url: \"https://…/mcp\"",
            );
            return None;
        }
        (Some(Kind::Stdio), false, true) | (Some(Kind::Http), true, false) => {
            cx.diags.error(
                obj.key_path("transport"),
                "transport does not match the server's command/url",
                "stdio servers have command, streamable-http servers have url",
            );
            return None;
        }
        (_, true, false) => Kind::Stdio,
        (_, false, true) => Kind::Http,
    };
    if kind == Kind::Stdio {
        let command = obj.get("command").and_then(|n| n.node().nonempty_string(cx));
        let args = obj
            .get("args")
            .and_then(|n| n.node().array(cx))
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.node().string(cx))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let env = obj
            .get("env")
            .and_then(|n| n.node().object(cx))
            .map(|e| read_env(&e, cx))
            .unwrap_or_default();
        let cwd = ["cwd", "workingDirectory"]
            .into_iter()
            .find_map(|key| obj.get(key).and_then(|n| path_value(&n.node(), cx)));
        return Some(McpTransport::Stdio {
            command: command?,
            args,
            env,
            cwd,
        });
    }
    let url = obj.get("url").and_then(|n| n.node().url(cx));
    if let Some(u) = &url
        && !matches!(u.scheme(), "http" | "https")
    {
        cx.diags.error(
            obj.key_path("url"),
            format!("{:?} is not an http(s) URL", u.scheme()),
            "write the server's https://…/mcp endpoint",
        );
        return None;
    }
    let headers = obj
        .get("headers")
        .and_then(|n| n.node().object(cx))
        .map(|h| read_headers(&h, cx))
        .unwrap_or_default();
    Some(McpTransport::StreamableHttp { url: url?, headers })
}

fn read_env(obj: &Obj<'_>, cx: &mut Ctx<'_>) -> BTreeMap<String, Secret> {
    let mut out = BTreeMap::new();
    for (key, value) in obj.entries() {
        if BLOCKED_ENV.iter().any(|b| b.eq_ignore_ascii_case(key)) {
            cx.diags.error(
                &value.path,
                format!("{key} changes how the server's interpreter starts and is refused"),
                format!("remove it; if the server really needs {key}, set it for the gateway itself"),
            );
            continue;
        }
        // An empty value is a legitimate setting for a variable, so not `secret()`'s "absent".
        let secret = match value.value {
            super::value::Value::String(s) if s.is_empty() => Some(Secret::default()),
            _ => value.node().secret(cx),
        };
        if let Some(secret) = secret {
            out.insert(key.to_owned(), secret);
        }
    }
    out
}

fn read_headers(obj: &Obj<'_>, cx: &mut Ctx<'_>) -> BTreeMap<String, Secret> {
    let mut out = BTreeMap::new();
    for (key, value) in obj.entries() {
        let name_ok = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !name_ok {
            cx.diags.error(
                &value.path,
                format!("{key:?} is not a valid HTTP header name"),
                "use letters, digits and `-`, e.g. Authorization or X-Api-Key",
            );
            continue;
        }
        let errors_before = cx.diags.errors.len();
        match value.node().secret(cx) {
            Some(secret) if secret.expose().bytes().any(|b| b == b'\r' || b == b'\n') => {
                cx.diags.error(
                    &value.path,
                    "header value contains a line break",
                    "remove the line break (check the variable it comes from)",
                );
            }
            Some(secret) => {
                out.insert(key.to_owned(), secret);
            }
            // A missing `${VAR}` was reported already.
            None if cx.diags.errors.len() > errors_before => {}
            None => cx.diags.error(
                &value.path,
                "header value is empty",
                "give a value such as \"Bearer ${TOKEN}\" or remove the header",
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, ConfigErrors};

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/u".into()),
            "DOCS_TOKEN" => Some("tok-123".into()),
            "CLAWTALK_MODEL" => Some("deepseek/deepseek-chat".into()),
            "DEEPSEEK_API_KEY" => Some("sk-test".into()),
            "DINGTALK_CLIENT_ID" => Some("ding-id".into()),
            "DINGTALK_CLIENT_SECRET" => Some("ding-secret".into()),
            _ => None,
        }
    }

    fn load(text: &str) -> Result<Config, ConfigErrors> {
        Config::from_json5(text, &env).map(|l| l.config)
    }

    #[test]
    fn reads_stdio_and_http_servers_as_openclaw_writes_them() {
        let config = load(
            r#"{ mcp: { servers: {
              files: { command: "npx", args: ["-y", "@modelcontextprotocol/server-filesystem", "~/docs"],
                       env: { API_KEY: "${DOCS_TOKEN}", EMPTY: "" }, cwd: "~/srv", timeout: 5,
                       toolFilter: { include: ["read_*"], exclude: ["files__read_secret"] } },
              docs: { url: "https://mcp.example.com/mcp", transport: "streamable-http",
                      headers: { Authorization: "Bearer ${DOCS_TOKEN}" }, requireApproval: true,
                      enabled: false, connectTimeout: 3 },
            } } }"#,
        )
        .unwrap();
        let [docs, files] = &config.mcp.servers[..] else {
            panic!("{:?}", config.mcp)
        };
        assert_eq!(docs.name, "docs");
        assert!(!docs.enabled && docs.require_approval);
        assert_eq!(docs.timeout, DEFAULT_MCP_TIMEOUT);
        assert_eq!(docs.connect_timeout, Duration::from_secs(3));
        let McpTransport::StreamableHttp { url, headers } = &docs.transport else {
            panic!()
        };
        assert_eq!(url.as_str(), "https://mcp.example.com/mcp");
        assert_eq!(headers["Authorization"].expose(), "Bearer tok-123");
        assert!(!format!("{config:?}").contains("tok-123"), "secrets never print");

        assert_eq!(files.timeout, Duration::from_secs(5));
        let McpTransport::Stdio {
            command,
            args,
            env,
            cwd,
        } = &files.transport
        else {
            panic!()
        };
        assert_eq!(command, "npx");
        assert_eq!(args.len(), 3);
        assert_eq!(env["API_KEY"].expose(), "tok-123");
        assert_eq!(env["EMPTY"].expose(), "");
        assert_eq!(cwd.as_deref(), Some(std::path::Path::new("/home/u/srv")));
        assert!(files.tool_filter.allows("files", "read_file"));
        assert!(!files.tool_filter.allows("files", "read_secret"));
        assert!(!files.tool_filter.allows("files", "write_file"));
    }

    #[test]
    fn wrong_settings_are_clear_errors() {
        let errors = load(
            r#"{ mcp: { servers: {
              "bad name": { command: "x" },
              both: { command: "x", url: "https://a" },
              none: { args: [] },
              old: { url: "https://a/sse", transport: "sse" },
              slow: { command: "x", timeout: 0 },
              inject: { command: "node", env: { NODE_OPTIONS: "--require evil.js" } },
              hdr: { url: "https://a", headers: { "Bad Header": "x", Auth: "${MISSING}" } },
              ftp: { url: "ftp://a" },
            } } }"#,
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "mcp.servers[\"bad name\"]: MCP server name",
            "mcp.servers.both: server has both command and url",
            "mcp.servers.none: server has neither command nor url",
            "mcp.servers.old.transport: the old HTTP+SSE transport is not supported",
            "mcp.servers.slow.timeout: 0 is out of range",
            "mcp.servers.inject.env.NODE_OPTIONS: NODE_OPTIONS changes how",
            "not a valid HTTP header name",
            "environment variable MISSING is not set",
            "mcp.servers.ftp.url",
        ] {
            assert!(errors.contains(expected), "missing {expected:?} in:\n{errors}");
        }
    }

    #[test]
    fn globs_match_raw_and_namespaced_names() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("read_*", "read_file"));
        assert!(glob_match("*_file", "read_file"));
        assert!(glob_match("r*d*e", "read_file"));
        assert!(!glob_match("read_*", "write_file"));
        assert!(!glob_match("ab*ba", "aba"));
        let filter = ToolFilter {
            include: vec!["docs__search".into(), "get-*".into()],
            exclude: vec!["get-secret".into()],
        };
        assert!(filter.allows("docs", "search"));
        assert!(filter.allows("docs", "get-page"));
        assert!(!filter.allows("docs", "get-secret"));
        assert!(!filter.allows("other", "search"));
    }
}
