//! `channels.yaml`: the seed deployment format, translated into clawtalk's own document.
//!
//! ```yaml
//! default_agent: main            # optional: the agent answering when nothing else matches
//! channels:                      # a list, or a map of account id → channel
//!   - name: sales                # account id (default: `default`, then `dingtalk2`, …)
//!     type: dingtalk
//!     app_key: dingxxxx          # clientId
//!     app_secret: ${SALES_SECRET} # clientSecret; `${VAR}` references are kept as written
//!     agent_id: 123456           # the app's agentId
//!     token: …                   # HTTP event subscription token / aes_key
//!     aes_key: …
//!     group_enabled: true        # false = groupPolicy disabled
//!     mention_only: true         # requireMention
//!     agent: sales-agent         # the channel's agent (alias: default_agent)
//!     memory_scope: user         # user | conversation | group
//!     routing:                   # by the sender's DingTalk department
//!       - { dept_id: 42, agent: hr }
//!     response_format: …         # this channel's answers as action cards (see below)
//! routing:                       # top level: every channel, after the channels' own rules
//!   - { dept_id: "101", agent: code-assistant }
//! response_format:               # every channel's answers as action cards with fixed buttons
//!   type: dingtalk_action_card
//!   btn_orientation: "0"
//!   buttons: [ { title: Approve, action_url: "dingtalk://dingtalkclient/action/approve" } ]
//! ```
//!
//! Every other top-level key is a clawtalk key written in YAML (`gateway`, `models`, `agents`,
//! …) and is copied as is. Agents named by channels but not defined under `agents.list` are
//! added with the default model. Each value keeps a note of the YAML key it came from, so
//! every diagnostic of the translated document names the key the user actually wrote.

use super::issue::ConfigIssue;
use super::reader::{Ctx, Obj, is_valid_id};
use super::value::{Value, join_index, join_key};

/// Parses YAML text into the document tree (key order kept).
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    serde_yaml_ng::from_str::<Value>(text).map_err(|e| e.to_string())
}

/// Whether a file is read as `channels.yaml` rather than JSON5.
pub fn is_yaml_path(path: &std::path::Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// Key paths of the translated document → where the user wrote them.
#[derive(Debug, Default)]
pub struct PathMap {
    /// `(our path, their path)`; the longest matching prefix wins.
    pairs: Vec<(String, String)>,
    /// Put before every mapped path (`channels.yaml: `) when the YAML is merged into another file.
    prefix: String,
}

impl PathMap {
    fn add(&mut self, ours: String, theirs: String) {
        self.pairs.push((ours, theirs));
    }

    /// Takes over the pairs of a map made for an included YAML file, with its file prefix
    /// kept on each (this map's own prefix must be empty).
    pub fn absorb(&mut self, other: PathMap) {
        for (ours, theirs) in other.pairs {
            self.pairs.push((ours, format!("{}{theirs}", other.prefix)));
        }
    }

    /// Rewrites an issue's path (and mentions of it in its text) to the YAML key.
    pub fn remap(&self, issue: &mut ConfigIssue) {
        let best = self
            .pairs
            .iter()
            .filter(|(ours, _)| {
                issue
                    .path
                    .strip_prefix(ours.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
            })
            .max_by_key(|(ours, _)| ours.len());
        let Some((ours, theirs)) = best else {
            return;
        };
        let rest = &issue.path[ours.len()..];
        let mapped = format!("{}{theirs}{rest}", self.prefix);
        let old = std::mem::replace(&mut issue.path, mapped);
        issue.message = issue.message.replace(&old, &issue.path);
        if let Some(fix) = &mut issue.fix {
            *fix = fix.replace(&old, &issue.path);
        }
    }
}

/// Seed key → clawtalk account key, copied unchanged (values are checked by the account reader).
const ACCOUNT_KEYS: &[(&str, &str)] = &[
    ("app_key", "clientId"),
    ("app_secret", "clientSecret"),
    ("agent_id", "agentId"),
    ("robot_code", "robotCode"),
    ("corp_id", "corpId"),
    ("token", "token"),
    ("aes_key", "aesKey"),
    ("mention_only", "requireMention"),
    ("memory_scope", "memoryScope"),
    ("mode", "mode"),
    ("enabled", "enabled"),
    ("dm_policy", "dmPolicy"),
    ("allow_from", "allowFrom"),
    ("group_policy", "groupPolicy"),
    ("group_allow_from", "groupAllowFrom"),
    ("webhook_url", "webhookUrl"),
    ("secret", "secret"),
    ("endpoints", "endpoints"),
    ("response_format", "responseFormat"),
];

/// Translates a `channels.yaml` document into `base` (an empty object for a standalone file,
/// or the JSON config the YAML sits beside). `prefix` names the YAML file in diagnostics
/// when it is merged into another file.
pub fn translate(yaml: &Value, mut base: Value, prefix: &str, cx: &mut Ctx<'_>) -> (Value, PathMap) {
    let mut map = PathMap {
        pairs: Vec::new(),
        prefix: prefix.to_owned(),
    };
    let (channels, channels_path, rest): (Option<&Value>, String, &[(String, Value)]) = match yaml {
        Value::Array(_) => (Some(yaml), String::new(), &[]),
        Value::Object(entries) => (yaml.get("channels"), "channels".to_owned(), entries),
        other => {
            cx.diags.error(
                at(prefix, ""),
                format!("channels.yaml must hold a map or a list, found {}", other.kind()),
                "start the file with `channels:` followed by a list of channels",
            );
            return (base, map);
        }
    };
    let mut got = Collected::default();
    if let Some(node) = yaml.get("default_agent") {
        match agent_id(node) {
            Some(id) => got.agents.default = Some((id, at(prefix, "default_agent"))),
            None => bad_agent(cx, &at(prefix, "default_agent")),
        }
    }
    copy_settings(rest, &mut base, prefix, &mut map, cx);
    for (index, (key, value, path)) in channel_entries(channels, &channels_path, prefix, cx)
        .iter()
        .enumerate()
    {
        translate_channel(index, key.as_deref(), value, path, prefix, &mut got, &mut map, cx);
    }
    // Top-level `routing` routes every channel by the sender's department. A channel's own
    // rules come first in the bindings, so they win for that channel.
    if let Some(rules) = yaml.get("routing") {
        for (rule, rule_path) in routing(rules, "routing", prefix, cx) {
            got.agents
                .add(&rule.agent, &at(prefix, &join_key(&rule_path, "agent")));
            got.bindings.push(department_binding(&rule, "*", &rule_path));
        }
    }
    if !got.accounts.is_empty() {
        if base.at(&["channels", "dingtalk"]).is_some() {
            cx.diags.error(
                at(prefix, "channels"),
                "channels.dingtalk is already configured in the config file these channels go into",
                "keep the DingTalk bots in one file (`clawtalk config import channels.yaml` merges them)",
            );
        } else {
            base.object_at(&["channels", "dingtalk"])
                .set("accounts", Value::Object(got.accounts));
        }
    }
    add_bindings(&mut base, got.bindings, prefix, &mut map);
    got.agents.write(&mut base, prefix, &mut map, cx);
    (base, map)
}

/// A path of the YAML file for diagnostics: `prefix` names the file when it is merged into another.
fn at(prefix: &str, path: &str) -> String {
    format!("{prefix}{}", if path.is_empty() { "(root)" } else { path })
}

/// What the channels contribute to the config, collected while reading them.
#[derive(Default)]
struct Collected {
    /// Account ids taken so far (a later channel may not reuse one).
    ids: Vec<String>,
    agents: AgentRefs,
    /// Each binding with the pairs of (its key, the YAML path it came from).
    bindings: Vec<(Value, Vec<(String, String)>)>,
    accounts: Vec<(String, Value)>,
}

/// The binding of a `routing` rule (by the sender's department) for `account`.
fn department_binding(rule: &Rule, account: &str, rule_path: &str) -> (Value, Vec<(String, String)>) {
    (
        binding(&rule.agent, account, Some(rule.dept.clone())),
        vec![
            (String::new(), rule_path.to_owned()),
            ("agentId".into(), join_key(rule_path, "agent")),
            ("match.department".into(), join_key(rule_path, "dept_id")),
        ],
    )
}

/// The top-level keys other than `channels`, `default_agent` and `routing` are clawtalk
/// settings written in the seed's spelling: copied into `base` unless it already sets them.
fn copy_settings(
    rest: &[(String, Value)],
    base: &mut Value,
    prefix: &str,
    map: &mut PathMap,
    cx: &mut Ctx<'_>,
) {
    for (key, value) in rest {
        if ["channels", "default_agent", "routing"].contains(&key.as_str()) {
            continue;
        }
        // The seed's snake_case name of a clawtalk key.
        let key = if key == "response_format" {
            "responseFormat"
        } else {
            key.as_str()
        };
        if base.get(key).is_some() {
            cx.diags.error(
                at(prefix, &join_key("", key)),
                format!("`{key}` is set both here and in the config file"),
                "keep it in one of the two files",
            );
            continue;
        }
        base.set(key, value.clone());
        let written = if key == "responseFormat" {
            "response_format"
        } else {
            key
        };
        map.add(join_key("", key), join_key("", written));
    }
}

/// The channels as (map key, channel, YAML path): a list or a map of channels.
fn channel_entries(
    channels: Option<&Value>,
    channels_path: &str,
    prefix: &str,
    cx: &mut Ctx<'_>,
) -> Vec<(Option<String>, Value, String)> {
    match channels {
        None => {
            cx.diags.error(
                at(prefix, "channels"),
                "no channels",
                "add `channels:` with at least one `- type: dingtalk` entry",
            );
            Vec::new()
        }
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (None, v.clone(), join_index(channels_path, i)))
            .collect(),
        Some(Value::Object(entries)) => entries
            .iter()
            .map(|(k, v)| (Some(k.clone()), v.clone(), join_key(channels_path, k)))
            .collect(),
        Some(other) => {
            cx.diags.error(
                at(prefix, "channels"),
                format!("expected a list or a map of channels, found {}", other.kind()),
                "write one `- type: dingtalk` entry per bot",
            );
            Vec::new()
        }
    }
}

/// One channel entry: its account, and the bindings of its agent and `routing` rules.
#[allow(clippy::too_many_arguments)] // the translation's state is threaded through, not owned
fn translate_channel(
    index: usize,
    key: Option<&str>,
    value: &Value,
    path: &str,
    prefix: &str,
    got: &mut Collected,
    map: &mut PathMap,
    cx: &mut Ctx<'_>,
) {
    let Value::Object(fields) = value else {
        cx.diags.error(
            at(prefix, path),
            format!("expected a channel (a map), found {}", value.kind()),
            "write `type: dingtalk`, `app_key: …`, `app_secret: …` here",
        );
        return;
    };
    let channel = Obj::new(fields, at(prefix, path));
    let Some(id) = account_id(&channel, key, index, &got.ids, cx) else {
        return;
    };
    got.ids.push(id.clone());
    let theirs = |yaml_key: &str| join_key(path, yaml_key);
    let ours = |key: &str| format!("channels.dingtalk.accounts.{id}.{key}");
    map.add(format!("channels.dingtalk.accounts.{id}"), path.to_owned());
    check_type(&channel, cx);
    let mut account = Value::Object(Vec::new());
    if let Some(name) = channel.get("name") {
        account.set("name", name.value.clone());
        map.add(ours("name"), theirs("name"));
    }
    for (seed, key) in ACCOUNT_KEYS {
        // Mapped even when absent, so "missing clientSecret" names `app_secret`.
        map.add(ours(key), theirs(seed));
        if let Some(node) = channel.get(seed) {
            account.set(key, node.value.clone());
        }
    }
    group_enabled(&channel, &mut account, cx);
    if channel.has("group_enabled") && !channel.has("group_policy") {
        map.add(ours("groupPolicy"), theirs("group_enabled"));
    }
    if let Some((agent, at_path)) = channel_agent(&channel, cx) {
        let rel = at_path.strip_prefix(prefix).unwrap_or(&at_path).to_owned();
        got.agents.add(&agent, &at_path);
        got.bindings.push((
            binding(&agent, &id, None),
            vec![(String::new(), rel.clone()), ("agentId".into(), rel)],
        ));
    }
    if let Some(rules) = channel.get("routing") {
        for (rule, rule_path) in routing(rules.value, &theirs("routing"), prefix, cx) {
            got.agents
                .add(&rule.agent, &at(prefix, &join_key(&rule_path, "agent")));
            got.bindings.push(department_binding(&rule, &id, &rule_path));
        }
    }
    channel.finish(cx, &[], "not a channels.yaml key; ignored");
    got.accounts.push((id, account));
}

fn account_id(
    channel: &Obj<'_>,
    key: Option<&str>,
    index: usize,
    taken: &[String],
    cx: &mut Ctx<'_>,
) -> Option<String> {
    let named = channel.get("name").and_then(|n| match n.value {
        Value::String(s) => Some((s.trim().to_owned(), n.path)),
        _ => None,
    });
    let (id, at) = match (key, named) {
        (Some(k), _) => (k.to_owned(), channel.path().to_owned()),
        (None, Some((name, at))) => (name, at),
        (None, None) if index == 0 => ("default".to_owned(), channel.path().to_owned()),
        (None, None) => (format!("dingtalk{}", index + 1), channel.path().to_owned()),
    };
    if !is_valid_id(&id) {
        cx.diags.error(
            at,
            format!("{id:?} cannot be an account id"),
            "use letters, digits, - and _ only (at most 64)",
        );
        return None;
    }
    if taken.contains(&id) {
        cx.diags.error(
            at,
            format!("a second channel named {id:?}"),
            "give every channel its own `name`",
        );
        return None;
    }
    Some(id)
}

fn check_type(channel: &Obj<'_>, cx: &mut Ctx<'_>) {
    match channel.get("type") {
        None => cx
            .diags
            .error(channel.key_path("type"), "missing", "add `type: dingtalk`"),
        Some(node) => match node.value {
            Value::String(s) if s.trim().eq_ignore_ascii_case("dingtalk") => {}
            other => cx.diags.error(
                node.path,
                format!(
                    "{} is not a supported channel type",
                    match other {
                        Value::String(s) => format!("{s:?}"),
                        v => v.kind().to_owned(),
                    }
                ),
                "clawtalk serves DingTalk only: set `type: dingtalk` or remove this channel",
            ),
        },
    }
}

/// `group_enabled: false` is `groupPolicy: disabled`; `true` is `open` unless `group_policy`
/// says which groups.
fn group_enabled(channel: &Obj<'_>, account: &mut Value, cx: &mut Ctx<'_>) {
    let Some(node) = channel.get("group_enabled") else {
        return;
    };
    let Value::Bool(enabled) = node.value else {
        cx.diags.error(
            node.path,
            format!("expected true or false, found {}", node.value.kind()),
            "write true or false",
        );
        return;
    };
    match (enabled, account.get("groupPolicy")) {
        (false, Some(Value::String(p))) if !p.eq_ignore_ascii_case("disabled") => cx.diags.error(
            node.path,
            format!("group_enabled: false contradicts group_policy: {p}"),
            "delete one of the two",
        ),
        (true, Some(_)) => {}
        (true, None) => account.set("groupPolicy", Value::str("open")),
        (false, _) => account.set("groupPolicy", Value::str("disabled")),
    }
}

/// `agent`, or its alias `default_agent`: the agent answering this channel when no routing
/// rule matches. Returns the agent and the (prefixed) path it was written at.
fn channel_agent(channel: &Obj<'_>, cx: &mut Ctx<'_>) -> Option<(String, String)> {
    let read = |key: &'static str, cx: &mut Ctx<'_>| {
        channel.get(key).and_then(|n| match agent_id(n.value) {
            Some(id) => Some((id, n.path)),
            None => {
                bad_agent(cx, &n.path);
                None
            }
        })
    };
    let agent = read("agent", cx);
    let default = read("default_agent", cx);
    match (agent, default) {
        (Some(a), Some(d)) if a.0 != d.0 => {
            cx.diags.error(
                d.1,
                format!(
                    "names {:?}, but agent names {:?}; both mean the channel's agent",
                    d.0, a.0
                ),
                "keep one of agent / default_agent",
            );
            Some(a)
        }
        (a, d) => a.or(d),
    }
}

struct Rule {
    dept: Value,
    agent: String,
}

/// `routing: [{dept_id, agent}]`, with paths relative to the YAML file.
fn routing(value: &Value, path: &str, prefix: &str, cx: &mut Ctx<'_>) -> Vec<(Rule, String)> {
    let here = |p: &str| format!("{prefix}{p}");
    let Value::Array(items) = value else {
        cx.diags.error(
            here(path),
            format!("expected a list, found {}", value.kind()),
            "write `- { dept_id: 42, agent: hr }` entries",
        );
        return Vec::new();
    };
    let mut rules = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = join_index(path, i);
        let Value::Object(fields) = item else {
            cx.diags.error(
                here(&at),
                format!("expected a map, found {}", item.kind()),
                "write `{ dept_id: 42, agent: hr }`",
            );
            continue;
        };
        let rule = Obj::new(fields, here(&at));
        let dept = match rule.get("dept_id") {
            None => {
                cx.diags.error(
                    here(&join_key(&at, "dept_id")),
                    "missing",
                    "add the DingTalk department id, e.g. `dept_id: 42`",
                );
                None
            }
            Some(n) => match n.value {
                Value::Number(num) if num.as_i64().is_some() => Some(n.value.clone()),
                Value::String(s) if s.trim().parse::<i64>().is_ok() => Some(Value::Number(
                    super::value::Number::Int(s.trim().parse().unwrap_or_default()),
                )),
                other => {
                    cx.diags.error(
                        n.path,
                        format!(
                            "expected a department id (a whole number), found {}",
                            other.kind()
                        ),
                        "copy the number from the DingTalk admin console (通讯录 → 部门)",
                    );
                    None
                }
            },
        };
        let agent = match rule.get("agent") {
            None => {
                cx.diags.error(
                    here(&join_key(&at, "agent")),
                    "missing",
                    "name the agent for this department, e.g. `agent: hr`",
                );
                None
            }
            Some(n) => agent_id(n.value).or_else(|| {
                bad_agent(cx, &n.path);
                None
            }),
        };
        rule.finish(cx, &[], "not a routing key; ignored");
        if let (Some(dept), Some(agent)) = (dept, agent) {
            rules.push((Rule { dept, agent }, at));
        }
    }
    rules
}

fn agent_id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if is_valid_id(s.trim()) => Some(s.trim().to_owned()),
        _ => None,
    }
}

fn bad_agent(cx: &mut Ctx<'_>, path: &str) {
    cx.diags.error(
        path,
        "not an agent id",
        "write an id of letters, digits, - and _ (e.g. `agent: sales`)",
    );
}

fn binding(agent: &str, account: &str, department: Option<Value>) -> Value {
    let mut matcher = Value::object([
        ("channel", Value::str("dingtalk")),
        ("accountId", Value::str(account)),
    ]);
    if let Some(dept) = department {
        matcher.set("department", dept);
    }
    Value::object([("agentId", Value::str(agent)), ("match", matcher)])
}

fn add_bindings(base: &mut Value, new: Vec<(Value, Vec<(String, String)>)>, prefix: &str, map: &mut PathMap) {
    if new.is_empty() {
        return;
    }
    let list = match base.get_mut("bindings") {
        Some(Value::Array(items)) => items,
        _ => {
            base.set("bindings", Value::Array(Vec::new()));
            match base.get_mut("bindings") {
                Some(Value::Array(items)) => items,
                _ => return,
            }
        }
    };
    for (binding, paths) in new {
        let at = join_index("bindings", list.len());
        for (sub, theirs) in paths {
            let ours = if sub.is_empty() {
                at.clone()
            } else {
                format!("{at}.{sub}")
            };
            map.add(ours, theirs.strip_prefix(prefix).unwrap_or(&theirs).to_owned());
        }
        list.push(binding);
    }
}

/// Agents the channels name, in first-mention order, with the (prefixed) path of the mention.
#[derive(Default)]
struct AgentRefs {
    default: Option<(String, String)>,
    named: Vec<(String, String)>,
}

impl AgentRefs {
    fn add(&mut self, id: &str, at: &str) {
        if !self.named.iter().any(|(n, _)| n == id) {
            self.named.push((id.to_owned(), at.to_owned()));
        }
    }

    /// Adds every named agent missing from `agents.list` (appended, so paths of the agents
    /// already there stay right); the top-level `default_agent` is marked `default`.
    fn write(self, base: &mut Value, prefix: &str, map: &mut PathMap, cx: &mut Ctx<'_>) {
        let mut wanted = Vec::new();
        if let Some(d) = &self.default {
            wanted.push(d.clone());
        }
        wanted.extend(
            self.named
                .into_iter()
                .filter(|(n, _)| self.default.as_ref().is_none_or(|d| &d.0 != n)),
        );
        if wanted.is_empty() {
            return;
        }
        let agents = base.object_at(&["agents"]);
        if !matches!(agents.get("list"), Some(Value::Array(_))) {
            agents.set("list", Value::Array(Vec::new()));
        }
        let Some(Value::Array(list)) = agents.get_mut("list") else {
            return;
        };
        let defined = |list: &[Value], id: &str| {
            list.iter()
                .position(|a| matches!(a.get("id"), Some(Value::String(s)) if s == id))
        };
        let current_default = list
            .iter()
            .find(|a| a.get("default") == Some(&Value::Bool(true)))
            .and_then(|a| a.get("id"))
            .cloned();
        for (i, (id, at)) in wanted.iter().enumerate() {
            let is_default = i == 0 && self.default.is_some();
            if is_default
                && let Some(Value::String(other)) = &current_default
                && other != id
            {
                cx.diags.error(
                    at.clone(),
                    format!("the config file already makes {other:?} the default agent"),
                    "keep the default agent in one of the two files",
                );
            }
            let rel = at.strip_prefix(prefix).unwrap_or(at).to_owned();
            let pos = match defined(list, id) {
                Some(pos) => pos,
                None => {
                    map.add(join_index("agents.list", list.len()), rel);
                    list.push(Value::object([("id", Value::str(id.clone()))]));
                    list.len() - 1
                }
            };
            if is_default && current_default.is_none() {
                list[pos].set("default", Value::Bool(true));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{AccountMatch, Config, ConfigErrors, GroupPolicy, GroupScope, LoadedConfig};

    const SEED: &str = r#"
default_agent: main
channels:
  - name: sales
    type: dingtalk
    app_key: dingsales
    app_secret: ${SALES_SECRET}
    agent_id: 123456
    group_enabled: true
    mention_only: false
    agent: sales-agent
    memory_scope: conversation
    routing:
      - { dept_id: 42, agent: hr }
      - dept_id: "7"
        agent: sales-agent
  - type: dingtalk
    app_key: dingops
    app_secret: plain
    group_enabled: false
    memory_scope: user
"#;

    fn env(name: &str) -> Option<String> {
        match name {
            "SALES_SECRET" => Some("from-env".into()),
            "CLAWTALK_MODEL" => Some("deepseek/deepseek-chat".into()),
            "DEEPSEEK_API_KEY" => Some("sk-x".into()),
            "HOME" => Some("/home/test".into()),
            _ => None,
        }
    }

    fn load(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<LoadedConfig, ConfigErrors> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("channels.yaml");
        std::fs::write(&path, text).unwrap();
        Config::load_with_env(Some(&path), env)
    }

    #[test]
    fn the_seed_format_maps_onto_accounts_bindings_and_agents() {
        let loaded = load(SEED, &env).unwrap();
        let c = loaded.config;
        assert_eq!(c.default_agent, "main");
        let ids: Vec<&str> = c.agents.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["main", "sales-agent", "hr"]);
        let sales = c.account("sales").unwrap();
        assert_eq!(sales.client_id, "dingsales");
        assert_eq!(sales.client_secret.expose(), "from-env");
        assert_eq!(sales.app_agent_id.as_deref(), Some("123456"));
        assert_eq!(sales.group_policy, GroupPolicy::Open);
        assert!(!sales.require_mention);
        assert_eq!(sales.session.group_scope, GroupScope::GroupSender);
        let ops = c.account("dingtalk2").unwrap();
        assert_eq!(ops.group_policy, GroupPolicy::Disabled);
        assert!(!ops.session.separate_by_conversation);
        let rules: Vec<(&str, Option<i64>)> = c
            .bindings
            .iter()
            .map(|b| {
                assert_eq!(b.account, AccountMatch::Id("sales".into()));
                (b.agent_id.as_str(), b.department)
            })
            .collect();
        assert_eq!(
            rules,
            [("sales-agent", None), ("hr", Some(42)), ("sales-agent", Some(7))]
        );
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn top_level_routing_and_response_format_apply_to_every_channel() {
        let seed = r#"
channels:
  - name: main
    type: dingtalk
    app_key: dingmain
    app_secret: s
    agent: helper
    routing:
      - { dept_id: 7, agent: sales }
  - name: other
    type: dingtalk
    app_key: dingother
    app_secret: s
    response_format: { type: markdown }
response_format:
  type: dingtalk_action_card
  btn_orientation: "0"
  buttons:
    - { title: "Approve", action_url: "dingtalk://dingtalkclient/action/approve" }
routing:
  - dept_id: "101"
    agent: code-assistant
  - { dept_id: 7, agent: finance }
default_agent: general-assistant
"#;
        let loaded = load(seed, &env).unwrap();
        let c = loaded.config;
        assert_eq!(c.default_agent, "general-assistant");
        let rules: Vec<(&str, &AccountMatch, Option<i64>)> = c
            .bindings
            .iter()
            .map(|b| (b.agent_id.as_str(), &b.account, b.department))
            .collect();
        let main = AccountMatch::Id("main".into());
        assert_eq!(
            rules,
            [
                ("helper", &main, None),
                ("sales", &main, Some(7)),
                ("code-assistant", &AccountMatch::Any, Some(101)),
                ("finance", &AccountMatch::Any, Some(7)),
            ]
        );
        let card = c.account("main").unwrap().response_format.clone().unwrap();
        assert_eq!(card.buttons[0].title, "Approve");
        assert!(c.account("other").unwrap().response_format.is_none());
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

        // Mistakes are reported at the YAML keys.
        let bad = "channels:\n  - { type: dingtalk, app_key: d, app_secret: s }\nrouting:\n  - { dept_id: x, agent: a }\nresponse_format: { type: dingtalk_action_card }\n";
        let err = load(bad, &env).unwrap_err();
        let paths: Vec<&str> = err.errors.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"routing[0].dept_id"), "{err}");
        assert!(paths.contains(&"response_format.buttons"), "{err}");
    }

    #[test]
    fn errors_name_the_yaml_key_and_a_fix() {
        let bad = r#"
channels:
  - name: sales
    type: slack
    app_key: dingsales
    group_enabled: "yes"
    memory_scope: team
    routing:
      - { dept_id: engineering, agent: hr }
      - { agent: hr }
    agent: a
    default_agent: b
    app_secert: typo
"#;
        let err = load(bad, &env).unwrap_err();
        let at = |path: &str| {
            err.errors
                .iter()
                .find(|e| e.path == path)
                .unwrap_or_else(|| panic!("no error at {path}: {err}"))
        };
        assert!(
            at("channels[0].type")
                .fix
                .as_deref()
                .unwrap()
                .contains("type: dingtalk")
        );
        at("channels[0].group_enabled");
        assert!(
            at("channels[0].memory_scope")
                .fix
                .as_deref()
                .unwrap()
                .contains("user|conversation|group")
        );
        at("channels[0].routing[0].dept_id");
        at("channels[0].routing[1].dept_id");
        at("channels[0].default_agent");
        // The reader's own check (missing secret) is reported at the seed key too.
        let secret = at("channels[0].app_secret");
        assert!(secret.fix.is_some());
        for e in &err.errors {
            assert!(
                !e.path.contains("clientSecret") && !e.path.contains("accounts"),
                "unmapped: {e}"
            );
            assert!(e.fix.is_some(), "{e}");
        }
        let typo = err
            .warnings
            .iter()
            .find(|w| w.path == "channels[0].app_secert")
            .unwrap();
        assert!(typo.fix.as_deref().unwrap().contains("app_secret"));
    }

    #[test]
    fn a_missing_variable_is_reported_at_the_seed_key() {
        let err = load(SEED, &|n| if n == "SALES_SECRET" { None } else { env(n) }).unwrap_err();
        assert_eq!(err.errors.len(), 1, "{err}");
        assert_eq!(err.errors[0].path, "channels[0].app_secret");
        assert!(err.errors[0].message.contains("SALES_SECRET"));
    }

    #[test]
    fn yaml_syntax_errors_carry_a_position() {
        let err = load("channels:\n  - type: dingtalk\n   app_key: x\n", &env).unwrap_err();
        assert!(
            err.errors[0].message.contains("YAML") && err.errors[0].message.contains("line"),
            "{err}"
        );
    }

    #[test]
    fn a_channels_yaml_beside_the_config_adds_its_bots() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("clawtalk.json"),
            r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] }, gateway: { port: 19000 } }"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("channels.yaml"),
            "channels:\n  bot:\n    type: dingtalk\n    app_key: dingbot\n    app_secret: s\n    agent: main\n",
        )
        .unwrap();
        let c = Config::load_with_env(Some(&dir.path().join("clawtalk.json")), &env)
            .unwrap()
            .config;
        assert_eq!(c.gateway.port, 19000);
        assert_eq!(c.account("bot").unwrap().client_id, "dingbot");
        assert_eq!(c.agents.len(), 1);
        // Errors in it name the file.
        std::fs::write(
            dir.path().join("channels.yaml"),
            "channels:\n  bot:\n    type: dingtalk\n    app_key: dingbot\n",
        )
        .unwrap();
        let err = Config::load_with_env(Some(&dir.path().join("clawtalk.json")), &env).unwrap_err();
        assert!(
            err.errors[0]
                .path
                .ends_with("channels.yaml: channels.bot.app_secret"),
            "{err}"
        );
        // Once imported, the JSON's own channels win and the YAML is not read twice.
        std::fs::write(
            dir.path().join("clawtalk.json"),
            r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
                 channels: { dingtalk: { clientId: "dingjson", clientSecret: "s" } } }"#,
        )
        .unwrap();
        let loaded = Config::load_with_env(Some(&dir.path().join("clawtalk.json")), &env).unwrap();
        assert_eq!(loaded.config.accounts.len(), 1);
        assert_eq!(loaded.config.accounts[0].client_id, "dingjson");
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.path.ends_with("channels.yaml") && w.message.contains("not read"))
        );
    }
}
