//! Keyword security of custom robots: DingTalk refuses (`310000 keywords not in content`) any
//! message that contains none of the robot's keywords, so one is added when the text lacks it.

use super::Body;

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
}
