//! Downloading what a user attached: `messageFiles/download` for a temporary URL, then the
//! bytes streamed into a file under the state dir, never more than the account's limit.

use std::path::{Path, PathBuf};

use dingtalk::api::OpenApiClient;
use dingtalk::ids::RobotCode;

use clawtalk_core::inbound::{MediaKind, MediaRef};

/// One attachment after the download attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// On disk.
    Saved {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        bytes: u64,
    },
    /// Larger than the limit; nothing was kept.
    TooLarge {
        /// The limit in bytes.
        limit: u64,
        /// The size, when DingTalk's server said it up front.
        actual: Option<u64>,
    },
    /// DingTalk would not hand it out, or the transfer broke (the error says which).
    Failed(String),
    /// Not downloaded on purpose: a voice message is read through DingTalk's transcription.
    Skipped,
}

/// The name shown for an attachment: the file's own name, else one made from its kind and
/// position (DingTalk sends no name for pictures and videos).
#[must_use]
pub fn display_name(media: &MediaRef, index: usize) -> String {
    if let Some(name) = media
        .file_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        return name.to_owned();
    }
    let n = index + 1;
    match media.kind {
        MediaKind::Picture => format!("picture-{n}"),
        MediaKind::Audio => format!("voice-{n}"),
        MediaKind::Video => format!("video-{n}.mp4"),
        MediaKind::File => format!("file-{n}"),
    }
}

/// Downloads every attachment of a message into `dir` (created when needed), one after the
/// other, each capped at `max_bytes`. Failures are reported per attachment, never raised: the
/// turn goes on with a note.
pub async fn fetch_all(
    api: &OpenApiClient,
    robot_code: &RobotCode,
    media: &[MediaRef],
    dir: &Path,
    max_bytes: u64,
) -> Vec<Fetched> {
    let mut out = Vec::with_capacity(media.len());
    for (index, item) in media.iter().enumerate() {
        let fetched = if item.kind == MediaKind::Audio {
            Fetched::Skipped
        } else {
            let path = dir.join(format!("{index}-{}", safe_file_name(&display_name(item, index))));
            fetch_one(api, robot_code, item, &path, max_bytes).await
        };
        out.push(fetched);
    }
    out
}

async fn fetch_one(
    api: &OpenApiClient,
    robot_code: &RobotCode,
    media: &MediaRef,
    path: &Path,
    max_bytes: u64,
) -> Fetched {
    // Owner-only, like the rest of the state directory: these are the users' own files.
    if let Some(parent) = path.parent()
        && let Err(e) = private_dir_builder().create(parent).await
    {
        return Fetched::Failed(format!("cannot create {}: {e}", parent.display()));
    }
    let mut file = match private_file_options().open(path).await {
        Ok(file) => file,
        Err(e) => return Fetched::Failed(format!("cannot write {}: {e}", path.display())),
    };
    let result = api
        .download_to(robot_code, &media.download_code, &mut file, max_bytes)
        .await;
    drop(file);
    match result {
        Ok(bytes) => Fetched::Saved {
            path: path.to_owned(),
            bytes,
        },
        Err(error) => {
            // A prefix of a refused or broken download is useless and may be large.
            let _ = tokio::fs::remove_file(path).await;
            match error {
                dingtalk::Error::TooLarge { limit, actual, .. } => Fetched::TooLarge { limit, actual },
                other => {
                    tracing::warn!(kind = ?media.kind, error = %other, "media download failed");
                    Fetched::Failed(other.to_string())
                }
            }
        }
    }
}

/// A file name that stays inside its directory on every platform: path separators, control
/// characters and Windows-reserved characters become `_`; CJK and spaces are kept.
#[must_use]
pub fn safe_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .take(120)
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() {
        "attachment".to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn private_dir_builder() -> tokio::fs::DirBuilder {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder
}

fn private_file_options() -> tokio::fs::OpenOptions {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn received_files_and_their_directories_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("media").join("inbound").join("7");
        private_dir_builder().create(&dir).await.unwrap();
        let file = dir.join("photo.jpg");
        drop(private_file_options().open(&file).await.unwrap());
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("media")), 0o700);
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn file_names_cannot_escape_the_directory() {
        assert_eq!(safe_file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_file_name("季度 报告.pdf"), "季度 报告.pdf");
        assert_eq!(safe_file_name(".."), "attachment");
        assert_eq!(safe_file_name("a\nb"), "a_b");
    }
}
