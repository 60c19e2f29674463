//! Every inbound fixture decodes to the values it holds, and the ACKs our constructors build
//! equal the ACK fixtures.

use std::path::PathBuf;

use dingtalk::ids::{
    ConversationId, CorpId, DingtalkId, DownloadCode, EventId, MessageId, MsgId, OutTrackId, RobotCode,
    StaffId, UnionId,
};
use dingtalk::model::{
    AckFrame, ApprovalResult, BotMessage, CardCallback, CardCallbackResponse, ConversationType, Event,
    EventAckStatus, FrameType, Inbound, InstanceChangeType, MessageBody, ReceivedEvent, RichTextItem,
    StreamFrame, TaskChangeType, UserIdType, classify,
};
use serde_json::{Value, json};

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn fixture(name: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn bot(name: &str) -> BotMessage {
    BotMessage::from_json(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn frame(name: &str) -> StreamFrame {
    StreamFrame::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn classified(name: &str) -> Inbound {
    classify(&frame(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const ALICE_STAFF: &str = "0312454236781234";
const BOT_DINGTALK_ID: &str = "$:LWCP_v1:$Qm9vdEJvdEJvdEJvdA4xZ2Ft";
const CORP: &str = "ding3f9a6c21d0b7e4a5f2";
const DM_CID: &str = "cidR3dXq0Zk7vP8mHc1YtA2bQ==";
const GROUP_CID: &str = "cidGk2Zz9Lw0pQxRtY7uVb3nM1Q==";

#[test]
fn every_inbound_fixture_decodes() {
    let mut seen = 0;
    let entries = std::fs::read_dir(fixtures_dir()).expect("fixtures dir");
    for entry in entries {
        let name = entry
            .expect("dir entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.starts_with("bot-") {
            bot(&name);
        } else if name.starts_with("stream-frame-") {
            classified(&name);
        } else if name == "card-callback.json" {
            CardCallback::from_json(&fixture(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else {
            continue;
        }
        seen += 1;
    }
    // 9 bot-*.json + 5 stream-frame-*.json + card-callback.json.
    assert_eq!(seen, 15, "a fixture went missing or was added without a test");
}

#[test]
fn dm_text() {
    let m = bot("bot-text-dm.json");
    assert_eq!(m.msgtype, "text");
    assert_eq!(m.msg_id, MsgId::new("msgL0n9Qm2Hq7aZ3xV5cYbW8dQ=="));
    assert_eq!(m.conversation_type, ConversationType::Direct);
    assert!(m.is_direct() && !m.is_group());
    assert_eq!(m.conversation_id, ConversationId::new(DM_CID));
    assert_eq!(m.conversation_title, None);
    assert_eq!(m.sender_staff_id, Some(StaffId::new(ALICE_STAFF)));
    assert_eq!(
        m.sender_union_id,
        Some(UnionId::new("iPq2dXkEXAMPLEunionIdAliceiE"))
    );
    assert_eq!(
        m.sender_id,
        Some(DingtalkId::new("$:LWCP_v1:$QWxpY2VBbGljZUFsaWNlX3g9"))
    );
    assert_eq!(m.sender_nick.as_deref(), Some("Alice Zhang"));
    assert_eq!(m.sender_corp_id, Some(CorpId::new(CORP)));
    assert_eq!(m.sender_platform.as_deref(), Some("Mac"));
    assert_eq!(m.is_admin, Some(false));
    assert_eq!(m.chatbot_user_id, Some(DingtalkId::new(BOT_DINGTALK_ID)));
    assert_eq!(m.chatbot_corp_id, Some(CorpId::new(CORP)));
    assert_eq!(m.create_at, Some(1_767_225_600_123));
    assert_eq!(m.session_webhook_expired_time, Some(1_767_231_000_123));
    assert_eq!(
        m.session_webhook.as_deref(),
        Some("https://oapi.dingtalk.com/robot/sendBySession?session=8a1f0c4e2b7d49e6a3c5f0d1b2e3f4a5")
    );
    assert!(!m.is_in_at_list && m.at_users.is_empty() && !m.mentions_bot());
    assert_eq!(m.plain_text(), "Summarize yesterday's deploy log, please");
    assert!(m.download_codes().is_empty());
    assert_eq!(
        m.dedup_key(),
        (
            RobotCode::new("dingq7vxkt3mwz2hb8ns"),
            MsgId::new("msgL0n9Qm2Hq7aZ3xV5cYbW8dQ==")
        )
    );
    assert_eq!(m.error, None);
    assert_eq!(m.raw["senderPlatform"], "Mac");
}

#[test]
fn group_text_with_at() {
    let m = bot("bot-text-group-at.json");
    assert!(m.is_group());
    assert_eq!(m.conversation_id, ConversationId::new(GROUP_CID));
    assert_eq!(m.conversation_title.as_deref(), Some("Gateway Test Group"));
    assert!(m.is_in_at_list && m.mentions_bot());
    assert_eq!(m.at_users.len(), 2);
    assert_eq!(m.at_users[0].dingtalk_id, DingtalkId::new(BOT_DINGTALK_ID));
    assert_eq!(m.at_users[0].staff_id, None);
    assert_eq!(m.at_users[1].staff_id, Some(StaffId::new("0298765432109876")));
    let MessageBody::Text(text) = &m.body else {
        panic!("expected text, got {:?}", m.body)
    };
    assert_eq!(text.content, "  can you check the build for @Bob Li ");
    assert!(!text.is_reply_msg);
    assert_eq!(m.plain_text(), "can you check the build for @Bob Li");
}

#[test]
fn rich_text_with_pictures_and_bot_mention() {
    let m = bot("bot-richtext.json");
    assert_eq!(m.msgtype, "richText");
    let MessageBody::RichText(items) = &m.body else {
        panic!("expected richText, got {:?}", m.body)
    };
    assert_eq!(items.len(), 6);
    assert_eq!(items[0], RichTextItem::Text("@GatewayBot".into()));
    assert_eq!(
        items[3],
        RichTextItem::Picture {
            download_code: Some(DownloadCode::new(
                "mIofN681YE3fEXAMPLEdownloadCodePic1+zoRgzXipAMzmV5uhVKUlBdjKugAIvs="
            )),
            picture_download_code: Some(DownloadCode::new("vcOpEXAMPLEpictureDownloadCode1==")),
        }
    );
    assert_eq!(m.plain_text(), "what is wrong in this screenshot?");
    assert_eq!(
        m.download_codes(),
        vec![
            &DownloadCode::new("mIofN681YE3fEXAMPLEdownloadCodePic1+zoRgzXipAMzmV5uhVKUlBdjKugAIvs="),
            &DownloadCode::new("mIofN681YE3fEXAMPLEdownloadCodePic2+TrvaPI0JYCMjvFMAlXvMWnMJsi2nZ9="),
        ]
    );
    assert!(m.mentions_bot());
}

#[test]
fn picture() {
    let m = bot("bot-picture.json");
    assert_eq!(
        m.body,
        MessageBody::Picture {
            download_code: Some(DownloadCode::new(
                "mIofN681YE3fEXAMPLEdownloadCodePic3+ajkd8s7f6gh5jk4l3=="
            )),
            picture_download_code: Some(DownloadCode::new("vcOpEXAMPLEpictureDownloadCode3==")),
        }
    );
    assert_eq!(
        m.download_codes(),
        vec![&DownloadCode::new(
            "mIofN681YE3fEXAMPLEdownloadCodePic3+ajkd8s7f6gh5jk4l3=="
        )]
    );
    assert_eq!(m.plain_text(), "");
}

#[test]
fn audio_uses_recognition_as_text() {
    let m = bot("bot-audio.json");
    let MessageBody::Audio {
        download_code,
        recognition,
        duration_ms,
    } = &m.body
    else {
        panic!("expected audio, got {:?}", m.body)
    };
    assert_eq!(
        download_code,
        &Some(DownloadCode::new("mIofN681YE3fEXAMPLEdownloadCodeAudio+Zk2lQ=="))
    );
    assert_eq!(
        recognition.as_deref(),
        Some("Please remind me about the release meeting tomorrow at ten")
    );
    assert_eq!(*duration_ms, Some(4200));
    assert_eq!(
        m.plain_text(),
        "Please remind me about the release meeting tomorrow at ten"
    );
    assert_eq!(m.download_codes().len(), 1);
}

#[test]
fn video_duration_given_as_string() {
    let m = bot("bot-video.json");
    assert_eq!(
        m.body,
        MessageBody::Video {
            download_code: Some(DownloadCode::new("mIofN681YE3fEXAMPLEdownloadCodeVideo+Qw3e==")),
            video_type: Some("mp4".into()),
            duration: Some(12),
        }
    );
    assert_eq!(m.raw["content"]["duration"], "12");
}

#[test]
fn file() {
    let m = bot("bot-file.json");
    assert_eq!(
        m.body,
        MessageBody::File {
            download_code: Some(DownloadCode::new("LJYYEXAMPLEdownloadCodeFile+8s7d6f5g4h==")),
            file_name: Some("q3-incident-report.pdf".into()),
            space_id: Some("22345678901".into()),
            file_id: Some("117654321098".into()),
        }
    );
    assert_eq!(
        m.download_codes(),
        vec![&DownloadCode::new("LJYYEXAMPLEdownloadCodeFile+8s7d6f5g4h==")]
    );
}

#[test]
fn unknown_msg_type_placeholder() {
    let m = bot("bot-unknown.json");
    assert_eq!(
        m.body,
        MessageBody::UnknownMsgType {
            text: "用户发送了一条消息，机器人暂不支持接收。".into()
        }
    );
    assert_eq!(m.plain_text(), "");
}

#[test]
fn quote_reply() {
    let m = bot("bot-text-quote-reply.json");
    assert_eq!(
        m.original_msg_id,
        Some(MsgId::new("msgL0n9Qm2Hq7aZ3xV5cYbW8dQ=="))
    );
    let MessageBody::Text(text) = &m.body else {
        panic!("expected text, got {:?}", m.body)
    };
    assert!(text.is_reply_msg);
    let replied = text.replied_msg.as_ref().expect("repliedMsg");
    assert_eq!(replied.msg_type.as_deref(), Some("text"));
    assert_eq!(replied.msg_id, Some(MsgId::new("msgL0n9Qm2Hq7aZ3xV5cYbW8dQ==")));
    assert_eq!(replied.created_at, Some(1_767_225_600_123));
    assert_eq!(
        replied.text.as_deref(),
        Some("Summarize yesterday's deploy log, please")
    );
    assert_eq!(m.plain_text(), "and what about this one?");
}

#[test]
fn card_callback() {
    let cb = CardCallback::from_json(&fixture("card-callback.json")).expect("card callback");
    assert_eq!(cb.callback_type.as_deref(), Some("actionCallback"));
    assert_eq!(
        cb.out_track_id,
        OutTrackId::new("card_7f3e2a10-5b4c-4d9e-8f1a-2b3c4d5e6f70")
    );
    assert_eq!(cb.corp_id, Some(CorpId::new(CORP)));
    assert_eq!(cb.user_id.as_deref(), Some(ALICE_STAFF));
    assert_eq!(cb.user_id_type, Some(UserIdType::UserId));
    assert_eq!(cb.staff_id(), Some(StaffId::new(ALICE_STAFF)));
    assert_eq!(cb.space_type.as_deref(), Some("IM_GROUP"));
    assert_eq!(cb.space_id.as_deref(), Some(GROUP_CID));
    assert_eq!(cb.content.action_ids, vec!["feedback_up".to_owned()]);
    assert_eq!(cb.action_id(), Some("feedback_up"));
    assert_eq!(
        Value::Object(cb.content.params.clone()),
        json!({"action": "feedback_up", "value": "up"})
    );
    assert_eq!(cb.extension, Some(json!({"dynamicSummary": "true"})));

    // The Stream frame carries the same payload.
    let Inbound::CardCallback(from_stream) = classified("stream-frame-card-callback.json") else {
        panic!("card frame misclassified")
    };
    assert_eq!(*from_stream, cb);
}

#[test]
fn stream_bot_message_frame() {
    let f = frame("stream-frame-callback.json");
    assert_eq!(f.frame_type, FrameType::Callback);
    let Inbound::BotMessage(m) = classify(&f).expect("classify") else {
        panic!("bot frame misclassified")
    };
    assert_eq!(m.msg_id, MsgId::new("msgA7kR2pT9sX1vN4mQ6wE3yUg=="));
    assert_eq!(m.plain_text(), "can you check the build for @Bob Li");
    assert_eq!(*m, bot("bot-text-group-at.json"));
}

#[test]
fn stream_bpms_instance_change_frame() {
    let Inbound::Event(ev) = classified("stream-frame-event-bpms.json") else {
        panic!("event frame misclassified")
    };
    assert_eq!(ev.envelope.event_type, "bpms_instance_change");
    assert_eq!(
        ev.envelope.event_id,
        Some(EventId::new("c7c7120f2c0741988a1bebdba0318c8a"))
    );
    assert_eq!(ev.envelope.born_time, Some(1_767_229_200_321));
    assert_eq!(ev.envelope.corp_id, Some(CorpId::new(CORP)));
    assert_eq!(
        ev.envelope.unified_app_id.as_deref(),
        Some("bbb381b6-f01a-4c2d-9e8f-7a6b58daac01")
    );
    let Event::BpmsInstanceChange(i) = &ev.event else {
        panic!("expected bpms_instance_change, got {:?}", ev.event)
    };
    assert_eq!(i.process_instance_id, "9Qgx5QqjR7axMwEXAMPLE01");
    assert_eq!(i.change_type, InstanceChangeType::Finish);
    assert_eq!(i.result, Some(ApprovalResult::Agree));
    assert_eq!(
        i.process_code.as_deref(),
        Some("PROC-27BBC5E6-DFFA-4EC3-A1F1-0EXAMPLE001")
    );
    assert_eq!(i.biz_category_id.as_deref(), Some("attendance.goout"));
    assert_eq!(i.business_id.as_deref(), Some("202601010001000123"));
    assert_eq!(i.business_type.as_deref(), Some(""));
    assert_eq!(i.title.as_deref(), Some("Alice Zhang's business trip request"));
    assert_eq!(i.staff_id, Some(StaffId::new(ALICE_STAFF)));
    assert_eq!(i.create_time, Some(1_767_225_700_000));
    assert_eq!(i.finish_time, Some(1_767_229_200_000));
    assert!(
        i.url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://aflow.dingtalk.com/"))
    );
}

#[test]
fn bpms_task_change_data_from_both_transports() {
    let data: Value = serde_json::from_str(&fixture("event-bpms-task-change-data.json")).expect("json");
    let Event::BpmsTaskChange(t) = Event::from_data("bpms_task_change", &data).expect("task change") else {
        panic!("wrong variant")
    };
    assert_eq!(t.process_instance_id, "9Qgx5QqjR7axMwEXAMPLE01");
    assert_eq!(t.change_type, TaskChangeType::Finish);
    assert_eq!(t.result, Some(ApprovalResult::Agree));
    assert_eq!(t.task_id.as_deref(), Some("811165"));
    assert_eq!(t.remark.as_deref(), Some("approved"));
    assert_eq!(t.staff_id, Some(StaffId::new("0298765432109876")));
    assert_eq!(t.create_time, Some(1_767_226_000_000));
    assert_eq!(t.finish_time, Some(1_767_229_200_000));

    // HTTP push: same fields flattened beside the PascalCase envelope.
    let mut push = data.clone();
    let obj = push.as_object_mut().expect("object");
    obj.insert("EventType".into(), json!("bpms_task_change"));
    obj.insert("EventTime".into(), json!(1_767_229_200_321_i64));
    obj.insert("CorpId".into(), json!(CORP));
    obj.insert("BizId".into(), json!("biz-1"));
    obj.insert("eventId".into(), json!("e-task-1"));
    let ev = ReceivedEvent::from_http_push_json(&push.to_string()).expect("http push");
    assert_eq!(ev.envelope.event_id, Some(EventId::new("e-task-1")));
    assert_eq!(ev.envelope.corp_id, Some(CorpId::new(CORP)));
    assert_eq!(ev.envelope.born_time, Some(1_767_229_200_321));
    assert_eq!(ev.data, data, "envelope keys are not business fields");
    assert_eq!(ev.event, Event::BpmsTaskChange(t));
}

#[test]
fn system_frames() {
    assert_eq!(
        classified("stream-frame-system-ping.json"),
        Inbound::Ping {
            opaque: Some("5c9f1e2d-0a3b-4c7d-8e6f-91a2b3c4d5e6".into())
        }
    );
    assert_eq!(
        classified("stream-frame-system-disconnect.json"),
        Inbound::Disconnect {
            reason: Some("connection is expired".into())
        }
    );
}

/// An ACK as JSON with its `data` string decoded, so key order and spacing don't matter.
fn ack_value(text: &str) -> Value {
    let mut v: Value = serde_json::from_str(text).expect("ack json");
    let data = v["data"].as_str().expect("data is a string").to_owned();
    v["data"] = serde_json::from_str(&data).expect("data is JSON text");
    v
}

#[test]
fn acks_equal_the_fixtures() {
    let callback = AckFrame::callback(MessageId::new("21e8f0a1_963_19b6a5f3c2d_4a2b"), Value::Null);
    assert_eq!(
        ack_value(&callback.to_text()),
        ack_value(&fixture("stream-ack-callback.json"))
    );

    let card = CardCallbackResponse::by_key()
        .card_param("feedback", "up")
        .private_param("voted", "true")
        .into_ack(MessageId::new("21e8f0a1_963_19b6a5f3c2d_4a2f"));
    assert_eq!(
        ack_value(&card.to_text()),
        ack_value(&fixture("stream-ack-card-callback.json"))
    );

    let event = AckFrame::event(
        MessageId::new("21e8f0a1_963_19b6a5f3c2d_4a2e"),
        EventAckStatus::Success,
        "success",
    );
    assert_eq!(
        ack_value(&event.to_text()),
        ack_value(&fixture("stream-ack-event.json"))
    );

    let pong = AckFrame::pong(&frame("stream-frame-system-ping.json")).expect("ping has a messageId");
    assert_eq!(
        ack_value(&pong.to_text()),
        ack_value(&fixture("stream-ack-ping.json"))
    );
    // The pong must echo data byte for byte, not just equivalently.
    assert_eq!(pong.data, frame("stream-frame-system-ping.json").data);
}

#[test]
fn unknown_fields_and_msgtypes_never_fail() {
    let mut v: Value = serde_json::from_str(&fixture("bot-text-dm.json")).expect("json");
    v["brandNewField"] = json!({"nested": [1, 2, 3]});
    v["text"]["sparkle"] = json!(true);
    let m = BotMessage::from_value(v.clone()).expect("unknown fields tolerated");
    assert_eq!(m.plain_text(), "Summarize yesterday's deploy log, please");
    assert_eq!(m.raw["brandNewField"]["nested"][2], 3);

    v["msgtype"] = json!("hologram");
    v["content"] = json!({"beam": "blue"});
    let m = BotMessage::from_value(v).expect("unknown msgtype tolerated");
    assert_eq!(
        m.body,
        MessageBody::Unknown {
            msgtype: "hologram".into(),
            raw: json!({"beam": "blue"})
        }
    );

    // Unknown topic and unknown frame type classify as Unknown rather than failing.
    let f = StreamFrame::parse(
        r#"{"type":"CALLBACK","headers":{"topic":"/v1.0/graph/api/invoke","messageId":"m"},"data":"{}"}"#,
    )
    .expect("frame");
    assert_eq!(
        classify(&f).expect("classify"),
        Inbound::Unknown {
            frame_type: FrameType::Callback,
            topic: "/v1.0/graph/api/invoke".into()
        }
    );
}

#[test]
fn quota_message_without_text_parses() {
    let mut v: Value = serde_json::from_str(&fixture("bot-text-group-at.json")).expect("json");
    let obj = v.as_object_mut().expect("object");
    obj.remove("text");
    obj.insert("errorCode".into(), json!("20001"));
    obj.insert(
        "errorMsg".into(),
        json!("message service paused due to usage overage"),
    );
    let m = BotMessage::from_value(v).expect("quota message parses");
    assert_eq!(m.body, MessageBody::Missing);
    assert!(m.is_quota_exceeded());
    assert_eq!(m.plain_text(), "");
    assert_eq!(m.conversation_id, ConversationId::new(GROUP_CID));

    // Same for a media type whose `content` is missing.
    let mut v: Value = serde_json::from_str(&fixture("bot-picture.json")).expect("json");
    v.as_object_mut().expect("object").remove("content");
    let m = BotMessage::from_value(v).expect("picture without content parses");
    assert_eq!(m.body, MessageBody::Missing);
    assert!(!m.is_quota_exceeded());
}
