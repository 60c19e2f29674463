//! An answer's opening, sent early when the answer goes as markdown because the card quota is
//! spent (`cardOverflow: "markdown"`). A markdown message cannot be edited, so without it such
//! an answer shows nothing until the model has finished, seconds after a card would have
//! shown its first words. So once the answer has been streaming for [`OPENING_AFTER`], what
//! it says so far goes out as a message of its own, cut at the best break there is, and the
//! answer itself then carries only the rest.
//!
//! The opening is taken from the model's current round. If that round ends in a tool call
//! instead of the answer, the opening stays as what the model said while it worked, and the
//! answer goes whole.

use std::time::Duration;

/// How long after its first words an answer's opening goes out: enough for a sentence or
/// two at a model's usual 20–60 tokens a second, well within the two seconds after the first
/// token in which a card would show text.
pub(crate) const OPENING_AFTER: Duration = Duration::from_millis(1_000);

/// The shortest opening worth a message of its own (in characters).
const MIN_OPENING_CHARS: usize = 8;

/// An opening this long is preferred to a shorter one at a better break: a greeting or the
/// question echoed back is not much to show.
const FULL_OPENING_CHARS: usize = 40;

/// Breaks, best first: a paragraph, a line, a sentence, a word.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Break {
    Word,
    Sentence,
    Line,
    Paragraph,
}

/// Where `text` (the answer so far) can be cut into an opening and the rest: the byte offset
/// where the rest begins. Only outside a code block, with at least [`MIN_OPENING_CHARS`]
/// before it and some text after it; of those, one with [`FULL_OPENING_CHARS`] before it if
/// there is one, then the best break, then the latest. `None` when there is none yet.
pub(crate) fn cut(text: &str) -> Option<usize> {
    let mut best: Option<(bool, Break, usize)> = None;
    let mut fences = 0_usize;
    let mut chars = 0_usize;
    let mut previous = '\0';
    for (at, c) in text.char_indices() {
        if text[at..].starts_with("```") {
            fences += 1;
        }
        let after = at + c.len_utf8();
        chars += 1;
        let kind = match c {
            '\n' if previous == '\n' => Some(Break::Paragraph),
            '\n' => Some(Break::Line),
            '。' | '！' | '？' | '；' => Some(Break::Sentence),
            c if c.is_whitespace() && matches!(previous, '.' | '!' | '?' | ';') => Some(Break::Sentence),
            c if c.is_whitespace() => Some(Break::Word),
            _ => None,
        };
        previous = c;
        let Some(kind) = kind else { continue };
        // Inside a code block (an odd number of fences so far) nothing may be cut.
        let open_fence = fences % 2 == 1;
        if open_fence || chars < MIN_OPENING_CHARS || text[after..].trim().is_empty() {
            continue;
        }
        let candidate = (chars >= FULL_OPENING_CHARS, kind, after);
        if best.is_none_or(|b| candidate > b) {
            best = Some(candidate);
        }
    }
    best.map(|(_, _, at)| at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Option<(&str, &str)> {
        cut(text).map(|at| (&text[..at], &text[at..]))
    }

    #[test]
    fn the_last_paragraph_break_wins_over_later_lines_and_words() {
        let text = "The first paragraph of the answer, done.\n\nThe second one starts\nand goes on and";
        assert_eq!(
            split(text),
            Some((
                "The first paragraph of the answer, done.\n\n",
                "The second one starts\nand goes on and"
            ))
        );
    }

    #[test]
    fn a_longer_opening_beats_a_short_one_at_a_better_break() {
        let text = "Sure! Here is what the weather in Beijing looks like today and";
        assert_eq!(
            split(text),
            Some((
                "Sure! Here is what the weather in Beijing looks like today ",
                "and"
            ))
        );
    }

    #[test]
    fn without_a_paragraph_a_sentence_then_a_word() {
        assert_eq!(
            split("It is sunny in Beijing. The high is 23"),
            Some(("It is sunny in Beijing. ", "The high is 23"))
        );
        assert_eq!(
            split("北京今天晴朗无云。最高气温二十三度"),
            Some(("北京今天晴朗无云。", "最高气温二十三度"))
        );
        assert_eq!(
            split("re: burst u17? · w0 w1 w2 w3 w4 w5 w6 w7 w8 w9"),
            Some(("re: burst u17? · w0 w1 w2 w3 w4 w5 w6 w7 w8 ", "w9"))
        );
    }

    #[test]
    fn nothing_is_cut_inside_a_code_block_or_too_early_or_with_nothing_after() {
        let code = "Short:\n```sh\ncargo build\ncargo test";
        assert_eq!(
            split(code),
            None,
            "the only breaks after the opening are in the block"
        );
        let after_block = "```sh\ncargo build --release --locked\n```\n\nThen run it and";
        assert_eq!(
            split(after_block),
            Some((
                "```sh\ncargo build --release --locked\n```\n\n",
                "Then run it and"
            ))
        );
        assert_eq!(split("Hi. So"), None, "too short to stand alone");
        assert_eq!(split("One line.\n\n  "), None, "nothing would follow");
    }
}
