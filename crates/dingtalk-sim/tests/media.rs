mod common;

use common::*;
use dingtalk_sim::{InjectMessage, MediaSpec, MessageSpec, SimConfig};
use serde_json::{Value, json};

#[tokio::test]
async fn inbound_file_can_be_downloaded_through_a_temporary_url() {
    let env = env(SimConfig::fast()).await;
    let inj = env
        .sim
        .inject_message(&InjectMessage::new(
            APP,
            ALICE,
            MessageSpec::File {
                file_name: "report.pdf".into(),
                media: Some(MediaSpec::bytes(b"%PDF-1.7 hello", "application/pdf")),
            },
        ))
        .unwrap();
    assert_eq!(inj.payload["msgtype"], "file");
    assert_eq!(inj.payload["content"]["fileName"], "report.pdf");
    let code = inj.download_codes[0].clone();
    assert_eq!(inj.payload["content"]["downloadCode"], code.as_str());
    let token = env.token().await;
    let v: Value = env
        .http
        .post(env.url("/v1.0/robot/messageFiles/download"))
        .header("x-acs-dingtalk-access-token", &token)
        .json(&json!({"downloadCode": code, "robotCode": APP}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = v["downloadUrl"].as_str().unwrap();
    let r = env.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(&r.bytes().await.unwrap()[..], b"%PDF-1.7 hello");

    let r = env
        .http
        .post(env.url("/v1.0/robot/messageFiles/download"))
        .header("x-acs-dingtalk-access-token", &token)
        .json(&json!({"downloadCode": "bogus", "robotCode": APP}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn group_picture_arrives_as_rich_text_and_dm_audio_has_recognition() {
    let env = env(SimConfig::fast()).await;
    let inj = env
        .sim
        .inject_message(
            &InjectMessage::new(APP, ALICE, MessageSpec::Picture { media: None }).in_group(&env.group, true),
        )
        .unwrap();
    assert_eq!(inj.payload["msgtype"], "richText");
    let items = inj.payload["content"]["richText"].as_array().unwrap();
    assert_eq!(items[0]["text"], "@GatewayBot");
    assert_eq!(items[1]["type"], "picture");
    assert!(items[1]["downloadCode"].is_string() && items[1]["pictureDownloadCode"].is_string());

    let inj = env
        .sim
        .inject_message(&InjectMessage::new(
            APP,
            ALICE,
            MessageSpec::Audio {
                recognition: "remind me".into(),
                duration_ms: Some(4200),
                media: None,
            },
        ))
        .unwrap();
    assert_eq!(inj.payload["content"]["recognition"], "remind me");
    assert_eq!(inj.payload["content"]["duration"], 4200);

    // Voice in a group is not delivered to bots.
    let inj = env
        .sim
        .inject_message(
            &InjectMessage::new(
                APP,
                ALICE,
                MessageSpec::Audio {
                    recognition: "x".into(),
                    duration_ms: None,
                    media: None,
                },
            )
            .in_group(&env.group, true),
        )
        .unwrap();
    assert!(!inj.delivered);
}

#[tokio::test]
async fn media_upload_checks_type_and_size() {
    let env = env(SimConfig::fast()).await;
    let token = env.token().await;
    let upload = |kind: &str, name: &str, bytes: Vec<u8>| {
        let url = env.url(&format!("/media/upload?access_token={token}&type={kind}"));
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str("image/png")
            .unwrap();
        let form = reqwest::multipart::Form::new().part("media", part);
        let http = env.http.clone();
        async move {
            http.post(url)
                .multipart(form)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let v = upload("image", "a.png", vec![1, 2, 3]).await;
    assert_eq!(v["errcode"], 0, "{v}");
    let media_id = v["media_id"].as_str().unwrap();
    assert!(media_id.starts_with('@'));
    assert_eq!(env.sim.uploaded_media(media_id).unwrap().0, vec![1, 2, 3]);
    assert_eq!(upload("sticker", "a.png", vec![1]).await["errcode"], 40004);
    assert_eq!(
        upload("voice", "a.amr", vec![0; 2 * 1024 * 1024 + 1]).await["errcode"],
        40006
    );
    assert_eq!(upload("image", "a.exe", vec![1]).await["errcode"], 40005);

    // Image and file messages must name media of this app; the sent log records them.
    let send = |msg_key: &str, param: Value| {
        let body =
            json!({"robotCode": APP, "userIds": [ALICE], "msgKey": msg_key, "msgParam": param.to_string()});
        let request = env
            .http
            .post(env.url("/v1.0/robot/oToMessages/batchSend"))
            .header("x-acs-dingtalk-access-token", token.clone())
            .json(&body);
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (st, v) = send("sampleImageMsg", json!({"photoURL": media_id})).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = send(
        "sampleImageMsg",
        json!({"photoURL": "https://img.example.com/a.png"}),
    )
    .await;
    assert_eq!(st, 200, "a full URL is fine too: {v}");
    let (st, v) = send(
        "sampleFile",
        json!({"mediaId": "@lAnever-uploaded", "fileName": "a.pdf", "fileType": "pdf"}),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("mediaId"), "{v}");
    let sent = env.sim.sent_messages();
    let image = sent
        .iter()
        .find(|m| m.text.contains(media_id))
        .expect("the image message is logged");
    assert_eq!(image.body["msgKey"], "sampleImageMsg");
    assert_eq!(image.body["msgParamParsed"]["photoURL"], media_id);
    assert_eq!(sent.len(), 2, "the refused file message is not logged");
    let v: Value = env
        .http
        .post(env.url("/media/upload?access_token=bad&type=image"))
        .multipart(reqwest::multipart::Form::new().part(
            "media",
            reqwest::multipart::Part::bytes(vec![1]).file_name("a.png"),
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["errcode"], 40014);
}
