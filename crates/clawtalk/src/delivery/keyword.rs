//! Keyword security of custom robots: DingTalk refuses (`310000 keywords not in content`) any
//! message that contains none of the robot's keywords, so one is added when the text lacks it.

use super::Body;

/// Most keywords a custom robot can have.
pub const MAX_KEYWORDS: usize = 10;

/// Why a keyword list can never be satisfied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeywordError {
    /// An empty or blank keyword.
    #[error("keyword {index} is empty; write the keyword exactly as set in the robot's security settings")]
    Blank {
        /// Position in the list, from 0.
        index: usize,
    },
    /// A keyword with a line break, which DingTalk's settings cannot hold.
    #[error(
        "keyword {index} contains a line break; DingTalk keywords are single words or phrases, copy it from the robot's security settings"
    )]
    Multiline {
        /// Position in the list, from 0.
        index: usize,
    },
    /// More keywords than a robot can have.
    #[error("{count} keywords given; a DingTalk custom robot has at most {MAX_KEYWORDS}")]
    TooMany {
        /// How many were given.
        count: usize,
    },
}

/// Checks that every keyword can appear in a message.
pub fn validate_keywords(keywords: &[String]) -> Result<(), KeywordError> {
    if keywords.len() > MAX_KEYWORDS {
        return Err(KeywordError::TooMany {
            count: keywords.len(),
        });
    }
    for (index, keyword) in keywords.iter().enumerate() {
        if keyword.trim().is_empty() {
            return Err(KeywordError::Blank { index });
        }
        if keyword.contains(['\n', '\r']) {
            return Err(KeywordError::Multiline { index });
        }
    }
    Ok(())
}

/// Makes `body` contain one of `keywords` (the first is added on a line of its own when none is
/// there). Returns whether the body was changed.
pub fn ensure_keyword(body: &mut Body, keywords: &[String]) -> bool {
    let Some(first) = keywords.iter().find(|k| !k.trim().is_empty()) else {
        return false;
    };
    if keywords
        .iter()
        .filter(|k| !k.trim().is_empty())
        .any(|k| visible_text(body).contains(k.as_str()))
    {
        return false;
    }
    let target = match body {
        Body::Text(text) | Body::Markdown { text, .. } => text,
        Body::Link(link) => &mut link.text,
        Body::ActionCard(card) => &mut card.text,
        Body::FeedCard(links) => match links.first_mut() {
            Some(link) => {
                // Feed entries are one line each: the keyword goes after the first title.
                link.title.push(' ');
                link.title.push_str(first);
                return true;
            }
            None => return false,
        },
        // Media never go through a custom robot (it has no image or file message).
        Body::Image { .. } | Body::File { .. } => return false,
    };
    if !target.is_empty() {
        target.push_str("\n\n");
    }
    target.push_str(first);
    true
}

/// Everything a reader sees, which is what DingTalk searches for keywords.
fn visible_text(body: &Body) -> String {
    match body {
        Body::Text(text) => text.clone(),
        Body::Markdown { title, text } => format!("{title}\n{text}"),
        Body::Link(link) => format!("{}\n{}", link.title, link.text),
        Body::ActionCard(card) => {
            let mut all = format!("{}\n{}", card.title, card.text);
            for button in &card.btns {
                all.push('\n');
                all.push_str(&button.title);
            }
            if let Some(single) = &card.single_title {
                all.push('\n');
                all.push_str(single);
            }
            all
        }
        Body::FeedCard(links) => links
            .iter()
            .map(|l| l.title.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        Body::Image { .. } | Body::File { .. } => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dingtalk::model::outbound::WebhookFeedLink;

    fn kw(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_missing_keyword_is_added_once() {
        let mut body = Body::text("deploy finished");
        assert!(ensure_keyword(&mut body, &kw(&["告警", "alert"])));
        assert_eq!(body, Body::text("deploy finished\n\n告警"));
        assert!(!ensure_keyword(&mut body, &kw(&["告警", "alert"])));
        let mut present = Body::markdown("alert: disk", "90% full");
        assert!(!ensure_keyword(&mut present, &kw(&["告警", "alert"])));
        assert!(!ensure_keyword(&mut Body::text("x"), &[]));
    }

    #[test]
    fn feed_cards_get_it_in_the_first_title() {
        let link = |t: &str| WebhookFeedLink {
            title: t.into(),
            message_url: "https://e.com".into(),
            pic_url: "https://e.com/p.png".into(),
        };
        let mut body = Body::FeedCard(vec![link("one"), link("two")]);
        assert!(ensure_keyword(&mut body, &kw(&["news"])));
        let Body::FeedCard(links) = body else {
            unreachable!()
        };
        assert_eq!(links[0].title, "one news");
        assert_eq!(links[1].title, "two");
    }

    #[test]
    fn unsatisfiable_lists_are_refused() {
        assert!(validate_keywords(&kw(&["告警"])).is_ok());
        assert_eq!(
            validate_keywords(&kw(&["ok", " "])),
            Err(KeywordError::Blank { index: 1 })
        );
        assert_eq!(
            validate_keywords(&kw(&["a\nb"])),
            Err(KeywordError::Multiline { index: 0 })
        );
        let many: Vec<String> = (0..11).map(|i| format!("k{i}")).collect();
        assert!(matches!(
            validate_keywords(&many),
            Err(KeywordError::TooMany { count: 11 })
        ));
    }
}
