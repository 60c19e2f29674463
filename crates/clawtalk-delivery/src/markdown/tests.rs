use proptest::prelude::*;

use super::to_dingtalk;
use crate::chunk;

#[test]
fn links_and_images_to_anything_but_http_keep_only_their_text() {
    assert_eq!(
        to_dingtalk(
            "[click](javascript:alert(1)) [mail](mailto:a@e.com) ![pic](data:image/png;base64,AA) \
             [ok](https://e.com) <javascript:alert(2)> [ref][r]\n\n[r]: file:///etc/passwd"
        ),
        "click mail pic [ok](https://e.com) javascript:alert(2) ref"
    );
    // Inside a table or a list too.
    assert_eq!(to_dingtalk("- [x](JavaScript:void(0)) item"), "- x item");
}

#[test]
fn headings_keep_their_level_in_atx_form() {
    assert_eq!(to_dingtalk("# One\n\n### Three"), "# One\n\n### Three");
    assert_eq!(to_dingtalk("Title\n=====\n\nSub\n---"), "# Title\n\n## Sub");
}

#[test]
fn emphasis_links_and_images_use_one_spelling() {
    assert_eq!(
        to_dingtalk("_it_ __bold__ ~~gone~~ [site](https://e.com) ![cat](https://e.com/c.png)"),
        "*it* **bold** ~~gone~~ [site](https://e.com) ![cat](https://e.com/c.png)"
    );
    assert_eq!(
        to_dingtalk("<https://e.com/x>"),
        "[https://e.com/x](https://e.com/x)"
    );
}

#[test]
fn tables_become_one_bullet_per_row() {
    let md = "| Name | Age |\n|---|---:|\n| Alice | 30 |\n| Bob |  |\n";
    assert_eq!(
        to_dingtalk(md),
        "- **Name**: Alice · **Age**: 30\n- **Name**: Bob · **Age**: —"
    );
    assert_eq!(to_dingtalk("| A | B |\n|---|---|\n"), "**A** · **B**");
    assert_eq!(
        to_dingtalk("before\n\n| `a\\|b` | [l](u) |\n|--|--|\n| x | y |\n\nafter"),
        "before\n\n- **`a|b`**: x · **l**: y\n\nafter"
    );
}

#[test]
fn nested_lists_are_indented_with_full_width_spaces() {
    let md = "- a\n  - b\n    - c\n  - d\n- e\n\n1. one\n2. two\n   1. inner";
    assert_eq!(
        to_dingtalk(md),
        "- a\n\u{3000}\u{3000}• b\n\u{3000}\u{3000}\u{3000}\u{3000}◦ c\n\u{3000}\u{3000}• d\n- e\n\n\
         1. one\n2. two\n\u{3000}\u{3000}1. inner"
    );
    assert_eq!(to_dingtalk("3. three\n4. four"), "3. three\n4. four");
}

#[test]
fn task_lists_get_check_boxes() {
    assert_eq!(to_dingtalk("- [ ] todo\n- [x] done"), "- ☐ todo\n- ☑ done");
}

#[test]
fn code_blocks_stay_verbatim_and_fenced() {
    assert_eq!(
        to_dingtalk("```rust\nfn main() {\n    *x* = 1;\n}\n```"),
        "```rust\nfn main() {\n    *x* = 1;\n}\n```"
    );
    assert_eq!(
        to_dingtalk("text\n\n    indented\n    code"),
        "text\n\n```\nindented\ncode\n```"
    );
    assert_eq!(
        to_dingtalk("````\n```\ninner\n```\n````"),
        "````\n```\ninner\n```\n````"
    );
    assert_eq!(to_dingtalk("use `a` and `` b`c ``"), "use `a` and ``b`c``");
}

#[test]
fn code_inside_a_list_item_is_not_indented() {
    let out = to_dingtalk("- step\n\n  ```sh\n  ls -l\n  ```\n- next");
    assert_eq!(out, "- step\n```sh\nls -l\n```\n- next");
}

#[test]
fn quotes_and_alerts_prefix_every_line() {
    assert_eq!(to_dingtalk("> one\n>\n> two"), "> one\n>\n> two");
    assert_eq!(to_dingtalk("> [!WARNING]\n> hot"), "> **Warning**\n> hot");
    assert_eq!(to_dingtalk("> - a\n> - b"), "> - a\n> - b");
}

#[test]
fn html_is_reduced_to_its_text() {
    assert_eq!(
        to_dingtalk("line<br>next <b>bold</b> 1 < 2"),
        "line\nnext bold 1 < 2"
    );
    assert_eq!(
        to_dingtalk("<div>\n<p>Hello &amp; bye</p>\n</div>"),
        "Hello & bye"
    );
}

#[test]
fn footnotes_and_rules_stay_readable() {
    assert_eq!(
        to_dingtalk("Fact[^1].\n\n---\n\n[^1]: Source."),
        "Fact[1].\n\n---\n\n[1]: Source."
    );
}

#[test]
fn blank_and_invisible_inputs_are_not_lost() {
    assert_eq!(to_dingtalk(""), "");
    assert_eq!(to_dingtalk("<!-- only a comment -->"), "<!-- only a comment -->");
    assert_eq!(to_dingtalk("中文 **粗体**"), "中文 **粗体**");
}

#[test]
fn the_chunker_still_splits_converted_code_fence_aware() {
    let code: String = (0..400).map(|i| format!("let x{i} = {i};\n")).collect();
    let md = format!("| a | b |\n|--|--|\n| 1 | 2 |\n\n```rust\n{code}```\n");
    let converted = to_dingtalk(&md);
    let parts = chunk::split(&converted, 1_000);
    assert!(parts.len() > 1);
    for part in &parts {
        assert_eq!(part.matches("```").count() % 2, 0, "unbalanced fence in {part}");
    }
}

/// Maximal runs of letters and digits; numbers without leading zeros, since a list item's
/// number (`007.`) is written back as its value.
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| match w.trim_start_matches('0') {
            "" => "0",
            trimmed if trimmed.chars().all(|c| c.is_ascii_digit()) => trimmed,
            _ => w,
        })
        .collect()
}

fn word() -> BoxedStrategy<String> {
    prop_oneof!["[a-z]{1,8}", "[A-Z][a-z]{0,6}", "[0-9]{1,4}", "[一-龥]{1,3}",].boxed()
}

fn inline() -> impl Strategy<Value = String> {
    let words = prop::collection::vec(word(), 1..5)
        .prop_map(|w| w.join(" "))
        .boxed();
    prop_oneof![
        4 => words.clone(),
        1 => words.clone().prop_map(|w| format!("**{w}**")),
        1 => words.clone().prop_map(|w| format!("_{w}_")),
        1 => words.clone().prop_map(|w| format!("~~{w}~~")),
        1 => words.clone().prop_map(|w| format!("`{w}`")),
        1 => (words.clone(), word()).prop_map(|(t, u)| format!("[{t}](https://e.com/{u})")),
        1 => (words.clone(), word()).prop_map(|(t, u)| format!("![{t}](https://e.com/{u}.png)")),
        1 => words.prop_map(|w| format!("<b>{w}</b>")),
    ]
}

fn line() -> impl Strategy<Value = String> {
    prop::collection::vec(inline(), 1..4).prop_map(|parts| parts.join(" "))
}

fn block() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => line(),
        1 => (1usize..7, line()).prop_map(|(n, l)| format!("{} {l}", "#".repeat(n))),
        1 => prop::collection::vec(line(), 1..4)
            .prop_map(|ls| ls.iter().map(|l| format!("> {l}")).collect::<Vec<_>>().join("\n")),
        1 => prop::collection::vec((0usize..3, line(), any::<bool>()), 1..6).prop_map(|items| {
            let mut depth = 0;
            items
                .iter()
                .map(|(d, l, ordered)| {
                    depth = (*d).min(depth + 1);
                    let marker = if *ordered { "1." } else { "-" };
                    format!("{}{marker} {l}", "   ".repeat(depth))
                })
                .collect::<Vec<_>>()
                .join("\n")
        }),
        1 => (prop::collection::vec(word(), 1..4), prop::collection::vec(prop::collection::vec(word(), 1..4), 0..4))
            .prop_map(|(head, rows)| {
                let n = head.len();
                let mut t = format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(n));
                for row in rows {
                    let cells: Vec<String> = (0..n).map(|i| row.get(i).cloned().unwrap_or_default()).collect();
                    t.push_str(&format!("| {} |\n", cells.join(" | ")));
                }
                t
            }),
        1 => (prop::option::of("[a-z]{1,5}"), prop::collection::vec("[a-z0-9 =;(){}*_#|-]{0,30}", 1..5))
            .prop_map(|(lang, lines)| format!("```{}\n{}\n```", lang.unwrap_or_default(), lines.join("\n"))),
    ]
}

fn document() -> impl Strategy<Value = String> {
    prop::collection::vec(block(), 1..8).prop_map(|blocks| blocks.join("\n\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn conversion_keeps_every_word_of_generated_markdown(md in document()) {
        let out = to_dingtalk(&md);
        let mut out_words = words(&out);
        out_words.sort_unstable();
        // The generator's only HTML is `<b>`: a tag name, not text.
        let text = md.replace("<b>", " ").replace("</b>", " ");
        for w in words(&text) {
            prop_assert!(out_words.binary_search(&w).is_ok(), "lost {w:?}\n--- in\n{md}\n--- out\n{out}");
        }
    }

    #[test]
    // No `|`: GFM itself drops cells past the header's count (tables are covered above).
    fn conversion_never_panics_and_keeps_words_of_arbitrary_text(md in "[a-z0-9 \n*_#>`~.+-]{0,200}") {
        let out = to_dingtalk(&md);
        let mut out_words = words(&out);
        out_words.sort_unstable();
        for w in words(&md) {
            prop_assert!(out_words.binary_search(&w).is_ok(), "lost {w:?}\n--- in\n{md:?}\n--- out\n{out:?}");
        }
    }

    #[test]
    fn conversion_never_panics(md in "\\PC{0,300}") {
        let _ = to_dingtalk(&md);
    }
}
