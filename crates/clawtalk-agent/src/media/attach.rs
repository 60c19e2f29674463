//! What the model is told about each attachment: a picture as an image part, a document as
//! its extracted text, anything else by name and size — and what the user is told when an
//! attachment could not be read at all.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::extract::{DocKind, ExtractLimits, extract_file};
use super::fetch::Fetched;
use clawtalk_core::inbound::{MediaKind, MediaRef};
use clawtalk_core::notices;

/// Images above this size are described instead of shown: as a base64 data URL they would
/// make a request most providers refuse (DashScope and GLM take about 10 MB).
pub const MAX_IMAGE_BYTES_FOR_MODEL: u64 = 7 * 1024 * 1024;

/// One attachment, ready for the prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The text the model reads (always present: what it is, what was extracted or what failed).
    pub note: String,
    /// `data:image/…;base64,…` for a picture a vision model can look at.
    pub image_data_url: Option<String>,
    /// A line for the user when the attachment was not read (too large, download failed).
    pub user_notice: Option<String>,
}

/// Turns each download result into an [`Attachment`]. Runs the extractors on a blocking
/// thread; never fails.
pub async fn describe_all(
    media: &[MediaRef],
    fetched: Vec<Fetched>,
    limits: ExtractLimits,
) -> Vec<Attachment> {
    let mut out = Vec::with_capacity(media.len());
    for (index, (item, result)) in media.iter().zip(fetched).enumerate() {
        let name = super::fetch::display_name(item, index);
        let item = item.clone();
        let attachment = tokio::task::spawn_blocking(move || describe(&item, &name, result, &limits))
            .await
            .unwrap_or_else(|e| Attachment {
                note: format!("[attachment could not be read: {e}]"),
                image_data_url: None,
                user_notice: None,
            });
        out.push(attachment);
    }
    out
}

fn describe(media: &MediaRef, name: &str, fetched: Fetched, limits: &ExtractLimits) -> Attachment {
    let what = what(media);
    let note_only = |note: String| Attachment {
        note,
        image_data_url: None,
        user_notice: None,
    };
    match fetched {
        Fetched::Skipped => note_only(format!("[{what}: the text above is DingTalk's transcription]")),
        Fetched::TooLarge { limit, actual } => {
            let size = actual
                .map(|b| format!(" ({})", human_size(b)))
                .unwrap_or_default();
            Attachment {
                note: format!(
                    "[{what} {name}{size} was not downloaded: it is larger than the {} limit. \
                     The user has been told.]",
                    human_size(limit)
                ),
                image_data_url: None,
                user_notice: Some(notices::file_too_large(name, &size, &human_size(limit))),
            }
        }
        Fetched::Failed(error) => Attachment {
            note: format!("[{what} {name} could not be downloaded from DingTalk: {error}]"),
            image_data_url: None,
            user_notice: Some(notices::file_download_failed(name)),
        },
        Fetched::Saved { path, bytes } => match media.kind {
            MediaKind::Picture => picture(name, &path, bytes),
            MediaKind::File => note_only(document(name, &path, bytes, limits)),
            MediaKind::Video | MediaKind::Audio => note_only(format!(
                "[{what} {name}, {}: its content cannot be viewed here]",
                human_size(bytes)
            )),
        },
    }
}

fn what(media: &MediaRef) -> &'static str {
    match (media.quoted, media.kind) {
        (false, MediaKind::Picture) => "picture",
        (false, MediaKind::Audio) => "voice message",
        (false, MediaKind::Video) => "video",
        (false, MediaKind::File) => "file",
        (true, MediaKind::Picture) => "quoted picture",
        (true, MediaKind::Audio) => "quoted voice message",
        (true, MediaKind::Video) => "quoted video",
        (true, MediaKind::File) => "quoted file",
    }
}

fn picture(name: &str, path: &Path, bytes: u64) -> Attachment {
    let note = |text: String| Attachment {
        note: text,
        image_data_url: None,
        user_notice: None,
    };
    if bytes > MAX_IMAGE_BYTES_FOR_MODEL {
        return note(format!(
            "[picture {name}, {}: too large to show to the model]",
            human_size(bytes)
        ));
    }
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) => return note(format!("[picture {name} could not be read back from disk: {e}]")),
    };
    let Some(mime) = image_mime(&data) else {
        return note(format!(
            "[picture {name}, {}: not in a format the model can view (png, jpeg, gif, webp, bmp)]",
            human_size(bytes)
        ));
    };
    Attachment {
        note: format!("[picture {name}, {}]", human_size(bytes)),
        image_data_url: Some(format!("data:{mime};base64,{}", STANDARD.encode(&data))),
        user_notice: None,
    }
}

fn document(name: &str, path: &Path, bytes: u64, limits: &ExtractLimits) -> String {
    let size = human_size(bytes);
    let Some(kind) = DocKind::of(name) else {
        return format!("[file {name}, {size}: this type cannot be read as text]");
    };
    match extract_file(path, kind, limits) {
        Ok(extracted) if extracted.text.trim().is_empty() => {
            format!("[file {name}, {size}: no text found in it (a scan or images only?)]")
        }
        Ok(extracted) => format!(
            "[file {name}, {size}, text content follows]\n{}\n[end of {name}]",
            extracted.text.trim_end()
        ),
        Err(e) => format!("[file {name}, {size}: its text could not be extracted: {e}]"),
    }
}

/// The image type by magic number (DingTalk's download answers say `application/octet-stream`
/// often enough that the header is no guide).
#[must_use]
pub fn image_mime(data: &[u8]) -> Option<&'static str> {
    Some(match data {
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        [b'B', b'M', ..] => "image/bmp",
        _ => return None,
    })
}

/// `512 B`, `3.4 KB`, `20.0 MB`.
#[must_use]
pub fn human_size(bytes: u64) -> String {
    const KB: f64 = 1024.0;
    #[allow(clippy::cast_precision_loss)] // display only
    let b = bytes as f64;
    if b < KB {
        format!("{bytes} B")
    } else if b < KB * KB {
        format!("{:.1} KB", b / KB)
    } else {
        format!("{:.1} MB", b / (KB * KB))
    }
}
