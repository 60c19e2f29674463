//! Stream-mode WebSocket text frames, as the client handles them: parse, answer SYSTEM
//! frames, classify the payload of the rest (bot message, card callback, event).

#![no_main]

use dingtalk::model::{AckFrame, Inbound, StreamFrame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Text frames are UTF-8 by the WebSocket protocol (tungstenite checks before we see them).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(frame) = StreamFrame::parse(text) else {
        return;
    };
    if frame.is_ping() {
        if let Some(pong) = AckFrame::pong(&frame) {
            let echoed = pong.to_text();
            assert!(StreamFrame::parse(&echoed).is_err() || !echoed.is_empty());
        }
        return;
    }
    if let Some(id) = frame.headers.message_id.clone() {
        let _ = AckFrame::ok(id.clone()).to_text();
        let _ = AckFrame::error(id, 500, "fuzz").to_text();
    }
    match frame.classify() {
        Ok(Inbound::BotMessage(message)) => {
            let _ = message.plain_text();
            let _ = message.download_codes();
            let _ = message.mentions_bot();
            let _ = message.dedup_key();
        }
        Ok(Inbound::CardCallback(callback)) => {
            let _ = callback.staff_id();
            let _ = callback.union_id();
            let _ = callback.action_id();
        }
        Ok(_) | Err(_) => {}
    }
});
