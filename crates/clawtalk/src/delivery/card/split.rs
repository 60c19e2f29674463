//! Cutting an answer into card-sized pieces that join back to exactly the answer.

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
    use super::split;
    use proptest::prelude::*;

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
