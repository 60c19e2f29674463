//! Media: `messageFiles/download` (→ a time-limited URL served by the sim) and legacy
//! `POST /media/upload` (multipart part `media`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;
use tokio::time::Instant;

use crate::error::{ApiError, LegacyError};
use crate::ids;
use crate::model::SCOPE_ROBOT_SEND;
use crate::state::{Blob, Shared};

use super::auth::{authenticate, authenticate_legacy, require_scope};
use super::body::{json_body, req_str};
use super::robot::check_robot_code;

pub(crate) const DOWNLOAD: &str = "/v1.0/robot/messageFiles/download";
pub(crate) const UPLOAD: &str = "/media/upload";

/// `POST /v1.0/robot/messageFiles/download`.
pub(crate) async fn download(State(shared): State<Arc<Shared>>, headers: HeaderMap, raw: Bytes) -> Response {
    match download_inner(&shared, &headers, &raw) {
        Ok(url) => Json(json!({"downloadUrl": url})).into_response(),
        Err(e) => e.into_response(),
    }
}

fn download_inner(shared: &Shared, headers: &HeaderMap, raw: &[u8]) -> Result<String, ApiError> {
    let app = authenticate(shared, headers, DOWNLOAD)?;
    require_scope(&app, SCOPE_ROBOT_SEND)?;
    let body = json_body(raw)?;
    check_robot_code(&app, &body)?;
    let code = req_str(&body, "downloadCode")?.to_owned();
    let token = ids::alnum(40);
    shared.mutate(|st| {
        match st.media.downloads.get(&code) {
            Some(blob) if blob.app == app.client_id => {}
            _ => {
                return Err(ApiError::bad_request(
                    "invalidParameter.downloadCode",
                    "downloadCode 无效或已过期",
                ));
            }
        }
        let expires = Instant::now() + shared.config.download_url_ttl;
        st.media.download_urls.insert(token.clone(), (code, expires));
        Ok(())
    })?;
    Ok(shared.url(&format!("/_download/{token}")))
}

/// `GET /_download/{token}`: the temporary file URL (no auth, like an OSS link).
pub(crate) async fn fetch(State(shared): State<Arc<Shared>>, Path(token): Path<String>) -> Response {
    let blob = shared.read(|st| {
        let (code, expires) = st.media.download_urls.get(&token)?;
        if *expires <= Instant::now() {
            return None;
        }
        st.media.downloads.get(code).cloned()
    });
    match blob {
        Some(b) => {
            let mut resp = (
                [(header::CONTENT_TYPE, b.content_type.clone())],
                b.bytes.clone(),
            )
                .into_response();
            if let Some(name) = &b.file_name
                && let Ok(v) = format!("attachment; filename=\"{}\"", name.replace('"', "")).parse()
            {
                resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            resp
        }
        None => (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "application/xml")],
            "<Error><Code>AccessDenied</Code><Message>Request has expired or the URL is invalid.</Message></Error>",
        )
            .into_response(),
    }
}

fn limit_for(kind: &str) -> Option<(usize, &'static [&'static str])> {
    const MB: usize = 1024 * 1024;
    Some(match kind {
        "image" => (20 * MB, &["jpg", "jpeg", "gif", "png", "bmp"]),
        "voice" => (2 * MB, &["amr", "mp3", "wav", "ogg"]),
        "video" => (20 * MB, &["mp4"]),
        "file" => (
            20 * MB,
            &[
                "doc", "docx", "xls", "xlsx", "ppt", "pptx", "zip", "pdf", "rar", "txt", "md",
            ],
        ),
        _ => return None,
    })
}

/// `POST /media/upload?access_token=&type=` (multipart, part `media`; `type` may also be a form field).
pub(crate) async fn upload(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    match upload_inner(&shared, &q, multipart).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn upload_inner(
    shared: &Shared,
    q: &HashMap<String, String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<serde_json::Value, LegacyError> {
    let app = authenticate_legacy(shared, q.get("access_token").map(String::as_str), UPLOAD)?;
    let mut multipart =
        multipart.map_err(|e| LegacyError::new(43004, format!("需要 multipart/form-data 请求: {e}")))?;
    let mut kind = q.get("type").cloned();
    let mut media: Option<(Option<String>, Option<String>, Bytes)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(LegacyError::new(40035, format!("multipart 解析失败: {e}"))),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let data = field
            .bytes()
            .await
            .map_err(|e| LegacyError::new(40035, format!("multipart 解析失败: {e}")))?;
        match name.as_str() {
            "media" => media = Some((file_name, content_type, data)),
            "type" if kind.is_none() => kind = Some(String::from_utf8_lossy(&data).into_owned()),
            _ => {}
        }
    }
    let kind = kind.unwrap_or_default();
    let Some((max, exts)) = limit_for(&kind) else {
        return Err(LegacyError::new(40004, "不合法的媒体文件类型"));
    };
    let Some((file_name, content_type, data)) = media else {
        return Err(LegacyError::new(41006, "缺少 media 文件"));
    };
    if data.is_empty() || data.len() > max {
        return Err(LegacyError::new(
            40006,
            format!(
                "不合法的文件大小: {} 字节，{kind} 类型上限 {max} 字节",
                data.len()
            ),
        ));
    }
    if let Some(ext) = file_name
        .as_deref()
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        && !exts.contains(&ext.as_str())
    {
        return Err(LegacyError::new(
            40005,
            format!("不合法的文件格式 .{ext} ({kind})"),
        ));
    }
    let media_id = ids::media_id();
    let content_type = content_type.unwrap_or_else(|| "application/octet-stream".to_owned());
    shared.mutate(|st| {
        st.media.uploads.insert(
            media_id.clone(),
            Blob {
                app: app.client_id.clone(),
                bytes: data,
                content_type,
                file_name,
            },
        );
    });
    Ok(json!({
        "errcode": 0,
        "errmsg": "ok",
        "type": kind,
        "media_id": media_id,
        "created_at": ids::epoch_ms(),
    }))
}
