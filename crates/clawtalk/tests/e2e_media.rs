//! End to end, media: a received file reaches the model as text, a received picture as an
//! image part, an oversized file is refused with a notice, and the agent's `send_file` tool
//! delivers a file message. The real `clawtalk` binary against the simulator and mock model.

mod support;

use std::io::{Cursor, Write};

use dingtalk_sim::{InjectMessage, MediaSpec, MessageSpec, RichSegment};
use llm_mock::Script;
use support::world::{ALICE, APP1, OPEN};
use support::{TIMEOUT, World, wait_until};

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
];

/// A Word document with one paragraph, built by hand (zip + WordprocessingML).
fn docx(paragraph: &str) -> Vec<u8> {
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>{paragraph}</w:t></w:r></w:p></w:body></w:document>"#
    );
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("[Content_Types].xml", options).unwrap();
    zip.write_all(br#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#)
        .unwrap();
    zip.start_file("word/document.xml", options).unwrap();
    zip.write_all(document.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

fn send_file(world: &World, name: &str, bytes: &[u8]) -> String {
    let injected = world
        .sim
        .inject_message(&InjectMessage::new(
            APP1,
            ALICE,
            MessageSpec::File {
                file_name: name.into(),
                media: Some(MediaSpec::bytes(bytes, "application/octet-stream")),
            },
        ))
        .expect("inject a file");
    assert!(injected.delivered, "{injected:?}");
    injected.conversation_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_received_file_reaches_the_model_as_text_and_an_oversized_one_is_refused() {
    let world = World::start().await;
    world.model.push(
        Script::text("The plan says the launch is in May.").when_last_user_contains("launch-plan.docx"),
    );
    world
        .model
        .push(Script::text("I could not read that one.").when_last_user_contains("huge.txt"));
    let config = world.write_config(&world.config(&format!("{OPEN} mediaMaxMb: 1,"), ""));
    let _gateway = world.start_gateway(&config).await;

    let conversation = send_file(
        &world,
        "launch-plan.docx",
        &docx("Launch window: May 2027, region cn-hangzhou"),
    );
    let request = world.wait_request_for("launch-plan.docx").await;
    let text = request.last_user_text().unwrap_or_default();
    assert!(
        text.contains("Launch window: May 2027, region cn-hangzhou"),
        "the model reads the document's text: {text}"
    );
    world
        .wait_reply_containing(&conversation, "launch is in May")
        .await;

    send_file(&world, "huge.txt", &vec![b'x'; 1024 * 1024 + 10]);
    let reply = world.wait_reply_containing(&conversation, "huge.txt").await;
    assert!(
        reply.text.contains("1.0 MB") && reply.text.contains("could not read that one"),
        "the user is told, above the answer: {}",
        reply.text
    );
    let request = world.wait_request_for("huge.txt").await;
    assert!(
        request
            .last_user_text()
            .unwrap_or_default()
            .contains("was not downloaded"),
        "{:?}",
        request.last_user_text()
    );
    // The turn's downloads are removed once it is answered.
    let inbound = world.state_dir().join("media").join("inbound");
    wait_until("received media to be cleaned up", TIMEOUT, || {
        std::fs::read_dir(&inbound)
            .map_or(true, |mut d| d.next().is_none())
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_picture_reaches_a_vision_model_as_an_image_part() {
    let world = World::start().await;
    world
        .model
        .push(Script::text("That is a tiny PNG.").when_last_user_contains("what is this chart"));
    let config = world.write_config(&world.fill(&format!(
        r#"{{
  agents: {{ list: [ {{ id: "main", model: "mock/eyes-model" }} ] }},
  models: {{ providers: {{ mock: {{ baseUrl: "{{MODEL}}", apiKey: "sk-e2e-mock",
                                   models: [ {{ id: "eyes-model", input: ["text", "image"] }} ] }} }} }},
  channels: {{ dingtalk: {{ clientId: "{{APP1}}", clientSecret: "{{SECRET1}}", endpoints: "{{SIM}}", {OPEN} }} }},
  gateway: {{ stateDir: "{{STATE}}" }},
}}"#
    )));
    let _gateway = world.start_gateway(&config).await;

    let injected = world
        .sim
        .inject_message(
            &InjectMessage::new(
                APP1,
                ALICE,
                MessageSpec::RichText {
                    segments: vec![
                        RichSegment::Text {
                            text: "what is this chart?".into(),
                        },
                        RichSegment::Picture {
                            media: Some(MediaSpec::bytes(PNG, "image/png")),
                        },
                    ],
                },
            )
            .in_group(&world.group, true),
        )
        .expect("inject a picture");
    assert!(injected.delivered, "{injected:?}");
    let request = world.wait_request_for("what is this chart").await;
    let user = request
        .messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .expect("a user message");
    let parts = user["content"].as_array().expect("content parts");
    let image = parts
        .iter()
        .find(|p| p["type"] == "image_url")
        .unwrap_or_else(|| panic!("an image part: {user}"));
    let url = image["image_url"]["url"].as_str().unwrap_or_default();
    assert!(url.starts_with("data:image/png;base64,iVBORw0KGgo"), "{url}");
    world.wait_reply_containing(&world.group, "tiny PNG").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_sends_a_file_from_its_workspace() {
    let world = World::start().await;
    let workspace = world.state_dir().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    let report = b"%PDF-1.4 quarterly report".to_vec();
    std::fs::write(workspace.join("q3-report.pdf"), &report).unwrap();
    world.model.push(
        Script::tool_call(
            "send_file",
            r#"{"path":"q3-report.pdf","file_name":"Q3 报告.pdf"}"#,
        )
        .when_last_user_contains("send me the report"),
    );
    world
        .model
        .push(Script::text("I sent you the report.").when_last_user_contains("send me the report"));
    let config = world.write_config(&world.config(OPEN, ""));
    let _gateway = world.start_gateway(&config).await;

    let injected = world.dm(APP1, ALICE, "please send me the report");
    let file = world
        .wait_reply_containing(&injected.conversation_id, "Q3 报告.pdf")
        .await;
    assert_eq!(
        file.api, "robot.batchSend",
        "media go through the robot API: {file:?}"
    );
    assert_eq!(file.body["msgKey"], "sampleFile", "{}", file.body);
    let param = &file.body["msgParamParsed"];
    assert_eq!(param["fileType"], "pdf", "{param}");
    let media_id = param["mediaId"].as_str().unwrap_or_default();
    let (uploaded, _) = world.sim.uploaded_media(media_id).expect("the file was uploaded");
    assert_eq!(uploaded, report, "the uploaded bytes are the workspace file");
    world
        .wait_reply_containing(&injected.conversation_id, "I sent you the report")
        .await;
    let tool_result = world
        .model
        .requests()
        .into_iter()
        .flat_map(|r| r.messages)
        .find(|m| m["role"] == "tool")
        .expect("the tool result went back to the model");
    assert!(
        tool_result["content"]
            .as_str()
            .is_some_and(|c| c.contains("sent Q3 报告.pdf")),
        "{tool_result}"
    );
}

/// One answer asking for 200 images sends the agent's `limits.mediaPerTurn` (default 10),
/// runs at most `limits.toolCallsPerRound` (default 16) of the calls, tells the model "cap
/// reached" for the others, and tells the user under the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_send_image_calls_send_the_cap_and_tell_the_user() {
    let world = World::start().await;
    let workspace = world.state_dir().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::write(workspace.join("chart.png"), PNG).unwrap();
    let mut flood = Script::tool_call("send_image", r#"{"path":"chart.png"}"#);
    for _ in 1..200 {
        flood = flood.and_tool_call("send_image", r#"{"path":"chart.png"}"#);
    }
    world.model.push(flood.when_last_user_contains("all the charts"));
    world.model.push(Script::text("Here are your charts."));
    let config = world.write_config(&world.config(OPEN, ""));
    let _gateway = world.start_gateway(&config).await;

    let injected = world.dm(APP1, ALICE, "send me all the charts");
    let answer = world
        .wait_reply_containing(&injected.conversation_id, "Here are your charts.")
        .await;
    let text = &answer.text;
    assert!(
        text.contains("每次回答最多发送 10 个图片或文件")
            && text.contains("At most 10 images or files are sent per answer"),
        "the user is told about the media cap: {text}"
    );
    assert!(
        text.contains("more than 16 tool calls at once; 184 were not run"),
        "and about the calls that did not run: {text}"
    );
    let images = world
        .replies(&injected.conversation_id)
        .into_iter()
        .filter(|m| m.msg_type == "sampleImageMsg")
        .count();
    assert_eq!(images, 10, "exactly limits.mediaPerTurn images were sent");
    let second = world.model.requests().into_iter().nth(1).expect("a second round");
    let results: Vec<String> = second
        .messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(results.len(), 200, "every call id gets a result");
    let capped = |needle: &str| results.iter().filter(|r| r.contains(needle)).count();
    assert_eq!(capped("cap reached: this turn already sent 10 images/files"), 6);
    assert_eq!(capped("cap reached: at most 16 tool calls run per response"), 184);
}
