//! Images and files the agent sends: checked against DingTalk's limits before anything is
//! uploaded. The [`MediaSender`] of the turn (the gateway's outbox) then plans, uploads with
//! `media/upload` and sends them as `sampleImageMsg` / `sampleFile` through the robot OpenAPI
//! (webhooks cannot carry media).

use std::io::Read;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use dingtalk::api::MediaKind as UploadKind;

use super::attach::{human_size, image_mime};
use super::extract::extension;
use super::outgoing_checks::{content_matches, open_single_link, sanitize_file_name};

/// Image formats `media/upload` takes for `type=image`.
pub const IMAGE_TYPES: &[&str] = &["jpg", "jpeg", "png", "gif", "bmp"];
/// File formats `media/upload` documents for `type=file`.
pub const FILE_TYPES: &[&str] = &["doc", "docx", "xls", "xlsx", "ppt", "pptx", "zip", "pdf", "rar"];

/// What the agent wants to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutgoingKind {
    /// Shown inline in the chat.
    Image,
    /// A downloadable file.
    File,
}

impl OutgoingKind {
    /// The `type` of its `media/upload`.
    #[must_use]
    pub fn upload_kind(self) -> UploadKind {
        match self {
            Self::Image => UploadKind::Image,
            Self::File => UploadKind::File,
        }
    }

    fn allowed(self) -> &'static [&'static str] {
        match self {
            Self::Image => IMAGE_TYPES,
            Self::File => FILE_TYPES,
        }
    }
}

/// A checked file, ready to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Image or file.
    pub kind: OutgoingKind,
    /// Name shown in the chat.
    pub file_name: String,
    /// Lower-case extension.
    pub file_type: String,
    /// The checked file (inside the workspace, links resolved).
    pub path: PathBuf,
    /// The content.
    pub bytes: Vec<u8>,
}

impl Outgoing {
    /// Its size as people read it.
    #[must_use]
    pub fn size(&self) -> String {
        human_size(self.bytes.len() as u64)
    }
}

/// Resolves the path the model gave: relative paths are taken from the workspace, and the
/// result must lie inside the workspace (after following `..` and symlinks), so a model cannot
/// send the gateway's own files into a chat. URLs are refused: the agent sends local files.
///
/// # Errors
/// A message for the model saying what to pass instead.
pub fn resolve_in_workspace(requested: &str, workspace: &Path) -> Result<PathBuf, String> {
    let requested = requested.trim();
    if requested.is_empty() {
        return Err("`path` is empty: pass a file path inside the agent workspace".into());
    }
    if requested.contains("://") {
        return Err(format!(
            "{requested:?} is a URL; only local files in the agent workspace ({}) can be sent",
            workspace.display()
        ));
    }
    let path = Path::new(requested);
    let joined = if path.is_absolute() {
        path.to_owned()
    } else {
        workspace.join(path)
    };
    let outside = || {
        format!(
            "{requested:?} is outside the agent workspace ({}); only files in it can be sent",
            workspace.display()
        )
    };
    let real = joined
        .canonicalize()
        .map_err(|e| format!("cannot open {requested:?} in the agent workspace: {e}"))?;
    let root = workspace
        .canonicalize()
        .map_err(|e| format!("the agent workspace {} is not readable: {e}", workspace.display()))?;
    if !real.starts_with(&root) {
        return Err(outside());
    }
    Ok(real)
}

/// Checks a file against DingTalk's upload rules (format, size) and ours (one link, content
/// matching the extension, a safe name; see [`outgoing_checks`]) and reads it.
///
/// # Errors
/// A message for the model naming the rule that failed.
pub fn check_file(kind: OutgoingKind, path: &Path, shown_name: Option<&str>) -> Result<Outgoing, String> {
    let (file, meta) = open_single_link(path)?;
    let raw_name = shown_name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()))
        .ok_or_else(|| format!("{} has no file name", path.display()))?;
    let file_name = sanitize_file_name(&raw_name)?;
    let file_type = extension(&file_name).unwrap_or_default();
    if !kind.allowed().contains(&file_type.as_str()) {
        return Err(format!(
            "DingTalk does not accept .{file_type} here; {} must be one of: {}",
            if kind == OutgoingKind::Image {
                "images"
            } else {
                "files"
            },
            kind.allowed().join(", ")
        ));
    }
    let limit = kind.upload_kind().max_bytes();
    if meta.len() == 0 {
        return Err(format!("{file_name} is empty"));
    }
    if meta.len() > limit {
        return Err(format!(
            "{file_name} is {}; DingTalk accepts at most {} for this type",
            human_size(meta.len()),
            human_size(limit)
        ));
    }
    // Read through the handle that was checked, never the path again; no more than the limit
    // even if the file grew since.
    let mut bytes = Vec::new();
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {file_name}: {e}"))?;
    if kind == OutgoingKind::Image && image_mime(&bytes).is_none() {
        return Err(format!("{file_name} is not a png, jpeg, gif or bmp image"));
    }
    if !content_matches(&file_type, &bytes) {
        return Err(format!(
            "{file_name}'s content is not a .{file_type} file (its first bytes say otherwise); \
             send it under the name its real type has"
        ));
    }
    Ok(Outgoing {
        kind,
        file_name,
        file_type,
        path: path.to_owned(),
        bytes,
    })
}

/// Sends checked media into the chat of one turn. The gateway's sender plans each send in
/// the turn's outbox before uploading, so a turn run again after a crash never sends a file
/// twice.
#[async_trait]
pub trait MediaSender: Send + Sync + std::fmt::Debug {
    /// Uploads `media` and sends it. The `Err` text is shown to the model.
    async fn send_media(&self, media: Outgoing) -> Result<(), String>;
}
