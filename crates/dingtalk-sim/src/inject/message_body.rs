//! The body of an injected message, one function per msgtype: the payload fields DingTalk
//! sends for it, the media it carries, and the text the sim logs for it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::error::{Result, SimError};
use crate::ids;
use crate::model::{MediaSpec, MessageSpec, RichSegment};
use crate::state::State;

use super::message::Draft;

// 1x1 transparent PNG.
const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00,
    0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01,
    0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A msgtype and the message's human-readable text.
type Body = (&'static str, String);

impl State {
    /// Fills the payload fields of the message's msgtype.
    pub(super) fn message_body(&mut self, d: &mut Draft<'_>) -> Result<Body> {
        let req = d.req;
        match &req.message {
            MessageSpec::Text { text } => self.text_body(d, text),
            MessageSpec::RichText { segments } => self.rich_text_body(d, segments),
            MessageSpec::Picture { media } => self.picture_body(d, media.as_ref()),
            MessageSpec::Audio {
                recognition,
                duration_ms,
                media,
            } => self.audio_body(d, recognition, *duration_ms, media.as_ref()),
            MessageSpec::Video { duration_secs, media } => self.video_body(d, *duration_secs, media.as_ref()),
            MessageSpec::File { file_name, media } => self.file_body(d, file_name, media.as_ref()),
            MessageSpec::Unknown { text } => Ok(unknown_body(d, text.as_deref())),
            MessageSpec::Raw { fields } => Ok(raw_body(d, fields)),
        }
    }

    /// The bot's `@Name` is stripped from `text.content` (its space stays); other users @-ed
    /// are named in it. A quote adds the replied message.
    fn text_body(&self, d: &mut Draft<'_>, text: &str) -> Result<Body> {
        let mut content = if d.is_group() && d.req.at_bot {
            format!(" {text}")
        } else {
            text.to_owned()
        };
        for u in &d.at_people {
            let mention = format!("@{}", u.nick);
            if !content.contains(&mention) {
                content.push_str(&format!(" {mention} "));
            }
        }
        let mut t = Map::new();
        t.insert("content".into(), json!(content));
        if let Some(q) = &d.req.quote {
            let (replied, top) = self.quote_fields(q, &d.app.client_id)?;
            t.insert("isReplyMsg".into(), json!(true));
            t.insert("repliedMsg".into(), replied);
            d.payload.extend(top);
        }
        d.payload.insert("text".into(), Value::Object(t));
        Ok(("text", text.to_owned()))
    }

    /// In groups the bot's `@Name` comes first, as its own segment.
    fn rich_text_body(&mut self, d: &mut Draft<'_>, segments: &[RichSegment]) -> Result<Body> {
        let mut items = Vec::new();
        if d.is_group() && d.req.at_bot {
            items.push(json!({"text": d.bot_mention()}));
        }
        let mut summary = String::new();
        for seg in segments {
            match seg {
                RichSegment::Text { text } => {
                    summary.push_str(text);
                    items.push(json!({"text": text}));
                }
                RichSegment::Picture { media } => {
                    let (item, code) = self.picture_item(&d.app.client_id, media.as_ref())?;
                    summary.push_str("[图片]");
                    d.codes.push(code);
                    items.push(item);
                }
            }
        }
        d.payload.insert("content".into(), json!({"richText": items}));
        Ok(("richText", summary))
    }

    /// A picture is `picture` in a DM but arrives as `richText` in a group.
    fn picture_body(&mut self, d: &mut Draft<'_>, media: Option<&MediaSpec>) -> Result<Body> {
        let (item, code) = self.picture_item(&d.app.client_id, media)?;
        d.codes.push(code);
        if d.is_group() {
            let mut items = Vec::new();
            if d.req.at_bot {
                items.push(json!({"text": d.bot_mention()}));
            }
            items.push(item);
            d.payload.insert("content".into(), json!({"richText": items}));
            Ok(("richText", "[图片]".to_owned()))
        } else {
            let mut c = item;
            if let Some(o) = c.as_object_mut() {
                o.remove("type");
            }
            d.payload.insert("content".into(), c);
            Ok(("picture", "[图片]".to_owned()))
        }
    }

    fn audio_body(
        &mut self,
        d: &mut Draft<'_>,
        recognition: &str,
        duration_ms: Option<u64>,
        media: Option<&MediaSpec>,
    ) -> Result<Body> {
        let code = self.register_media(&d.app.client_id, media, (b"#!AMR\n\0\0\0\0", "audio/amr"), None)?;
        d.codes.push(code.clone());
        d.payload.insert(
            "content".into(),
            json!({"downloadCode": code, "duration": duration_ms.unwrap_or(3000), "recognition": recognition}),
        );
        Ok(("audio", recognition.to_owned()))
    }

    fn video_body(
        &mut self,
        d: &mut Draft<'_>,
        duration_secs: Option<u64>,
        media: Option<&MediaSpec>,
    ) -> Result<Body> {
        let code = self.register_media(
            &d.app.client_id,
            media,
            (b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom", "video/mp4"),
            None,
        )?;
        d.codes.push(code.clone());
        d.payload.insert(
            "content".into(),
            json!({"duration": duration_secs.unwrap_or(5).to_string(), "videoType": "mp4", "downloadCode": code}),
        );
        Ok(("video", "[视频]".to_owned()))
    }

    fn file_body(&mut self, d: &mut Draft<'_>, file_name: &str, media: Option<&MediaSpec>) -> Result<Body> {
        let code = self.register_media(
            &d.app.client_id,
            media,
            (b"%PDF-1.4\n% simulated file\n", "application/octet-stream"),
            Some(file_name),
        )?;
        d.codes.push(code.clone());
        d.payload.insert(
            "content".into(),
            json!({
                "spaceId": format!("{}", 20_000_000_000u64 + u64::from(rand::random::<u32>())),
                "fileName": file_name,
                "downloadCode": code,
                "fileId": format!("{}", 110_000_000_000u64 + u64::from(rand::random::<u32>())),
            }),
        );
        Ok(("file", format!("[文件] {file_name}")))
    }

    /// Registers an attachment (the request's bytes, or `default`) under a download code.
    fn register_media(
        &mut self,
        app: &str,
        media: Option<&MediaSpec>,
        default: (&[u8], &str),
        file_name: Option<&str>,
    ) -> Result<String> {
        let bytes = match media.and_then(|m| m.content_base64.as_deref()) {
            Some(b64) => STANDARD
                .decode(b64)
                .map_err(|e| SimError::Invalid(format!("content_base64 is not base64: {e}")))?,
            None => default.0.to_vec(),
        };
        let content_type = media
            .and_then(|m| m.content_type.clone())
            .unwrap_or_else(|| default.1.to_owned());
        Ok(self
            .media
            .register_download(app, bytes, content_type, file_name.map(str::to_owned)))
    }

    fn picture_item(&mut self, app: &str, media: Option<&MediaSpec>) -> Result<(Value, String)> {
        let code = self.register_media(app, media, (PNG_1X1, "image/png"), None)?;
        let item = json!({
            "type": "picture",
            "downloadCode": code,
            "pictureDownloadCode": format!("vcOp{}", ids::b64(18)),
        });
        Ok((item, code))
    }
}

fn unknown_body(d: &mut Draft<'_>, text: Option<&str>) -> Body {
    let t = text
        .map(str::to_owned)
        .unwrap_or_else(|| "用户发送了一条消息，机器人暂不支持接收。".to_owned());
    d.payload.insert("content".into(), json!({"unknownMsgType": t}));
    ("unknownMsgType", t)
}

/// Merges the request's fields over the payload built so far (`null` removes a field).
fn raw_body(d: &mut Draft<'_>, fields: &Map<String, Value>) -> Body {
    let p = &mut d.payload;
    for (k, v) in fields {
        if v.is_null() {
            p.remove(k);
        } else {
            p.insert(k.clone(), v.clone());
        }
    }
    let mt = p
        .get("msgtype")
        .and_then(Value::as_str)
        .unwrap_or("text")
        .to_owned();
    let text = p
        .get("text")
        .and_then(|t| t.get("content"))
        .and_then(Value::as_str)
        .map_or_else(|| format!("[{mt}]"), str::to_owned);
    (if mt == "text" { "text" } else { "raw" }, text)
}
