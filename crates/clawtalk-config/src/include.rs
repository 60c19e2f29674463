//! `$include`: OpenClaw's way of splitting a config into files, read the same way here.
//!
//! ```json5
//! {
//!   "$include": "./openclaw-base.json",          // or a list, merged in order
//!   models: { providers: { mock: { baseUrl: "http://127.0.0.1:8000/v1" } } },
//! }
//! ```
//!
//! As OpenClaw documents it (docs.openclaw.ai, gateway configuration, "Config includes"; its
//! plugin SDK's `config/includes.d.ts` names the merge rules): the key may appear in any
//! object; paths are relative to the file that names them; included files are merged first and
//! the object's own keys on top of them: objects merge key by key, arrays concatenate, any
//! other value of the including object wins. Includes nest up to ten files deep; a file that
//! includes itself (directly or not) is an error. An object holding only `$include` becomes
//! the included value, whatever it is.
//!
//! clawtalk addition: a `.yaml`/`.yml` file included at the top level is read as
//! `channels.yaml` (the seed format), so a small JSON file can add what a pasted YAML example
//! leaves out; diagnostics about it name the YAML file's keys.

use std::path::{Path, PathBuf};

use super::reader::Ctx;
use super::seed_yaml::{PathMap, is_yaml_path, parse_yaml, translate};
use super::value::{Value, join_key, parse_json5};

/// The directive's key.
pub const INCLUDE_KEY: &str = "$include";

/// Deepest chain of files including each other.
const MAX_DEPTH: usize = 10;

/// Replaces every `$include` in `root` (a document read from `file`, or inline text when
/// `None`) by the files it names. Problems are recorded in `cx`; the keys around a failed
/// include are still read, so the rest of the file is checked too.
pub fn resolve_includes(root: Value, file: Option<&Path>, cx: &mut Ctx<'_>) -> (Value, PathMap) {
    let mut paths = PathMap::default();
    let chain: Vec<PathBuf> = file.map(absolute).into_iter().collect();
    let dir = file
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut resolver = Resolver {
        cx,
        paths: &mut paths,
        chain,
    };
    let value = resolver.value(root, "", &dir);
    (value, paths)
}

struct Resolver<'a, 'c, 'e> {
    cx: &'a mut Ctx<'e>,
    paths: &'c mut PathMap,
    /// Files being included, outermost first (cycle detection).
    chain: Vec<PathBuf>,
}

impl Resolver<'_, '_, '_> {
    fn value(&mut self, value: Value, at: &str, dir: &Path) -> Value {
        match value {
            Value::Object(entries) => self.object(entries, at, dir),
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| self.value(v, &super::value::join_index(at, i), dir))
                    .collect(),
            ),
            other => other,
        }
    }

    fn object(&mut self, entries: Vec<(String, Value)>, at: &str, dir: &Path) -> Value {
        let (includes, own): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(k, _)| k == INCLUDE_KEY);
        let own: Vec<(String, Value)> = own
            .into_iter()
            .map(|(k, v)| {
                let child = join_key(at, &k);
                let v = self.value(v, &child, dir);
                (k, v)
            })
            .collect();
        let key_path = join_key(at, INCLUDE_KEY);
        let mut files = Vec::new();
        for (_, spec) in includes {
            match spec {
                Value::String(s) => files.push(s),
                Value::Array(items) => {
                    for item in items {
                        match item {
                            Value::String(s) => files.push(s),
                            other => self.bad_spec(&key_path, &other),
                        }
                    }
                }
                other => self.bad_spec(&key_path, &other),
            }
        }
        if files.is_empty() {
            return Value::Object(own);
        }
        let mut merged: Option<Value> = None;
        for file in files {
            if let Some(included) = self.file(&file, at, &key_path, dir) {
                merged = Some(match merged {
                    None => included,
                    Some(base) => deep_merge(base, included),
                });
            }
        }
        let own = Value::Object(own);
        match merged {
            None => own,
            Some(base) if matches!(&own, Value::Object(e) if e.is_empty()) => base,
            Some(base @ Value::Object(_)) => deep_merge(base, own),
            Some(other) => {
                self.cx.diags.error(
                    key_path,
                    format!(
                        "the included file holds {}, which cannot be merged with the keys beside $include",
                        other.kind()
                    ),
                    "include a file holding an object, or remove the other keys of this object",
                );
                own
            }
        }
    }

    fn bad_spec(&mut self, key_path: &str, found: &Value) {
        self.cx.diags.error(
            key_path,
            format!("expected a file path or a list of them, found {}", found.kind()),
            "write \"$include\": \"./other.json5\" or [\"./a.json5\", \"./b.json5\"]",
        );
    }

    /// Reads, parses and resolves one included file.
    fn file(&mut self, raw: &str, at: &str, key_path: &str, dir: &Path) -> Option<Value> {
        let path = absolute(&dir.join(self.cx.path_from(raw)));
        if self.chain.contains(&path) {
            let chain: Vec<String> = self
                .chain
                .iter()
                .chain(std::iter::once(&path))
                .map(|p| p.display().to_string())
                .collect();
            self.cx.diags.error(
                key_path,
                format!("circular include: {}", chain.join(" -> ")),
                "remove the $include that leads back to a file already being read",
            );
            return None;
        }
        if self.chain.len() >= MAX_DEPTH {
            self.cx.diags.error(
                key_path,
                format!(
                    "includes nest deeper than {MAX_DEPTH} files at {}",
                    path.display()
                ),
                "merge some of the included files",
            );
            return None;
        }
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                self.cx.diags.error(
                    key_path,
                    format!("cannot read the included file {shown}: {e}"),
                    "check the path (relative paths start at the including file's directory)",
                );
                return None;
            }
        };
        let yaml = is_yaml_path(&path);
        if yaml && !at.is_empty() {
            self.cx.diags.error(
                key_path,
                format!("{shown} is YAML; only the top level of a config can include channels.yaml"),
                "move this $include to the top level, or include a JSON5 file here",
            );
            return None;
        }
        let parsed = if yaml {
            parse_yaml(&text)
        } else {
            parse_json5(&text)
        };
        let parsed = match parsed {
            Ok(v) => v,
            Err(e) => {
                self.cx.diags.error(
                    key_path,
                    format!(
                        "the included file {shown} is not valid {}: {e}",
                        if yaml { "YAML" } else { "JSON5" }
                    ),
                    "fix the syntax at that position",
                );
                return None;
            }
        };
        let inner_dir = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        self.chain.push(path);
        let resolved = if yaml {
            let (doc, map) = translate(&parsed, Value::Object(Vec::new()), &format!("{shown}: "), self.cx);
            self.paths.absorb(map);
            doc
        } else {
            self.value(parsed, at, &inner_dir)
        };
        self.chain.pop();
        Some(resolved)
    }
}

/// OpenClaw's merge: objects key by key, arrays concatenated, otherwise `top` wins.
fn deep_merge(base: Value, top: Value) -> Value {
    match (base, top) {
        (Value::Object(mut entries), Value::Object(over)) => {
            for (key, value) in over {
                match entries.iter().rposition(|(k, _)| *k == key) {
                    Some(i) => {
                        let old = std::mem::replace(&mut entries[i].1, Value::Null);
                        entries[i].1 = deep_merge(old, value);
                    }
                    None => entries.push((key, value)),
                }
            }
            Value::Object(entries)
        }
        (Value::Array(mut items), Value::Array(more)) => {
            items.extend(more);
            Value::Array(items)
        }
        (_, top) => top,
    }
}

/// The path made absolute against the working directory, `.`/`..` folded, for cycle checks.
fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::{Config, ConfigErrors, LoadedConfig};

    fn env(name: &str) -> Option<String> {
        match name {
            "DEEPSEEK_API_KEY" => Some("sk-x".into()),
            "HOME" => Some("/home/test".into()),
            _ => None,
        }
    }

    fn load(dir: &std::path::Path, files: &[(&str, &str)], main: &str) -> Result<LoadedConfig, ConfigErrors> {
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Config::load_with_env(Some(&dir.join(main)), &env)
    }

    #[test]
    fn included_files_merge_under_the_including_keys() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(
            dir.path(),
            &[
                (
                    "base/openclaw.json",
                    r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
                         channels: { dingtalk: { clientId: "dingbase", clientSecret: "s", dmPolicy: "pairing" } },
                         gateway: { port: 19001 } }"#,
                ),
                (
                    "main.json",
                    r#"{ "$include": "./base/openclaw.json",
                         agents: { list: [ { id: "ops", model: "deepseek/deepseek-chat" } ] },
                         channels: { dingtalk: { endpoints: "http://127.0.0.1:9/" } },
                         gateway: { port: 19002 } }"#,
                ),
            ],
            "main.json",
        )
        .unwrap();
        let c = loaded.config;
        // Arrays concatenate (included first), objects merge, the including file's values win.
        let ids: Vec<&str> = c.agents.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["main", "ops"]);
        let account = c.account("default").unwrap();
        assert_eq!(account.client_id, "dingbase");
        assert_eq!(account.endpoints.api.as_str(), "http://127.0.0.1:9/");
        assert_eq!(c.gateway.port, 19002);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn nested_and_listed_includes_resolve_relative_to_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(
            dir.path(),
            &[
                (
                    "parts/agents.json",
                    r#"{ list: [ { id: "main", model: "deepseek/deepseek-chat" } ] }"#,
                ),
                (
                    "parts/channel.json",
                    r#"{ "$include": "./secret.json", clientId: "dingnested" }"#,
                ),
                (
                    "parts/secret.json",
                    r#"{ clientSecret: "s", dmPolicy: "pairing" }"#,
                ),
                (
                    "main.json",
                    r#"{ agents: { "$include": "parts/agents.json" },
                         channels: { dingtalk: { "$include": ["parts/channel.json"] } } }"#,
                ),
            ],
            "main.json",
        )
        .unwrap();
        assert_eq!(loaded.config.agents[0].id, "main");
        assert_eq!(loaded.config.account("default").unwrap().client_id, "dingnested");
    }

    #[test]
    fn missing_circular_and_malformed_includes_are_errors_at_the_directive() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(
            dir.path(),
            &[
                ("a.json", r#"{ "$include": "b.json" }"#),
                ("b.json", r#"{ "$include": "a.json" }"#),
            ],
            "a.json",
        )
        .unwrap_err();
        let circular = err
            .errors
            .iter()
            .find(|e| e.message.contains("circular"))
            .expect("{err}");
        assert_eq!(circular.path, r#"["$include"]"#);

        let err = load(
            dir.path(),
            &[("c.json", r#"{ "$include": "nope.json" }"#)],
            "c.json",
        )
        .unwrap_err();
        let missing = err
            .errors
            .iter()
            .find(|e| e.path == r#"["$include"]"#)
            .expect("{err}");
        assert!(missing.message.contains("nope.json"), "{missing}");
        assert!(missing.fix.is_some());

        let err = load(
            dir.path(),
            &[("d.json", r#"{ gateway: { "$include": 5 } }"#)],
            "d.json",
        )
        .unwrap_err();
        assert!(
            err.errors.iter().any(|e| e.path == r#"gateway["$include"]"#),
            "{err}"
        );
    }

    #[test]
    fn a_top_level_yaml_include_is_read_as_channels_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(
            dir.path(),
            &[
                (
                    "seed/channels.yaml",
                    "channels:\n  - name: main\n    type: dingtalk\n    app_key: dingyaml\n    app_secret: s\n    agent: helper\n",
                ),
                (
                    "wrapper.json",
                    r#"{ "$include": "seed/channels.yaml",
                         agents: { defaults: { model: "deepseek/deepseek-chat" } },
                         channels: { dingtalk: { accounts: { main: { dmPolicy: "open", allowFrom: ["*"] } } } } }"#,
                ),
            ],
            "wrapper.json",
        )
        .unwrap();
        let account = loaded.config.account("main").unwrap();
        assert_eq!(account.client_id, "dingyaml");
        assert_eq!(account.dm_policy, crate::DmPolicy::Open);
        assert_eq!(loaded.config.bindings[0].agent_id, "helper");
        // Diagnostics about the YAML name its keys and file.
        let err = load(
            dir.path(),
            &[
                ("seed/bad.yaml", "channels:\n  - name: main\n    type: dingtalk\n    app_key: dingyaml\n"),
                (
                    "bad-wrapper.json",
                    r#"{ "$include": "seed/bad.yaml", agents: { defaults: { model: "deepseek/deepseek-chat" } } }"#,
                ),
            ],
            "bad-wrapper.json",
        )
        .unwrap_err();
        assert!(
            err.errors
                .iter()
                .any(|e| e.path.ends_with("bad.yaml: channels[0].app_secret")),
            "{err}"
        );
    }
}
