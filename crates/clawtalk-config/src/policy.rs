//! Who may talk to the bot: DM and group policies, allowlists, the mention rule, pairing.

use crate::{DingTalkAccount, DmPolicy, GroupPolicy};
use clawtalk_core::inbound::{ChatKind, InboundMessage};
use clawtalk_core::notices;

/// What to do with an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the agent.
    Allow,
    /// Drop it silently (logged with the reason).
    Ignore(&'static str),
    /// An unknown DM sender under `dmPolicy: pairing`: reply with a pairing code.
    NeedsPairing,
    /// Refuse with this reply (shown to the user).
    Refuse(String),
}

/// Applies the account's policies. `approved` says whether the sender was paired earlier.
#[must_use]
pub fn evaluate(account: &DingTalkAccount, message: &InboundMessage, approved: bool) -> Verdict {
    match message.chat {
        ChatKind::Direct => direct(account, message, approved),
        ChatKind::Group => group(account, message),
    }
}

fn direct(account: &DingTalkAccount, message: &InboundMessage, approved: bool) -> Verdict {
    let listed = listed(&account.allow_from, message);
    match account.dm_policy {
        DmPolicy::Disabled => Verdict::Ignore("dmPolicy is disabled"),
        DmPolicy::Open => Verdict::Allow,
        _ if listed || approved => Verdict::Allow,
        DmPolicy::Pairing if message.sender.key().is_some() => Verdict::NeedsPairing,
        DmPolicy::Pairing | DmPolicy::Allowlist => Verdict::Refuse(not_allowed_reply(message)),
    }
}

fn group(account: &DingTalkAccount, message: &InboundMessage) -> Verdict {
    match account.group_policy {
        GroupPolicy::Disabled => return Verdict::Ignore("groupPolicy is disabled"),
        GroupPolicy::Allowlist
            if !listed(&account.group_allow_from, message)
                && !account
                    .group_allow_from
                    .iter()
                    .any(|id| id == message.conversation_id.as_str()) =>
        {
            return Verdict::Ignore("group or sender not in groupAllowFrom");
        }
        _ => {}
    }
    if account.require_mention && !message.mentions_bot {
        return Verdict::Ignore("bot not mentioned and requireMention is on");
    }
    Verdict::Allow
}

/// `"*"`, the staff id, the union id or the encrypted id of the sender.
fn listed(list: &[String], message: &InboundMessage) -> bool {
    let sender = &message.sender;
    list.iter().any(|entry| {
        entry == "*"
            || sender.staff_id.as_ref().is_some_and(|id| id.as_str() == entry)
            || sender.union_id.as_ref().is_some_and(|id| id.as_str() == entry)
            || sender.dingtalk_id.as_ref().is_some_and(|id| id.as_str() == entry)
    })
}

fn not_allowed_reply(message: &InboundMessage) -> String {
    let id = message.sender.key().unwrap_or("unknown");
    notices::not_allowed(id)
}

/// The reply to an unknown DM sender under `dmPolicy: pairing`.
#[must_use]
pub fn pairing_reply(code: &str, expires_in_minutes: u64) -> String {
    notices::pairing_code(code, expires_in_minutes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{config, dm, group};

    fn account(policies: &str) -> DingTalkAccount {
        let cfg = config(&format!(
            r#"{{ agents: {{ list: [ {{ id: "main", model: "deepseek/deepseek-chat" }} ] }},
                  channels: {{ dingtalk: {{ clientId: "dingbot", clientSecret: "s", {policies} }} }} }}"#
        ));
        cfg.accounts[0].clone()
    }

    #[test]
    fn dm_policies() {
        let open = account(r#"dmPolicy: "open""#);
        assert_eq!(
            evaluate(&open, &dm("default", "bob", "hi"), false),
            Verdict::Allow
        );

        let disabled = account(r#"dmPolicy: "disabled""#);
        assert!(matches!(
            evaluate(&disabled, &dm("default", "bob", "hi"), true),
            Verdict::Ignore(_)
        ));

        let allowlist = account(r#"dmPolicy: "allowlist", allowFrom: ["alice"]"#);
        assert_eq!(
            evaluate(&allowlist, &dm("default", "alice", "hi"), false),
            Verdict::Allow
        );
        match evaluate(&allowlist, &dm("default", "bob", "hi"), false) {
            Verdict::Refuse(reply) => assert!(reply.contains("bob") && reply.contains("allowFrom")),
            other => panic!("{other:?}"),
        }

        let pairing = account(r#"dmPolicy: "pairing", allowFrom: ["alice"]"#);
        assert_eq!(
            evaluate(&pairing, &dm("default", "alice", "hi"), false),
            Verdict::Allow
        );
        assert_eq!(
            evaluate(&pairing, &dm("default", "bob", "hi"), false),
            Verdict::NeedsPairing
        );
        assert_eq!(
            evaluate(&pairing, &dm("default", "bob", "hi"), true),
            Verdict::Allow
        );
    }

    #[test]
    fn group_policies_and_mentions() {
        let open = account(r#"groupPolicy: "open""#);
        assert_eq!(
            evaluate(&open, &group("default", "cidA", "bob", "hi", true), false),
            Verdict::Allow
        );
        assert!(matches!(
            evaluate(&open, &group("default", "cidA", "bob", "hi", false), false),
            Verdict::Ignore(_)
        ));

        let no_mention = account(r#"groupPolicy: "open", requireMention: false"#);
        assert_eq!(
            evaluate(&no_mention, &group("default", "cidA", "bob", "hi", false), false),
            Verdict::Allow
        );

        let allow = account(r#"groupPolicy: "allowlist", groupAllowFrom: ["cidA", "carol"]"#);
        assert_eq!(
            evaluate(&allow, &group("default", "cidA", "bob", "hi", true), false),
            Verdict::Allow
        );
        assert_eq!(
            evaluate(&allow, &group("default", "cidB", "carol", "hi", true), false),
            Verdict::Allow
        );
        assert!(matches!(
            evaluate(&allow, &group("default", "cidB", "bob", "hi", true), false),
            Verdict::Ignore(_)
        ));

        let disabled = account(r#"groupPolicy: "disabled""#);
        assert!(matches!(
            evaluate(&disabled, &group("default", "cidA", "bob", "hi", true), false),
            Verdict::Ignore(_)
        ));
    }

    #[test]
    fn pairing_reply_is_bilingual_and_names_the_command() {
        let reply = pairing_reply("K7QX2M9P", 60);
        assert!(reply.contains("配对码") && reply.contains("Pairing code"));
        assert!(reply.contains("clawtalk pairing approve K7QX2M9P"));
    }
}
