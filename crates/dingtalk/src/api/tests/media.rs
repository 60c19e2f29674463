use std::sync::Arc;

use serde_json::json;

use super::{LEGACY_TOKEN_PATH, TOKEN_PATH, client, with_tokens};
use crate::api::{ApiEndpoint, MediaKind};
use crate::error::{ApiErrorKind, Error};
use crate::http::test_stub::{Reply, Stub};
use crate::ids::{DownloadCode, MediaId, RobotCode};

const DOWNLOAD: &str = "/v1.0/robot/messageFiles/download";

/// A stub whose messageFiles/download points at its own `/files/blob`, serving `size` bytes.
async fn file_stub(size: usize, chunked: bool) -> Stub {
    let base = Arc::new(std::sync::OnceLock::<url::Url>::new());
    let base_in = Arc::clone(&base);
    let stub = Stub::start(with_tokens(move |r| match r.path.as_str() {
        DOWNLOAD => {
            let url = base_in.get().unwrap().join("/files/blob?sig=abc").unwrap();
            Reply::ok(json!({"downloadUrl": url.as_str()}))
        }
        "/files/blob" => {
            let reply = Reply::raw(200, vec![7u8; size]);
            if chunked { reply.chunked() } else { reply }
        }
        _ => Reply::raw(404, "not here"),
    }))
    .await;
    base.set(stub.base.clone()).unwrap();
    stub
}

#[tokio::test]
async fn download_url_exchanges_the_code() {
    let stub = file_stub(10, false).await;
    let url = client(&stub)
        .download_url(&RobotCode::new("robot"), &DownloadCode::new("dc-1"))
        .await
        .unwrap();
    assert_eq!(url.path(), "/files/blob");
    let req = stub.only(DOWNLOAD);
    assert_eq!(req.method, "POST");
    assert_eq!(req.header("x-acs-dingtalk-access-token"), Some("tok-1"));
    assert_eq!(req.json(), json!({"downloadCode": "dc-1", "robotCode": "robot"}));
}

#[tokio::test]
async fn download_to_streams_into_the_writer_without_a_token() {
    let stub = file_stub(5000, true).await;
    let api = client(&stub);
    let mut out = Vec::new();
    let n = api
        .download_to(&RobotCode::new("robot"), &DownloadCode::new("dc"), &mut out, 5000)
        .await
        .unwrap();
    assert_eq!(n, 5000);
    assert_eq!(out, vec![7u8; 5000]);
    let get = stub.only("/files/blob");
    assert_eq!(get.method, "GET");
    assert_eq!(get.header("x-acs-dingtalk-access-token"), None);
    assert_eq!(api.metrics().count(ApiEndpoint::MediaDownload), 1);
}

#[tokio::test]
async fn download_cap_is_enforced_with_and_without_content_length() {
    for chunked in [false, true] {
        let stub = file_stub(5000, chunked).await;
        let mut out = Vec::new();
        let err = client(&stub)
            .download_to(&RobotCode::new("robot"), &DownloadCode::new("dc"), &mut out, 4096)
            .await
            .unwrap_err();
        match err {
            Error::TooLarge { limit, actual, .. } => {
                assert_eq!(limit, 4096);
                // Known up front only when Content-Length was sent.
                assert_eq!(actual.is_some(), !chunked);
            }
            other => panic!("{other:?}"),
        }
        assert!(out.len() <= 4096);
    }
}

#[tokio::test]
async fn download_http_error_is_classified() {
    let stub = Stub::start(with_tokens(|r| match r.path.as_str() {
        DOWNLOAD => Reply::json(
            400,
            json!({"code": "invalidParameter.downloadCode", "message": "bad code"}),
        ),
        _ => Reply::raw(404, ""),
    }))
    .await;
    let err = client(&stub)
        .download_url(&RobotCode::new("robot"), &DownloadCode::new("dc"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::InvalidParam));
}

#[tokio::test]
async fn upload_sends_multipart_media_with_the_legacy_token() {
    let stub = Stub::start(with_tokens(|_| {
        Reply::ok(
            json!({"errcode": 0, "errmsg": "ok", "type": "image", "media_id": "@lADPimg", "created_at": 1}),
        )
    }))
    .await;
    let api = client(&stub);
    let id = api
        .upload_media(MediaKind::Image, "chart.png", vec![1u8, 2, 3])
        .await
        .unwrap();
    assert_eq!(id, MediaId::new("@lADPimg"));

    let req = stub.only("/media/upload");
    assert_eq!(req.method, "POST");
    assert_eq!(req.query_value("access_token").as_deref(), Some("legacy-1"));
    assert_eq!(req.query_value("type").as_deref(), Some("image"));
    assert!(
        req.header("content-type")
            .unwrap()
            .starts_with("multipart/form-data")
    );
    let body = String::from_utf8_lossy(&req.body);
    assert!(body.contains(r#"name="media""#), "{body}");
    assert!(body.contains(r#"filename="chart.png""#), "{body}");
    assert!(body.contains("image/png"), "{body}");
    assert_eq!(stub.count(LEGACY_TOKEN_PATH), 1);
    assert_eq!(stub.count(TOKEN_PATH), 0);
}

#[tokio::test]
async fn upload_checks_size_limits_before_sending() {
    let stub = Stub::start(with_tokens(|_| Reply::ok(json!({"errcode": 0, "media_id": "x"})))).await;
    let api = client(&stub);
    let too_big = vec![0u8; 2 * 1024 * 1024 + 1];
    let err = api
        .upload_media(MediaKind::Voice, "a.amr", too_big.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooLarge {
                what: "voice upload",
                limit: 2_097_152,
                actual: Some(2_097_153)
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("voice upload"));
    assert!(stub.requests().is_empty());
    // The same size is fine for a file.
    api.upload_media(MediaKind::File, "a.zip", too_big).await.unwrap();
    assert!(
        api.upload_media(MediaKind::File, "a.zip", Vec::new())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn upload_refreshes_a_rejected_legacy_token_once() {
    let stub = Stub::start(with_tokens(|r| {
        if r.query_value("access_token").as_deref() == Some("legacy-1") {
            Reply::ok(json!({"errcode": 40014, "errmsg": "不合法的access_token"}))
        } else {
            Reply::ok(json!({"errcode": 0, "errmsg": "ok", "media_id": "@m2"}))
        }
    }))
    .await;
    let id = client(&stub)
        .upload_media(MediaKind::File, "r.pdf", vec![1u8])
        .await
        .unwrap();
    assert_eq!(id.as_str(), "@m2");
    assert_eq!(stub.count(LEGACY_TOKEN_PATH), 2);
    assert_eq!(stub.count("/media/upload"), 2);
}

#[tokio::test]
async fn upload_refreshes_on_every_legacy_token_errcode() {
    for errcode in [40001, 42001] {
        let stub = Stub::start(with_tokens(move |r| {
            if r.query_value("access_token").as_deref() == Some("legacy-1") {
                Reply::ok(json!({"errcode": errcode, "errmsg": "access_token expired"}))
            } else {
                Reply::ok(json!({"errcode": 0, "errmsg": "ok", "media_id": "@m2"}))
            }
        }))
        .await;
        let id = client(&stub)
            .upload_media(MediaKind::File, "r.pdf", vec![1u8])
            .await
            .unwrap();
        assert_eq!(id.as_str(), "@m2", "{errcode}");
        assert_eq!(stub.count(LEGACY_TOKEN_PATH), 2, "{errcode}");
        assert_eq!(stub.count("/media/upload"), 2, "{errcode}");
    }
}

#[tokio::test]
async fn upload_errcode_is_an_error() {
    let stub = Stub::start(with_tokens(|_| {
        Reply::ok(json!({"errcode": 40004, "errmsg": "invalid media type"}))
    }))
    .await;
    let err = client(&stub)
        .upload_media(MediaKind::Image, "x.exe", vec![1u8])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::InvalidParam));
    assert_eq!(err.api().unwrap().code, "40004");
}
