//! Media: download what users sent, upload what the bot sends.

use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use url::Url;

use crate::api::client::OpenApiClient;
use crate::api::token_retry::with_token_retry;
use crate::endpoints::ApiEndpoint;
use crate::error::{Error, Result};
use crate::http::{decode, execute, read_checked, send};
use crate::ids::{DownloadCode, MediaId, RobotCode};
use crate::model::outbound::{DownloadRequest, DownloadResponse, MediaUploadResponse};

const MESSAGE_FILES_DOWNLOAD: &str = "/v1.0/robot/messageFiles/download";
const MEDIA_UPLOAD: &str = "/media/upload";

/// How long one media download may take in total (overrides the client's 30 s default, which
/// is too short for 20 MB on a slow link).
pub const DEFAULT_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);

const MIB: u64 = 1024 * 1024;

/// Kind of media for `media/upload`; decides the `type` parameter and the size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaKind {
    /// jpg, gif, png, bmp; ≤ 20 MB.
    Image,
    /// amr, mp3, wav (robot `sampleAudio`: ogg, amr); ≤ 2 MB.
    Voice,
    /// mp4; ≤ 20 MB.
    Video,
    /// doc, docx, xls, xlsx, ppt, pptx, zip, pdf, rar; ≤ 20 MB.
    File,
}

impl MediaKind {
    /// The wire value of `type`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Voice => "voice",
            Self::Video => "video",
            Self::File => "file",
        }
    }

    /// Documented upload limit in bytes (MB read as MiB).
    #[must_use]
    pub const fn max_bytes(self) -> u64 {
        match self {
            Self::Voice => 2 * MIB,
            Self::Image | Self::Video | Self::File => 20 * MIB,
        }
    }

    const fn upload_label(self) -> &'static str {
        match self {
            Self::Image => "image upload",
            Self::Voice => "voice upload",
            Self::Video => "video upload",
            Self::File => "file upload",
        }
    }
}

impl OpenApiClient {
    /// Exchanges an inbound message's download code for a temporary URL
    /// (`POST /v1.0/robot/messageFiles/download`). `robot_code` is the receiving bot.
    ///
    /// The URL is pre-signed: treat it as a secret and do not log it.
    ///
    /// # Errors
    /// [`ApiErrorKind::InvalidParam`](crate::error::ApiErrorKind::InvalidParam) for an unknown or
    /// expired download code; [`Error::Decode`] when `downloadUrl` is missing or not a URL;
    /// otherwise the errors every call can return (see [`OpenApiClient`]).
    pub async fn download_url(&self, robot_code: &RobotCode, code: &DownloadCode) -> Result<Url> {
        let endpoint = ApiEndpoint::MessageFileDownload;
        let body = DownloadRequest {
            download_code: code.clone(),
            robot_code: robot_code.clone(),
        };
        let (response, raw): (DownloadResponse, String) = self
            .call_keep_body(endpoint, Method::POST, MESSAGE_FILES_DOWNLOAD, &body)
            .await?;
        Url::parse(&response.download_url).map_err(|e| Error::decode(endpoint.name(), e, raw))
    }

    /// Downloads inbound media into `writer`, refusing more than `max_bytes`.
    ///
    /// Checks `Content-Length` first and then counts while streaming, so an oversized file is
    /// never buffered. On [`Error::TooLarge`] the writer may already hold a prefix; discard it.
    /// Returns the number of bytes written.
    ///
    /// # Errors
    /// The errors of [`OpenApiClient::download_url`]; then [`Error::Api`] when the download URL answers
    /// HTTP ≥ 400 ([`Error::Decode`] for another non-success status), [`Error::Transport`] when the
    /// download breaks off or exceeds [`DEFAULT_DOWNLOAD_TIMEOUT`], [`Error::TooLarge`] above
    /// `max_bytes`, and [`Error::Io`] when writing to `writer` fails.
    pub async fn download_to<W>(
        &self,
        robot_code: &RobotCode,
        code: &DownloadCode,
        writer: &mut W,
        max_bytes: u64,
    ) -> Result<u64>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let endpoint = ApiEndpoint::MediaDownload;
        let url = self.download_url(robot_code, code).await?;
        // No token: the URL carries its own signature.
        let request = self.inner.http.get(url).timeout(DEFAULT_DOWNLOAD_TIMEOUT);
        let mut response = send(&self.inner.metrics, endpoint, request).await?;
        if !response.status().is_success() {
            // Always an error for status ≥ 400; classify it like any other answer.
            return Err(match read_checked(response, endpoint).await {
                Err(e) => e,
                Ok(body) => Error::decode(endpoint.name(), UnexpectedStatus, body),
            });
        }
        let too_large = |actual| Error::TooLarge {
            what: "media download",
            limit: max_bytes,
            actual,
        };
        if let Some(len) = response.content_length().filter(|len| *len > max_bytes) {
            return Err(too_large(Some(len)));
        }
        let mut written: u64 = 0;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Error::transport(endpoint.name(), e))?
        {
            written += chunk.len() as u64;
            if written > max_bytes {
                return Err(too_large(None));
            }
            writer.write_all(&chunk).await.map_err(|e| Error::Io(e.into()))?;
        }
        writer.flush().await.map_err(|e| Error::Io(e.into()))?;
        tracing::debug!(endpoint = endpoint.name(), bytes = written, "media downloaded");
        Ok(written)
    }

    /// Uploads media and returns its reusable `media_id` (legacy `POST /media/upload`,
    /// multipart part `media`, legacy token in the query).
    ///
    /// The size limit of `kind` is checked before anything is sent.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for empty data or a blank file name and [`Error::TooLarge`] above
    /// [`MediaKind::max_bytes`] (nothing is sent then); [`Error::Api`] when DingTalk answers a non-zero
    /// `errcode` (e.g. [`ApiErrorKind::InvalidParam`](crate::error::ApiErrorKind::InvalidParam) for
    /// 40004, a media type it refuses); [`Error::Decode`] when the answer has no `media_id`;
    /// otherwise the errors every call can return (see [`OpenApiClient`]), with the legacy token.
    pub async fn upload_media(
        &self,
        kind: MediaKind,
        file_name: &str,
        data: impl Into<Bytes>,
    ) -> Result<MediaId> {
        let endpoint = ApiEndpoint::MediaUpload;
        let data: Bytes = data.into();
        if data.is_empty() {
            return Err(Error::InvalidRequest(format!("{} is empty", kind.upload_label())));
        }
        if data.len() as u64 > kind.max_bytes() {
            return Err(Error::TooLarge {
                what: kind.upload_label(),
                limit: kind.max_bytes(),
                actual: Some(data.len() as u64),
            });
        }
        if file_name.trim().is_empty() {
            return Err(Error::InvalidRequest("upload needs a file name".into()));
        }
        let inner = &self.inner;
        let text = with_token_retry(&inner.legacy_tokens, |token| {
            // A multipart form is consumed by sending; rebuild it per attempt (`Bytes` clones
            // are cheap).
            let form = reqwest::multipart::Form::new().part(
                "media",
                reqwest::multipart::Part::stream_with_length(
                    reqwest::Body::from(data.clone()),
                    data.len() as u64,
                )
                .file_name(file_name.to_owned())
                .mime_str(mime_for(file_name))
                // Unreachable with the static types of `mime_for`; keep the file anyway.
                .unwrap_or_else(|_| {
                    reqwest::multipart::Part::bytes(data.to_vec()).file_name(file_name.to_owned())
                }),
            );
            let mut url = inner.endpoints.oapi_url(MEDIA_UPLOAD);
            url.query_pairs_mut()
                .append_pair("access_token", token.as_str())
                .append_pair("type", kind.as_str());
            let request = inner.http.post(url).multipart(form);
            async move { execute(&inner.metrics, endpoint, request).await }
        })
        .await?;
        let response: MediaUploadResponse = decode(endpoint, &text)?;
        response
            .media_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Error::decode(endpoint.name(), MissingMediaId, text))
    }
}

/// Content type from the extension; DingTalk checks the format, so guessing right matters
/// more than being exhaustive.
fn mime_for(file_name: &str) -> &'static str {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "amr" => "audio/amr",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "mp4" => "video/mp4",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        _ => "application/octet-stream",
    }
}

#[derive(Debug, thiserror::Error)]
#[error("upload answer has no media_id")]
struct MissingMediaId;

#[derive(Debug, thiserror::Error)]
#[error("download answered with a non-success status")]
struct UnexpectedStatus;
