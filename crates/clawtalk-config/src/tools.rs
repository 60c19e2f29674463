//! Reads the tool policy keys of `tools` and `agents.list[].tools`: `profile`, `allow`,
//! `alsoAllow`, `deny` (OpenClaw's) and `approval` (clawtalk's). Every name in the lists is
//! checked against the tools OpenClaw and clawtalk know, so a typo is an error instead of a
//! tool silently allowed or never denied.

use std::time::Duration;

use super::reader::{Ctx, Node, Obj};
use super::tool_policy::{
    AgentTools, ApprovalConfig, DEFAULT_APPROVAL_TIMEOUT, EntryKind, ToolPolicyConfig, ToolProfile,
    ToolsConfig, classify, group_names,
};

/// OpenClaw `tools` keys clawtalk does not use (`web` is read by the web tools' reader).
const IGNORED: &[&str] = &[
    "byProvider",
    "exec",
    "elevated",
    "fs",
    "sandbox",
    "subagents",
    "loopDetection",
    "media",
    "links",
    "message",
    "agentToAgent",
    "sessions",
];

/// A week: a request older than that is forgotten, not waited for.
const MAX_TIMEOUT_SECONDS: i64 = 7 * 86_400;

/// The top-level `tools` object.
pub fn read_tools(obj: &Obj<'_>, cx: &mut Ctx<'_>) -> ToolsConfig {
    let policy = read_policy(obj, cx);
    let mut approval = ApprovalConfig::default();
    let mut approval_card_template = None;
    if let Some(a) = obj.get("approval").and_then(|n| n.node().object(cx)) {
        approval = read_approval(&a, cx);
        approval_card_template = a.get("cardTemplateId").and_then(|n| n.node().nonempty_string(cx));
        if !approval.require.is_empty() && approval_card_template.is_none() {
            cx.diags.error(
                a.key_path("cardTemplateId"),
                "approvals are required but no approval card template is set",
                "create a card template with the variables title, content, statusText and buttons approval_allow_once, approval_allow_always, approval_deny (see docs/tool-policy.md), and set its id here",
            );
        }
        a.finish(cx, &[], "");
    }
    obj.accept(&["web", "mcp"]);
    obj.finish(cx, IGNORED, "OpenClaw tool setting not used by clawtalk; ignored");
    ToolsConfig {
        policy,
        approval,
        approval_card_template,
    }
}

/// An agent's `tools` object.
pub fn read_agent_tools(obj: &Obj<'_>, cx: &mut Ctx<'_>) -> AgentTools {
    let policy = read_policy(obj, cx);
    let approval = obj.get("approval").and_then(|n| n.node().object(cx)).map(|a| {
        let approval = read_approval(&a, cx);
        a.finish(cx, &[], "");
        approval
    });
    obj.accept(&["web", "mcp"]);
    obj.finish(cx, IGNORED, "OpenClaw tool setting not used by clawtalk; ignored");
    AgentTools { policy, approval }
}

fn read_policy(obj: &Obj<'_>, cx: &mut Ctx<'_>) -> ToolPolicyConfig {
    ToolPolicyConfig {
        profile: obj
            .get("profile")
            .and_then(|n| n.node().choice(cx, ToolProfile::NAMES)),
        allow: obj.get("allow").and_then(|n| names(&n.node(), cx)),
        also_allow: obj.get("alsoAllow").and_then(|n| names(&n.node(), cx)),
        deny: obj
            .get("deny")
            .and_then(|n| names(&n.node(), cx))
            .unwrap_or_default(),
    }
}

fn read_approval(obj: &Obj<'_>, cx: &mut Ctx<'_>) -> ApprovalConfig {
    ApprovalConfig {
        require: obj
            .get("require")
            .and_then(|n| names(&n.node(), cx))
            .unwrap_or_default(),
        timeout: obj
            .get("timeoutSeconds")
            .and_then(|n| n.node().int_in(cx, 1, MAX_TIMEOUT_SECONDS))
            .and_then(|s| u64::try_from(s).ok())
            .map_or(DEFAULT_APPROVAL_TIMEOUT, Duration::from_secs),
    }
}

/// A list of tool names, groups and patterns; unknown names are errors, except names shaped
/// like an MCP tool (`<server>__<tool>`), which only a running server can confirm.
fn names(node: &Node<'_, '_>, cx: &mut Ctx<'_>) -> Option<Vec<String>> {
    let items = node.array(cx)?;
    let mut out = Vec::new();
    for item in &items {
        let Some(name) = item.node().nonempty_string(cx) else {
            continue;
        };
        match classify(&name) {
            EntryKind::Known => {}
            EntryKind::MaybeMcp => cx.diags.warn(
                &item.path,
                format!("{name:?} is not a built-in tool"),
                Some("fine if an MCP server offers it (tools are named <server>__<tool>); check the spelling otherwise".into()),
            ),
            EntryKind::UnknownGroup => cx.diags.error(
                &item.path,
                format!("{name:?} is not a tool group"),
                format!("use one of {}", group_names().join(", ")),
            ),
            EntryKind::UnknownTool => cx.diags.error(
                &item.path,
                format!("{name:?} is not a tool clawtalk or OpenClaw knows"),
                "check the spelling (e.g. web_fetch, cron_create, send_image), use a group such as group:web, or `*` patterns; MCP tools are <server>__<tool>",
            ),
        }
        out.push(name);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use crate::test_support::config;
    use crate::{Config, ToolPolicy};

    fn load(text: &str) -> Result<crate::LoadedConfig, crate::ConfigErrors> {
        Config::from_json5(text, &|k| (k == "HOME").then(|| "/tmp/h".to_owned()))
    }

    const BASE: &str = r#"channels: { dingtalk: { clientId: "dingx", clientSecret: "s" } }, models: { providers: { mock: { baseUrl: "http://127.0.0.1:9/v1", api: "openai-completions", models: [{ id: "m" }] } } }"#;

    #[test]
    fn global_and_agent_settings_are_read() {
        let c = config(&format!(
            r#"{{ {BASE},
              tools: {{ profile: "coding", deny: ["exec"], alsoAllow: ["group:mcp"],
                        approval: {{ require: ["cron_create", "srv__*"], timeoutSeconds: 60, cardTemplateId: "tpl.schema" }},
                        web: {{ search: {{}} }} }},
              agents: {{ list: [ {{ id: "main", model: "mock/m",
                  tools: {{ allow: ["group:dingtalk", "get_time"], approval: {{ require: ["get_time"] }} }} }} ] }} }}"#
        ));
        assert_eq!(c.tools.approval_card_template.as_deref(), Some("tpl.schema"));
        assert_eq!(c.tools.approval.timeout.as_secs(), 60);
        let agent = c.agent("main").unwrap();
        let p = ToolPolicy::resolve(&c.tools, &agent.tools);
        assert!(
            p.allows("cron_create") && p.allows("get_time"),
            "coding profile ∩ agent allow"
        );
        assert!(!p.allows("web_fetch"), "not in the agent's allow list");
        assert!(!p.allows("send_image"), "not in the coding profile");
        assert!(p.needs_approval("get_time") && !p.needs_approval("cron_create"));
    }

    #[test]
    fn unknown_names_are_errors_and_mcp_shaped_names_warnings() {
        let err = load(&format!(
            r#"{{ {BASE}, agents: {{ defaults: {{ model: "mock/m" }} }},
                  tools: {{ allow: ["web_fecth", "group:nope"], deny: ["github__delete_repo"] }} }}"#
        ))
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("tools.allow[0]") && text.contains("web_fecth"),
            "{text}"
        );
        assert!(
            text.contains("tools.allow[1]") && text.contains("not a tool group"),
            "{text}"
        );
        assert!(text.contains("group:web"), "the fix lists the groups: {text}");
        let ok = load(&format!(
            r#"{{ {BASE}, agents: {{ defaults: {{ model: "mock/m" }} }},
                  tools: {{ deny: ["github__delete_repo"], profile: "full" }} }}"#
        ))
        .unwrap();
        assert!(
            ok.warnings
                .iter()
                .any(|w| w.path == "tools.deny[0]" && w.to_string().contains("MCP")),
            "{:?}",
            ok.warnings
        );
    }

    #[test]
    fn wrong_values_are_errors() {
        let err = load(&format!(
            r#"{{ {BASE}, agents: {{ defaults: {{ model: "mock/m" }} }},
                  tools: {{ profile: "everything", approval: {{ timeoutSeconds: 0 }} }} }}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("tools.profile") && err.contains("minimal|coding|messaging|full"),
            "{err}"
        );
        assert!(err.contains("tools.approval.timeoutSeconds"), "{err}");
        let err = load(&format!(
            r#"{{ {BASE}, agents: {{ defaults: {{ model: "mock/m" }} }},
                  tools: {{ approval: {{ require: ["get_time"] }} }} }}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("tools.approval.cardTemplateId"), "{err}");
    }
}
