//! How memories are normalized, deduplicated and ranked, the same on every backend.
//!
//! A query becomes a list of terms: Latin words (stop words dropped) and, for Chinese,
//! Japanese or Korean text, which has no spaces, every two-character and three-character
//! window. Each backend finds the candidate rows that contain at least one term (SQLite
//! through its FTS5 trigram index for terms of three or more characters and `instr` for
//! shorter ones, PostgreSQL with `strpos` and pg_trgm's fuzzy word similarity) and
//! [`rank`] orders them: the share of the query's terms a memory contains, longer terms
//! weighing more.

use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::model::FileMemory;

/// Longest memory, in characters: a memory is a fact, not a document, and recall has to fit
/// several into a prompt.
pub const MAX_MEMORY_CHARS: usize = 1000;

/// Most terms taken from one query: a long message still costs one bounded query.
const MAX_TERMS: usize = 48;

/// English words too common to say what a query is about.
const STOP_WORDS: &[&str] = &[
    "a", "about", "again", "all", "am", "an", "and", "any", "are", "as", "at", "be", "but", "by", "can",
    "could", "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "is", "it",
    "its", "know", "me", "my", "no", "not", "of", "on", "or", "our", "please", "remember", "so", "some",
    "tell", "that", "the", "their", "them", "there", "they", "this", "to", "us", "was", "we", "were", "what",
    "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
];

/// Chinese particles and pronouns: a two-character window holding one says nothing of the
/// topic (我的, 是不, 了吗).
const CJK_FILLERS: &str = "的了吗呢吧啊呀是我你他她它们在和有么这那个一不也都就还要会吗嘛哦";

/// The text as stored: trimmed, each run of whitespace one space.
///
/// # Errors
/// [`StoreError::Invalid`] when it is empty or longer than [`MAX_MEMORY_CHARS`].
pub fn normalize_text(text: &str) -> Result<String, StoreError> {
    let normalized = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if normalized.is_empty() {
        return Err(StoreError::Invalid("a memory needs some text".into()));
    }
    let chars = normalized.chars().count();
    if chars > MAX_MEMORY_CHARS {
        return Err(StoreError::Invalid(format!(
            "a memory holds at most {MAX_MEMORY_CHARS} characters, this one has {chars}; keep \
             the fact itself, shorter"
        )));
    }
    Ok(normalized)
}

/// The key that makes saving the same text twice keep it once (per owner and file).
#[must_use]
pub fn text_hash(normalized: &str) -> String {
    let digest = Sha256::digest(normalized.to_lowercase().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// True for the characters of languages written without spaces between words.
fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30ff}'   // Hiragana, Katakana
        | '\u{3400}'..='\u{4dbf}' // CJK Extension A
        | '\u{4e00}'..='\u{9fff}' // CJK Unified Ideographs
        | '\u{ac00}'..='\u{d7af}' // Hangul syllables
        | '\u{f900}'..='\u{faff}' // CJK Compatibility Ideographs
        | '\u{20000}'..='\u{2ebef}')
}

/// The lowercase terms of a query, distinct, in order of appearance.
#[must_use]
pub fn search_terms(query: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let push = |term: String, terms: &mut Vec<String>| {
        if terms.len() < MAX_TERMS && !terms.contains(&term) {
            terms.push(term);
        }
    };
    let lower = query.to_lowercase();
    let mut word = String::new();
    let mut run: Vec<char> = Vec::new();
    let flush_word = |word: &mut String, terms: &mut Vec<String>| {
        if word.chars().count() >= 2 && !STOP_WORDS.contains(&word.as_str()) {
            push(std::mem::take(word), terms);
        }
        word.clear();
    };
    let flush_run = |run: &mut Vec<char>, terms: &mut Vec<String>| {
        cjk_terms(run, |term| push(term, terms));
        run.clear();
    };
    for c in lower.chars() {
        if is_cjk(c) {
            flush_word(&mut word, &mut terms);
            run.push(c);
        } else if c.is_alphanumeric() || c == '_' {
            flush_run(&mut run, &mut terms);
            word.push(c);
        } else {
            flush_word(&mut word, &mut terms);
            flush_run(&mut run, &mut terms);
        }
    }
    flush_word(&mut word, &mut terms);
    flush_run(&mut run, &mut terms);
    terms
}

/// The windows of one run of CJK characters: three-character ones, then two-character ones
/// that hold no filler. A run of one character is a term only when it is not a filler.
fn cjk_terms(run: &[char], mut push: impl FnMut(String)) {
    let filler = |c: &char| CJK_FILLERS.contains(*c);
    if run.len() == 1 {
        if !filler(&run[0]) {
            push(run[0].to_string());
        }
        return;
    }
    for window in run.windows(3) {
        if window.iter().filter(|c| filler(c)).count() < 2 {
            push(window.iter().collect());
        }
    }
    for window in run.windows(2) {
        if !window.iter().any(filler) {
            push(window.iter().collect());
        }
    }
}

/// How much a term counts: longer terms say more.
fn weight(term: &str) -> f64 {
    match term.chars().count() {
        0 | 1 => 1.0,
        2 => 2.0,
        _ => 3.0,
    }
}

/// The relevance of `text` to a query with `terms`, from 0 (no term in it) to 1 (every
/// term), plus half of the backend's `fuzzy` similarity (0..1; PostgreSQL's pg_trgm word
/// similarity, which forgives typos; 0 where the backend has none).
#[must_use]
pub fn rank(terms: &[String], text: &str, fuzzy: f64) -> f64 {
    if terms.is_empty() {
        return 0.0;
    }
    let lower = text.to_lowercase();
    let total: f64 = terms.iter().map(|t| weight(t)).sum();
    let found: f64 = terms
        .iter()
        .filter(|t| lower.contains(t.as_str()))
        .map(|t| weight(t))
        .sum();
    found / total + fuzzy.clamp(0.0, 1.0) / 2.0
}

/// Sorts scored candidates best first (newer first among equals) and keeps `limit`; a
/// candidate with no score is dropped.
pub fn best<T>(mut scored: Vec<(T, f64, i64)>, limit: u32) -> Vec<(T, f64)> {
    scored.retain(|(_, score, _)| *score > 0.0);
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.2.cmp(&a.2)));
    scored
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|(item, score, _)| (item, score))
        .collect()
}

/// Candidates a backend fetches for ranking: enough that the best `limit` are among them.
#[must_use]
pub fn candidate_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, 100)) * 10
}

/// A file's entries as stored: normalized text and its hash; entries with no text are
/// dropped, and text too long for one memory is cut to fit rather than lost.
pub fn file_rows(entries: Vec<FileMemory>) -> Vec<(String, String, FileMemory)> {
    entries
        .into_iter()
        .filter_map(|entry| {
            let cut: String = entry.text.chars().take(MAX_MEMORY_CHARS).collect();
            let text = normalize_text(&cut).ok()?;
            Some((text.clone(), text_hash(&text), entry))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_terms_drop_stop_words_and_short_words() {
        assert_eq!(
            search_terms("What do you remember about my Coffee order, e.g. oat-milk?"),
            ["coffee", "order", "oat", "milk"]
        );
        assert!(search_terms("what do you remember about me").is_empty());
    }

    #[test]
    fn chinese_text_gives_windows_without_fillers() {
        let terms = search_terms("我喜欢什么茶");
        assert!(terms.contains(&"喜欢".to_owned()), "{terms:?}");
        assert!(terms.contains(&"我喜欢".to_owned()), "{terms:?}");
        assert!(!terms.contains(&"我喜".to_owned()), "{terms:?}");
        assert_eq!(search_terms("茶"), ["茶"]);
        assert!(search_terms("的").is_empty());
        // Mixed text splits where the script changes.
        assert_eq!(search_terms("VPN密码"), ["vpn", "密码"]);
    }

    #[test]
    fn terms_are_bounded() {
        let long = "天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏闰余成岁律吕调阳云腾致雨露结为霜";
        assert_eq!(search_terms(long).len(), MAX_TERMS);
    }

    #[test]
    fn rank_is_the_weighted_share_of_terms_found() {
        let terms = search_terms("乌龙茶 tea");
        let both = rank(&terms, "用户喜欢乌龙茶, green TEA too", 0.0);
        let one = rank(&terms, "prefers tea", 0.0);
        assert!((both - 1.0).abs() < 1e-9, "{both}");
        assert!(one > 0.0 && one < both, "{one}");
        assert!(rank(&terms, "nothing related", 0.0).abs() < 1e-9);
        assert!(rank(&terms, "nothing related", 0.6) > 0.0);
    }

    #[test]
    fn normalizing_collapses_space_and_refuses_empty_or_huge_text() {
        assert_eq!(normalize_text("  likes\n  tea ").unwrap(), "likes tea");
        assert!(normalize_text(" \n").is_err());
        let error = normalize_text(&"长".repeat(MAX_MEMORY_CHARS + 1)).unwrap_err();
        assert!(error.to_string().contains("at most 1000"), "{error}");
        assert_eq!(text_hash("Likes Tea"), text_hash("likes tea"));
    }

    #[test]
    fn best_keeps_scored_items_best_then_newest() {
        let kept = best(
            vec![
                ("old", 0.5, 1),
                ("none", 0.0, 9),
                ("new", 0.5, 2),
                ("top", 0.9, 0),
            ],
            2,
        );
        assert_eq!(kept.iter().map(|(k, _)| *k).collect::<Vec<_>>(), ["top", "new"]);
    }
}
