//! Bot message JSON (the `data` of a Stream callback, or an HTTP-mode callback body) into the
//! typed model, then into the gateway's own inbound message, as both transports do.

#![no_main]

use clawtalk_core::inbound::{InboundMessage, Transport};
use dingtalk::ids::RobotCode;
use dingtalk::model::BotMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(message) = BotMessage::from_json(text) else {
        return;
    };
    let _ = message.plain_text();
    let _ = message.download_codes();
    let _ = message.mentions_bot();
    let _ = message.is_quota_exceeded();
    for transport in [Transport::HttpCallback, Transport::OutgoingRobot] {
        let inbound = InboundMessage::from_bot_message(
            "default",
            &RobotCode::new("dingfuzzrobot".to_owned()),
            transport,
            &message,
            1_767_225_600_000,
        );
        let _ = inbound.is_group();
        let _ = inbound.sender.key();
    }
});
