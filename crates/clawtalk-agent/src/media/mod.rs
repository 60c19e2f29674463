//! Media: what users send (pictures, files, videos) made readable for the agent, and what the
//! agent sends back (images and files).
//!
//! Inbound, per attachment: [`fetch`] streams it to `<stateDir>/media/inbound/<turn>/` (capped
//! at the account's `mediaMaxMb`), [`attach`] turns it into an image part for vision models or
//! a note with the [`extract`]ed text, and [`compose`] builds the user message. Anything that
//! fails becomes a note for the model (and a notice for the user): the message is never lost.
//!
//! Outbound, [`send`] checks (with [`outgoing_checks`]), uploads (`media/upload`) and sends (`sampleImageMsg` /
//! `sampleFile`) what the agent's `send_image` / `send_file` tools ask for.

pub mod attach;
pub mod extract;
pub mod fetch;
pub mod outgoing_checks;
pub mod send;

use std::path::{Path, PathBuf};

use clawtalk_llm::{ChatMessage, ContentPart, ImageUrl, MessageContent};

pub use attach::Attachment;

/// Where a turn's received files are kept while it runs.
#[must_use]
pub fn inbound_dir(state_dir: &Path, turn: i64) -> PathBuf {
    state_dir.join("media").join("inbound").join(turn.to_string())
}

/// The user's message in the two forms a turn needs.
#[derive(Debug, Clone, PartialEq)]
pub struct UserTurn {
    /// Sent to the model now: text plus image parts.
    pub for_model: ChatMessage,
    /// Kept in the session history: the same text, images replaced by their notes (a data URL
    /// in every later request would cost megabytes each time).
    pub for_transcript: ChatMessage,
    /// Lines to put before the answer (attachments the user should know were not read).
    pub notices: Vec<String>,
}

/// Builds the user message from the prompt text and the attachments' notes and images.
#[must_use]
pub fn compose(text: &str, attachments: &[Attachment]) -> UserTurn {
    let mut full = text.to_owned();
    for a in attachments {
        if !full.is_empty() {
            full.push('\n');
        }
        full.push_str(&a.note);
    }
    let images: Vec<ContentPart> = attachments
        .iter()
        .filter_map(|a| a.image_data_url.clone())
        .map(|url| ContentPart::ImageUrl {
            image_url: ImageUrl { url, detail: None },
        })
        .collect();
    let for_model = if images.is_empty() {
        ChatMessage::user(full.clone())
    } else {
        let mut parts = vec![ContentPart::Text { text: full.clone() }];
        parts.extend(images);
        ChatMessage::user_parts(parts)
    };
    UserTurn {
        for_model,
        for_transcript: ChatMessage::user(full),
        notices: attachments.iter().filter_map(|a| a.user_notice.clone()).collect(),
    }
}

/// What a model that cannot see images gets instead of each image part.
pub const IMAGE_NOT_VIEWABLE: &str = "[The user sent an image here, but this model cannot view images. \
     Tell the user you received it and could not look at it, and ask them to describe it if it matters.]";

/// `message` with every image part replaced by [`IMAGE_NOT_VIEWABLE`], for text-only models.
#[must_use]
pub fn without_images(message: &ChatMessage) -> ChatMessage {
    let Some(MessageContent::Parts(parts)) = &message.content else {
        return message.clone();
    };
    if !parts.iter().any(|p| matches!(p, ContentPart::ImageUrl { .. })) {
        return message.clone();
    }
    let text = parts
        .iter()
        .map(|p| match p {
            ContentPart::Text { text } => text.as_str(),
            ContentPart::ImageUrl { .. } => IMAGE_NOT_VIEWABLE,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = message.clone();
    out.content = Some(MessageContent::Text(text));
    out
}

#[cfg(test)]
mod tests;
