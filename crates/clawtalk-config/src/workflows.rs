//! `workflows[]` (clawtalk key): approval (OA) events routed to workflow agents.
//!
//! ```json5
//! workflows: [
//!   { match: { event: "bpms_task_change", processCode: "PROC-…", type: "start" },
//!     agent: "approvals", notify: "approver" },
//!   { match: { event: "bpms_instance_change", type: "finish" },
//!     agent: "approvals", notify: { group: "cid…" } },
//! ]
//! ```

use super::reader::{Ctx, IGNORED_KEY, Node, Obj};
use super::types::{AgentConfig, DingTalkAccount, WorkflowNotify, WorkflowRule};
use super::value::Value;

/// The event types a rule can name.
const EVENTS: [&str; 2] = ["bpms_instance_change", "bpms_task_change"];

/// A rule as written, with its path for the cross-checks.
pub struct WorkflowDraft {
    pub rule: WorkflowRule,
    pub path: String,
}

/// Reads the `workflows` array; problems are recorded in `cx`.
pub fn read_workflows(node: &Node<'_, '_>, cx: &mut Ctx<'_>) -> Vec<WorkflowDraft> {
    node.array(cx)
        .unwrap_or_default()
        .iter()
        .filter_map(|item| {
            let obj = item.node().object(cx)?;
            read_rule(&obj, cx)
        })
        .collect()
}

fn read_rule(obj: &Obj<'_>, cx: &mut Ctx<'_>) -> Option<WorkflowDraft> {
    obj.accept(&["comment"]);
    let agent_id = obj.get("agent").and_then(|n| n.node().id_string(cx));
    if obj.get("agent").is_none() {
        cx.diags.error(
            obj.key_path("agent"),
            "workflow rule has no agent",
            "add agent: the id of the agent that writes the notification",
        );
    }
    let notify = obj.get("notify").and_then(|n| read_notify(&n.node(), cx));
    if obj.get("notify").is_none() {
        cx.diags.error(
            obj.key_path("notify"),
            "workflow rule has no notify",
            "add notify: \"approver\", \"originator\" or { group: \"cid…\" }",
        );
    }
    let matcher = obj.get("match").and_then(|n| n.node().object(cx));
    obj.finish(cx, &[], IGNORED_KEY);
    let text = |m: &Obj<'_>, key, cx: &mut Ctx<'_>| m.get(key).and_then(|n| n.node().nonempty_string(cx));
    let (account_id, event, process_code, change_type, result) = match &matcher {
        Some(m) => {
            let account_id = m.get("accountId").and_then(|n| n.node().id_string(cx));
            let event = m.get("event").and_then(|n| {
                n.node()
                    .choice(cx, &[(EVENTS[0], EVENTS[0]), (EVENTS[1], EVENTS[1])])
                    .map(str::to_owned)
            });
            let fields = (
                text(m, "processCode", cx),
                text(m, "type", cx),
                text(m, "result", cx),
            );
            m.finish(cx, &[], IGNORED_KEY);
            (account_id, event, fields.0, fields.1, fields.2)
        }
        None => (None, None, None, None, None),
    };
    Some(WorkflowDraft {
        rule: WorkflowRule {
            account_id,
            event,
            process_code,
            change_type,
            result,
            agent_id: agent_id?,
            notify: notify?,
        },
        path: obj.path().to_owned(),
    })
}

fn read_notify(node: &Node<'_, '_>, cx: &mut Ctx<'_>) -> Option<WorkflowNotify> {
    if matches!(node.value, Value::Object(_)) {
        let obj = node.object(cx)?;
        let cid = obj.get("group").and_then(|n| n.node().id_string(cx));
        if obj.get("group").is_none() {
            cx.diags.error(
                obj.key_path("group"),
                "notify object has no group",
                "write notify: { group: \"cid…\" } (the group's openConversationId)",
            );
        }
        obj.finish(cx, &[], IGNORED_KEY);
        return cid.map(WorkflowNotify::Group);
    }
    let approver = node.choice(cx, &[("approver", true), ("originator", false)])?;
    Some(if approver {
        WorkflowNotify::Approver
    } else {
        WorkflowNotify::Originator
    })
}

/// Cross-checks against agents and accounts; returns the usable rules.
pub fn check_workflows(
    drafts: Vec<WorkflowDraft>,
    agents: &[AgentConfig],
    accounts: &[DingTalkAccount],
    cx: &mut Ctx<'_>,
) -> Vec<WorkflowRule> {
    let mut out = Vec::new();
    for d in drafts {
        let mut ok = true;
        if !agents.iter().any(|a| a.id == d.rule.agent_id) {
            let ids: Vec<&str> = agents.iter().map(|a| a.id.as_str()).collect();
            cx.diags.error(
                format!("{}.agent", d.path),
                format!("unknown agent {:?}", d.rule.agent_id),
                format!("use one of: {}", ids.join(", ")),
            );
            ok = false;
        }
        if let Some(id) = &d.rule.account_id
            && !accounts.iter().any(|a| &a.id == id)
        {
            let ids: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
            cx.diags.error(
                format!("{}.match.accountId", d.path),
                format!("no DingTalk account named {id:?}"),
                format!("use one of: {} (or leave accountId out for any)", ids.join(", ")),
            );
            ok = false;
        }
        // Each event names one person: the approver in task events, the initiator in
        // instance events. A rule that can only ever miss its recipient is a mistake.
        let mismatch = match (&d.rule.notify, d.rule.event.as_deref()) {
            (WorkflowNotify::Approver, Some("bpms_instance_change")) => {
                Some(("approver", "bpms_task_change"))
            }
            (WorkflowNotify::Originator, Some("bpms_task_change")) => {
                Some(("originator", "bpms_instance_change"))
            }
            _ => None,
        };
        if let Some((who, event)) = mismatch {
            cx.diags.error(
                format!("{}.notify", d.path),
                format!("{who} is only known in {event} events (staffId names a different person here)"),
                format!("set match.event: \"{event}\", or notify a group"),
            );
            ok = false;
        }
        if ok {
            out.push(d.rule);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::{Config, WorkflowNotify};

    fn load(workflows: &str) -> Result<Config, String> {
        let text = format!(
            r#"{{ agents: {{ list: [ {{ id: "main", model: "deepseek/deepseek-chat" }},
                                     {{ id: "approvals", model: "deepseek/deepseek-chat" }} ] }},
                 channels: {{ dingtalk: {{ clientId: "dingbot", clientSecret: "s", dmPolicy: "pairing" }} }},
                 gateway: {{ stateDir: "/tmp/x" }},
                 workflows: {workflows} }}"#
        );
        let env = |name: &str| (name == "DEEPSEEK_API_KEY").then(|| "sk-test".to_owned());
        Config::from_json5(&text, &env)
            .map(|l| l.config)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn rules_are_read_in_order() {
        let config = load(
            r#"[ { match: { event: "bpms_task_change", processCode: "PROC-1", type: "start" }, agent: "approvals", notify: "approver" },
                 { match: { result: "refuse" }, agent: "main", notify: { group: "cidG==" } } ]"#,
        )
        .unwrap();
        assert_eq!(config.workflows.len(), 2);
        let first = &config.workflows[0];
        assert_eq!(first.event.as_deref(), Some("bpms_task_change"));
        assert_eq!(first.process_code.as_deref(), Some("PROC-1"));
        assert_eq!(first.change_type.as_deref(), Some("start"));
        assert_eq!(first.notify, WorkflowNotify::Approver);
        assert_eq!(config.workflows[1].notify, WorkflowNotify::Group("cidG==".into()));
        assert_eq!(config.workflows[1].result.as_deref(), Some("refuse"));
    }

    #[test]
    fn mistakes_are_named() {
        let err = load(r#"[ { agent: "nobody", notify: "approver" } ]"#).unwrap_err();
        assert!(
            err.contains("workflows[0].agent") && err.contains("nobody"),
            "{err}"
        );
        let err = load(r#"[ { agent: "main" } ]"#).unwrap_err();
        assert!(err.contains("workflows[0].notify"), "{err}");
        let err = load(r#"[ { agent: "main", notify: "boss" } ]"#).unwrap_err();
        assert!(err.contains("workflows[0].notify"), "{err}");
        let err =
            load(r#"[ { match: { event: "bpms_instance_change" }, agent: "main", notify: "approver" } ]"#)
                .unwrap_err();
        assert!(err.contains("bpms_task_change"), "{err}");
        let err =
            load(r#"[ { match: { accountId: "bot9" }, agent: "main", notify: "approver" } ]"#).unwrap_err();
        assert!(err.contains("bot9"), "{err}");
    }
}
