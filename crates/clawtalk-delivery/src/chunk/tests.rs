use proptest::prelude::*;

use super::*;

fn opts(max_chars: usize) -> ChunkOptions {
    ChunkOptions {
        max_chars,
        ..ChunkOptions::default()
    }
}

/// Removes the ` (k/n)` / `\n(k/n)` marker, checking it names the right part.
fn strip_marker(text: &str, k: usize, n: usize) -> &str {
    let marker = format!("({k}/{n})");
    let body = text
        .strip_suffix(&marker)
        .unwrap_or_else(|| panic!("part {k} lacks marker {marker}: {text:?}"));
    body.strip_suffix(' ')
        .or_else(|| body.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("marker not separated: {text:?}"))
}

fn is_fence(line: &str) -> bool {
    let t = line.trim_start_matches(' ');
    t.starts_with("```") || t.starts_with("~~~")
}

/// Checks every documented property of a split and returns the parts' texts.
fn check(text: &str, options: &ChunkOptions) -> Vec<String> {
    let chunks = split_with(text, options);
    if text.is_empty() {
        assert!(chunks.is_empty());
        return Vec::new();
    }
    let n = chunks.len();
    let mut joined = String::new();
    let mut closed_prev = false;
    for (i, c) in chunks.iter().enumerate() {
        assert!(
            c.text.chars().count() <= options.max_chars.max(MIN_CHARS),
            "part {i} too long"
        );
        assert!(json_len(&c.text) <= options.max_json_bytes.max(MIN_JSON_BYTES));
        assert_eq!(c.source.start, joined.len(), "ranges are contiguous");
        let slice = &text[c.source.clone()];
        assert!(!slice.is_empty());
        joined.push_str(slice);
        if n == 1 {
            assert_eq!(c.text, text);
            continue;
        }
        let body = strip_marker(&c.text, i + 1, n);
        // body = [reopened fence line + \n] slice [\n? closing fence]
        let rest = if closed_prev {
            let (pre, rest) = body.split_at(body.find('\n').map_or(0, |nl| nl + 1));
            let line = pre.strip_suffix('\n').expect("reopen ends with a newline");
            assert!(is_fence(line), "part {i} reopens with {pre:?}");
            rest
        } else {
            body
        };
        let post = rest
            .strip_prefix(slice)
            .unwrap_or_else(|| panic!("part {i} does not carry its slice: {body:?} / {slice:?}"));
        closed_prev = !post.is_empty();
        if closed_prev {
            let line = post.strip_prefix('\n').unwrap_or(post);
            assert!(is_fence(line) && !line.contains('\n'), "close {post:?}");
            assert!(i + 1 < n, "the last part is never closed");
        }
    }
    assert_eq!(joined, text);
    chunks.into_iter().map(|c| c.text).collect()
}

/// Whether `text` leaves a fence open (same line rules as the splitter).
fn ends_in_fence(text: &str) -> bool {
    let mut open: Option<(char, usize)> = None;
    for line in text.split('\n') {
        let t = line.trim_start_matches(' ');
        let Some(ch) = t.chars().next().filter(|c| *c == '`' || *c == '~') else {
            continue;
        };
        let len = t.chars().take_while(|c| *c == ch).count();
        if len < 3 {
            continue;
        }
        match open {
            Some((c, l)) if c == ch && len >= l && t[len..].trim().is_empty() => open = None,
            None => open = Some((ch, len)),
            _ => {}
        }
    }
    open.is_some()
}

#[test]
fn short_text_is_one_part_without_marker() {
    assert_eq!(split("hello", 3800), vec!["hello".to_owned()]);
    assert!(split("", 3800).is_empty());
}

#[test]
fn paragraphs_are_preferred_and_markers_added() {
    let para = ["word"; 20].join(" "); // 99 chars
    let text = format!("{para}\n\n{para}\n\n{para}");
    let parts = check(&text, &opts(MIN_CHARS + 100));
    assert_eq!(parts.len(), 2, "{parts:?}");
    // The cut is at the second paragraph break, not at a space.
    assert_eq!(parts[0], format!("{para}\n\n{para} (1/2)"));
    assert_eq!(parts[1], format!("\n\n{para} (2/2)"));
}

#[test]
fn long_words_are_cut_at_char_boundaries() {
    let text = "汉".repeat(1000) + &"😀".repeat(500);
    let parts = check(&text, &opts(200));
    assert!(parts.len() > 5);
    assert!(parts.iter().all(|p| p.chars().count() <= 200));
}

#[test]
fn cjk_sentences_split_after_punctuation() {
    let sentence = "这是一个比较长的中文句子用于测试分割。"; // 19 chars
    let text = sentence.repeat(12);
    let parts = check(&text, &opts(MIN_CHARS));
    let first = parts[0].rsplit_once(' ').map_or("", |(body, _)| body);
    assert!(first.ends_with('。'), "{first}");
}

#[test]
fn code_block_is_closed_and_reopened_with_its_info_string() {
    let code: String = (0..40).map(|i| format!("let x{i} = {i};\n")).collect();
    let text = format!("Intro.\n\n```rust\n{code}```\n\nOutro.");
    let parts = check(&text, &opts(200));
    assert!(parts.len() >= 3, "{parts:?}");
    for (i, p) in parts.iter().enumerate() {
        let body = p.rsplit_once('(').map_or(p.as_str(), |(b, _)| b);
        assert!(!ends_in_fence(body), "part {i} leaves a fence open: {p:?}");
    }
    assert!(parts[1].starts_with("```rust\n"), "{:?}", parts[1]);
    // A closing fence gets the marker on its own line, so it still closes.
    assert!(parts[0].contains("```\n(1/"), "{:?}", parts[0]);
}

#[test]
fn cut_right_after_a_code_block_does_not_reopen_it() {
    let code = "x\n".repeat(30);
    let tail = "tail ".repeat(40);
    let text = format!("```\n{code}```\n\n{tail}");
    let parts = check(&text, &opts(MIN_CHARS));
    assert_eq!(parts[0], format!("```\n{code}```\n(1/3)"));
    assert!(!parts[1].starts_with("```"));
}

#[test]
fn tilde_fences_and_unclosed_blocks() {
    let body = "line of code\n".repeat(30);
    let text = format!("~~~python\n{body}");
    let parts = check(&text, &opts(MIN_CHARS));
    assert!(parts[1].starts_with("~~~python\n"));
    assert!(parts[0].contains("\n~~~\n(1/"));
}

#[test]
fn very_long_fence_markers_are_tracked_but_not_reopened() {
    let fence = "`".repeat(20);
    let text = format!("{fence}\n{}{fence}\n\nafter", "```\nnot a fence\n".repeat(20));
    // `check` fails on any added fence line: the inner ``` lines are code, and the 20-backtick
    // block is too wide to repeat in every part.
    let parts = check(&text, &opts(MIN_CHARS));
    assert!(parts.len() > 1);
}

#[test]
fn plain_text_mode_ignores_fences() {
    let text = format!("```\n{}", "a b c d e\n".repeat(40));
    let options = ChunkOptions {
        max_chars: MIN_CHARS,
        code_fences: false,
        ..ChunkOptions::default()
    };
    let parts = split_with(&text, &options);
    assert!(parts.len() > 1);
    assert!(parts[1..].iter().all(|c| !c.text.starts_with("```")));
}

#[test]
fn markers_grow_with_the_number_of_parts() {
    let text = "abcdefghij ".repeat(1500);
    let parts = check(&text, &opts(MIN_CHARS));
    assert!(parts.len() >= 100, "{}", parts.len());
    assert!(parts[0].ends_with(&format!(" (1/{})", parts.len())));
}

#[test]
fn byte_limit_applies_to_escaped_text() {
    // Quotes and control characters double or sextuple when JSON-escaped.
    let text = "\"\u{1}".repeat(2000);
    let options = ChunkOptions {
        max_chars: 3800,
        max_json_bytes: 2000,
        code_fences: true,
    };
    let parts = check(&text, &options);
    assert!(parts.len() >= 8, "{}", parts.len());
    assert!(parts.iter().all(|p| json_len(p) <= 2000));
}

#[test]
fn default_limit_is_3800_chars() {
    let text = "段落内容。".repeat(2000); // 10 000 chars
    let parts = split(&text, DEFAULT_MAX_CHARS);
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|p| p.chars().count() <= DEFAULT_MAX_CHARS));
}

#[test]
fn large_texts_split_in_linear_time() {
    let para = format!(
        "{}\n\n```sh\n{}```\n\n",
        "句子。".repeat(300),
        "echo hi\n".repeat(200)
    );
    let text = para.repeat(40); // ~ 100 000 chars
    let started = std::time::Instant::now();
    let parts = split(&text, DEFAULT_MAX_CHARS);
    assert!(parts.len() > 25);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

fn markdownish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-z]{1,12}",
        2 => Just(" ".to_owned()),
        2 => Just("\n".to_owned()),
        2 => Just("\n\n".to_owned()),
        1 => Just(". ".to_owned()),
        2 => "[\u{4e00}-\u{4e80}]{1,30}",
        1 => Just("。".to_owned()),
        1 => Just("😀👍🏽".to_owned()),
        1 => Just("\n```rust\n".to_owned()),
        1 => Just("\n```\n".to_owned()),
        1 => Just("\n~~~~ text\n".to_owned()),
        1 => Just("\"quoted\\\t".to_owned()),
        1 => "[a-z]{40,120}",
    ];
    prop::collection::vec(piece, 0..250).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn split_properties_hold(text in markdownish(), max in 100usize..600, bytes in 900usize..3000) {
        let options = ChunkOptions { max_chars: max, max_json_bytes: bytes, code_fences: true };
        let parts = check(&text, &options);
        // Every part but the last ends outside any code block.
        if parts.len() > 1 {
            for p in &parts[..parts.len() - 1] {
                let body = p.rsplit_once('(').map_or(p.as_str(), |(b, _)| b);
                prop_assert!(!ends_in_fence(body), "part leaves a fence open: {:?}", p);
            }
        }
    }

    #[test]
    fn plain_split_round_trips(text in markdownish(), max in 100usize..400) {
        let options = ChunkOptions { max_chars: max, max_json_bytes: 100_000, code_fences: false };
        let chunks = split_with(&text, &options);
        let joined: String = chunks.iter().map(|c| &text[c.source.clone()]).collect();
        prop_assert_eq!(joined, text);
    }
}
