//! `batchResponses`: short messages to one target that queued up behind a rate limit leave as
//! one message, so a burst of replies costs one send instead of a ban-sized backlog.

use super::chunk::DEFAULT_MAX_CHARS;
use super::{Body, OutboundMessage};

/// A merged message stays within one reply part: what the chunker would send anyway.
const MAX_MERGED_CHARS: usize = DEFAULT_MAX_CHARS;

/// UTF-8 bytes a merged body may have: well under the 20 000-byte webhook body limit, leaving
/// room for the title, mentions and JSON escaping.
const MAX_MERGED_BYTES: usize = 12_000;

/// Between two merged messages: a blank line, which both text and markdown render as a break.
const SEPARATOR: &str = "\n\n";

/// Whether `next` may be appended to `merged` (which already holds one or more messages).
#[must_use]
pub fn fits(merged: &OutboundMessage, next: &OutboundMessage) -> bool {
    if merged.account_id != next.account_id || merged.target != next.target || merged.reply != next.reply {
        return false;
    }
    let (Some(a), Some(b)) = (mergeable_text(&merged.body), mergeable_text(&next.body)) else {
        return false;
    };
    if std::mem::discriminant(&merged.body) != std::mem::discriminant(&next.body) {
        return false;
    }
    let chars = a.chars().count() + SEPARATOR.len() + b.chars().count();
    let bytes = a.len() + SEPARATOR.len() + b.len();
    chars <= MAX_MERGED_CHARS && bytes <= MAX_MERGED_BYTES
}

/// Appends `next` to `merged`; call only after [`fits`] said yes.
pub fn append(merged: &mut OutboundMessage, next: &OutboundMessage) {
    let addition = next.body.content();
    match &mut merged.body {
        Body::Text(text) | Body::Markdown { text, .. } => {
            text.push_str(SEPARATOR);
            text.push_str(addition);
        }
        // `fits` admits text and markdown only.
        _ => return,
    }
    merged.mentions.extend(&next.mentions);
}

/// The idempotency key of a message that merged `count` queued messages, starting with
/// `first`: stable for the same batch, distinct from the first message's own key.
pub fn merged_key(first: &str, count: usize) -> String {
    if count <= 1 {
        first.to_owned()
    } else {
        format!("{first}+{}", count - 1)
    }
}

/// Text and markdown merge; links and cards are complete layouts of their own.
fn mergeable_text(body: &Body) -> Option<&str> {
    match body {
        Body::Text(text) | Body::Markdown { text, .. } => Some(text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mentions, Target};
    use dingtalk::ids::{ConversationId, StaffId};

    fn msg(body: Body) -> OutboundMessage {
        OutboundMessage::new("a", Target::Group(ConversationId::new("cid1")), body, "k1")
    }

    #[test]
    fn short_texts_of_one_target_merge_in_order() {
        let mut merged = msg(Body::text("one"));
        let mut second = msg(Body::text("two"));
        second.mentions = Mentions::mobiles(["13800138000"]);
        assert!(fits(&merged, &second));
        append(&mut merged, &second);
        assert_eq!(merged.body, Body::text("one\n\ntwo"));
        assert_eq!(merged.mentions.mobiles, vec!["13800138000".to_owned()]);
        assert_eq!(merged_key("k1", 2), "k1+1");
        assert_eq!(merged_key("k1", 1), "k1");
    }

    #[test]
    fn different_targets_kinds_or_long_texts_do_not_merge() {
        let text = msg(Body::text("x"));
        assert!(!fits(&text, &msg(Body::markdown("t", "x"))));
        let other = OutboundMessage::new("a", Target::User(StaffId::new("u")), Body::text("x"), "k");
        assert!(!fits(&text, &other));
        let other_account = OutboundMessage::new(
            "b",
            Target::Group(ConversationId::new("cid1")),
            Body::text("x"),
            "k",
        );
        assert!(!fits(&text, &other_account));
        let long = msg(Body::text("y".repeat(MAX_MERGED_CHARS)));
        assert!(!fits(&text, &long));
        let cjk = msg(Body::text("字".repeat(MAX_MERGED_BYTES / 3)));
        assert!(!fits(&text, &cjk), "bytes are bounded as well as characters");
        let link = msg(Body::Link(dingtalk::model::outbound::WebhookLink {
            title: "t".into(),
            text: "x".into(),
            message_url: "https://example.com".into(),
            pic_url: String::new(),
        }));
        assert!(!fits(&link, &link.clone()));
    }
}
