//! Which agent answers a message, and which session it belongs to.

use crate::{AccountMatch, Binding, Config, DingTalkAccount, GroupScope, PeerKind};
use clawtalk_core::ids::{AccountId, AgentId, SessionKey, SessionScope};
use clawtalk_core::inbound::{ChatKind, InboundMessage};

/// Routes `message`, received by `account`, whose sender belongs to `departments`: the
/// session it belongs to, whose agent answers it.
#[must_use]
pub fn route(
    config: &Config,
    account: &DingTalkAccount,
    message: &InboundMessage,
    departments: &[i64],
) -> SessionKey {
    SessionKey::new(
        agent(config, account, message, departments),
        AccountId::new(account.id.as_str()),
        scope(account, message),
    )
}

/// The agent that answers `message`: an approval event's or a scheduled run's own, the one
/// picked in WebChat, else the bindings'.
#[must_use]
pub fn agent(
    config: &Config,
    account: &DingTalkAccount,
    message: &InboundMessage,
    departments: &[i64],
) -> AgentId {
    if let Some(workflow) = &message.workflow {
        return AgentId::new(workflow.agent_id.as_str());
    }
    if let Some(cron) = &message.cron {
        return AgentId::new(cron.agent_id.as_str());
    }
    if let Some(webchat) = &message.webchat {
        return AgentId::new(webchat.agent_id.as_str());
    }
    AgentId::new(choose_agent(config, account, message, departments))
}

/// Whether the bindings choose the agent of `message` (only then do the sender's departments
/// matter); approval events, scheduled runs and WebChat messages name their own.
#[must_use]
pub fn uses_bindings(message: &InboundMessage) -> bool {
    message.workflow.is_none() && message.cron.is_none() && message.webchat.is_none()
}

/// Which conversation of `account` the message is part of, whatever agent answers it: the
/// account's session settings decide who shares a history.
#[must_use]
pub fn scope(account: &DingTalkAccount, message: &InboundMessage) -> SessionScope {
    if let Some(workflow) = &message.workflow {
        return SessionScope::Workflow {
            process_instance: workflow.process_instance_id.clone(),
        };
    }
    if let Some(cron) = &message.cron {
        // A scheduled task's runs share one history (so a run can compare with the previous
        // one), apart from the chat it was created in.
        return SessionScope::Cron { task: cron.task_id };
    }
    if let Some(webchat) = &message.webchat {
        return SessionScope::WebChat {
            operator: webchat.operator.clone(),
        };
    }
    let sender = message.sender.key().unwrap_or("unknown").to_owned();
    let settings = account.session;
    if !settings.separate_by_conversation {
        return SessionScope::User { sender };
    }
    let conversation = message.conversation_id.as_str().to_owned();
    match (message.chat, settings.group_scope) {
        (ChatKind::Direct, _) => SessionScope::Dm { sender },
        (ChatKind::Group, GroupScope::Group) => SessionScope::Group { conversation },
        (ChatKind::Group, GroupScope::GroupSender) => SessionScope::GroupSender { conversation, sender },
    }
}

/// Binding precedence, first match wins inside a tier (as OpenClaw): exact peer, peer
/// wildcard, department, exact account, any account, then the default agent. Every field a
/// binding sets must match.
fn choose_agent<'a>(
    config: &'a Config,
    account: &DingTalkAccount,
    message: &InboundMessage,
    departments: &[i64],
) -> &'a str {
    let candidates: Vec<&Binding> = config
        .bindings
        .iter()
        .filter(|b| b.channel == account.channel && account_matches(&b.account, &account.id))
        .filter(|b| {
            b.peer
                .as_ref()
                .is_none_or(|peer| peer_matches(peer.kind, &peer.id, message))
        })
        .filter(|b| b.department.is_none_or(|d| departments.contains(&d)))
        .collect();
    let tiers: [&dyn Fn(&Binding) -> bool; 5] = [
        &|b| b.peer.as_ref().is_some_and(|p| p.id != "*"),
        &|b| b.peer.as_ref().is_some_and(|p| p.id == "*"),
        &|b| b.peer.is_none() && b.department.is_some(),
        &|b| b.peer.is_none() && b.department.is_none() && matches!(b.account, AccountMatch::Id(_)),
        &|b| b.peer.is_none() && b.department.is_none() && b.account == AccountMatch::Any,
    ];
    tiers
        .iter()
        .find_map(|tier| candidates.iter().find(|b| tier(b)))
        .map_or(config.default_agent.as_str(), |b| b.agent_id.as_str())
}

/// Whether some binding for `account` matches on the sender's department (only then are
/// departments looked up).
#[must_use]
pub fn routes_by_department(config: &Config, account: &DingTalkAccount) -> bool {
    config.bindings.iter().any(|b| {
        b.department.is_some() && b.channel == account.channel && account_matches(&b.account, &account.id)
    })
}

fn account_matches(matcher: &AccountMatch, account_id: &str) -> bool {
    match matcher {
        AccountMatch::Any => true,
        AccountMatch::Id(id) => id == account_id,
    }
}

/// DM peers are senders, group peers are conversations; ids compare case-sensitively.
fn peer_matches(kind: PeerKind, id: &str, message: &InboundMessage) -> bool {
    match (kind, message.chat) {
        (PeerKind::Direct, ChatKind::Direct) => {
            id == "*"
                || message.sender.key() == Some(id)
                || message.sender.union_id.as_ref().is_some_and(|u| u.as_str() == id)
        }
        (PeerKind::Group, ChatKind::Group) => id == "*" || message.conversation_id.as_str() == id,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::{config, dm, group};

    const CONFIG: &str = r#"{
      agents: { list: [ { id: "main", default: true, model: "deepseek/deepseek-chat" },
                        { id: "ops", model: "deepseek/deepseek-chat" },
                        { id: "alice-agent", model: "deepseek/deepseek-chat" },
                        { id: "groups", model: "deepseek/deepseek-chat" },
                        { id: "bot2-agent", model: "deepseek/deepseek-chat" } ] },
      bindings: [
        { agentId: "bot2-agent", match: { channel: "dingtalk", accountId: "bot2" } },
        { agentId: "groups", match: { channel: "dingtalk", accountId: "*", peer: { kind: "group", id: "*" } } },
        { agentId: "ops", match: { channel: "dingtalk", accountId: "*", peer: { kind: "group", id: "cidOpsRoom==" } } },
        { agentId: "alice-agent", match: { channel: "dingtalk", accountId: "bot1", peer: { kind: "direct", id: "alice" } } },
      ],
      channels: { dingtalk: { dmPolicy: "open", accounts: {
        bot1: { clientId: "dingbot1", clientSecret: "s1" },
        bot2: { clientId: "dingbot2", clientSecret: "s2", groupSessionScope: "group_sender" },
        bot3: { clientId: "dingbot3", clientSecret: "s3", separateSessionByConversation: false },
      } } },
    }"#;

    fn route_for(cfg: &Config, m: &InboundMessage) -> SessionKey {
        route(cfg, cfg.account(m.account_id.as_str()).unwrap(), m, &[])
    }

    #[test]
    fn precedence_is_exact_peer_then_wildcard_then_account_then_default() {
        let cfg = config(CONFIG);
        assert_eq!(route_for(&cfg, &dm("bot1", "alice", "hi")).agent, "alice-agent");
        assert_eq!(route_for(&cfg, &dm("bot1", "bob", "hi")).agent, "main");
        assert_eq!(
            route_for(&cfg, &group("bot1", "cidOpsRoom==", "bob", "hi", true)).agent,
            "ops"
        );
        assert_eq!(
            route_for(&cfg, &group("bot1", "cidOther==", "bob", "hi", true)).agent,
            "groups"
        );
        // Peer bindings outrank the account binding of bot2.
        assert_eq!(
            route_for(&cfg, &group("bot2", "cidOpsRoom==", "bob", "hi", true)).agent,
            "ops"
        );
        assert_eq!(route_for(&cfg, &dm("bot2", "alice", "hi")).agent, "bot2-agent");
    }

    #[test]
    fn conversation_ids_compare_case_sensitively() {
        let cfg = config(CONFIG);
        assert_eq!(
            route_for(&cfg, &group("bot1", "cidopsroom==", "bob", "hi", true)).agent,
            "groups"
        );
    }

    #[test]
    fn session_keys_follow_the_account_scope() {
        let cfg = config(CONFIG);
        assert_eq!(
            route_for(&cfg, &dm("bot1", "bob", "x")).to_string(),
            "agent:main:dingtalk:bot1:dm:bob"
        );
        assert_eq!(
            route_for(&cfg, &group("bot1", "cidA==", "bob", "x", true)).to_string(),
            "agent:groups:dingtalk:bot1:group:cidA=="
        );
        assert_eq!(
            route_for(&cfg, &group("bot2", "cidA==", "bob", "x", true)).to_string(),
            "agent:groups:dingtalk:bot2:group:cidA==:bob"
        );
        assert_eq!(
            route_for(&cfg, &dm("bot3", "bob", "x")).to_string(),
            "agent:main:dingtalk:bot3:user:bob"
        );
        assert_eq!(
            route_for(&cfg, &group("bot3", "cidA==", "bob", "x", true)).to_string(),
            "agent:groups:dingtalk:bot3:user:bob"
        );
    }

    /// `memoryScope` per account: who shares a history with whom.
    const SCOPES: &str = r#"{
      agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
      channels: { dingtalk: { dmPolicy: "open", accounts: {
        u: { clientId: "dingu", clientSecret: "s", memoryScope: "user" },
        c: { clientId: "dingc", clientSecret: "s", memoryScope: "conversation" },
        g: { clientId: "dingg", clientSecret: "s", memoryScope: "group" },
      } } },
    }"#;

    fn keys(cfg: &Config, account: &str) -> [String; 4] {
        [
            route_for(cfg, &dm(account, "bob", "x")).to_string(),
            route_for(cfg, &group(account, "cidA==", "bob", "x", true)).to_string(),
            route_for(cfg, &group(account, "cidA==", "carol", "x", true)).to_string(),
            route_for(cfg, &group(account, "cidB==", "bob", "x", true)).to_string(),
        ]
    }

    #[test]
    fn memory_scope_user_shares_one_history_across_dms_and_groups() {
        let cfg = config(SCOPES);
        let [bob_dm, bob_a, carol_a, bob_b] = keys(&cfg, "u");
        assert_eq!(bob_dm, "agent:main:dingtalk:u:user:bob");
        assert_eq!(bob_a, bob_dm);
        assert_eq!(bob_b, bob_dm);
        assert_eq!(carol_a, "agent:main:dingtalk:u:user:carol");
    }

    #[test]
    fn memory_scope_conversation_separates_members_within_a_group() {
        let cfg = config(SCOPES);
        let [bob_dm, bob_a, carol_a, bob_b] = keys(&cfg, "c");
        assert_eq!(bob_dm, "agent:main:dingtalk:c:dm:bob");
        assert_eq!(bob_a, "agent:main:dingtalk:c:group:cidA==:bob");
        assert_eq!(carol_a, "agent:main:dingtalk:c:group:cidA==:carol");
        assert_eq!(bob_b, "agent:main:dingtalk:c:group:cidB==:bob");
    }

    #[test]
    fn memory_scope_group_shares_one_history_per_group() {
        let cfg = config(SCOPES);
        let [bob_dm, bob_a, carol_a, bob_b] = keys(&cfg, "g");
        assert_eq!(bob_dm, "agent:main:dingtalk:g:dm:bob");
        assert_eq!(bob_a, "agent:main:dingtalk:g:group:cidA==");
        assert_eq!(carol_a, bob_a);
        assert_eq!(bob_b, "agent:main:dingtalk:g:group:cidB==");
    }

    #[test]
    fn memory_scope_conflicting_with_connector_keys_is_an_error() {
        let err = crate::Config::from_json5(
            r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
                 gateway: { stateDir: "/tmp/x" },
                 channels: { dingtalk: { clientId: "d", clientSecret: "s", memoryScope: "user",
                                         groupSessionScope: "group_sender" } } }"#,
            &|_| None,
        )
        .unwrap_err();
        let issue = err
            .errors
            .iter()
            .find(|e| e.path == "channels.dingtalk.groupSessionScope")
            .expect("the conflict is reported at the connector key");
        assert!(issue.message.contains("channels.dingtalk.memoryScope"), "{issue}");
        let err = crate::Config::from_json5(
            r#"{ gateway: { stateDir: "/tmp/x" }, agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
                 channels: { dingtalk: { clientId: "d", clientSecret: "s", memoryScope: "team" } } }"#,
            &|_| None,
        )
        .unwrap_err();
        let issue = err
            .errors
            .iter()
            .find(|e| e.path == "channels.dingtalk.memoryScope")
            .unwrap();
        assert!(issue.fix.as_deref().unwrap().contains("user|conversation|group"));
    }

    #[test]
    fn a_peer_kind_alone_matches_every_peer_of_that_kind() {
        // The bindings of the soimy plugin's guide: DMs to one agent, groups to another.
        let cfg = config(
            r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" }, { id: "tech-support", model: "deepseek/deepseek-chat" } ] },
                 bindings: [
                   { agentId: "main", match: { channel: "dingtalk", peer: { kind: "direct" } } },
                   { agentId: "tech-support", match: { channel: "dingtalk", peer: { kind: "group" } } },
                 ],
                 channels: { dingtalk: { clientId: "dingbot", clientSecret: "s", dmPolicy: "open" } } }"#,
        );
        assert_eq!(route_for(&cfg, &dm("default", "carol", "hi")).agent, "main");
        assert_eq!(
            route_for(&cfg, &group("default", "cidAny==", "carol", "hi", true)).agent,
            "tech-support"
        );
        assert_eq!(
            route_for(&cfg, &group("default", "cidOther==", "bob", "hi", true)).agent,
            "tech-support"
        );
    }

    #[test]
    fn department_bindings_apply_when_the_sender_is_in_the_department() {
        let cfg = config(
            r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" }, { id: "hr", model: "deepseek/deepseek-chat" } ] },
                 bindings: [ { agentId: "hr", match: { channel: "dingtalk", department: 42 } } ],
                 channels: { dingtalk: { clientId: "dingbot", clientSecret: "s", dmPolicy: "open" } } }"#,
        );
        let m = dm("default", "carol", "hi");
        let account = cfg.account("default").unwrap();
        assert_eq!(route(&cfg, account, &m, &[7, 42]).agent, "hr");
        assert_eq!(route(&cfg, account, &m, &[7]).agent, "main");
    }
}
