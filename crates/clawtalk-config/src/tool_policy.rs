//! Which tools an agent may use and which calls need a person's approval, decided the way
//! OpenClaw decides tool availability.
//!
//! OpenClaw's rules (openclaw/openclaw `src/agents/tool-catalog.ts` for profiles and groups,
//! `src/agents/tool-policy.ts` for name normalisation and group expansion,
//! `src/agents/tool-policy-match.ts` and `pi-tools.policy.ts` for matching and precedence;
//! docs.openclaw.ai/tools):
//!
//! - Names are trimmed and lower-cased; `bash` means `exec`. Entries may use `*` wildcards
//!   and `group:<name>` shorthands, expanded before matching.
//! - The policy is a pipeline of layers: the profile (the agent's `tools.profile`, else the
//!   global one, widened by `alsoAllow`), then the global `tools.allow`/`tools.deny`, then
//!   the agent's. A tool is available only when every layer lets it through.
//! - Within a layer deny wins; an empty allow list lets everything not denied through; a
//!   non-empty one lets through only what it matches.
//!
//! clawtalk adds `group:mcp` (every MCP tool, named `<server>__<tool>`) and `group:dingtalk`
//! (the tools that act in DingTalk), and files its own tools under OpenClaw's groups and
//! profiles where they do the same job (see [`CATALOGUE`]).

use std::time::Duration;

/// OpenClaw's `tools.profile`: the base set of tools before allow/deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolProfile {
    /// Status only.
    Minimal,
    /// Files, runtime, web, memory, sessions, scheduling, media.
    Coding,
    /// Sending messages and the session tools.
    Messaging,
    /// No restriction (OpenClaw's default).
    Full,
}

impl ToolProfile {
    /// The spellings `tools.profile` accepts.
    pub const NAMES: &[(&'static str, Self)] = &[
        ("minimal", Self::Minimal),
        ("coding", Self::Coding),
        ("messaging", Self::Messaging),
        ("full", Self::Full),
    ];
}

/// `tools.{profile, allow, alsoAllow, deny}`, globally or for one agent, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolPolicyConfig {
    /// `profile`.
    pub profile: Option<ToolProfile>,
    /// `allow`: `None` when the key is absent (an empty list is still a list).
    pub allow: Option<Vec<String>>,
    /// `alsoAllow`: added to the profile's list.
    pub also_allow: Option<Vec<String>>,
    /// `deny`.
    pub deny: Vec<String>,
}

/// The default wait for a decision on a call that needs approval.
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(600);

/// `tools.approval` (clawtalk key), globally or for one agent: calls that wait for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalConfig {
    /// `require`: tool names, `group:` shorthands and `*` patterns (`<server>__*` for every
    /// tool of one MCP server).
    pub require: Vec<String>,
    /// `timeoutSeconds`, default 600: an unanswered request is denied after this long.
    pub timeout: Duration,
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        Self {
            require: Vec::new(),
            timeout: DEFAULT_APPROVAL_TIMEOUT,
        }
    }
}

/// One agent's tool settings (`agents.list[].tools`): each part, when set, replaces the
/// global one for this agent's profile and approvals, and adds a layer for allow/deny.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentTools {
    /// `profile`, `allow`, `alsoAllow`, `deny`.
    pub policy: ToolPolicyConfig,
    /// `approval`: replaces the global `tools.approval` for this agent.
    pub approval: Option<ApprovalConfig>,
}

/// The top-level `tools` keys this module reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolsConfig {
    /// `profile`, `allow`, `alsoAllow`, `deny`.
    pub policy: ToolPolicyConfig,
    /// `approval`.
    pub approval: ApprovalConfig,
    /// `approval.cardTemplateId`: the DingTalk card template of approval requests.
    pub approval_card_template: Option<String>,
}

/// A tool the policy knows: OpenClaw's catalogue, then clawtalk's own tools.
struct Entry {
    name: &'static str,
    /// OpenClaw's section (`group:<section>`), when the tool belongs to one.
    section: Option<&'static str>,
    profiles: &'static [ToolProfile],
    /// Part of `group:openclaw` (OpenClaw's native tools).
    native: bool,
    /// Part of `group:dingtalk`.
    dingtalk: bool,
}

const fn tool(
    name: &'static str,
    section: &'static str,
    profiles: &'static [ToolProfile],
    native: bool,
) -> Entry {
    Entry {
        name,
        section: Some(section),
        profiles,
        native,
        dingtalk: false,
    }
}

const fn ours(
    name: &'static str,
    section: Option<&'static str>,
    profiles: &'static [ToolProfile],
    dingtalk: bool,
) -> Entry {
    Entry {
        name,
        section,
        profiles,
        native: true,
        dingtalk,
    }
}

use ToolProfile::{Coding, Messaging, Minimal};

const NONE: &[ToolProfile] = &[];
const CODING: &[ToolProfile] = &[Coding];
const MESSAGING: &[ToolProfile] = &[Messaging];
const CODING_MESSAGING: &[ToolProfile] = &[Coding, Messaging];
const ALL: &[ToolProfile] = &[Minimal, Coding, Messaging];

/// Every tool name the policy knows. OpenClaw's catalogue comes first so that an OpenClaw
/// file naming its tools (`exec`, `read`, …) reads without error; clawtalk's tools follow,
/// placed where OpenClaw has the same job: the `send_*` tools send messages like OpenClaw's
/// `message` (group:messaging, messaging profile), `cron_*` schedule like its `cron`
/// (group:automation, coding profile), `memory_save`/`memory_forget` sit with its memory
/// tools, and `get_time` answers what OpenClaw's `session_status` reports among other
/// things, so it is in every profile.
const CATALOGUE: &[Entry] = &[
    tool("read", "fs", CODING, false),
    tool("write", "fs", CODING, false),
    tool("edit", "fs", CODING, false),
    tool("apply_patch", "fs", CODING, false),
    tool("exec", "runtime", CODING, false),
    tool("process", "runtime", CODING, false),
    tool("web_search", "web", CODING, true),
    tool("web_fetch", "web", CODING, true),
    tool("memory_search", "memory", CODING, true),
    tool("memory_get", "memory", CODING, true),
    tool("sessions_list", "sessions", CODING_MESSAGING, true),
    tool("sessions_history", "sessions", CODING_MESSAGING, true),
    tool("sessions_send", "sessions", CODING_MESSAGING, true),
    tool("sessions_spawn", "sessions", CODING, true),
    tool("sessions_yield", "sessions", CODING, true),
    tool("subagents", "sessions", CODING, true),
    tool("session_status", "sessions", ALL, true),
    tool("switch_model", "sessions", ALL, true),
    tool("browser", "ui", NONE, true),
    tool("canvas", "ui", NONE, true),
    tool("message", "messaging", MESSAGING, true),
    tool("cron", "automation", CODING, true),
    tool("gateway", "automation", NONE, true),
    tool("nodes", "nodes", NONE, true),
    tool("agents_list", "agents", NONE, true),
    tool("image", "media", CODING, true),
    tool("image_generate", "media", CODING, true),
    tool("tts", "media", NONE, true),
    ours("get_time", None, ALL, false),
    ours("send_action_card", Some("messaging"), MESSAGING, true),
    ours("send_image", Some("messaging"), MESSAGING, true),
    ours("send_file", Some("messaging"), MESSAGING, true),
    ours("cron_create", Some("automation"), CODING, true),
    ours("cron_list", Some("automation"), CODING, true),
    ours("cron_cancel", Some("automation"), CODING, true),
    ours("memory_save", Some("memory"), CODING, false),
    ours("memory_forget", Some("memory"), CODING, false),
];

/// Group names besides OpenClaw's sections.
const GROUP_OPENCLAW: &str = "group:openclaw";
const GROUP_DINGTALK: &str = "group:dingtalk";
const GROUP_MCP: &str = "group:mcp";
/// MCP tools are offered as `<server>__<tool>`; no built-in tool has a double underscore.
const MCP_PATTERN: &str = "*__*";

/// Trimmed, lower-cased, with OpenClaw's aliases applied.
#[must_use]
pub fn normalize(name: &str) -> String {
    let name = name.trim().to_ascii_lowercase();
    match name.as_str() {
        "bash" => "exec".to_owned(),
        "apply-patch" => "apply_patch".to_owned(),
        _ => name,
    }
}

/// Whether `name` (normalised) is a tool the catalogue knows.
#[must_use]
pub fn is_known_tool(name: &str) -> bool {
    CATALOGUE.iter().any(|e| e.name == name)
}

/// Every group name, for messages.
#[must_use]
pub fn group_names() -> Vec<String> {
    let mut names: Vec<String> = CATALOGUE
        .iter()
        .filter_map(|e| e.section.map(|s| format!("group:{s}")))
        .collect();
    names.extend([GROUP_OPENCLAW, GROUP_DINGTALK, GROUP_MCP].map(str::to_owned));
    names.sort();
    names.dedup();
    names
}

/// The patterns a group stands for; `None` when `entry` is not a known group.
fn group_members(entry: &str) -> Option<Vec<String>> {
    let members: Vec<String> = match entry {
        GROUP_MCP => vec![MCP_PATTERN.to_owned()],
        GROUP_OPENCLAW => names_where(|e| e.native),
        GROUP_DINGTALK => names_where(|e| e.dingtalk),
        _ => {
            let section = entry.strip_prefix("group:")?;
            names_where(|e| e.section == Some(section))
        }
    };
    (!members.is_empty()).then_some(members)
}

fn names_where(keep: impl Fn(&Entry) -> bool) -> Vec<String> {
    CATALOGUE
        .iter()
        .filter(|e| keep(e))
        .map(|e| e.name.to_owned())
        .collect()
}

/// What kind of entry an allow/deny/require item is, for `config validate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A known tool, a known group or a pattern with `*`.
    Known,
    /// Names no built-in tool but has the `<server>__<tool>` shape of an MCP tool.
    MaybeMcp,
    /// `group:` something that is not a group.
    UnknownGroup,
    /// Not a tool clawtalk or OpenClaw has.
    UnknownTool,
}

/// Classifies one list entry as written.
#[must_use]
pub fn classify(entry: &str) -> EntryKind {
    let name = normalize(entry);
    if name.contains('*') || is_known_tool(&name) {
        EntryKind::Known
    } else if name.starts_with("group:") {
        if group_members(&name).is_some() {
            EntryKind::Known
        } else {
            EntryKind::UnknownGroup
        }
    } else if name.contains("__") {
        EntryKind::MaybeMcp
    } else {
        EntryKind::UnknownTool
    }
}

/// A compiled list of names and patterns (groups expanded).
#[derive(Debug, Clone, Default)]
struct Patterns(Vec<Pattern>);

#[derive(Debug, Clone)]
enum Pattern {
    All,
    Exact(String),
    /// The literal pieces between `*`s.
    Glob(Vec<String>),
}

impl Patterns {
    fn compile(list: &[String]) -> Self {
        let mut out = Vec::new();
        for raw in list {
            let name = normalize(raw);
            if name.is_empty() {
                continue;
            }
            let expanded = group_members(&name).unwrap_or_else(|| vec![name]);
            for item in expanded {
                out.push(if item == "*" {
                    Pattern::All
                } else if item.contains('*') {
                    Pattern::Glob(item.split('*').map(str::to_owned).collect())
                } else {
                    Pattern::Exact(item)
                });
            }
        }
        Self(out)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn matches(&self, name: &str) -> bool {
        self.0.iter().any(|p| match p {
            Pattern::All => true,
            Pattern::Exact(exact) => exact == name,
            Pattern::Glob(pieces) => glob_matches(pieces, name),
        })
    }
}

/// `pieces` are the text between the `*`s of a pattern: the first must start the name, the
/// last must end it, the others appear in order in between.
fn glob_matches(pieces: &[String], name: &str) -> bool {
    let (Some(first), Some(last)) = (pieces.first(), pieces.last()) else {
        return true;
    };
    if !name.starts_with(first.as_str()) {
        return false;
    }
    let mut rest = &name[first.len()..];
    for middle in &pieces[1..pieces.len() - 1] {
        match rest.find(middle.as_str()) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    pieces.len() > 1 && rest.len() >= last.len() && rest.ends_with(last.as_str())
}

/// One layer of the pipeline.
#[derive(Debug, Clone, Default)]
struct Layer {
    allow: Patterns,
    deny: Patterns,
}

impl Layer {
    fn lets_through(&self, name: &str) -> bool {
        if self.deny.matches(name) {
            return false;
        }
        self.allow.is_empty() || self.allow.matches(name)
    }
}

/// The resolved policy of one agent: which tools it may see and call, and which calls wait
/// for approval.
#[derive(Debug, Clone, Default)]
pub struct ToolPolicy {
    layers: Vec<Layer>,
    approval: Patterns,
    approval_timeout: Duration,
}

impl ToolPolicy {
    /// The policy for an agent with `agent` settings under the global `global` ones.
    #[must_use]
    pub fn resolve(global: &ToolsConfig, agent: &AgentTools) -> Self {
        let mut layers = Vec::new();
        let profile = agent.policy.profile.or(global.policy.profile);
        let also_allow = agent
            .policy
            .also_allow
            .as_ref()
            .or(global.policy.also_allow.as_ref());
        if let Some(mut allow) = profile.and_then(profile_allow) {
            allow.extend(also_allow.into_iter().flatten().map(|n| normalize(n)));
            layers.push(Layer {
                allow: Patterns::compile(&allow),
                deny: Patterns::default(),
            });
        }
        for policy in [&global.policy, &agent.policy] {
            layers.push(Layer {
                allow: Patterns::compile(policy.allow.as_deref().unwrap_or_default()),
                deny: Patterns::compile(&policy.deny),
            });
        }
        let approval = agent.approval.as_ref().unwrap_or(&global.approval);
        Self {
            layers,
            approval: Patterns::compile(&approval.require),
            approval_timeout: approval.timeout,
        }
    }

    /// Whether the agent may see and call `name`.
    #[must_use]
    pub fn allows(&self, name: &str) -> bool {
        let name = normalize(name);
        self.layers.iter().all(|l| l.lets_through(&name))
    }

    /// Whether a call of `name` waits for a person's approval.
    #[must_use]
    pub fn needs_approval(&self, name: &str) -> bool {
        self.approval.matches(&normalize(name))
    }

    /// How long an approval request waits before it counts as denied.
    #[must_use]
    pub fn approval_timeout(&self) -> Duration {
        self.approval_timeout
    }

    /// Whether any call may need approval (no store lookups otherwise).
    #[must_use]
    pub fn has_approvals(&self) -> bool {
        !self.approval.is_empty()
    }
}

/// The profile's allow list; `None` for `full` (no layer at all).
fn profile_allow(profile: ToolProfile) -> Option<Vec<String>> {
    (profile != ToolProfile::Full).then(|| names_where(|e| e.profiles.contains(&profile)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| (*s).to_owned()).collect())
    }

    fn global(profile: Option<ToolProfile>, allow: &[&str], deny: &[&str]) -> ToolsConfig {
        ToolsConfig {
            policy: ToolPolicyConfig {
                profile,
                allow: (!allow.is_empty()).then(|| list(allow)).flatten(),
                also_allow: None,
                deny: list(deny).unwrap_or_default(),
            },
            ..ToolsConfig::default()
        }
    }

    fn policy(global: &ToolsConfig) -> ToolPolicy {
        ToolPolicy::resolve(global, &AgentTools::default())
    }

    #[test]
    fn no_settings_allow_everything() {
        let p = policy(&ToolsConfig::default());
        for name in ["get_time", "web_fetch", "weather__forecast", "anything"] {
            assert!(p.allows(name), "{name}");
        }
        assert!(!p.needs_approval("get_time"));
        assert!(!p.has_approvals());
    }

    #[test]
    fn profiles_follow_openclaws_catalogue() {
        let minimal = policy(&global(Some(ToolProfile::Minimal), &[], &[]));
        assert!(minimal.allows("session_status") && minimal.allows("get_time"));
        assert!(!minimal.allows("web_fetch") && !minimal.allows("send_image"));
        assert!(!minimal.allows("cron_create") && !minimal.allows("srv__tool"));

        let coding = policy(&global(Some(ToolProfile::Coding), &[], &[]));
        for name in ["read", "exec", "web_search", "memory_get", "cron_list", "image"] {
            assert!(coding.allows(name), "{name}");
        }
        assert!(!coding.allows("message") && !coding.allows("send_action_card"));
        assert!(!coding.allows("browser") && !coding.allows("gateway"));

        let messaging = policy(&global(Some(ToolProfile::Messaging), &[], &[]));
        for name in ["message", "sessions_send", "send_action_card", "send_file"] {
            assert!(messaging.allows(name), "{name}");
        }
        assert!(!messaging.allows("exec") && !messaging.allows("cron_create"));
        assert!(!messaging.allows("sessions_spawn"));

        let full = policy(&global(Some(ToolProfile::Full), &[], &[]));
        assert!(full.allows("browser") && full.allows("srv__x"));
    }

    #[test]
    fn deny_wins_over_allow_and_is_case_insensitive() {
        let p = policy(&global(None, &["group:web", "get_time"], &["WEB_FETCH"]));
        assert!(p.allows("web_search") && p.allows("Get_Time"));
        assert!(!p.allows("web_fetch") && !p.allows("Web_Fetch"));
        assert!(
            !p.allows("cron_list"),
            "an allow list excludes what it does not name"
        );
    }

    #[test]
    fn an_empty_allow_list_excludes_nothing() {
        let mut g = global(None, &[], &["exec"]);
        g.policy.allow = Some(Vec::new());
        let p = policy(&g);
        assert!(p.allows("get_time") && !p.allows("exec"));
    }

    #[test]
    fn wildcards_match_anywhere() {
        let p = policy(&global(None, &["cron_*", "*_image", "we*ch"], &["*__secret*"]));
        assert!(p.allows("cron_create") && p.allows("cron_list"));
        assert!(p.allows("send_image") && p.allows("web_fetch") && p.allows("web_search"));
        assert!(!p.allows("send_file") && !p.allows("cron"));
        let all = policy(&global(None, &["*"], &["gh__secret_read"]));
        assert!(all.allows("anything") && !all.allows("gh__secret_read"));
        assert!(glob_matches(&["a".into(), "a".into()], "aa"));
        assert!(!glob_matches(&["ab".into(), "ba".into()], "aba"));
    }

    #[test]
    fn groups_expand_including_ours() {
        let p = policy(&global(None, &["group:dingtalk", "group:memory"], &[]));
        for name in [
            "send_action_card",
            "send_image",
            "send_file",
            "cron_create",
            "cron_list",
            "cron_cancel",
            "memory_search",
            "memory_get",
            "memory_save",
        ] {
            assert!(p.allows(name), "{name}");
        }
        assert!(!p.allows("get_time") && !p.allows("web_fetch"));

        let mcp = policy(&global(None, &["group:mcp"], &[]));
        assert!(mcp.allows("weather__forecast") && !mcp.allows("web_fetch"));

        let openclaw = policy(&global(None, &["group:openclaw"], &[]));
        assert!(openclaw.allows("web_fetch") && openclaw.allows("send_image"));
        assert!(!openclaw.allows("exec") && !openclaw.allows("srv__tool"));

        let web = policy(&global(None, &[], &["group:web"]));
        assert!(!web.allows("web_search") && !web.allows("web_fetch") && web.allows("get_time"));
    }

    #[test]
    fn layers_must_all_agree_and_the_agent_profile_replaces_the_global_one() {
        let g = global(Some(ToolProfile::Coding), &[], &["exec"]);
        let agent = AgentTools {
            policy: ToolPolicyConfig {
                profile: Some(ToolProfile::Messaging),
                allow: list(&["exec", "send_image", "sessions_list"]),
                ..ToolPolicyConfig::default()
            },
            approval: None,
        };
        let p = ToolPolicy::resolve(&g, &agent);
        assert!(
            !p.allows("exec"),
            "the global deny cannot be undone by an agent allow"
        );
        assert!(p.allows("send_image"), "messaging profile + agent allow");
        assert!(!p.allows("cron_list"), "outside the agent's messaging profile");
        assert!(!p.allows("send_file"), "outside the agent's allow list");
    }

    #[test]
    fn also_allow_widens_the_profile() {
        let mut g = global(Some(ToolProfile::Minimal), &[], &[]);
        g.policy.also_allow = list(&["group:mcp", "cron_list"]);
        let p = policy(&g);
        assert!(p.allows("srv__tool") && p.allows("cron_list") && p.allows("get_time"));
        assert!(!p.allows("cron_create"));
    }

    #[test]
    fn approval_lists_use_the_same_names() {
        let mut g = ToolsConfig::default();
        g.approval.require = list(&["Web_Fetch", "group:dingtalk", "github__*"]).unwrap();
        let p = policy(&g);
        assert!(p.has_approvals());
        assert!(p.needs_approval("web_fetch") && p.needs_approval("cron_create"));
        assert!(p.needs_approval("github__create_issue") && !p.needs_approval("gitlab__x"));
        assert!(!p.needs_approval("get_time"));
        assert_eq!(p.approval_timeout(), DEFAULT_APPROVAL_TIMEOUT);

        let agent = AgentTools {
            approval: Some(ApprovalConfig {
                require: list(&["get_time"]).unwrap(),
                timeout: Duration::from_secs(30),
            }),
            ..AgentTools::default()
        };
        let p = ToolPolicy::resolve(&g, &agent);
        assert!(p.needs_approval("get_time") && !p.needs_approval("web_fetch"));
        assert_eq!(p.approval_timeout(), Duration::from_secs(30));
    }

    #[test]
    fn entries_are_classified_for_validation() {
        assert_eq!(classify("web_fetch"), EntryKind::Known);
        assert_eq!(classify("Bash"), EntryKind::Known);
        assert_eq!(classify("group:mcp"), EntryKind::Known);
        assert_eq!(classify("group:fs"), EntryKind::Known);
        assert_eq!(classify("srv__*"), EntryKind::Known);
        assert_eq!(classify("group:nope"), EntryKind::UnknownGroup);
        assert_eq!(classify("github__create_issue"), EntryKind::MaybeMcp);
        assert_eq!(classify("web_fecth"), EntryKind::UnknownTool);
        assert!(group_names().contains(&"group:dingtalk".to_owned()));
    }
}
