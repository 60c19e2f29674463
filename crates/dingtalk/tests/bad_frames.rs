//! Malformed frames and payloads: each must produce a specific typed error from
//! `StreamFrame::parse` + `classify`, and nothing fed to them may panic.

use dingtalk::model::{FrameError, ModelError, StreamFrame, classify};
use proptest::prelude::*;
use serde_json::{Value, json};

const BOT: &str = "/v1.0/im/bot/messages/get";
const CARD: &str = "/v1.0/card/instances/callback";

/// Parse then classify, as the Stream client does.
fn run(text: &str) -> Result<(), FrameError> {
    let frame = StreamFrame::parse(text)?;
    classify(&frame).map(|_| ())
}

/// A CALLBACK frame on `topic` whose `data` is `data` (already JSON text or not).
fn callback(topic: &str, data: &str) -> String {
    json!({"specVersion": "1.0", "type": "CALLBACK",
           "headers": {"topic": topic, "messageId": "m-1", "contentType": "application/json"},
           "data": data})
    .to_string()
}

/// A valid bot message with `patch` applied (a `null` patch value removes the key).
fn bot_data(patch: Value) -> String {
    let mut v = json!({"msgId": "msg1", "conversationId": "cid1", "conversationType": "2",
                       "msgtype": "text", "text": {"content": "hi"}, "robotCode": "rc"});
    if let (Some(obj), Value::Object(p)) = (v.as_object_mut(), patch) {
        for (k, val) in p {
            if val.is_null() {
                obj.remove(&k);
            } else {
                obj.insert(k, val);
            }
        }
    }
    v.to_string()
}

fn bot(patch: Value) -> String {
    callback(BOT, &bot_data(patch))
}

fn card(payload: Value) -> String {
    callback(CARD, &payload.to_string())
}

fn event(event_type: Option<&str>, data: &str) -> String {
    let mut headers = json!({"topic": "*", "messageId": "m-2", "eventId": "e-1", "eventBornTime": "1"});
    if let Some(t) = event_type {
        headers["eventType"] = json!(t);
    }
    json!({"type": "EVENT", "headers": headers, "data": data}).to_string()
}

// Matchers, so each case names the exact variant (and field) it expects.
fn malformed(e: &FrameError) -> bool {
    matches!(e, FrameError::Malformed { .. })
}
fn missing_header(what: &'static str) -> impl Fn(&FrameError) -> bool {
    move |e| matches!(e, FrameError::Missing { what: w } if *w == what)
}
fn payload(check: impl Fn(&ModelError) -> bool) -> impl Fn(&FrameError) -> bool {
    move |e| matches!(e, FrameError::Payload { source, .. } if check(source))
}
fn json_error(e: &ModelError) -> bool {
    matches!(e, ModelError::Json { .. })
}
fn missing_field(field: &'static str) -> impl Fn(&ModelError) -> bool {
    move |e| matches!(e, ModelError::MissingField { field: f, .. } if f == field)
}
fn invalid_field(field: &'static str) -> impl Fn(&ModelError) -> bool {
    move |e| matches!(e, ModelError::InvalidField { field: f, .. } if f == field)
}
fn not_an_object(e: &ModelError) -> bool {
    matches!(e, ModelError::NotAnObject { .. })
}
fn embedded_json(field: &'static str) -> impl Fn(&ModelError) -> bool {
    move |e| matches!(e, ModelError::EmbeddedJson { field: f, .. } if f == field)
}

type Check = Box<dyn Fn(&FrameError) -> bool>;

fn cases() -> Vec<(&'static str, String, Check)> {
    let nested_deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let garbage: String = "\u{1}ab{\"[:,".chars().cycle().take(1 << 20).collect();
    vec![
        // --- Not a frame at all ---
        ("not JSON", "hello".into(), Box::new(malformed)),
        ("empty", String::new(), Box::new(malformed)),
        ("whitespace only", "  \n\t ".into(), Box::new(malformed)),
        ("JSON array", "[]".into(), Box::new(malformed)),
        ("JSON null", "null".into(), Box::new(malformed)),
        ("JSON number", "42".into(), Box::new(malformed)),
        ("JSON string", "\"CALLBACK\"".into(), Box::new(malformed)),
        ("truncated", bot(json!({}))[..60].to_owned(), Box::new(malformed)),
        (
            "trailing garbage",
            format!("{} x", bot(json!({}))),
            Box::new(malformed),
        ),
        ("1 MB of garbage", garbage, Box::new(malformed)),
        (
            "lone surrogate escape",
            r#"{"type":"SYSTEM","headers":{"topic":"\uD800"},"data":"{}"}"#.into(),
            Box::new(malformed),
        ),
        (
            "invalid escape",
            r#"{"type":"SYSTEM","headers":{"topic":"\x41"},"data":"{}"}"#.into(),
            Box::new(malformed),
        ),
        (
            "NaN literal",
            r#"{"type":"SYSTEM","headers":{"topic":"ping"},"data":NaN}"#.into(),
            Box::new(malformed),
        ),
        (
            "nesting beyond the recursion limit",
            nested_deep,
            Box::new(malformed),
        ),
        // --- Frame envelope ---
        (
            "missing type",
            r#"{"headers":{"topic":"ping","messageId":"m"},"data":"{}"}"#.into(),
            Box::new(malformed),
        ),
        (
            "type not a string",
            r#"{"type":5,"headers":{"topic":"ping","messageId":"m"},"data":"{}"}"#.into(),
            Box::new(malformed),
        ),
        (
            "missing headers",
            r#"{"type":"CALLBACK","data":"{}"}"#.into(),
            Box::new(malformed),
        ),
        (
            "headers not an object",
            r#"{"type":"CALLBACK","headers":"topic","data":"{}"}"#.into(),
            Box::new(malformed),
        ),
        (
            "header topic a number",
            r#"{"type":"CALLBACK","headers":{"topic":5,"messageId":"m"},"data":"{}"}"#.into(),
            Box::new(malformed),
        ),
        (
            "header messageId a number",
            format!(r#"{{"type":"CALLBACK","headers":{{"topic":"{BOT}","messageId":7}},"data":"{{}}"}}"#),
            Box::new(malformed),
        ),
        (
            "header time a number",
            r#"{"type":"SYSTEM","headers":{"topic":"ping","time":1767225600123},"data":"{}"}"#.into(),
            Box::new(malformed),
        ),
        (
            "duplicate type key",
            r#"{"type":"SYSTEM","type":"EVENT","headers":{"topic":"ping"},"data":"{}"}"#.into(),
            Box::new(malformed),
        ),
        (
            "missing topic",
            r#"{"type":"SYSTEM","headers":{"messageId":"m"},"data":"{}"}"#.into(),
            Box::new(missing_header("headers.topic")),
        ),
        (
            "empty topic",
            r#"{"type":"SYSTEM","headers":{"topic":""},"data":"{}"}"#.into(),
            Box::new(missing_header("headers.topic")),
        ),
        (
            "CALLBACK without messageId",
            format!(r#"{{"type":"CALLBACK","headers":{{"topic":"{BOT}"}},"data":"{{}}"}}"#),
            Box::new(missing_header("headers.messageId")),
        ),
        (
            "missing data",
            format!(r#"{{"type":"CALLBACK","headers":{{"topic":"{BOT}","messageId":"m"}}}}"#),
            Box::new(malformed),
        ),
        (
            "data a number",
            format!(r#"{{"type":"CALLBACK","headers":{{"topic":"{BOT}","messageId":"m"}},"data":5}}"#),
            Box::new(malformed),
        ),
        (
            "data a boolean",
            format!(r#"{{"type":"CALLBACK","headers":{{"topic":"{BOT}","messageId":"m"}},"data":true}}"#),
            Box::new(malformed),
        ),
        // --- Bot message payload ---
        (
            "bot data not JSON",
            callback(BOT, "msgId=1"),
            Box::new(payload(json_error)),
        ),
        ("bot data empty", callback(BOT, ""), Box::new(payload(json_error))),
        (
            "bot data truncated",
            callback(BOT, &bot_data(json!({}))[..30]),
            Box::new(payload(json_error)),
        ),
        (
            "bot data an array",
            callback(BOT, "[1,2]"),
            Box::new(payload(not_an_object)),
        ),
        (
            "bot data deeply nested",
            callback(
                BOT,
                &format!("{{\"x\":{}{}}}", "[".repeat(1000), "]".repeat(1000)),
            ),
            Box::new(payload(json_error)),
        ),
        (
            "bot data missing msgId",
            bot(json!({"msgId": null})),
            Box::new(payload(missing_field("msgId"))),
        ),
        (
            "bot msgId empty",
            bot(json!({"msgId": ""})),
            Box::new(payload(missing_field("msgId"))),
        ),
        (
            "bot msgId a number",
            bot(json!({"msgId": 12})),
            Box::new(payload(invalid_field("msgId"))),
        ),
        (
            "bot missing conversationId",
            bot(json!({"conversationId": null})),
            Box::new(payload(missing_field("conversationId"))),
        ),
        (
            "bot missing conversationType",
            bot(json!({"conversationType": null})),
            Box::new(payload(missing_field("conversationType"))),
        ),
        (
            "conversationType an object",
            bot(json!({"conversationType": {"v": 2}})),
            Box::new(payload(invalid_field("conversationType"))),
        ),
        (
            "createAt an object",
            bot(json!({"createAt": {"ms": 1}})),
            Box::new(payload(invalid_field("createAt"))),
        ),
        (
            "createAt not numeric",
            bot(json!({"createAt": "yesterday"})),
            Box::new(payload(invalid_field("createAt"))),
        ),
        (
            "sessionWebhookExpiredTime a bool",
            bot(json!({"sessionWebhookExpiredTime": true})),
            Box::new(payload(invalid_field("sessionWebhookExpiredTime"))),
        ),
        (
            "isInAtList a word",
            bot(json!({"isInAtList": "yes"})),
            Box::new(payload(invalid_field("isInAtList"))),
        ),
        (
            "atUsers not an array",
            bot(json!({"atUsers": {"dingtalkId": "x"}})),
            Box::new(payload(invalid_field("atUsers"))),
        ),
        (
            "atUsers item not an object",
            bot(json!({"atUsers": ["x"]})),
            Box::new(payload(not_an_object)),
        ),
        (
            "atUsers staffId a number",
            bot(json!({"atUsers": [{"dingtalkId": "x", "staffId": 31}]})),
            Box::new(payload(invalid_field("atUsers[0].staffId"))),
        ),
        (
            "text not an object",
            bot(json!({"text": "hi"})),
            Box::new(payload(invalid_field("text"))),
        ),
        (
            "text.content a number",
            bot(json!({"text": {"content": 5}})),
            Box::new(payload(invalid_field("text.content"))),
        ),
        (
            "picture content a string",
            bot(json!({"msgtype": "picture", "content": "x"})),
            Box::new(payload(invalid_field("content"))),
        ),
        (
            "picture downloadCode an array",
            bot(json!({"msgtype": "picture", "content": {"downloadCode": []}})),
            Box::new(payload(invalid_field("content.downloadCode"))),
        ),
        (
            "audio duration negative",
            bot(json!({"msgtype": "audio", "content": {"duration": -5}})),
            Box::new(payload(invalid_field("content.duration"))),
        ),
        (
            "video duration fractional",
            bot(json!({"msgtype": "video", "content": {"duration": 1.5}})),
            Box::new(payload(invalid_field("content.duration"))),
        ),
        (
            "richText not an array",
            bot(json!({"msgtype": "richText", "content": {"richText": "hi"}})),
            Box::new(payload(invalid_field("content.richText"))),
        ),
        // --- Card callback payload ---
        (
            "card content not JSON",
            card(json!({"outTrackId": "t", "content": "{cardPrivateData"})),
            Box::new(payload(embedded_json("content"))),
        ),
        (
            "card content a number",
            card(json!({"outTrackId": "t", "content": 3})),
            Box::new(payload(invalid_field("content"))),
        ),
        (
            "card content JSON array",
            card(json!({"outTrackId": "t", "content": "[1]"})),
            Box::new(payload(not_an_object)),
        ),
        (
            "card actionIds not an array",
            card(json!({"outTrackId": "t", "content": "{\"cardPrivateData\":{\"actionIds\":\"a\"}}"})),
            Box::new(payload(invalid_field("content.cardPrivateData.actionIds"))),
        ),
        (
            "card params not an object",
            card(json!({"outTrackId": "t", "content": "{\"cardPrivateData\":{\"params\":[]}}"})),
            Box::new(payload(invalid_field("content.cardPrivateData.params"))),
        ),
        (
            "card missing outTrackId",
            card(json!({"type": "actionCallback", "content": "{}"})),
            Box::new(payload(missing_field("outTrackId"))),
        ),
        (
            "card data null JSON",
            callback(CARD, "null"),
            Box::new(payload(not_an_object)),
        ),
        // --- Events ---
        (
            "event missing eventType",
            event(None, "{}"),
            Box::new(missing_header("headers.eventType")),
        ),
        (
            "event empty eventType",
            event(Some(""), "{}"),
            Box::new(missing_header("headers.eventType")),
        ),
        (
            "event without messageId",
            r#"{"type":"EVENT","headers":{"topic":"*","eventType":"x"},"data":"{}"}"#.into(),
            Box::new(missing_header("headers.messageId")),
        ),
        (
            "event data not JSON",
            event(Some("user_add_org"), "{oops"),
            Box::new(payload(json_error)),
        ),
        (
            "bpms data an array",
            event(Some("bpms_instance_change"), "[]"),
            Box::new(payload(not_an_object)),
        ),
        (
            "bpms missing processInstanceId",
            event(Some("bpms_instance_change"), r#"{"type":"start"}"#),
            Box::new(payload(missing_field("processInstanceId"))),
        ),
        (
            "bpms createTime an object",
            event(
                Some("bpms_task_change"),
                r#"{"processInstanceId":"p","type":"start","createTime":{}}"#,
            ),
            Box::new(payload(invalid_field("createTime"))),
        ),
        (
            "bpms taskId a bool",
            event(
                Some("bpms_task_change"),
                r#"{"processInstanceId":"p","type":"start","taskId":true}"#,
            ),
            Box::new(payload(invalid_field("taskId"))),
        ),
    ]
}

#[test]
fn every_malformed_input_gets_its_typed_error() {
    let cases = cases();
    assert!(cases.len() >= 25, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (name, input, expected) in &cases {
        match run(input) {
            Ok(()) => failures.push(format!("{name}: accepted")),
            Err(err) if expected(&err) => {
                // Every error must say what was wrong in its message.
                assert!(!err.to_string().is_empty(), "{name}: empty message");
            }
            Err(err) => failures.push(format!("{name}: unexpected error {err:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn field_errors_name_the_field_in_their_message() {
    let err = run(&bot(json!({"createAt": {"ms": 1}}))).expect_err("bad createAt");
    let text = err.to_string();
    assert!(text.contains("createAt") && text.contains(BOT), "{text}");
    let err = run(&card(json!({"outTrackId": "t", "content": "{bad"}))).expect_err("bad content");
    assert!(err.to_string().contains("`content`"), "{err}");
    let err = run(&event(Some("bpms_task_change"), r#"{"type":"start"}"#)).expect_err("no id");
    assert!(err.to_string().contains("event bpms_task_change"), "{err}");
}

#[test]
fn system_frames_with_odd_data_still_classify() {
    // A ping or disconnect must be acted on even when its data is unreadable.
    for topic in ["ping", "disconnect"] {
        for data in ["", "not json", "[]", "{\"opaque\":5,\"reason\":[]}"] {
            let text = json!({"type": "SYSTEM", "headers": {"topic": topic}, "data": data}).to_string();
            assert!(run(&text).is_ok(), "{topic} with data {data:?}");
        }
    }
}

#[test]
fn invalid_utf8_bytes_decoded_lossily_are_rejected_not_panicked_on() {
    let bytes = b"{\"type\":\"CALLBACK\",\"headers\":{\"topic\":\"\xff\xfe\"},\"data\":\"\xc3\x28\"";
    let text = String::from_utf8_lossy(bytes);
    assert!(matches!(run(&text), Err(FrameError::Malformed { .. })));
}

/// Arbitrary JSON values, to feed as payloads of well-formed frames.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z0-9@ ]{0,8}".prop_map(Value::from),
        Just(Value::from("1")),
        Just(Value::from("2")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("msgId".to_owned()),
                    Just("conversationId".to_owned()),
                    Just("conversationType".to_owned()),
                    Just("msgtype".to_owned()),
                    Just("text".to_owned()),
                    Just("content".to_owned()),
                    Just("richText".to_owned()),
                    Just("atUsers".to_owned()),
                    Just("outTrackId".to_owned()),
                    Just("cardPrivateData".to_owned()),
                    Just("processInstanceId".to_owned()),
                    Just("type".to_owned()),
                    "[a-zA-Z]{1,6}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        let _ = run(&text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = run(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_payloads_in_valid_frames_never_panic(
        kind in 0..5usize,
        data in arb_json(),
        as_text in any::<bool>(),
    ) {
        let data_text = data.to_string();
        let frame = match kind {
            0 => callback(BOT, &data_text),
            1 => callback(CARD, &data_text),
            2 => event(Some("bpms_instance_change"), &data_text),
            3 => event(Some("bpms_task_change"), &data_text),
            _ => json!({"type": "SYSTEM", "headers": {"topic": "ping"}, "data": data_text}).to_string(),
        };
        let _ = run(&frame);
        // Also with `data` inlined as a value rather than JSON text.
        if !as_text {
            let mut v: Value = serde_json::from_str(&frame).map_err(|e| TestCaseError::fail(e.to_string()))?;
            v["data"] = data;
            let _ = run(&v.to_string());
        }
    }

    #[test]
    fn mutated_fixture_frames_never_panic(cut in 0..2000usize, insert in "[\\[\\]{}\",:0-9a-z\\\\]{0,3}") {
        let base = bot(json!({"atUsers": [{"dingtalkId": "x", "staffId": "1"}],
                              "content": {"richText": [{"text": "@b"}]}}));
        let at = base.char_indices().map(|(i, _)| i).nth(cut % base.chars().count()).unwrap_or(0);
        let mutated = format!("{}{}{}", &base[..at], insert, &base[at..]);
        let _ = run(&mutated);
    }
}
