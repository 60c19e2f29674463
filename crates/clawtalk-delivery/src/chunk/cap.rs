//! At most N parts per answer: a model that writes megabytes must not take a chat's message
//! budget for the next hour (DingTalk accepts about 20 messages a minute per conversation).
//! What does not fit is cut off, and the last part ends with [`TRUNCATED_NOTE`].

use super::{ChunkOptions, Doc, Limits, MIN_CHARS, MIN_JSON_BYTES, TAIL_SEPARATOR, json_len, split_with};

/// Ends the last part of a cut answer.
pub const TRUNCATED_NOTE: &str = clawtalk_core::notices::ANSWER_TRUNCATED;

/// The parts of an answer, and whether the end was cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capped {
    /// At most the cap's number of parts, each within the split's limits.
    pub parts: Vec<String>,
    /// The text did not fit; the last part ends with [`TRUNCATED_NOTE`].
    pub truncated: bool,
}

/// Splits `text` like [`split_with`] into at most `max_parts` parts (at least one). When it
/// needs more, the parts are the text's beginning and the last ends with [`TRUNCATED_NOTE`]
/// (after closing a code block left open), within the same limits.
#[must_use]
pub fn split_capped(text: &str, options: &ChunkOptions, max_parts: usize) -> Capped {
    let max_parts = max_parts.max(1);
    let limits = Limits {
        chars: options.max_chars.max(MIN_CHARS),
        bytes: options.max_json_bytes.max(MIN_JSON_BYTES),
    };
    let digits = max_parts.to_string().len();
    let marker = Limits {
        chars: 2 * digits + 4,
        bytes: 2 * digits + 5,
    };
    let doc = Doc::parse(text, options.code_fences);
    // Only the first parts are ever cut: a huge answer costs no more than a capped one.
    let fits = {
        let mut pos = 0;
        let mut parts = 0;
        while parts < max_parts && pos < text.len() {
            pos = doc.next_end(pos, limits, marker);
            parts += 1;
        }
        pos >= text.len()
    };
    if fits {
        let full = split_with(text, options);
        if full.len() <= max_parts {
            return Capped {
                parts: full.into_iter().map(|c| c.text).collect(),
                truncated: false,
            };
        }
    }
    let tail = format!("{TAIL_SEPARATOR}{TRUNCATED_NOTE}");
    // The note takes room from the last part only.
    let last = Limits {
        chars: limits.chars.saturating_sub(tail.chars().count()),
        bytes: limits.bytes.saturating_sub(json_len(&tail)),
    };
    let mut ranges = Vec::with_capacity(max_parts);
    let mut pos = 0;
    while ranges.len() < max_parts && pos < text.len() {
        let budget = if ranges.len() + 1 == max_parts {
            last
        } else {
            limits
        };
        let end = doc.next_end(pos, budget, marker);
        ranges.push(pos..end);
        pos = end;
    }
    // A text that just fits in the parts with these markers needs no note.
    let truncated = pos < text.len();
    let chunks = doc.render(&ranges, truncated.then_some(TRUNCATED_NOTE));
    Capped {
        parts: chunks.into_iter().map(|c| c.text).collect(),
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(part: &str, options: &ChunkOptions) {
        assert!(
            part.chars().count() <= options.max_chars,
            "{} chars",
            part.chars().count()
        );
        assert!(
            json_len(part) <= options.max_json_bytes,
            "{} bytes",
            json_len(part)
        );
    }

    #[test]
    fn a_three_megabyte_answer_becomes_the_cap_and_a_note() {
        let paragraph = "DingTalk answers are split into parts. ".repeat(20);
        let text = format!("{paragraph}\n\n").repeat(3_000_000 / (paragraph.len() + 2));
        let options = ChunkOptions::default();
        let started = std::time::Instant::now();
        let capped = split_capped(&text, &options, 10);
        assert!(capped.truncated);
        assert_eq!(capped.parts.len(), 10);
        for (i, part) in capped.parts.iter().enumerate() {
            within(part, &options);
            assert!(part.ends_with(&format!("({}/10)", i + 1)), "{part:?}");
            assert_eq!(part.contains(TRUNCATED_NOTE), i == 9);
        }
        assert!(capped.parts[9].ends_with(&format!("{TRUNCATED_NOTE} (10/10)")));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the rest of the text is not split: {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn an_answer_within_the_cap_is_split_as_usual() {
        let text = "word ".repeat(2_000);
        let options = ChunkOptions::default();
        let capped = split_capped(&text, &options, 10);
        assert!(!capped.truncated);
        let plain: Vec<String> = split_with(&text, &options).into_iter().map(|c| c.text).collect();
        assert_eq!(capped.parts, plain);
    }

    #[test]
    fn a_code_block_cut_off_is_closed_before_the_note() {
        let text = format!("Here:\n\n```rust\n{}```\n", "let x = 1;\n".repeat(2_000));
        let options = ChunkOptions {
            max_chars: 500,
            ..ChunkOptions::default()
        };
        let capped = split_capped(&text, &options, 3);
        assert!(capped.truncated);
        assert_eq!(capped.parts.len(), 3);
        let last = &capped.parts[2];
        within(last, &options);
        assert!(last.starts_with("```rust\n"), "reopened: {last:?}");
        assert!(
            last.ends_with(&format!("\n```\n\n{TRUNCATED_NOTE} (3/3)")),
            "closed before the note: {last:?}"
        );
    }

    #[test]
    fn one_part_has_no_marker_and_tight_limits_still_fit() {
        let options = ChunkOptions {
            max_chars: 10,
            max_json_bytes: 10,
            code_fences: true,
        };
        let text = "长".repeat(5_000);
        let capped = split_capped(&text, &options, 1);
        assert!(capped.truncated);
        assert_eq!(capped.parts.len(), 1);
        let part = &capped.parts[0];
        assert!(
            part.ends_with(TRUNCATED_NOTE) && part.starts_with('长'),
            "{part:?}"
        );
        assert!(part.chars().count() <= MIN_CHARS && json_len(part) <= MIN_JSON_BYTES);
    }
}
