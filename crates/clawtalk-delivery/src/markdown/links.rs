//! Which link targets a message may carry: only `http://` and `https://`.
//!
//! DingTalk's markdown renders `[text](target)` as a tappable link and `![alt](target)` as an
//! image whatever the scheme, and the model's text can be steered by anyone who writes to it
//! (a prompt injection in a document or web page), so a `javascript:`, `data:`, `file:` or
//! app-scheme target in an answer is a link planted for the reader. Buttons are checked the
//! same way (`action_card`). The link's text stays; only the target goes.

use std::borrow::Cow;
use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// True for an absolute `http(s)://` URL.
#[must_use]
pub fn is_safe(target: &str) -> bool {
    url::Url::parse(target.trim()).is_ok_and(|url| matches!(url.scheme(), "http" | "https"))
}

/// `markdown` with every link and image whose target is not [`is_safe`] replaced by its text
/// (an image by its alt text); everything else is kept byte for byte, so text with no such
/// link comes back borrowed. For content shown as is (AI cards); messages are rewritten by
/// `to_dingtalk`, which drops the same targets.
#[must_use]
pub fn strip_unsafe(markdown: &str) -> Cow<'_, str> {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_GFM;
    // (the whole link, the source of its text)
    let mut cuts: Vec<(Range<usize>, Option<Range<usize>>)> = Vec::new();
    let mut open: Option<(Range<usize>, Option<Range<usize>>)> = None;
    for (event, range) in Parser::new_ext(markdown, options).into_offset_iter() {
        if let Some((link, label)) = &mut open {
            if matches!(event, Event::End(TagEnd::Link | TagEnd::Image)) && range == *link {
                cuts.extend(open.take());
            } else {
                // The text's source span: from its first piece to its last.
                let span = label.get_or_insert(range.clone());
                span.start = span.start.min(range.start);
                span.end = span.end.max(range.end);
            }
            continue;
        }
        if let Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) = &event
            && !is_safe(dest_url)
        {
            open = Some((range, None));
        }
    }
    if cuts.is_empty() {
        return Cow::Borrowed(markdown);
    }
    let mut out = String::with_capacity(markdown.len());
    let mut at = 0;
    for (link, label) in cuts {
        out.push_str(&markdown[at..link.start]);
        if let Some(label) = label {
            out.push_str(&markdown[label]);
        }
        at = link.end;
    }
    out.push_str(&markdown[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_targets_are_safe() {
        for ok in [
            "https://example.com/a?b=1",
            "http://10.0.0.1:8080/x",
            " HTTPS://E.COM ",
        ] {
            assert!(is_safe(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "data:text/html;base64,PHNjcmlwdD4=",
            "file:///etc/passwd",
            "dingtalk://dingtalkclient/page/link?url=x",
            "vbscript:msgbox",
            "/relative/path",
            "",
        ] {
            assert!(!is_safe(bad), "{bad}");
        }
    }

    #[test]
    fn unsafe_links_keep_their_text_and_the_rest_is_untouched() {
        let text = "See [the **docs**](javascript:alert(1)) and [site](https://e.com/x).\n\n\
                    ![chart](data:image/png;base64,AAAA) <javascript:alert(2)> ![ok](https://e.com/p.png)\n\n\
                    [ref link][r] | `[code](javascript:x)`\n\n[r]: javascript:alert(3)\n";
        let clean = strip_unsafe(text);
        assert_eq!(
            clean,
            "See the **docs** and [site](https://e.com/x).\n\n\
             chart javascript:alert(2) ![ok](https://e.com/p.png)\n\n\
             ref link | `[code](javascript:x)`\n\n[r]: javascript:alert(3)\n"
        );
        assert!(matches!(
            strip_unsafe("[a](https://e.com) plain"),
            Cow::Borrowed(_)
        ));
        assert_eq!(strip_unsafe("[](javascript:x)!"), "!");
    }
}
