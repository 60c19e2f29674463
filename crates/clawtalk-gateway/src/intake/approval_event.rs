//! Approval events in: match a `workflows` rule, store the event as a turn for the rule's
//! agent (deduplicated by `eventId`), and let the usual turn and outbox machinery post the
//! agent's answer to the approver, the originator or a group.

use clawtalk_core::clock::EpochMs;
use clawtalk_core::ids::AccountId;
use std::sync::Arc;

use dingtalk::ids::{ConversationId, MsgId, RobotCode, StaffId};
use dingtalk::model::event::{Event, ReceivedEvent};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Ack, Admission, Admitted, admit};
use crate::Shared;
use clawtalk_config::{DingTalkAccount, WorkflowNotify, WorkflowRule};
use clawtalk_core::inbound::{ChatKind, GatewayOrigin, InboundMessage, Transport, WorkflowTurn};

/// Admits one event from either transport. It is acknowledged when stored, a duplicate, or
/// nothing to do; not when DingTalk must deliver it again.
pub(crate) async fn receive(
    shared: &Arc<Shared>,
    account: &DingTalkAccount,
    event: ReceivedEvent,
    transport: Transport,
    ack: Ack,
) -> Admitted {
    match turn_of(shared, account, &event, transport) {
        Some(inbound) => {
            let workflow = inbound.workflow.clone();
            let admitted = admit(shared, account, Admission::routed(account, inbound), ack).await;
            if let (Admitted::New(id), Some(workflow)) = (admitted, workflow) {
                tracing::info!(inbound = ?id, account = %account.id, agent = %workflow.agent_id, "approval event queued for its workflow agent");
            }
            admitted
        }
        None => {
            ack.send(Admitted::Ignored);
            Admitted::Ignored
        }
    }
}

/// The event as a turn of the first workflow rule it matches; `None` (logged) when it is
/// none of the workflows' business.
fn turn_of(
    shared: &Shared,
    account: &DingTalkAccount,
    event: &ReceivedEvent,
    transport: Transport,
) -> Option<InboundMessage> {
    let Some(approval) = Approval::of(event) else {
        tracing::debug!(account = %account.id, event_type = %event.envelope.event_type, "event acknowledged, not handled");
        return None;
    };
    let config = shared.config();
    let Some(rule) = config
        .workflows
        .iter()
        .find(|rule| approval.matches(rule, &account.id))
    else {
        tracing::info!(account = %account.id, event_type = approval.event_type, process_code = approval.field("processCode"), "no workflow rule matches this approval event; acknowledged");
        return None;
    };
    let inbound = inbound_for(account, event, &approval, rule, transport, shared.clock.now());
    if inbound.is_none() {
        tracing::warn!(account = %account.id, event_type = approval.event_type, notify = ?rule.notify, "approval event names no staffId to notify; acknowledged and skipped");
    }
    inbound
}

/// The fields of an approval event the rules and the summary need.
struct Approval<'a> {
    event_type: &'static str,
    data: &'a Value,
    process_instance_id: &'a str,
    staff_id: Option<&'a StaffId>,
}

impl<'a> Approval<'a> {
    fn of(event: &'a ReceivedEvent) -> Option<Self> {
        let (event_type, process_instance_id, staff_id) = match &event.event {
            Event::BpmsInstanceChange(i) => (
                "bpms_instance_change",
                i.process_instance_id.as_str(),
                i.staff_id.as_ref(),
            ),
            Event::BpmsTaskChange(t) => (
                "bpms_task_change",
                t.process_instance_id.as_str(),
                t.staff_id.as_ref(),
            ),
            _ => return None,
        };
        Some(Self {
            event_type,
            data: &event.data,
            process_instance_id,
            staff_id,
        })
    }

    /// A business field as text (numbers too: `taskId` is sent as a number).
    fn field(&self, key: &str) -> Option<String> {
        match self.data.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn matches(&self, rule: &WorkflowRule, account_id: &str) -> bool {
        let same = |want: &Option<String>, key: &str| {
            want.as_ref()
                .is_none_or(|w| self.field(key).as_deref() == Some(w.as_str()))
        };
        rule.account_id.as_ref().is_none_or(|a| a == account_id)
            && rule.event.as_ref().is_none_or(|e| e == self.event_type)
            && same(&rule.process_code, "processCode")
            && same(&rule.change_type, "type")
            && same(&rule.result, "result")
    }

    fn is_task(&self) -> bool {
        self.event_type == "bpms_task_change"
    }

    /// What happened, in words.
    fn what_happened(&self) -> String {
        let kind = self.field("type").unwrap_or_default();
        let result = self.field("result").unwrap_or_default();
        let text = match (self.is_task(), kind.as_str(), result.as_str()) {
            (true, "start", _) => "a task is waiting for the approver",
            (true, "finish", "agree") => "the approver approved",
            (true, "finish", "refuse") => "the approver refused",
            (true, "finish", "redirect") => "the approver transferred the task",
            (true, "cancel", _) => "the task was cancelled (another approver acted)",
            (true, "comment", _) => "the approver commented",
            (false, "start", _) => "the approval was submitted",
            (false, "finish", "agree") => "the approval was approved",
            (false, "finish", "refuse") => "the approval was refused",
            (false, "terminate", _) => "the initiator revoked the approval",
            (false, "delete", _) => "the approval was deleted",
            _ => "",
        };
        if text.is_empty() {
            format!("type {kind:?}, result {result:?}")
        } else {
            text.to_owned()
        }
    }

    /// The turn's user message: a readable account of the event for the workflow agent.
    fn summary(&self, notify: &WorkflowNotify) -> String {
        let mut lines = vec![format!(
            "[DingTalk approval event {}] {}",
            self.event_type,
            self.what_happened()
        )];
        let person = if self.is_task() { "Approver" } else { "Initiator" };
        let mut add = |label: &str, value: Option<String>| {
            if let Some(value) = value {
                lines.push(format!("- {label}: {value}"));
            }
        };
        add("Title", self.field("title"));
        add(
            "Status",
            Some(format!(
                "type {}, result {}",
                self.field("type").unwrap_or_else(|| "-".into()),
                self.field("result").unwrap_or_else(|| "-".into())
            )),
        );
        add(person, self.staff_id.map(|s| s.as_str().to_owned()));
        add("Comment", self.field("remark"));
        add("Process code", self.field("processCode"));
        add("Category", self.field("bizCategoryId"));
        add("Business id", self.field("businessId"));
        add("Task id", self.field("taskId"));
        add("Instance", Some(self.process_instance_id.to_owned()));
        add("Link", self.field("url"));
        let to = match notify {
            WorkflowNotify::Approver => "the approver, as a direct message".to_owned(),
            WorkflowNotify::Originator => "the initiator, as a direct message".to_owned(),
            WorkflowNotify::Group(cid) => format!("the group {cid}"),
        };
        lines.push(format!("Your answer is posted to {to}."));
        lines.join("\n")
    }
}

/// The event as a turn: a DM to the person the rule names, or a post into its group.
fn inbound_for(
    account: &DingTalkAccount,
    event: &ReceivedEvent,
    approval: &Approval<'_>,
    rule: &WorkflowRule,
    transport: Transport,
    now: EpochMs,
) -> Option<InboundMessage> {
    let (chat, conversation_id, staff_id) = match &rule.notify {
        WorkflowNotify::Approver | WorkflowNotify::Originator => (
            ChatKind::Direct,
            ConversationId::new(""),
            Some(approval.staff_id?.clone()),
        ),
        WorkflowNotify::Group(cid) => (ChatKind::Group, ConversationId::new(cid.clone()), None),
    };
    Some(InboundMessage {
        workflow: Some(WorkflowTurn {
            agent_id: rule.agent_id.clone(),
            process_instance_id: approval.process_instance_id.to_owned(),
        }),
        ..InboundMessage::gateway_originated(GatewayOrigin {
            account_id: AccountId::new(account.id.clone()),
            transport,
            robot_code: RobotCode::new(account.robot_code.clone()),
            msg_id: MsgId::new(format!("event:{}", dedup_key(event))),
            conversation_id,
            chat,
            staff_id,
            text: approval.summary(&rule.notify),
            created_at_ms: event.envelope.born_time.map_or(now, EpochMs::from_millis),
            msgtype: approval.event_type.to_owned(),
        })
    })
}

/// `eventId`; else the HTTP push's `BizId`; else a digest of the event, so a redelivery of an
/// event without ids still maps to the same inbox row.
fn dedup_key(event: &ReceivedEvent) -> String {
    if let Some(id) = event.envelope.event_id.as_ref().filter(|id| !id.is_empty()) {
        return id.as_str().to_owned();
    }
    if let Some(biz) = event.envelope.biz_id.as_ref().filter(|b| !b.is_empty()) {
        return format!("biz:{biz}");
    }
    let digest = Sha256::digest(format!("{}\n{}", event.envelope.event_type, event.data).as_bytes());
    format!(
        "sha256:{}",
        digest.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_config::routing;
    use clawtalk_config::test_support::config;

    fn fixture_event(name: &str) -> ReceivedEvent {
        let path = format!("{}/../dingtalk/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let frame = dingtalk::model::StreamFrame::parse(&text).unwrap();
        ReceivedEvent::from_frame(&frame).unwrap()
    }

    fn task_event(event_id: Option<&str>) -> ReceivedEvent {
        let data = std::fs::read_to_string(format!(
            "{}/../dingtalk/fixtures/event-bpms-task-change-data.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut body: serde_json::Map<String, Value> = serde_json::from_str(&data).unwrap();
        body.insert("EventType".into(), "bpms_task_change".into());
        if let Some(id) = event_id {
            body.insert("eventId".into(), id.into());
        }
        ReceivedEvent::from_http_push_json(&Value::Object(body).to_string()).unwrap()
    }

    const CONFIG: &str = r#"{
      agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" }, { id: "approvals", model: "deepseek/deepseek-chat" } ] },
      channels: { dingtalk: { clientId: "dingbot", clientSecret: "s" } },
      workflows: [
        { match: { event: "bpms_task_change", result: "refuse" }, agent: "main", notify: { group: "cidOps==" } },
        { match: { event: "bpms_task_change", processCode: "PROC-27BBC5E6-DFFA-4EC3-A1F1-0EXAMPLE001" }, agent: "approvals", notify: "approver" },
        { match: { event: "bpms_instance_change", type: "finish" }, agent: "approvals", notify: "originator" },
      ] }"#;

    fn rule_for<'c>(config: &'c clawtalk_config::Config, event: &ReceivedEvent) -> Option<&'c WorkflowRule> {
        let approval = Approval::of(event)?;
        config.workflows.iter().find(|r| approval.matches(r, "default"))
    }

    #[test]
    fn first_matching_rule_wins_and_names_the_approver() {
        let config = config(CONFIG);
        let account = &config.accounts[0];
        let event = task_event(Some("ev-1"));
        let rule = rule_for(&config, &event).expect("a rule matches");
        assert_eq!(rule.agent_id, "approvals");
        let approval = Approval::of(&event).unwrap();
        let inbound = inbound_for(
            account,
            &event,
            &approval,
            rule,
            Transport::HttpPush,
            EpochMs::from_millis(0),
        )
        .unwrap();
        assert_eq!(inbound.msg_id.as_str(), "event:ev-1");
        assert_eq!(inbound.chat, ChatKind::Direct);
        assert_eq!(inbound.sender.staff_id, Some(StaffId::new("0298765432109876")));
        for needle in [
            "the approver approved",
            "Alice Zhang's business trip request",
            "Comment: approved",
            "Approver: 0298765432109876",
            "Task id: 811165",
        ] {
            assert!(
                inbound.text.contains(needle),
                "{needle:?} missing from:\n{}",
                inbound.text
            );
        }
        let route = routing::route(&config, account, &inbound, &[]);
        assert_eq!(route.agent, "approvals");
        assert_eq!(
            route.to_string(),
            "agent:approvals:dingtalk:default:workflow:9Qgx5QqjR7axMwEXAMPLE01"
        );
    }

    #[test]
    fn stream_instance_events_go_to_the_originator() {
        let config = config(CONFIG);
        let event = fixture_event("stream-frame-event-bpms.json");
        let rule = rule_for(&config, &event).expect("finish rule");
        assert_eq!(rule.notify, WorkflowNotify::Originator);
        let approval = Approval::of(&event).unwrap();
        let inbound = inbound_for(
            &config.accounts[0],
            &event,
            &approval,
            rule,
            Transport::Stream,
            EpochMs::from_millis(0),
        )
        .unwrap();
        assert_eq!(inbound.msg_id.as_str(), "event:c7c7120f2c0741988a1bebdba0318c8a");
        assert_eq!(inbound.sender.staff_id, Some(StaffId::new("0312454236781234")));
        assert!(
            inbound.text.contains("the approval was approved"),
            "{}",
            inbound.text
        );
    }

    #[test]
    fn unmatched_and_other_events_are_not_turns() {
        let config = config(
            r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
                 channels: { dingtalk: { clientId: "dingbot", clientSecret: "s" } },
                 workflows: [ { match: { processCode: "PROC-OTHER" }, agent: "main", notify: "approver" } ] }"#,
        );
        assert!(rule_for(&config, &task_event(None)).is_none());
        let other =
            ReceivedEvent::from_http_push_json(r#"{"EventType":"user_add_org","userId":["1"]}"#).unwrap();
        assert!(Approval::of(&other).is_none());
    }

    #[test]
    fn events_without_ids_dedup_on_their_content() {
        let a = dedup_key(&task_event(None));
        assert!(a.starts_with("sha256:"), "{a}");
        assert_eq!(a, dedup_key(&task_event(None)));
        assert_eq!(dedup_key(&task_event(Some("e"))), "e");
    }
}
