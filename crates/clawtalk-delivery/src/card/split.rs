//! Cutting an answer into card-sized pieces that join back to exactly the answer, and
//! cutting off what would need more cards than a turn may use.

use std::borrow::Cow;

/// Splits `text` into pieces of at most `max_bytes` bytes whose concatenation is `text`.
///
/// Cuts prefer, within the last half of a piece, a paragraph break, then a line break, then
/// a space, then any character boundary, so a continuation card starts at a natural place.
/// Nothing is added or removed: cards show the model's answer byte for byte.
#[must_use]
pub fn split(text: &str, max_bytes: usize) -> Vec<&str> {
    let max_bytes = max_bytes.max(4);
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > max_bytes {
        let cut = cut_point(rest, max_bytes);
        let (head, tail) = rest.split_at(cut);
        pieces.push(head);
        rest = tail;
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// `text` when it fits in `max_cards` cards of `max_bytes`; otherwise its beginning followed
/// by `note`, as much of it as fits in `max_cards` cards with the note.
///
/// A model can write megabytes, and every extra card is one more create-and-deliver call
/// against the app's card quota: the answer's parts cap (`limits.partsPerAnswer`) holds for
/// cards as it does for markdown parts. Only the first `max_cards` cuts are looked at, so a
/// huge answer costs no more than a short one.
#[must_use]
pub fn capped<'a>(text: &'a str, max_bytes: usize, max_cards: usize, note: &str) -> Cow<'a, str> {
    let max_cards = max_cards.max(1);
    let Some(room) = prefix_of_cards(text, max_bytes, max_cards) else {
        return Cow::Borrowed(text);
    };
    // Natural cut points can make the note's card shorter than max_bytes, so the note may
    // push the text into one more card: drop a note's length more until it fits.
    let mut keep = room;
    loop {
        keep = keep.saturating_sub(note.len());
        while !text.is_char_boundary(keep) {
            keep -= 1;
        }
        let candidate = format!("{}{note}", &text[..keep]);
        if keep == 0 || prefix_of_cards(&candidate, max_bytes, max_cards).is_none() {
            return Cow::Owned(candidate);
        }
    }
}

/// `None` when `text` fits in `max_cards` cards; otherwise how many bytes those cards hold.
fn prefix_of_cards(text: &str, max_bytes: usize, max_cards: usize) -> Option<usize> {
    let max_bytes = max_bytes.max(4);
    let mut used = 0;
    for _ in 0..max_cards {
        let rest = &text[used..];
        if rest.len() <= max_bytes {
            return None;
        }
        used += cut_point(rest, max_bytes);
    }
    Some(used)
}

fn cut_point(text: &str, max_bytes: usize) -> usize {
    let mut limit = max_bytes;
    while !text.is_char_boundary(limit) {
        limit -= 1;
    }
    let window = &text[..limit];
    let floor = limit / 2;
    for separator in ["\n\n", "\n", " "] {
        if let Some(at) = window.rfind(separator).filter(|&at| at >= floor) {
            return at + separator.len();
        }
    }
    // `limit` may be 0 only when max_bytes < a char's width, which max(4) rules out.
    limit.max(text.chars().next().map_or(1, char::len_utf8))
}

#[cfg(test)]
mod tests {
    use super::{capped, split};
    use proptest::prelude::*;

    #[test]
    fn an_answer_past_the_card_cap_keeps_its_beginning_and_ends_with_the_note() {
        let note = "[cut]";
        let short = "a".repeat(250);
        assert!(matches!(
            capped(&short, 100, 3, note),
            std::borrow::Cow::Borrowed(_)
        ));

        let long = "word ".repeat(600_000);
        let kept = capped(&long, 1_000, 10, note);
        let pieces = split(&kept, 1_000);
        assert_eq!(pieces.len(), 10, "all ten cards are used, no more");
        assert!(kept.ends_with(note));
        assert!(long.starts_with(kept.strip_suffix(note).unwrap()));
        assert!(kept.len() > 9_000, "the cards are filled: {}", kept.len());

        let one = capped(&long, 1_000, 1, note);
        assert_eq!(split(&one, 1_000).len(), 1);
        assert!(one.ends_with(note));
    }

    #[test]
    fn short_text_is_one_piece() {
        assert_eq!(split("hello", 100), ["hello"]);
        assert_eq!(split("", 100), [""]);
    }

    #[test]
    fn cuts_prefer_paragraphs_then_lines() {
        let text = format!("{}\n\n{}\n{}", "a".repeat(60), "b".repeat(20), "c".repeat(30));
        let pieces = split(&text, 100);
        assert_eq!(pieces[0], format!("{}\n\n", "a".repeat(60)));
        let lines = format!("{}\n{}", "a".repeat(70), "b".repeat(40));
        assert_eq!(split(&lines, 100)[0], format!("{}\n", "a".repeat(70)));
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn chinese_is_cut_on_char_boundaries() {
        let text = "钉".repeat(1_000);
        let pieces = split(&text, 1_000);
        assert!(pieces.iter().all(|p| p.len() <= 1_000 && !p.is_empty()));
        assert_eq!(pieces.concat(), text);
    }

    proptest! {
        #[test]
        fn pieces_join_back_and_fit(text in "(\\PC|\n){0,3000}", max in 4usize..600) {
            let pieces = split(&text, max);
            prop_assert_eq!(pieces.concat(), text.clone());
            for p in &pieces {
                prop_assert!(p.len() <= max, "piece of {} > {}", p.len(), max);
            }
        }
    }
}
