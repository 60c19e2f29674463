use serde_json::{Value, json};

use super::*;

fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// `msgParam` is JSON text; whitespace differs between encoders, so compare it parsed.
fn with_parsed_msg_param(mut v: Value) -> Value {
    let text = v["msgParam"].as_str().expect("msgParam is a string").to_owned();
    v["msgParam"] = serde_json::from_str(&text).expect("msgParam is JSON");
    v
}

fn param(msg: &RobotMessage) -> Value {
    serde_json::from_str(&msg.msg_param_json().unwrap()).unwrap()
}

#[test]
fn batch_send_matches_fixture() {
    let req = BatchSendRequest::new(
        RobotCode::new("dingq7vxkt3mwz2hb8ns"),
        vec![StaffId::new("0312454236781234")],
        &RobotMessage::markdown("Deploy summary", "### Deploy summary\n- 3 services updated"),
    )
    .unwrap();
    let ours = serde_json::to_value(&req).unwrap();
    assert!(ours["msgParam"].is_string());
    assert_eq!(
        with_parsed_msg_param(ours),
        with_parsed_msg_param(fixture("out-robot-batchsend.json"))
    );
}

#[test]
fn batch_send_checks_recipient_count() {
    let msg = RobotMessage::text("hi");
    let many = (0..21).map(|i| StaffId::new(i.to_string())).collect();
    assert!(matches!(
        BatchSendRequest::new(RobotCode::new("r"), many, &msg),
        Err(Error::InvalidRequest(_))
    ));
    assert!(BatchSendRequest::new(RobotCode::new("r"), vec![], &msg).is_err());
}

#[test]
fn group_send_matches_fixture() {
    let req = GroupSendRequest::new(
        RobotCode::new("dingq7vxkt3mwz2hb8ns"),
        ConversationId::new("cidGk2Zz9Lw0pQxRtY7uVb3nM1Q=="),
        &RobotMessage::text("Build #1234 passed"),
        None,
    )
    .unwrap();
    assert_eq!(
        with_parsed_msg_param(serde_json::to_value(&req).unwrap()),
        with_parsed_msg_param(fixture("out-robot-group-send.json"))
    );
    let with_app = GroupSendRequest {
        cool_app_code: Some("COOLAPP".into()),
        ..req
    };
    assert_eq!(serde_json::to_value(&with_app).unwrap()["coolAppCode"], "COOLAPP");
}

#[test]
fn group_send_checks_msg_param_size() {
    let err = GroupSendRequest::new(
        RobotCode::new("r"),
        ConversationId::new("cid"),
        &RobotMessage::text("x".repeat(MAX_GROUP_MSG_PARAM_BYTES)),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
}

#[test]
fn msg_keys_and_params_follow_the_catalog() {
    let cases = [
        (RobotMessage::text("t"), "sampleText", json!({"content": "t"})),
        (
            RobotMessage::Image {
                photo_url: "@lADP".into(),
            },
            "sampleImageMsg",
            json!({"photoURL": "@lADP"}),
        ),
        (
            RobotMessage::Link {
                title: "T".into(),
                text: "x".into(),
                message_url: "https://m".into(),
                pic_url: "https://p".into(),
            },
            "sampleLink",
            json!({"title": "T", "text": "x", "messageUrl": "https://m", "picUrl": "https://p"}),
        ),
        (
            RobotMessage::ActionCard {
                title: "T".into(),
                text: "x".into(),
                single_title: "Open".into(),
                single_url: "https://o".into(),
            },
            "sampleActionCard",
            json!({"title": "T", "text": "x", "singleTitle": "Open", "singleURL": "https://o"}),
        ),
        (
            RobotMessage::Audio {
                media_id: MediaId::new("@a"),
                duration_ms: 3200,
            },
            "sampleAudio",
            json!({"mediaId": "@a", "duration": "3200"}),
        ),
        (
            RobotMessage::File {
                media_id: MediaId::new("@f"),
                file_name: "r.pdf".into(),
                file_type: "pdf".into(),
            },
            "sampleFile",
            json!({"mediaId": "@f", "fileName": "r.pdf", "fileType": "pdf"}),
        ),
        (
            RobotMessage::Video {
                video_media_id: MediaId::new("@v"),
                video_type: "mp4".into(),
                pic_media_id: MediaId::new("@p"),
                duration_secs: 12,
                width: Some(640),
                height: None,
            },
            "sampleVideo",
            json!({"videoMediaId": "@v", "videoType": "mp4", "picMediaId": "@p", "duration": "12", "width": "640"}),
        ),
    ];
    for (msg, key, expected) in cases {
        assert_eq!(msg.msg_key().unwrap(), key);
        assert_eq!(param(&msg), expected, "{key}");
        let back = RobotMessage::from_wire(key, &msg.msg_param_json().unwrap()).unwrap();
        assert_eq!(back, msg, "{key} round trip");
    }
}

#[test]
fn from_wire_reads_fixtures_and_rejects_junk() {
    let fx = fixture("out-robot-batchsend.json");
    let msg =
        RobotMessage::from_wire(fx["msgKey"].as_str().unwrap(), fx["msgParam"].as_str().unwrap()).unwrap();
    assert_eq!(
        msg,
        RobotMessage::markdown("Deploy summary", "### Deploy summary\n- 3 services updated")
    );
    for n in 2..=5 {
        let m = buttons(n, false);
        let key = m.msg_key().unwrap();
        assert_eq!(
            RobotMessage::from_wire(key, &m.msg_param_json().unwrap()).unwrap(),
            m
        );
    }
    let m = buttons(2, true);
    assert_eq!(
        RobotMessage::from_wire("sampleActionCard6", &m.msg_param_json().unwrap()).unwrap(),
        m
    );
    assert!(RobotMessage::from_wire("sampleImage", r#"{"photoURL":"x"}"#).is_err());
    assert!(RobotMessage::from_wire("sampleText", r#"{"text":"x"}"#).is_err());
    assert!(RobotMessage::from_wire("sampleText", r#"{"content":"#).is_err());
    assert!(RobotMessage::from_wire("sampleText", r#""content""#).is_err());
    assert!(RobotMessage::from_wire("sampleAudio", r#"{"mediaId":"m","duration":"long"}"#).is_err());
}

fn buttons(n: usize, horizontal: bool) -> RobotMessage {
    RobotMessage::ActionCardButtons {
        title: "T".into(),
        text: "x".into(),
        buttons: (1..=n)
            .map(|i| (format!("b{i}"), format!("https://u/{i}")))
            .collect(),
        horizontal,
    }
}

#[test]
fn action_card_buttons_map_to_numbered_templates() {
    for n in 2..=5 {
        assert_eq!(
            buttons(n, false).msg_key().unwrap(),
            format!("sampleActionCard{n}")
        );
    }
    assert_eq!(
        param(&buttons(3, false)),
        json!({"title": "T", "text": "x",
               "actionTitle1": "b1", "actionURL1": "https://u/1",
               "actionTitle2": "b2", "actionURL2": "https://u/2",
               "actionTitle3": "b3", "actionURL3": "https://u/3"})
    );
    assert_eq!(buttons(2, true).msg_key().unwrap(), "sampleActionCard6");
    assert_eq!(
        param(&buttons(2, true)),
        json!({"title": "T", "text": "x",
               "buttonTitle1": "b1", "buttonUrl1": "https://u/1",
               "buttonTitle2": "b2", "buttonUrl2": "https://u/2"})
    );
    for bad in [
        buttons(1, false),
        buttons(6, false),
        buttons(3, true),
        buttons(0, false),
    ] {
        assert!(matches!(bad.msg_key(), Err(Error::InvalidRequest(_))));
        assert!(bad.msg_param_json().is_err());
    }
}

#[test]
fn recall_bodies() {
    let dm = DmRecallRequest {
        robot_code: RobotCode::new("r"),
        process_query_keys: vec![ProcessQueryKey::new("k1")],
    };
    assert_eq!(
        serde_json::to_value(&dm).unwrap(),
        json!({"robotCode": "r", "processQueryKeys": ["k1"]})
    );
    let group = GroupRecallRequest {
        open_conversation_id: ConversationId::new("cid1"),
        robot_code: RobotCode::new("r"),
        process_query_keys: vec![ProcessQueryKey::new("k1")],
    };
    assert_eq!(
        serde_json::to_value(&group).unwrap(),
        json!({"openConversationId": "cid1", "robotCode": "r", "processQueryKeys": ["k1"]})
    );
    let resp: RecallResponse =
        serde_json::from_value(json!({"successResult": ["k1"], "failedResult": {"k2": "expired"}})).unwrap();
    assert_eq!(resp.success_result, vec![ProcessQueryKey::new("k1")]);
    assert_eq!(resp.failed_result["k2"], "expired");
}

#[test]
fn send_responses_parse() {
    let r: BatchSendResponse = serde_json::from_value(json!({
        "processQueryKey": "pqk", "invalidStaffIdList": ["x"], "flowControlledStaffIdList": []
    }))
    .unwrap();
    assert_eq!(r.process_query_key.as_str(), "pqk");
    assert_eq!(r.invalid_staff_id_list, vec![StaffId::new("x")]);
    let r: BatchSendResponse = serde_json::from_value(json!({"processQueryKey": "p"})).unwrap();
    assert!(r.flow_controlled_staff_id_list.is_empty());
    let r: MediaUploadResponse = serde_json::from_value(
        json!({"errcode": 0, "errmsg": "ok", "type": "image", "media_id": "@lADP", "created_at": 1}),
    )
    .unwrap();
    assert_eq!(r.media_id, Some(MediaId::new("@lADP")));
    assert_eq!(r.media_type.as_deref(), Some("image"));
}

#[test]
fn session_webhook_markdown_matches_fixture() {
    let msg = WebhookMessage::markdown(
        "Deploy summary",
        "### Deploy summary\n- 3 services updated\n- 0 failures\n\n@0312454236781234",
    )
    .with_at(At::users([StaffId::new("0312454236781234")]));
    assert_eq!(
        serde_json::to_value(&msg).unwrap(),
        fixture("out-session-webhook-markdown.json")
    );
}

#[test]
fn custom_robot_action_card_matches_fixture() {
    let msg = WebhookMessage::action_card_buttons(
        "Release approval",
        "### Release 2.4.0\nApprove the rollout?",
        [
            ("Approve".to_owned(), "https://example.com/approve".to_owned()),
            ("Reject".to_owned(), "https://example.com/reject".to_owned()),
        ],
        BtnOrientation::Horizontal,
    );
    let fx = fixture("out-custom-robot-actioncard-multi.json");
    assert_eq!(serde_json::to_value(&msg).unwrap(), fx);
    // The simulator parses these bodies back.
    let back: WebhookMessage = serde_json::from_value(fx).unwrap();
    assert_eq!(back, msg);
}

#[test]
fn other_webhook_shapes() {
    assert_eq!(
        serde_json::to_value(WebhookMessage::text("hi").with_at(At {
            at_mobiles: vec!["138".into()],
            is_at_all: true,
            ..At::default()
        }))
        .unwrap(),
        json!({"msgtype": "text", "text": {"content": "hi"}, "at": {"atMobiles": ["138"], "isAtAll": true}})
    );
    assert_eq!(
        serde_json::to_value(WebhookMessage::link("T", "x", "https://m", "https://p")).unwrap(),
        json!({"msgtype": "link", "link": {"title": "T", "text": "x", "messageUrl": "https://m", "picUrl": "https://p"}})
    );
    assert_eq!(
        serde_json::to_value(WebhookMessage::action_card_single("T", "x", "Read", "https://r")).unwrap(),
        json!({"msgtype": "actionCard", "actionCard": {"title": "T", "text": "x", "singleTitle": "Read", "singleURL": "https://r"}})
    );
    assert_eq!(
        serde_json::to_value(WebhookMessage::feed_card(vec![WebhookFeedLink {
            title: "A".into(),
            message_url: "https://a".into(),
            pic_url: "https://a.png".into(),
        }]))
        .unwrap(),
        json!({"msgtype": "feedCard", "feedCard": {"links": [{"title": "A", "messageURL": "https://a", "picURL": "https://a.png"}]}})
    );
}

#[test]
fn webhook_body_size_is_checked() {
    assert!(WebhookMessage::text("x".repeat(19_000)).to_body().is_ok());
    let err = WebhookMessage::text("x".repeat(MAX_WEBHOOK_BODY_BYTES))
        .to_body()
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 20_000, .. }), "{err:?}");
}

#[test]
fn card_dm_matches_fixture() {
    let req = CreateAndDeliverRequest::robot_dm(
        "<your-ai-card-template-id>.schema",
        OutTrackId::new("card_0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"),
        RobotCode::new("dingq7vxkt3mwz2hb8ns"),
        &StaffId::new("0312454236781234"),
    )
    .param("content", "");
    assert_eq!(
        serde_json::to_value(&req).unwrap(),
        fixture("out-card-create-and-deliver-dm.json")
    );
}

#[test]
fn card_group_matches_fixture() {
    let req = CreateAndDeliverRequest::group(
        "<your-ai-card-template-id>.schema",
        OutTrackId::new("card_7f3e2a10-5b4c-4d9e-8f1a-2b3c4d5e6f70"),
        RobotCode::new("dingq7vxkt3mwz2hb8ns"),
        &ConversationId::new("cidGk2Zz9Lw0pQxRtY7uVb3nM1Q=="),
    )
    .param("content", "")
    .param("flowStatus", "1")
    .param("config", r#"{"autoLayout": true, "enableForward": true}"#);
    let fx = fixture("out-card-create-and-deliver-group.json");
    assert_eq!(serde_json::to_value(&req).unwrap(), fx);
    let back: CreateAndDeliverRequest = serde_json::from_value(fx).unwrap();
    assert_eq!(back, req);
}

#[test]
fn card_response_parses_and_reports_failures() {
    let ok: CreateAndDeliverResponse =
        serde_json::from_value(fixture("out-card-create-and-deliver-response.json")).unwrap();
    assert_eq!(ok.success, Some(true));
    assert_eq!(ok.failed_deliveries().count(), 0);
    assert_eq!(ok.carrier_id().unwrap().as_str(), "4v+AzUEDuC0dKuOEXAMPLEJ0w8=");

    let bad: CreateAndDeliverResponse = serde_json::from_value(json!({
        "success": true,
        "result": {"outTrackId": "c", "deliverResults": [
            {"spaceType": "IM_GROUP", "spaceId": "cid", "success": false, "errorMsg": "robot not in group"}
        ]}
    }))
    .unwrap();
    let failed: Vec<_> = bad.failed_deliveries().collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].error_msg.as_deref(), Some("robot not in group"));
}

#[test]
fn streaming_matches_fixture_with_fresh_guid() {
    let track = OutTrackId::new("card_7f3e2a10-5b4c-4d9e-8f1a-2b3c4d5e6f70");
    let a = StreamingUpdateRequest::full(
        track.clone(),
        "content",
        "### Deploy summary\n- 3 services updated",
    );
    let b = StreamingUpdateRequest::full(track, "content", "x");
    assert_ne!(a.guid, b.guid);
    assert!(uuid::Uuid::parse_str(&a.guid).is_ok());

    let mut ours = serde_json::to_value(&a).unwrap();
    let fx = fixture("out-card-streaming.json");
    ours["guid"] = fx["guid"].clone();
    assert_eq!(ours, fx);

    let last = b.finalize();
    assert!(last.is_finalize && !last.is_error && last.is_full);
}

#[test]
fn card_update_matches_fixture() {
    let req = UpdateCardRequest::merge(
        OutTrackId::new("card_7f3e2a10-5b4c-4d9e-8f1a-2b3c4d5e6f70"),
        CardData::from_pairs([
            ("flowStatus", "3"),
            ("content", "### Deploy summary\n- 3 services updated\n- done"),
        ]),
    );
    assert_eq!(
        serde_json::to_value(&req).unwrap(),
        fixture("out-card-instances-update.json")
    );
}

#[test]
fn open_space_ids() {
    assert_eq!(
        OpenSpaceId::group(&ConversationId::new("cidX==")).as_str(),
        "dtv1.card//IM_GROUP.cidX=="
    );
    assert_eq!(
        OpenSpaceId::robot_dm(&StaffId::new("031")).as_str(),
        "dtv1.card//IM_ROBOT.031"
    );
}
