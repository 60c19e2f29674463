//! Builders shared by unit tests of the gateway modules.

use clawtalk_core::clock::EpochMs;
use clawtalk_core::ids::AccountId;
use dingtalk::ids::{ConversationId, DingtalkId, MsgId, RobotCode, StaffId};

use crate::Config;
use clawtalk_core::inbound::{ChatKind, InboundMessage, Sender, Transport};

/// A config from JSON5 text with an environment that only knows `HOME` and `DEEPSEEK_API_KEY`.
pub fn config(json5: &str) -> Config {
    let env = |name: &str| match name {
        "HOME" => Some("/tmp/clawtalk-test-home".to_owned()),
        "DEEPSEEK_API_KEY" => Some("sk-test".to_owned()),
        _ => None,
    };
    match Config::from_json5(json5, &env) {
        Ok(loaded) => loaded.config,
        Err(errors) => panic!("test config is invalid:\n{errors}"),
    }
}

/// A DM from `sender` to account `account`.
pub fn dm(account: &str, sender: &str, text: &str) -> InboundMessage {
    message(
        account,
        ChatKind::Direct,
        &format!("cidDM{sender}"),
        sender,
        text,
        false,
    )
}

/// A group message in `cid` from `sender`.
pub fn group(account: &str, cid: &str, sender: &str, text: &str, mentions_bot: bool) -> InboundMessage {
    message(account, ChatKind::Group, cid, sender, text, mentions_bot)
}

fn message(
    account: &str,
    chat: ChatKind,
    cid: &str,
    sender: &str,
    text: &str,
    mentions_bot: bool,
) -> InboundMessage {
    InboundMessage {
        account_id: AccountId::new(account.to_owned()),
        transport: Transport::Stream,
        robot_code: RobotCode::new("dingrobot"),
        msg_id: MsgId::new(format!("msg-{sender}-{text}")),
        conversation_id: ConversationId::new(cid),
        chat,
        conversation_title: None,
        sender: Sender {
            staff_id: Some(StaffId::new(sender)),
            union_id: None,
            dingtalk_id: Some(DingtalkId::new(format!("$:LWCP_v1:${sender}"))),
            nick: format!("user {sender}"),
        },
        text: text.to_owned(),
        mentions_bot,
        media: Vec::new(),
        quoted_text: None,
        reply: None,
        created_at_ms: EpochMs::from_millis(0),
        msgtype: "text".to_owned(),
        workflow: None,
        cron: None,
        webchat: None,
        console_post: None,
    }
}
