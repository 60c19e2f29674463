//! Caps the text of a user message before it reaches the model: a pasted log of hundreds of
//! kilobytes would fill the model's context (and cost) on its own. The model sees where the
//! text was cut, and the user is told.

/// A user message's text, cut to the account's `maxInboundChars` when longer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Capped {
    /// What the model gets: the text, or its first characters and a note saying so.
    pub text: String,
    /// For the user, when the text was cut.
    pub notice: Option<String>,
}

/// `text` as the model gets it: at most `max_chars` characters of it, then (when cut) a
/// note with how much was kept, so the model does not answer as if it had read everything.
pub(crate) fn cap(text: &str, max_chars: usize) -> Capped {
    let Some((cut, _)) = text.char_indices().nth(max_chars) else {
        return Capped {
            text: text.to_owned(),
            notice: None,
        };
    };
    let total = text.chars().count();
    let kept = &text[..cut];
    Capped {
        text: format!("{kept}\n\n[message truncated: {max_chars} of {total} characters kept]"),
        notice: Some(clawtalk_core::notices::message_too_long(total, max_chars)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_whole_without_a_notice() {
        let capped = cap("你好 hello", 8);
        assert_eq!(capped.text, "你好 hello");
        assert_eq!(capped.notice, None);
    }

    #[test]
    fn long_text_is_cut_at_a_character_with_a_note_for_the_model_and_the_user() {
        let text = "钉钉".repeat(10);
        let capped = cap(&text, 5);
        assert_eq!(
            capped.text,
            "钉钉钉钉钉\n\n[message truncated: 5 of 20 characters kept]"
        );
        let notice = capped.notice.unwrap();
        assert!(
            notice.contains("消息过长") && notice.contains("too long"),
            "{notice}"
        );
        assert!(notice.contains("20") && notice.contains('5'), "{notice}");
    }
}
