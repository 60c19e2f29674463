//! How much of each bootstrap file fits in the prompt.
//!
//! OpenClaw's rules (openclaw/openclaw `src/agents/pi-embedded-helpers/bootstrap.ts`,
//! `buildBootstrapContextFiles`): each file gets at most `bootstrapMaxChars` (default 20,000)
//! and all of them together `bootstrapTotalMaxChars` (default 150,000), files taken in prompt
//! order; an over-long file keeps its first 70 % and last 20 % with a note in between saying
//! what was cut; once fewer than 64 characters are left, later files are dropped. Characters
//! here are Unicode scalar values (OpenClaw counts UTF-16 units; the two agree outside
//! emoji and rare CJK).

use std::borrow::Cow;

use clawtalk_config::BootstrapLimits;

/// Below this many characters left, a file is not worth starting.
const MIN_FILE_BUDGET: usize = 64;

/// What is left of the total as files are added.
#[derive(Debug)]
pub struct Budget {
    per_file: usize,
    remaining: usize,
}

impl Budget {
    /// A fresh budget for one prompt.
    #[must_use]
    pub fn new(limits: BootstrapLimits) -> Self {
        Self {
            per_file: limits.max_chars.max(1),
            remaining: limits.total_max_chars.max(1),
        }
    }

    /// The part of `text` (file `name`) that goes into the prompt: all of it, or its head and
    /// tail around a truncation note. `None` for a blank file or once the total is spent.
    pub fn take<'t>(&mut self, name: &str, text: &'t str) -> Option<Cow<'t, str>> {
        let text = text.trim_end();
        if text.trim_start().is_empty() {
            return None;
        }
        if self.remaining < MIN_FILE_BUDGET {
            tracing::debug!(file = name, "bootstrap budget spent; file left out");
            return None;
        }
        let cap = self.per_file.min(self.remaining);
        let total = text.chars().count();
        let kept = if total <= cap {
            Cow::Borrowed(text)
        } else {
            tracing::debug!(
                file = name,
                chars = total,
                limit = cap,
                "bootstrap file truncated"
            );
            Cow::Owned(truncate(name, text, total, cap))
        };
        let kept = clamp(kept, self.remaining);
        self.remaining = self.remaining.saturating_sub(kept.chars().count());
        Some(kept)
    }
}

/// The first 70 % and last 20 % of `cap` characters of `text`, with a note between them;
/// less when the note would not fit in the remaining tenth (small caps), so the result stays
/// within `cap` whenever the note itself does.
fn truncate(name: &str, text: &str, total: usize, cap: usize) -> String {
    // The note's length with the widest numbers it can hold, plus the blank lines around it.
    let room = cap.saturating_sub(marker(name, total, cap, cap).chars().count() + 4);
    let head = (cap * 7 / 10).min(room * 7 / 9);
    let tail = (cap * 2 / 10).min(room * 2 / 9);
    let head_end = text.char_indices().nth(head).map_or(text.len(), |(i, _)| i);
    let tail_start = text
        .char_indices()
        .nth(total - tail)
        .map_or(text.len(), |(i, _)| i);
    format!(
        "{}\n\n{}\n\n{}",
        &text[..head_end],
        marker(name, total, head, tail),
        &text[tail_start..]
    )
}

/// The note that stands where the middle of a truncated file was: visible to the model (so
/// it knows it has not seen everything) and to whoever reads the prompt.
#[must_use]
pub fn marker(name: &str, total: usize, head: usize, tail: usize) -> String {
    format!(
        "[… {name} truncated: it has {total} characters; only the first {head} and the last \
         {tail} are included here (bootstrapMaxChars / bootstrapTotalMaxChars) …]"
    )
}

/// `text` cut to `budget` characters, ending in `…` when cut (for the rare case where even the
/// truncated file overruns what is left of the total).
fn clamp(text: Cow<'_, str>, budget: usize) -> Cow<'_, str> {
    if text.chars().count() <= budget {
        return text;
    }
    let keep = budget.saturating_sub(1);
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    Cow::Owned(format!("{}…", &text[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_chars: usize, total_max_chars: usize) -> BootstrapLimits {
        BootstrapLimits {
            max_chars,
            total_max_chars,
            skip: false,
        }
    }

    #[test]
    fn short_files_pass_unchanged_and_blank_ones_are_skipped() {
        let mut budget = Budget::new(limits(1000, 5000));
        assert_eq!(budget.take("SOUL.md", "be kind\n\n").as_deref(), Some("be kind"));
        assert_eq!(budget.take("USER.md", "  \n\t\n"), None);
    }

    #[test]
    fn a_long_file_keeps_head_and_tail_around_a_marker() {
        let text = format!("HEAD{}TAIL", "中".repeat(20_000));
        let mut budget = Budget::new(limits(10_000, 150_000));
        let kept = budget.take("AGENTS.md", &text).unwrap();
        assert!(kept.starts_with("HEAD"), "{kept}");
        assert!(kept.ends_with("TAIL"), "{kept}");
        let note = marker("AGENTS.md", 20_008, 7000, 2000);
        assert!(kept.contains(&note), "{kept}");
        let body = kept.chars().count() - note.chars().count();
        assert_eq!(
            body,
            7000 + 2000 + 4,
            "head, tail and the blank lines around the marker"
        );
    }

    #[test]
    fn with_a_small_cap_the_note_still_fits() {
        let mut budget = Budget::new(limits(400, 150_000));
        let kept = budget.take("SOUL.md", &"s".repeat(5000)).unwrap().into_owned();
        assert!(kept.contains("SOUL.md truncated"), "{kept}");
        assert!(kept.chars().count() <= 400, "{}", kept.chars().count());
        assert!(kept.starts_with('s') && kept.ends_with('s'), "{kept}");
    }

    #[test]
    fn the_total_cap_shrinks_later_files_and_then_drops_them() {
        let mut budget = Budget::new(limits(1000, 1200));
        let first = budget.take("AGENTS.md", &"a".repeat(900)).unwrap().into_owned();
        assert_eq!(first.chars().count(), 900);
        let second = budget.take("SOUL.md", &"b".repeat(900)).unwrap().into_owned();
        assert!(second.contains("SOUL.md truncated"), "{second}");
        assert!(second.chars().count() <= 300, "{}", second.chars().count());
        assert_eq!(budget.take("TOOLS.md", "c"), None, "under 64 characters left");
    }

    #[test]
    fn a_marker_longer_than_what_is_left_is_clamped() {
        let mut budget = Budget::new(limits(100, 100));
        let kept = budget.take("IDENTITY.md", &"x".repeat(500)).unwrap().into_owned();
        assert_eq!(kept.chars().count(), 100);
        assert!(kept.ends_with('…'));
    }
}
