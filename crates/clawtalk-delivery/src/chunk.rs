//! Splitting long replies into DingTalk-sized parts.
//!
//! DingTalk has no documented character limit for a message, but bodies above 20 000 bytes are
//! rejected and group `msgParam` above 15 000 bytes too; long messages also read badly. Like
//! other DingTalk bots we split at 3 800 characters ([`DEFAULT_MAX_CHARS`]) and keep every part's
//! JSON-escaped text under [`DEFAULT_MAX_JSON_BYTES`], which leaves room for the title, an
//! @-mention and the JSON envelope under both byte limits.
//!
//! Splitting prefers paragraph breaks, then line breaks, then sentence ends, then spaces, and
//! only cuts inside a word when nothing else fits. It never cuts inside a UTF-8 character. A cut
//! inside a fenced code block closes the block at the end of the part and reopens it (with the
//! same info string) at the start of the next, so every part renders on its own. When there is
//! more than one part, each gets a ` (k/n)` marker; markers and fences count against the limit.

use std::ops::Range;

/// Default maximum characters per part (what SOIMY's DingTalk plugin uses).
pub const DEFAULT_MAX_CHARS: usize = 3_800;

/// Default maximum JSON-escaped bytes of a part's text.
///
/// Group `msgParam` (title and text, JSON-encoded) must stay under 15 000 bytes and webhook bodies
/// under 20 000; 12 000 leaves room for a title and an @-mention.
pub const DEFAULT_MAX_JSON_BYTES: usize = 12_000;

/// Limits below these are raised to them, so fences and markers always leave room for text.
const MIN_CHARS: usize = 128;
const MIN_JSON_BYTES: usize = 1_024;

/// Fences with longer markers or info strings are not reopened (they would eat the budget);
/// a longer info string is dropped from the reopening line, a longer marker disables handling.
const MAX_FENCE_MARKER: usize = 16;
const MAX_REOPEN_CHARS: usize = 64;

/// How to split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOptions {
    /// Most characters (Unicode scalar values) per part, markers and fences included.
    pub max_chars: usize,
    /// Most bytes per part once JSON-escaped (quotes, backslashes and control characters grow).
    pub max_json_bytes: usize,
    /// Treat ```/~~~ fenced blocks as code that must be closed and reopened across parts
    /// (markdown); off for plain text.
    pub code_fences: bool,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        Self {
            max_chars: DEFAULT_MAX_CHARS,
            max_json_bytes: DEFAULT_MAX_JSON_BYTES,
            code_fences: true,
        }
    }
}

/// One part of a split text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The part, ready to send (reopened fence, text, closing fence, marker).
    pub text: String,
    /// The byte range of the original text this part carries; the ranges of all parts are
    /// contiguous and cover the whole text.
    pub source: Range<usize>,
}

/// Splits markdown `text` into parts of at most `max_chars` characters (and at most
/// [`DEFAULT_MAX_JSON_BYTES`] escaped bytes), code-fence aware, with ` (k/n)` markers when there
/// is more than one part. Empty text gives no parts.
#[must_use]
pub fn split(text: &str, max_chars: usize) -> Vec<String> {
    let options = ChunkOptions {
        max_chars,
        ..ChunkOptions::default()
    };
    split_with(text, &options).into_iter().map(|c| c.text).collect()
}

/// Splits `text` as [`split`] does, with explicit limits, returning where each part came from.
#[must_use]
pub fn split_with(text: &str, options: &ChunkOptions) -> Vec<Chunk> {
    if text.is_empty() {
        return Vec::new();
    }
    let limits = Limits {
        chars: options.max_chars.max(MIN_CHARS),
        bytes: options.max_json_bytes.max(MIN_JSON_BYTES),
    };
    if text.chars().count() <= limits.chars && json_len(text) <= limits.bytes {
        return vec![Chunk {
            text: text.to_owned(),
            source: 0..text.len(),
        }];
    }
    let doc = Doc::parse(text, options.code_fences);
    // The marker's width depends on the number of parts, which is only known afterwards: assume
    // one digit and redo with more when there turn out to be ten or more parts.
    let mut digits = 1u32;
    loop {
        let marker = Limits {
            chars: 2 * digits as usize + 4,
            bytes: 2 * digits as usize + 5,
        };
        let ranges = doc.cut(limits, marker);
        if ranges.len() < 10usize.pow(digits) {
            return doc.render(&ranges, None);
        }
        digits += 1;
    }
}

/// Between the last part's text and a `tail`.
const TAIL_SEPARATOR: &str = "\n\n";

/// JSON-escaped length of `s` in bytes, as serde_json writes it.
#[must_use]
pub fn json_len(s: &str) -> usize {
    s.chars().map(json_char_len).sum()
}

fn json_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if u32::from(c) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    chars: usize,
    bytes: usize,
}

/// A fenced code block that parts must close and reopen.
#[derive(Debug)]
struct Fence {
    /// The line that reopens it, without the newline (marker plus info string).
    reopen: String,
    /// The line that closes it.
    close: String,
}

#[derive(Debug)]
struct Line {
    start: usize,
    /// Where the line's text ends (before `\n` or `\r\n`).
    content_end: usize,
    /// Open fence before and after this line.
    before: Option<usize>,
    after: Option<usize>,
    /// Opens or closes a fence: a cut inside it would break the fence.
    is_fence: bool,
}

/// The text with its lines and fence state.
struct Doc<'a> {
    text: &'a str,
    lines: Vec<Line>,
    fences: Vec<Fence>,
}

/// Where a cut may go, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Boundary {
    Paragraph,
    Line,
    Sentence,
    Space,
}

const BOUNDARIES: [Boundary; 4] = [
    Boundary::Paragraph,
    Boundary::Line,
    Boundary::Sentence,
    Boundary::Space,
];

impl<'a> Doc<'a> {
    fn parse(text: &'a str, code_fences: bool) -> Self {
        let mut lines = Vec::new();
        let mut fences: Vec<Fence> = Vec::new();
        // (fence index, marker char, marker length) of the open block; no index for blocks whose
        // marker is too long to repeat in every part (they are tracked, not reopened).
        let mut open: Option<(Option<usize>, char, usize)> = None;
        let mut start = 0;
        for raw in text.split_inclusive('\n') {
            let content = raw
                .strip_suffix('\n')
                .map_or(raw, |l| l.strip_suffix('\r').unwrap_or(l));
            let before = open.and_then(|o| o.0);
            let mut is_fence = false;
            if code_fences {
                match (open, fence_line(content)) {
                    (Some((_, ch, len)), Some(f)) if f.ch == ch && f.len >= len && f.info.is_empty() => {
                        open = None;
                        is_fence = true;
                    }
                    (None, Some(f)) if !(f.ch == '`' && f.info.contains('`')) => {
                        is_fence = true;
                        let mut index = None;
                        if f.len <= MAX_FENCE_MARKER {
                            let marker: String = std::iter::repeat_n(f.ch, f.len).collect();
                            let with_info = format!("{marker}{}", f.info);
                            let reopen = if with_info.chars().count() <= MAX_REOPEN_CHARS {
                                with_info
                            } else {
                                marker.clone()
                            };
                            fences.push(Fence {
                                reopen,
                                close: marker,
                            });
                            index = Some(fences.len() - 1);
                        }
                        open = Some((index, f.ch, f.len));
                    }
                    _ => {}
                }
            }
            lines.push(Line {
                start,
                content_end: start + content.len(),
                before,
                after: open.and_then(|o| o.0),
                is_fence,
            });
            start += raw.len();
        }
        Self { text, lines, fences }
    }

    /// Index of the line containing byte `q` (a line's range is `start..next start`).
    fn line_index(&self, q: usize) -> usize {
        self.lines.partition_point(|l| l.start <= q).saturating_sub(1)
    }

    fn line_at(&self, q: usize) -> &Line {
        &self.lines[self.line_index(q)]
    }

    /// The fence open at byte `q`. A line takes effect where its text ends, so the position just
    /// after a closing fence's backticks is already outside the block.
    fn fence_at(&self, q: usize) -> Option<&Fence> {
        let line = self.line_at(q);
        let state = if q >= line.content_end && q > line.start {
            line.after
        } else {
            line.before
        };
        state.map(|i| &self.fences[i])
    }

    /// Whether `q` lies strictly inside a fence line's text.
    fn inside_fence_line(&self, q: usize) -> bool {
        let line = self.line_at(q);
        line.is_fence && q > line.start && q < line.content_end
    }

    /// What kind of cut `q` (a char boundary strictly inside the text) allows.
    fn boundary(&self, q: usize) -> Option<Boundary> {
        if self.inside_fence_line(q) {
            return None;
        }
        let (head, tail) = self.text.split_at(q);
        let prev = head.chars().next_back()?;
        let next = tail.chars().next()?;
        if self.fence_at(q).is_some() {
            // In code only whole lines are cut, and never right after the opening fence line (that
            // would leave an empty block behind).
            let idx = self.line_index(q);
            let opened_here = idx
                .checked_sub(1)
                .is_some_and(|i| self.lines[i].before.is_none() && self.lines[i].after.is_some());
            let line_start = prev == '\n' && self.lines[idx].start == q;
            return (line_start && !opened_here).then_some(Boundary::Line);
        }
        let newline_next = next == '\n' || tail.starts_with("\r\n");
        if newline_next {
            let after_newline = tail.trim_start_matches('\r').strip_prefix('\n').unwrap_or("");
            let blank_follows = after_newline.starts_with('\n') || after_newline.starts_with("\r\n");
            return Some(if blank_follows && prev != '\n' {
                Boundary::Paragraph
            } else {
                Boundary::Line
            });
        }
        if matches!(prev, '。' | '！' | '？' | '；' | '…')
            || matches!(prev, '.' | '!' | '?' | ';') && next.is_whitespace()
        {
            return Some(Boundary::Sentence);
        }
        if (next == ' ' || next == '\t') && !prev.is_whitespace() {
            return Some(Boundary::Space);
        }
        None
    }

    /// Cost of the closing line a part ending at `q` needs.
    fn suffix_len(&self, q: usize) -> Limits {
        match self.fence_at(q) {
            None => Limits { chars: 0, bytes: 0 },
            Some(f) => {
                let newline = usize::from(!self.text[..q].ends_with('\n'));
                Limits {
                    chars: newline + f.close.chars().count(),
                    bytes: 2 * newline + json_len(&f.close),
                }
            }
        }
    }

    /// Byte ranges of the parts, each fitting `limits` with room for a `marker`.
    fn cut(&self, limits: Limits, marker: Limits) -> Vec<Range<usize>> {
        let mut ranges = Vec::new();
        let mut pos = 0;
        while pos < self.text.len() {
            let end = self.next_end(pos, limits, marker);
            ranges.push(pos..end);
            pos = end;
        }
        ranges
    }

    /// Where the part starting at `pos` ends.
    fn next_end(&self, pos: usize, limits: Limits, marker: Limits) -> usize {
        let (prefix_chars, prefix_bytes) = match self.fence_at(pos) {
            Some(f) if pos > 0 => (f.reopen.chars().count() + 1, json_len(&f.reopen) + 2),
            _ => (0, 0),
        };
        let budget = Limits {
            chars: limits.chars.saturating_sub(marker.chars + prefix_chars),
            bytes: limits.bytes.saturating_sub(marker.bytes + prefix_bytes),
        };
        let mut best: [Option<(usize, usize)>; 4] = [None; 4]; // (end, chars) per boundary kind
        let mut hard: Option<usize> = None;
        let mut hard_in_fence_line: Option<usize> = None;
        let (mut chars, mut bytes) = (0usize, 0usize);
        for (offset, c) in self.text[pos..].char_indices() {
            let q = pos + offset;
            if q > pos {
                let suffix = self.suffix_len(q);
                if chars + suffix.chars <= budget.chars && bytes + suffix.bytes <= budget.bytes {
                    if let Some(kind) = self.boundary(q) {
                        best[kind as usize] = Some((q, chars));
                    }
                    if self.inside_fence_line(q) {
                        hard_in_fence_line = Some(q);
                    } else {
                        hard = Some(q);
                    }
                }
            }
            chars += 1;
            bytes += json_char_len(c);
            if chars > budget.chars || bytes > budget.bytes {
                // Prefer the best kind of boundary that still fills at least half the part, then
                // the last boundary if it fills a quarter, then a cut inside a word (CJK text has
                // no spaces), then inside a fence line; a part always carries a character.
                let half = |&(_, n): &(usize, usize)| 2 * n >= chars;
                let quarter = |&(_, n): &(usize, usize)| 4 * n >= chars;
                let soft = BOUNDARIES
                    .iter()
                    .find_map(|k| best[*k as usize].filter(half))
                    .or_else(|| {
                        best.iter()
                            .flatten()
                            .max_by_key(|(end, _)| *end)
                            .copied()
                            .filter(quarter)
                    })
                    .map(|(end, _)| end);
                let first_char_end = pos + self.text[pos..].chars().next().map_or(1, char::len_utf8);
                return soft.or(hard).or(hard_in_fence_line).unwrap_or(first_char_end);
            }
        }
        // The rest fits; the last part needs no closing fence.
        self.text.len()
    }

    /// The parts' texts: reopened fence, slice, closing fence, marker. `tail` goes at the end
    /// of the last part (before its marker, after closing a fence left open there).
    fn render(&self, ranges: &[Range<usize>], tail: Option<&str>) -> Vec<Chunk> {
        let n = ranges.len();
        ranges
            .iter()
            .enumerate()
            .map(|(i, range)| {
                let mut text = String::new();
                if range.start > 0
                    && let Some(f) = self.fence_at(range.start)
                {
                    text.push_str(&f.reopen);
                    text.push('\n');
                }
                text.push_str(&self.text[range.clone()]);
                let tail = tail.filter(|_| i + 1 == n);
                if (i + 1 < n || tail.is_some())
                    && let Some(f) = self.fence_at(range.end)
                {
                    if !text.ends_with('\n') {
                        text.push('\n');
                    }
                    text.push_str(&f.close);
                }
                if let Some(tail) = tail {
                    text.push_str(TAIL_SEPARATOR);
                    text.push_str(tail);
                }
                if n > 1 {
                    // A closing fence followed by text on its line is no longer a closing fence.
                    let last_line = text.rsplit('\n').next().unwrap_or("");
                    let sep = if fence_line(last_line.trim_end_matches('\r')).is_some() {
                        '\n'
                    } else {
                        ' '
                    };
                    text.push_str(&format!("{sep}({}/{n})", i + 1));
                }
                Chunk {
                    text,
                    source: range.clone(),
                }
            })
            .collect()
    }
}

/// A fence line: up to three spaces, then three or more backticks or tildes, then an info string.
struct FenceLine<'a> {
    ch: char,
    len: usize,
    info: &'a str,
}

fn fence_line(line: &str) -> Option<FenceLine<'_>> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let ch = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = trimmed.chars().take_while(|c| *c == ch).count();
    (len >= 3).then(|| FenceLine {
        ch,
        len,
        // `len` counts one-byte characters, so this is a char boundary.
        info: trimmed[len..].trim(),
    })
}

mod cap;
pub use cap::{Capped, TRUNCATED_NOTE, split_capped};

#[cfg(test)]
mod tests;
