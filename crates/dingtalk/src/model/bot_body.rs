//! The type-specific part of an inbound bot message: `text` for text messages, `content`
//! for everything else (protocol §3.2), plus the reported quote-reply shape (§3.3).

use serde_json::Value;

use super::decode::{ModelError, Obj, loose};
use crate::ids::{DingtalkId, DownloadCode, MsgId};

/// What the user sent, by `msgtype`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MessageBody {
    /// `msgtype: "text"`.
    Text(TextContent),
    /// `msgtype: "richText"`: text, line breaks (`"\n"` items) and pictures. Group images arrive this way.
    RichText(Vec<RichTextItem>),
    /// `msgtype: "picture"` (DMs). Download with `download_code`.
    Picture {
        /// Code for `messageFiles/download`.
        download_code: Option<DownloadCode>,
        /// Alternative code; reportedly fails with the download API, prefer `download_code`.
        picture_download_code: Option<DownloadCode>,
    },
    /// `msgtype: "audio"` (DMs).
    Audio {
        /// Code for `messageFiles/download`.
        download_code: Option<DownloadCode>,
        /// DingTalk's speech-to-text of the clip; what plugins use as the user's text.
        recognition: Option<String>,
        /// Clip length in milliseconds.
        duration_ms: Option<u64>,
    },
    /// `msgtype: "video"` (DMs).
    Video {
        /// Code for `messageFiles/download`.
        download_code: Option<DownloadCode>,
        /// Container, e.g. `mp4`.
        video_type: Option<String>,
        /// Length as sent. The docs say milliseconds but examples show small values such as
        /// `"5"`, so the unit is not certain; accepted as a number or a decimal string.
        duration: Option<u64>,
    },
    /// `msgtype: "file"` (DMs).
    File {
        /// Code for `messageFiles/download`.
        download_code: Option<DownloadCode>,
        /// Original file name.
        file_name: Option<String>,
        /// DingTalk-drive space id (sent as a string or a number).
        space_id: Option<String>,
        /// DingTalk-drive dentry id (sent as a string or a number).
        file_id: Option<String>,
    },
    /// `msgtype: "unknownMsgType"`: DingTalk's placeholder for types bots cannot receive.
    UnknownMsgType {
        /// The human-readable placeholder text DingTalk put in `content.unknownMsgType`.
        text: String,
    },
    /// The body (`text` or `content`) is absent. This is what a message looks like when the
    /// organisation's message quota is exhausted (error 20001, see [`super::BotMessage::error`]);
    /// the common fields are still usable, e.g. to tell the user.
    Missing,
    /// A `msgtype` this crate does not model (`markdown`, `interactiveCard`, `chatRecord`, …).
    Unknown {
        /// The `msgtype` as sent.
        msgtype: String,
        /// The type-specific part: `content` if present, else `text`, else `null`.
        raw: Value,
    },
}

/// `text` of a text message.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct TextContent {
    /// The text. DingTalk removes the bot's own `@Name` but leaves the whitespace around it,
    /// so this is untrimmed; [`super::BotMessage::plain_text`] trims.
    pub content: String,
    /// `text.isReplyMsg`: the user quoted an earlier message (reported, not in official docs).
    pub is_reply_msg: bool,
    /// `text.repliedMsg`: the quoted message, when its shape is recognisable.
    pub replied_msg: Option<RepliedMessage>,
}

/// A message quoted by a reply (`text.repliedMsg`). The shape is reported by third parties,
/// not documented, so every field is optional and mismatched types are ignored.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RepliedMessage {
    /// `msgType` of the quoted message (`text`, `picture`, `richText`, `file`, …).
    pub msg_type: Option<String>,
    /// Platform id of the quoted message.
    pub msg_id: Option<MsgId>,
    /// Encrypted id of its sender.
    pub sender_id: Option<DingtalkId>,
    /// When it was sent, epoch ms.
    pub created_at: Option<i64>,
    /// Its text: `content.text`, or the text items of `content.richText` joined.
    pub text: Option<String>,
    /// Media code of a quoted picture/file/video/audio.
    pub download_code: Option<DownloadCode>,
    /// File name of a quoted file.
    pub file_name: Option<String>,
    /// Items of a quoted rich-text message.
    pub rich_text: Vec<RichTextItem>,
    /// The whole `repliedMsg` object.
    pub raw: Value,
}

/// One segment of a rich-text message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RichTextItem {
    /// `{"text": "…"}` (with `type` absent or `"text"`); line breaks are separate `"\n"` items.
    /// In groups the bot's own mention stays as a text item `"@BotName"` at the start or end.
    Text(String),
    /// `{"type":"picture","downloadCode","pictureDownloadCode"}`.
    Picture {
        /// Code for `messageFiles/download`.
        download_code: Option<DownloadCode>,
        /// Alternative code; prefer `download_code`.
        picture_download_code: Option<DownloadCode>,
    },
    /// `{"type":"at","atName","atUserId"}` (reported).
    At {
        /// Display name without the `@`.
        name: Option<String>,
        /// The @-ed user's id (kind not documented).
        user_id: Option<String>,
    },
    /// `{"type":"emoji", …}` (reported; shape unknown), kept raw.
    Emoji(Value),
    /// Any other item, kept raw.
    Other(Value),
}

impl RichTextItem {
    /// Classifies one item. Never fails: an item we cannot read is kept as [`RichTextItem::Other`],
    /// because one odd segment should not cost the user their whole message.
    pub(crate) fn from_value(item: &Value) -> Self {
        let kind = item.get("type").and_then(Value::as_str);
        match kind {
            None | Some("text") => match item.get("text").and_then(Value::as_str) {
                Some(text) => Self::Text(text.to_owned()),
                None => Self::Other(item.clone()),
            },
            Some("picture") => Self::Picture {
                download_code: loose::str(item, "downloadCode").map(DownloadCode::new),
                picture_download_code: loose::str(item, "pictureDownloadCode").map(DownloadCode::new),
            },
            Some("at") => Self::At {
                name: loose::str(item, "atName").map(str::to_owned),
                user_id: loose::stringish(item, "atUserId"),
            },
            Some("emoji") => Self::Emoji(item.clone()),
            Some(_) => Self::Other(item.clone()),
        }
    }

    /// The code to download a picture item with (`downloadCode`, else `pictureDownloadCode`).
    #[must_use]
    pub fn download_code(&self) -> Option<&DownloadCode> {
        match self {
            Self::Picture {
                download_code,
                picture_download_code,
            } => download_code.as_ref().or(picture_download_code.as_ref()),
            _ => None,
        }
    }
}

/// Joins the text items of a rich-text message (`At` items rendered as `@name`).
pub(crate) fn join_rich_text<'a>(items: impl IntoIterator<Item = &'a RichTextItem>) -> String {
    let mut out = String::new();
    for item in items {
        match item {
            RichTextItem::Text(text) => out.push_str(text),
            RichTextItem::At { name: Some(name), .. } => {
                out.push('@');
                out.push_str(name);
            }
            _ => {}
        }
    }
    out
}

impl RepliedMessage {
    /// Reads `repliedMsg` leniently; `None` when it is not an object.
    fn from_value(v: &Value) -> Option<Self> {
        if !v.is_object() {
            return None;
        }
        let content = v.get("content");
        let rich_text: Vec<RichTextItem> = content
            .and_then(|c| c.get("richText"))
            .and_then(Value::as_array)
            .map(|items| items.iter().map(RichTextItem::from_value).collect())
            .unwrap_or_default();
        let text = match content {
            // Some senders put the quoted text directly in `content`.
            Some(Value::String(s)) => Some(s.clone()),
            Some(c) => loose::str(c, "text")
                .map(str::to_owned)
                .or_else(|| (!rich_text.is_empty()).then(|| join_rich_text(&rich_text))),
            None => None,
        };
        let from_content = |key: &str| content.and_then(|c| loose::str(c, key));
        Some(Self {
            msg_type: loose::str(v, "msgType").map(str::to_owned),
            msg_id: loose::str(v, "msgId").map(MsgId::new),
            sender_id: loose::str(v, "senderId").map(DingtalkId::new),
            created_at: loose::int(v, "createdAt"),
            text,
            download_code: from_content("downloadCode").map(DownloadCode::new),
            file_name: from_content("fileName").map(str::to_owned),
            rich_text,
            raw: v.clone(),
        })
    }
}

/// Decodes the body of a message whose `msgtype` is `msgtype` (empty when absent).
pub(crate) fn parse_body(msg: &Obj<'_>, msgtype: &str) -> Result<MessageBody, ModelError> {
    match msgtype {
        "text" => parse_text(msg),
        // No msgtype at all: text is DingTalk's default shape, anything else is unknowable.
        "" if msg.get("text").is_some() => parse_text(msg),
        "" => Ok(match msg.get("content") {
            None => MessageBody::Missing,
            Some(raw) => MessageBody::Unknown {
                msgtype: String::new(),
                raw: raw.clone(),
            },
        }),
        "richText" | "picture" | "audio" | "video" | "file" | "unknownMsgType" => {
            match msg.object("content")? {
                None => Ok(MessageBody::Missing),
                Some(content) => parse_content(&content, msgtype),
            }
        }
        other => Ok(MessageBody::Unknown {
            msgtype: other.to_owned(),
            raw: msg
                .get("content")
                .or_else(|| msg.get("text"))
                .cloned()
                .unwrap_or(Value::Null),
        }),
    }
}

fn parse_text(msg: &Obj<'_>) -> Result<MessageBody, ModelError> {
    let Some(text) = msg.object("text")? else {
        return Ok(MessageBody::Missing);
    };
    let reply = text.get("repliedMsg").and_then(RepliedMessage::from_value);
    // Reported field: an odd value is ignored rather than rejected; a quoted message implies a reply.
    let is_reply_msg = text.bool("isReplyMsg").ok().flatten().unwrap_or(reply.is_some());
    Ok(MessageBody::Text(TextContent {
        content: text.string("content")?.unwrap_or_default(),
        is_reply_msg,
        replied_msg: reply,
    }))
}

fn parse_content(c: &Obj<'_>, msgtype: &str) -> Result<MessageBody, ModelError> {
    Ok(match msgtype {
        "richText" => MessageBody::RichText(
            c.array("richText")?
                .map(|items| items.iter().map(RichTextItem::from_value).collect())
                .unwrap_or_default(),
        ),
        "picture" => MessageBody::Picture {
            download_code: c.id("downloadCode", DownloadCode::new)?,
            picture_download_code: c.id("pictureDownloadCode", DownloadCode::new)?,
        },
        "audio" => MessageBody::Audio {
            download_code: c.id("downloadCode", DownloadCode::new)?,
            recognition: c.string("recognition")?,
            duration_ms: c.uint("duration")?,
        },
        "video" => MessageBody::Video {
            download_code: c.id("downloadCode", DownloadCode::new)?,
            video_type: c.string("videoType")?,
            duration: c.uint("duration")?,
        },
        "file" => MessageBody::File {
            download_code: c.id("downloadCode", DownloadCode::new)?,
            file_name: c.string("fileName")?,
            space_id: c.stringish("spaceId")?,
            file_id: c.stringish("fileId")?,
        },
        // "unknownMsgType" (the caller only passes the types matched above).
        _ => MessageBody::UnknownMsgType {
            text: c.string("unknownMsgType")?.unwrap_or_default(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rich_text_items_never_fail() {
        let items = [
            json!({"text": "hi"}),
            json!({"type": "text", "text": "\n"}),
            json!({"type": "picture", "downloadCode": "d", "pictureDownloadCode": 5}),
            json!({"type": "at", "atName": "Bob", "atUserId": 42}),
            json!({"type": "emoji", "emojiId": "x"}),
            json!({"type": "hologram"}),
            json!({"text": 5}),
            json!("bare string"),
        ];
        let parsed: Vec<_> = items.iter().map(RichTextItem::from_value).collect();
        assert_eq!(parsed[0], RichTextItem::Text("hi".into()));
        assert_eq!(parsed[1], RichTextItem::Text("\n".into()));
        assert_eq!(parsed[2].download_code(), Some(&DownloadCode::new("d")));
        assert_eq!(
            parsed[3],
            RichTextItem::At {
                name: Some("Bob".into()),
                user_id: Some("42".into())
            }
        );
        assert!(matches!(parsed[4], RichTextItem::Emoji(_)));
        assert!(matches!(parsed[5], RichTextItem::Other(_)));
        assert!(matches!(parsed[6], RichTextItem::Other(_)));
        assert!(matches!(parsed[7], RichTextItem::Other(_)));
        assert_eq!(join_rich_text(&parsed), "hi\n@Bob");
    }

    #[test]
    fn replied_message_with_rich_text_joins_its_text() {
        let v = json!({"msgType": "richText", "content": {"richText": [{"text": "a"}, {"text": "b"}]}});
        let r = RepliedMessage::from_value(&v).unwrap();
        assert_eq!(r.text.as_deref(), Some("ab"));
        assert_eq!(r.rich_text.len(), 2);
        assert!(RepliedMessage::from_value(&json!("nope")).is_none());
    }
}
