//! `send_image` and `send_file`: the agent sends a file from its workspace into the chat.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::tool::{Tool, ToolContext};
use crate::media::send::{FILE_TYPES, IMAGE_TYPES, OutgoingKind, check_file, resolve_in_workspace};
use clawtalk_llm::ToolSpec;

/// One of the two media tools; they send through the turn's [`ToolContext::media`].
pub struct SendMedia {
    kind: OutgoingKind,
}

impl SendMedia {
    /// `send_image`.
    pub fn image() -> Self {
        Self {
            kind: OutgoingKind::Image,
        }
    }

    /// `send_file`.
    pub fn file() -> Self {
        Self {
            kind: OutgoingKind::File,
        }
    }
}

#[derive(Deserialize)]
struct Args {
    path: String,
    #[serde(default)]
    file_name: Option<String>,
}

#[async_trait]
impl Tool for SendMedia {
    fn spec(&self) -> ToolSpec {
        let (name, what, types) = match self.kind {
            OutgoingKind::Image => ("send_image", "an image", IMAGE_TYPES),
            OutgoingKind::File => ("send_file", "a file", FILE_TYPES),
        };
        ToolSpec {
            name: name.into(),
            description: format!(
                "Send {what} from your workspace to the current DingTalk chat (as its own message, \
                 besides your text answer). Accepted types: {}; at most 20 MB.",
                types.join(", ")
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": { "type": "string", "description": "Path of the file, relative to your workspace (or absolute inside it). No URLs." },
                    "file_name": { "type": "string", "description": "Name to show in the chat; default: the file's own name." },
                },
                "required": ["path"],
            }),
        }
    }

    fn sends_media(&self) -> bool {
        true
    }

    async fn call(&self, arguments: &str, context: &ToolContext) -> Result<String, String> {
        let args: Args = serde_json::from_str(arguments)
            .map_err(|e| format!("arguments must be a JSON object like {{\"path\": \"report.pdf\"}}: {e}"))?;
        let workspace = context
            .workspace
            .as_deref()
            .ok_or("this conversation has no agent workspace to send files from")?;
        let nobody = "this conversation cannot receive files from the bot (no user id or group to send to)";
        context.target.as_ref().ok_or(nobody)?;
        let sender = context.media.as_ref().ok_or(nobody)?;
        let path = resolve_in_workspace(&args.path, workspace)?;
        let kind = self.kind;
        let shown = args.file_name.clone();
        let media = tokio::task::spawn_blocking(move || check_file(kind, &path, shown.as_deref()))
            .await
            .map_err(|e| format!("reading the file failed: {e}"))??;
        let sent = format!("sent {} ({}) to the chat", media.file_name, media.size());
        sender.send_media(media).await.map(|()| sent)
    }
}
