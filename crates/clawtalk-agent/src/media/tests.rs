//! Inbound media against the simulator's download API, and the checks before sending.

use std::path::Path;

use dingtalk::api::OpenApiClient;
use dingtalk::ids::{DownloadCode, RobotCode};
use dingtalk_sim::{AppSpec, Simulator};

use super::attach::{MAX_IMAGE_BYTES_FOR_MODEL, describe_all};
use super::extract::ExtractLimits;
use super::extract::tests::docx_of;
use super::fetch::{Fetched, fetch_all};
use super::send::{OutgoingKind, check_file, resolve_in_workspace};
use super::*;
use clawtalk_core::inbound::{MediaKind, MediaRef};

const APP: &str = "dingmediatest01";
const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0];

async fn sim() -> (Simulator, OpenApiClient) {
    let sim = Simulator::start().await.unwrap();
    sim.create_app(AppSpec::new(APP, "media-secret")).unwrap();
    let api = OpenApiClient::builder(dingtalk::ids::ClientId::new(APP), "media-secret".into())
        .endpoints(dingtalk::Endpoints::single(sim.base_url().clone()))
        .build();
    (sim, api)
}

fn media(kind: MediaKind, code: String, name: Option<&str>) -> MediaRef {
    MediaRef {
        kind,
        download_code: DownloadCode::new(code),
        file_name: name.map(str::to_owned),
        quoted: false,
    }
}

async fn prepare(api: &OpenApiClient, items: &[MediaRef], dir: &Path, max: u64) -> UserTurn {
    let fetched = fetch_all(api, &RobotCode::new(APP), items, dir, max).await;
    let attachments = describe_all(items, fetched, ExtractLimits::default()).await;
    compose("look at these", &attachments)
}

#[tokio::test]
async fn pictures_become_image_parts_and_files_their_text() {
    let (sim, api) = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let picture = sim.register_download(APP, PNG.to_vec(), "image/png", None);
    let doc = sim.register_download(
        APP,
        docx_of(&["Budget for Q3: 1.2M"]),
        "application/octet-stream",
        Some("plan.docx"),
    );
    let items = [
        media(MediaKind::Picture, picture, None),
        media(MediaKind::File, doc, Some("plan.docx")),
    ];
    let turn = prepare(&api, &items, dir.path(), 1024 * 1024).await;
    let Some(MessageContent::Parts(parts)) = &turn.for_model.content else {
        panic!("expected parts: {:?}", turn.for_model);
    };
    let ContentPart::Text { text } = &parts[0] else {
        panic!()
    };
    assert!(
        text.starts_with("look at these\n[picture picture-1, 12 B]"),
        "{text}"
    );
    assert!(text.contains("[file plan.docx, "), "{text}");
    assert!(text.contains("Budget for Q3: 1.2M"), "{text}");
    let ContentPart::ImageUrl { image_url } = &parts[1] else {
        panic!()
    };
    assert!(
        image_url.url.starts_with("data:image/png;base64,iVBORw0KGgo"),
        "{}",
        image_url.url
    );
    // The history keeps the text, not the megabytes.
    let kept = turn.for_transcript.text().unwrap();
    assert!(
        kept.contains("Budget for Q3") && !kept.contains("base64"),
        "{kept}"
    );
    assert!(turn.notices.is_empty());
    // Streamed to disk under the given directory.
    let saved: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(saved.len(), 2);
}

#[tokio::test]
async fn too_large_and_failed_downloads_become_notes_and_notices() {
    let (sim, api) = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let big = sim.register_download(APP, vec![b'x'; 4096], "text/plain", Some("huge.txt"));
    let items = [
        media(MediaKind::File, big, Some("huge.txt")),
        media(MediaKind::File, "expired-code".into(), Some("gone.pdf")),
    ];
    let turn = prepare(&api, &items, dir.path(), 1000).await;
    let text = turn.for_model.text().unwrap();
    assert!(text.contains("huge.txt (4.0 KB) was not downloaded"), "{text}");
    assert!(text.contains("gone.pdf could not be downloaded"), "{text}");
    assert_eq!(turn.notices.len(), 2, "{:?}", turn.notices);
    assert!(
        turn.notices[0].contains("huge.txt") && turn.notices[0].contains("1000 B"),
        "{:?}",
        turn.notices
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing of a refused download is kept"
    );
}

#[tokio::test]
async fn unsupported_and_unreadable_files_are_described() {
    let (sim, api) = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let video = sim.register_download(APP, vec![0; 2048], "video/mp4", None);
    let binary = sim.register_download(APP, vec![1, 2, 3], "application/octet-stream", Some("model.bin"));
    let broken = sim.register_download(APP, b"not a pdf".to_vec(), "application/pdf", Some("broken.pdf"));
    let not_image = sim.register_download(APP, b"GIF? no".to_vec(), "image/png", None);
    let items = [
        media(MediaKind::Video, video, None),
        media(MediaKind::File, binary, Some("model.bin")),
        media(MediaKind::File, broken, Some("broken.pdf")),
        media(MediaKind::Picture, not_image, None),
    ];
    let turn = prepare(&api, &items, dir.path(), 1024 * 1024).await;
    let text = turn.for_model.text().unwrap();
    assert!(text.contains("[video video-1.mp4, 2.0 KB"), "{text}");
    assert!(
        text.contains("[file model.bin, 3 B: this type cannot be read as text]"),
        "{text}"
    );
    assert!(
        text.contains("[file broken.pdf, 9 B: its text could not be extracted"),
        "{text}"
    );
    assert!(text.contains("not in a format the model can view"), "{text}");
    assert!(matches!(turn.for_model.content, Some(MessageContent::Text(_))));
}

#[test]
fn big_images_are_not_inlined() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.png");
    let mut data = PNG.to_vec();
    data.resize(usize::try_from(MAX_IMAGE_BYTES_FOR_MODEL).unwrap() + 1, 0);
    std::fs::write(&path, &data).unwrap();
    let item = media(MediaKind::Picture, "c".into(), None);
    let fetched = Fetched::Saved {
        path,
        bytes: data.len() as u64,
    };
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let out = rt.block_on(describe_all(&[item], vec![fetched], ExtractLimits::default()));
    assert!(out[0].image_data_url.is_none());
    assert!(out[0].note.contains("too large to show"), "{}", out[0].note);
}

#[test]
fn sent_files_must_be_in_the_workspace_and_within_dingtalks_rules() {
    let root = tempfile::tempdir().unwrap();
    let workspace = root.path().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::write(root.path().join("secret.pdf"), b"%PDF-1.4").unwrap();
    std::fs::write(workspace.join("report.pdf"), b"%PDF-1.4 report").unwrap();
    std::fs::write(workspace.join("notes.exe"), b"MZ").unwrap();
    std::fs::write(workspace.join("fake.png"), b"not an image").unwrap();
    std::fs::write(workspace.join("chart.png"), PNG).unwrap();
    std::fs::write(workspace.join("empty.pdf"), b"").unwrap();

    let ok = resolve_in_workspace("report.pdf", &workspace).unwrap();
    let file = check_file(OutgoingKind::File, &ok, None).unwrap();
    assert_eq!(
        (file.file_name.as_str(), file.file_type.as_str()),
        ("report.pdf", "pdf")
    );
    let renamed = check_file(OutgoingKind::File, &ok, Some("Q3 报告.pdf")).unwrap();
    assert_eq!(renamed.file_name, "Q3 报告.pdf");
    let image = resolve_in_workspace("chart.png", &workspace).unwrap();
    assert!(check_file(OutgoingKind::Image, &image, None).is_ok());

    let err = resolve_in_workspace("../secret.pdf", &workspace).unwrap_err();
    assert!(err.contains("outside the agent workspace"), "{err}");
    let abs = root.path().join("secret.pdf");
    let err = resolve_in_workspace(abs.to_str().unwrap(), &workspace).unwrap_err();
    assert!(err.contains("outside the agent workspace"), "{err}");
    let err = resolve_in_workspace("https://example.com/x.pdf", &workspace).unwrap_err();
    assert!(err.contains("is a URL"), "{err}");
    let err = resolve_in_workspace("missing.pdf", &workspace).unwrap_err();
    assert!(err.contains("cannot open"), "{err}");

    let exe = resolve_in_workspace("notes.exe", &workspace).unwrap();
    let err = check_file(OutgoingKind::File, &exe, None).unwrap_err();
    assert!(
        err.contains("does not accept .exe") && err.contains("pdf"),
        "{err}"
    );
    let fake = resolve_in_workspace("fake.png", &workspace).unwrap();
    let err = check_file(OutgoingKind::Image, &fake, None).unwrap_err();
    assert!(err.contains("is not a png"), "{err}");
    let empty = resolve_in_workspace("empty.pdf", &workspace).unwrap();
    assert!(
        check_file(OutgoingKind::File, &empty, None)
            .unwrap_err()
            .contains("is empty")
    );
}

#[test]
fn sent_files_are_judged_by_content_single_linked_and_safely_named() {
    let root = tempfile::tempdir().unwrap();
    let workspace = root.path().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::write(workspace.join("script.pdf"), b"#!/bin/sh\necho hi\n").unwrap();
    std::fs::write(workspace.join("photo.png"), [0xFF, 0xD8, 0xFF, 0xE0, 0, 0]).unwrap();
    std::fs::write(workspace.join("report.pdf"), b"%PDF-1.4 report").unwrap();
    let secret = root.path().join("secret.txt");
    std::fs::write(&secret, b"%PDF-1.4 not for the chat").unwrap();
    std::fs::hard_link(&secret, workspace.join("linked.pdf")).unwrap();

    let script = resolve_in_workspace("script.pdf", &workspace).unwrap();
    let err = check_file(OutgoingKind::File, &script, None).unwrap_err();
    assert!(err.contains("content is not a .pdf file"), "{err}");
    let photo = resolve_in_workspace("photo.png", &workspace).unwrap();
    let err = check_file(OutgoingKind::Image, &photo, None).unwrap_err();
    assert!(err.contains("content is not a .png file"), "{err}");
    let linked = resolve_in_workspace("linked.pdf", &workspace).unwrap();
    let err = check_file(OutgoingKind::File, &linked, None).unwrap_err();
    assert!(err.contains("hard links"), "{err}");

    let report = resolve_in_workspace("report.pdf", &workspace).unwrap();
    let named = check_file(OutgoingKind::File, &report, Some("../../Q3\u{202E}fdp.pdf")).unwrap();
    assert_eq!(named.file_name, "Q3fdp.pdf");
    let err = check_file(OutgoingKind::File, &report, Some("invoice\u{202E}fdp.exe")).unwrap_err();
    assert!(err.contains("does not accept .exe"), "{err}");
}

#[test]
fn oversized_files_are_refused_before_upload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.zip");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(20 * 1024 * 1024 + 1).unwrap();
    let err = check_file(OutgoingKind::File, &path, None).unwrap_err();
    assert!(err.contains("at most 20.0 MB"), "{err}");
}

#[test]
fn text_only_copies_keep_plain_messages_unchanged() {
    let plain = ChatMessage::user("hi");
    assert_eq!(without_images(&plain), plain);
    let turn = compose("hi", &[]);
    assert_eq!(turn.for_model, plain);
    assert_eq!(turn.for_transcript, plain);
}
