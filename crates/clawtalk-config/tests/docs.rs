//! The documentation's config examples and key tables against the config reader: every
//! ```json5 block in docs/ loads with no error and no ignored key, and every key named in a
//! `| key |` table of docs/configuration.md occurs in one of that page's examples (so the
//! first check covers it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clawtalk_config::{Config, ConfigFormat, Value, parse_document};

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

/// Every Markdown page under docs/, sorted.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("docs/ exists") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&docs_dir(), &mut out);
    out.sort();
    out
}

/// The ```json5 blocks of a page, with the line each starts on.
fn json5_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let fence = line.trim_start();
        match &mut current {
            None if fence.starts_with("```json5") => current = Some((n + 1, String::new())),
            Some(_) if fence.starts_with("```") => blocks.extend(current.take()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```json5 block");
    blocks
}

/// The environment an example is read in: values for the variables it names (`${NAME}`), a
/// HOME, and what a snippet leaves to the rest of a working setup (a model of last resort with
/// its key, and a bot when the snippet configures none), through the variables the reader takes
/// them from. Nothing else, so a developer's own environment cannot change what an example means.
fn example_env(block: &str) -> impl Fn(&str) -> Option<String> + use<> {
    let named: BTreeSet<String> = block
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
        .collect();
    let has_bot = block.contains("clientId") || block.contains("webhookUrl");
    move |name: &str| match name {
        "HOME" => Some("/home/docs".to_owned()),
        "CLAWTALK_MODEL" => Some("deepseek/deepseek-chat".to_owned()),
        "DEEPSEEK_API_KEY" | "DASHSCOPE_API_KEY" => Some("sk-docs".to_owned()),
        "DINGTALK_CLIENT_ID" if !has_bot => Some("dingdocsexample".to_owned()),
        "DINGTALK_CLIENT_SECRET" if !has_bot => Some("docs-secret".to_owned()),
        // An AES key is 43 characters of base64 (the console generates it).
        n if named.contains(n) && n.ends_with("AES_KEY") => Some("a".repeat(43)),
        n if named.contains(n) => Some(format!("example-{}", n.to_lowercase())),
        _ => None,
    }
}

#[test]
fn every_json5_example_in_the_docs_loads_without_errors_or_ignored_keys() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page.strip_prefix(docs_dir()).unwrap().display().to_string();
        for (line, block) in json5_blocks(&text) {
            checked += 1;
            match Config::from_text(&block, ConfigFormat::Clawtalk, &example_env(&block)) {
                Err(errors) => failures.push(format!("{name}:{line}: {errors}")),
                Ok(loaded) => {
                    for warning in loaded.warnings.iter().filter(|w| w.message.contains("ignored")) {
                        failures.push(format!("{name}:{line}: {warning}"));
                    }
                }
            }
        }
    }
    assert!(checked >= 10, "only {checked} json5 examples found under docs/");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Key paths in a document: segments, an array's elements as `name[]`.
fn key_paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(entries) => {
            for (key, child) in entries {
                prefix.push(key.clone());
                out.push(prefix.clone());
                key_paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            if let Some(last) = prefix.last_mut() {
                last.push_str("[]");
            }
            for item in items {
                key_paths(item, prefix, out);
            }
            if let Some(last) = prefix.last_mut() {
                last.truncate(last.len() - 2);
            }
        }
        _ => {}
    }
}

/// Whether a documented key (`gateway.auth.token`, `models.providers.<id>.apiKey`,
/// `…clientId` for any depth) names one of the example paths.
fn documented_in(key: &str, paths: &[Vec<String>]) -> bool {
    let (suffix_only, key) = match key.strip_prefix('…') {
        Some(rest) => (true, rest),
        None => (false, key),
    };
    // A key's own path has no `[]` even when its value is an array.
    let want: Vec<&str> = key.trim_end_matches("[]").split('.').collect();
    paths.iter().any(|path| {
        if path.len() < want.len() || (!suffix_only && path.len() != want.len()) {
            return false;
        }
        let tail = &path[path.len() - want.len()..];
        tail.iter().zip(&want).all(|(have, want)| {
            if want.starts_with('<') {
                // `<id>` or `<id>[]`: any key, same array-ness.
                have.ends_with("[]") == want.ends_with("[]")
            } else {
                have == want
            }
        })
    })
}

/// The backticked keys in the first cell of each row of the page's `| key |` tables.
fn table_keys(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut in_key_table = false;
    for line in text.lines() {
        if !line.starts_with('|') {
            in_key_table = false;
            continue;
        }
        let first = line.split('|').nth(1).unwrap_or("").trim();
        if first == "key" {
            in_key_table = true;
            continue;
        }
        if !in_key_table || first.starts_with("---") {
            continue;
        }
        keys.extend(first.split('`').skip(1).step_by(2).map(str::to_owned));
    }
    keys
}

#[test]
fn every_key_in_the_configuration_reference_is_in_a_checked_example() {
    let text = std::fs::read_to_string(docs_dir().join("configuration.md")).unwrap();
    let mut paths = Vec::new();
    for (line, block) in json5_blocks(&text) {
        let doc = parse_document(&block).unwrap_or_else(|e| panic!("configuration.md:{line}: {e}"));
        key_paths(&doc, &mut Vec::new(), &mut paths);
    }
    let keys = table_keys(&text);
    assert!(keys.len() > 50, "only {} keys in the tables", keys.len());
    let missing: Vec<&String> = keys.iter().filter(|k| !documented_in(k, &paths)).collect();
    assert!(
        missing.is_empty(),
        "documented in a table but in no example (so never checked against the reader): {missing:?}"
    );
}

#[test]
fn the_key_matcher_tells_documented_keys_apart() {
    let doc = parse_document(
        r#"{ gateway: { auth: { token: "x" } }, models: { providers: { p: { models: [ { id: "m" } ] } } } }"#,
    )
    .unwrap();
    let mut paths = Vec::new();
    key_paths(&doc, &mut Vec::new(), &mut paths);
    assert!(documented_in("gateway.auth.token", &paths));
    assert!(documented_in("…token", &paths));
    assert!(documented_in("models.providers.<id>.models[].id", &paths));
    assert!(documented_in("models.providers.<id>.models[]", &paths));
    assert!(!documented_in("gateway.token", &paths));
    assert!(!documented_in("models.providers.<id>.models.id", &paths));
    assert!(!documented_in("…secret", &paths));
}
