//! Path-aware, error-collecting access to the parsed document.
//!
//! Every getter reports a wrong type or value as an error at the exact key path and returns
//! `None`, so reading goes on and the user sees every problem in one run. Objects remember which
//! keys were read; whatever is left over is reported as an unknown (or known-but-ignored) key.

use std::cell::RefCell;
use std::path::PathBuf;

use dingtalk::Secret;
use url::Url;

use super::issue::Diagnostics;
use super::secrets::{expand_home, expand_vars, read_secret_file};
use super::value::{Value, join_index, join_key};

/// Environment variable lookup; injected so tests never touch the process environment.
pub type EnvLookup<'e> = &'e dyn Fn(&str) -> Option<String>;

/// Reading context: diagnostics plus where `${VAR}` values come from.
pub struct Ctx<'e> {
    pub diags: Diagnostics,
    env: EnvLookup<'e>,
    /// Variables from the file's own `env` section; the real environment wins over them.
    config_env: Vec<(String, String)>,
    pub home: Option<PathBuf>,
}

impl<'e> Ctx<'e> {
    pub fn new(env: EnvLookup<'e>, home: Option<PathBuf>) -> Self {
        Self {
            diags: Diagnostics::default(),
            env,
            config_env: Vec::new(),
            home,
        }
    }

    /// Adds variables declared in the config file (`env: { vars: { … } }`).
    pub fn add_config_env(&mut self, name: String, value: String) {
        self.config_env.push((name, value));
    }

    /// A variable from the process environment, else from the config's `env` section.
    /// Empty values count as unset, as in OpenClaw.
    pub fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.is_empty()).or_else(|| {
            self.config_env
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        })
    }

    /// Expands `${VAR}` in a string value, reporting each missing variable at `path`.
    fn expand(&mut self, path: &str, raw: &str) -> Option<String> {
        let lookup = |name: &str| self.var(name);
        match expand_vars(raw, &lookup) {
            Ok(s) => Some(s),
            Err(missing) => {
                for name in missing {
                    self.diags.error(
                        path,
                        format!("environment variable {name} is not set (referenced as ${{{name}}})"),
                        format!("export {name}=…, or write $${{{name}}} for a literal ${{{name}}}"),
                    );
                }
                None
            }
        }
    }

    /// `~`-expanded path.
    pub fn path_from(&self, raw: &str) -> PathBuf {
        expand_home(raw, self.home.as_deref())
    }
}

/// One value in the document and its key path.
#[derive(Clone, Copy)]
pub struct Node<'v, 'p> {
    pub value: &'v Value,
    pub path: &'p str,
}

/// A node with an owned path (for array elements and map entries).
pub struct OwnedNode<'v> {
    pub value: &'v Value,
    pub path: String,
}

impl<'v> OwnedNode<'v> {
    pub fn node(&self) -> Node<'v, '_> {
        Node {
            value: self.value,
            path: &self.path,
        }
    }
}

impl<'v> Node<'v, '_> {
    fn type_error(&self, cx: &mut Ctx<'_>, expected: &str) {
        cx.diags.error(
            self.path,
            format!("expected {expected}, found {}", self.value.kind()),
            format!("write {expected} here"),
        );
    }

    /// A string, with `${VAR}` expanded.
    pub fn string(&self, cx: &mut Ctx<'_>) -> Option<String> {
        match self.value {
            Value::String(s) => cx.expand(self.path, s),
            _ => {
                self.type_error(cx, "a string");
                None
            }
        }
    }

    /// A non-empty string after trimming (ids, names).
    pub fn nonempty_string(&self, cx: &mut Ctx<'_>) -> Option<String> {
        let s = self.string(cx)?;
        let t = s.trim();
        if t.is_empty() {
            cx.diags
                .error(self.path, "must not be empty", "give a value or remove the key");
            return None;
        }
        Some(t.to_owned())
    }

    /// A string or an integer, as text: DingTalk ids (clientId, agentId, user ids) are often
    /// written as numbers.
    pub fn id_string(&self, cx: &mut Ctx<'_>) -> Option<String> {
        match self.value {
            Value::Number(n) if n.as_i64().is_some() || n.as_u64().is_some() => Some(n.to_string()),
            Value::String(_) => self.nonempty_string(cx),
            _ => {
                self.type_error(cx, "a string or an integer");
                None
            }
        }
    }

    pub fn bool(&self, cx: &mut Ctx<'_>) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(*b),
            _ => {
                self.type_error(cx, "true or false");
                None
            }
        }
    }

    /// An integer in `min..=max`.
    pub fn int_in(&self, cx: &mut Ctx<'_>, min: i64, max: i64) -> Option<i64> {
        let n = match self.value {
            Value::Number(n) => n.as_i64(),
            _ => {
                self.type_error(cx, "an integer");
                return None;
            }
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                cx.diags.error(
                    self.path,
                    format!("{} is out of range", number_text(self.value)),
                    format!("use a whole number from {min} to {max}"),
                );
                None
            }
        }
    }

    pub fn object(&self, cx: &mut Ctx<'_>) -> Option<Obj<'v>> {
        match self.value {
            Value::Object(entries) => Some(Obj::new(entries, self.path.to_owned())),
            _ => {
                self.type_error(cx, "an object");
                None
            }
        }
    }

    pub fn array(&self, cx: &mut Ctx<'_>) -> Option<Vec<OwnedNode<'v>>> {
        match self.value {
            Value::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, value)| OwnedNode {
                        value,
                        path: join_index(self.path, i),
                    })
                    .collect(),
            ),
            _ => {
                self.type_error(cx, "an array");
                None
            }
        }
    }

    /// A list of ids (strings or integers). Bad elements are reported and skipped.
    pub fn id_list(&self, cx: &mut Ctx<'_>) -> Option<Vec<String>> {
        let items = self.array(cx)?;
        Some(
            items
                .iter()
                .filter_map(|item| item.node().id_string(cx))
                .collect(),
        )
    }

    /// One of a fixed set of words (case-insensitive), e.g. a policy name.
    pub fn choice<T: Copy>(&self, cx: &mut Ctx<'_>, options: &[(&str, T)]) -> Option<T> {
        let names = options.iter().map(|(n, _)| *n).collect::<Vec<_>>().join("|");
        let Value::String(raw) = self.value else {
            self.type_error(cx, &format!("one of {names}"));
            return None;
        };
        let s = cx.expand(self.path, raw)?;
        let found = options
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s.trim()))
            .map(|(_, v)| *v);
        if found.is_none() {
            cx.diags.error(
                self.path,
                format!("{s:?} is not a valid value"),
                format!("expected one of {names}"),
            );
        }
        found
    }

    /// An absolute http(s) URL.
    pub fn url(&self, cx: &mut Ctx<'_>) -> Option<Url> {
        let s = self.nonempty_string(cx)?;
        match Url::parse(&s) {
            Ok(u) if matches!(u.scheme(), "http" | "https" | "ws" | "wss") => Some(u),
            Ok(_) | Err(_) => {
                cx.diags.error(
                    self.path,
                    format!("{s:?} is not an http(s) URL"),
                    "write a full URL such as https://api.example.com/v1",
                );
                None
            }
        }
    }

    /// A secret: a string (with `${VAR}`), or a SecretInput `{source: "env"|"file", id}`.
    /// An empty value counts as absent so the caller reports "missing" with its own fix.
    /// The value never appears in a diagnostic.
    pub fn secret(&self, cx: &mut Ctx<'_>) -> Option<Secret> {
        let value = match self.value {
            Value::String(raw) => cx.expand(self.path, raw)?,
            Value::Object(entries) => {
                let obj = Obj::new(entries, self.path.to_owned());
                let v = secret_input(&obj, cx);
                obj.finish(cx, &["provider"], IGNORED_KEY);
                v?
            }
            _ => {
                cx.diags.error(
                    self.path,
                    format!("expected a string or {{source, id}}, found {}", self.value.kind()),
                    "write the secret as \"${ENV_VAR}\" or {source: \"env\", id: \"ENV_VAR\"}",
                );
                return None;
            }
        };
        (!value.is_empty()).then(|| Secret::new(value))
    }
}

/// Resolves `{source, id}`. `provider` (OpenClaw secret provider name) is accepted and ignored.
fn secret_input(obj: &Obj<'_>, cx: &mut Ctx<'_>) -> Option<String> {
    let source = obj.get("source").and_then(|n| {
        n.node()
            .choice(cx, &[("env", "env"), ("file", "file"), ("exec", "exec")])
    });
    let id = obj.get("id").and_then(|n| n.node().nonempty_string(cx));
    let id_path = join_key(obj.path(), "id");
    if obj.get("source").is_none() {
        cx.diags.error(
            join_key(obj.path(), "source"),
            "secret reference has no source",
            "add source: \"env\" or source: \"file\"",
        );
    }
    if obj.get("id").is_none() {
        cx.diags.error(
            &id_path,
            "secret reference has no id",
            "add id: the variable name (env) or file path (file)",
        );
    }
    match (source?, id?) {
        ("env", name) => {
            let v = cx.var(&name);
            if v.is_none() {
                cx.diags.error(
                    &id_path,
                    format!("environment variable {name} is not set"),
                    format!("export {name}=…"),
                );
            }
            v
        }
        ("file", raw) => {
            let path = cx.path_from(&raw);
            match read_secret_file(&path) {
                Ok(v) => Some(v),
                Err(why) => {
                    cx.diags.error(
                        &id_path,
                        format!("cannot read secret file {}: {why}", path.display()),
                        "create the file or fix the path",
                    );
                    None
                }
            }
        }
        (_, _) => {
            cx.diags.error(
                join_key(obj.path(), "source"),
                "source \"exec\" is not supported by clawtalk",
                "use source: \"env\" or source: \"file\"",
            );
            None
        }
    }
}

fn number_text(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        other => other.kind().to_owned(),
    }
}

/// Message for keys that OpenClaw or a DingTalk plugin defines but clawtalk does not use.
pub const IGNORED_KEY: &str = "not used by clawtalk; ignored";

/// An object whose key reads are tracked.
pub struct Obj<'v> {
    entries: &'v [(String, Value)],
    path: String,
    used: RefCell<Vec<bool>>,
    asked: RefCell<Vec<&'static str>>,
}

impl<'v> Obj<'v> {
    pub fn new(entries: &'v [(String, Value)], path: String) -> Self {
        Self {
            used: RefCell::new(vec![false; entries.len()]),
            asked: RefCell::new(Vec::new()),
            entries,
            path,
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Path of a key in this object.
    pub fn key_path(&self, key: &str) -> String {
        join_key(&self.path, key)
    }

    /// The value at `key` (the last one if repeated, as JSON5 says); `null` counts as absent.
    pub fn get(&self, key: &'static str) -> Option<OwnedNode<'v>> {
        {
            let mut asked = self.asked.borrow_mut();
            if !asked.contains(&key) {
                asked.push(key);
            }
        }
        let mut found = None;
        let mut used = self.used.borrow_mut();
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if k == key {
                used[i] = true;
                found = Some(v);
            }
        }
        match found {
            None | Some(Value::Null) => None,
            Some(value) => Some(OwnedNode {
                value,
                path: join_key(&self.path, key),
            }),
        }
    }

    /// True when the key is present and not null (does not mark it read).
    pub fn has(&self, key: &str) -> bool {
        self.entries
            .iter()
            .any(|(k, v)| k == key && !matches!(v, Value::Null))
    }

    /// Marks keys as understood without reading them (their meaning is covered elsewhere).
    pub fn accept(&self, keys: &[&'static str]) {
        for key in keys {
            let _ = self.get(key);
        }
    }

    /// All entries of a map-like object (`accounts`, `providers`), marking them read.
    pub fn entries(&self) -> Vec<(&'v str, OwnedNode<'v>)> {
        self.used.borrow_mut().iter_mut().for_each(|u| *u = true);
        self.entries
            .iter()
            .filter(|(_, v)| !matches!(v, Value::Null))
            .map(|(k, v)| {
                (
                    k.as_str(),
                    OwnedNode {
                        value: v,
                        path: join_key(&self.path, k),
                    },
                )
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reports repeated keys and every key nobody read: `ignored` keys get `ignored_msg`,
    /// anything else is "unknown" with a did-you-mean hint. Never an error: OpenClaw files carry
    /// many keys clawtalk has no use for.
    pub fn finish(&self, cx: &mut Ctx<'_>, ignored: &[&str], ignored_msg: &str) {
        let used = self.used.borrow();
        let asked = self.asked.borrow();
        for (i, (key, _)) in self.entries.iter().enumerate() {
            let path = join_key(&self.path, key);
            let repeats = self.entries.iter().filter(|(k, _)| k == key).count();
            if repeats > 1 && self.entries.iter().position(|(k, _)| k == key) == Some(i) {
                cx.diags.warn(
                    &path,
                    format!("key appears {repeats} times; only the last one is used"),
                    Some("remove the duplicates".into()),
                );
            }
            if used[i] {
                continue;
            }
            if ignored.contains(&key.as_str()) {
                cx.diags.warn(&path, ignored_msg, None);
            } else {
                let hint = suggest(key, asked.iter().copied().chain(ignored.iter().copied()))
                    .map(|s| format!("did you mean `{s}`?"));
                cx.diags.warn(&path, "unknown key; ignored", hint);
            }
        }
    }
}

/// Reads values from an account object first, then from the channel-level object it inherits
/// from (OpenClaw's multi-account convention: "base keys inherit").
pub struct Layered<'a, 'v> {
    pub own: Option<&'a Obj<'v>>,
    pub base: Option<&'a Obj<'v>>,
}

impl<'v> Layered<'_, 'v> {
    pub fn get(&self, key: &'static str) -> Option<OwnedNode<'v>> {
        // Read the base even when the account overrides it, so the base key counts as used.
        let base = self.base.and_then(|b| b.get(key));
        self.own.and_then(|o| o.get(key)).or(base)
    }
}

/// The closest known key, if it is plausibly a typo (case change or edit distance ≤ 2).
fn suggest<'k>(key: &str, known: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    let lower = key.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for k in known {
        let d = if k.eq_ignore_ascii_case(key) {
            0
        } else {
            edit_distance(&lower, &k.to_ascii_lowercase())
        };
        if d <= 2 && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `~`-expands a path string read from the file.
pub fn path_value(node: &Node<'_, '_>, cx: &mut Ctx<'_>) -> Option<PathBuf> {
    let s = node.nonempty_string(cx)?;
    Some(cx.path_from(&s))
}

/// Whether a path is usable as a directory name for an id (workspace dirs are named after ids).
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::parse_json5;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn unknown_keys_warn_with_a_hint() {
        let v = parse_json5("{ dmPolicy: 'open', dmpolicy: 'x', zzz: 1, ackReaction: 'y' }").unwrap();
        let Value::Object(e) = &v else { panic!() };
        let mut cx = Ctx::new(&no_env, None);
        let obj = Obj::new(e, "channels.dingtalk".into());
        let _ = obj.get("dmPolicy");
        obj.finish(&mut cx, &["ackReaction"], IGNORED_KEY);
        let w: Vec<String> = cx.diags.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w[0].starts_with("channels.dingtalk.dmpolicy: unknown key"),
            "{w:?}"
        );
        assert!(w[0].contains("did you mean `dmPolicy`"), "{w:?}");
        assert!(w[1].starts_with("channels.dingtalk.zzz: unknown key"));
        assert!(!w[1].contains("did you mean"));
        assert!(w[2].contains(IGNORED_KEY));
    }

    #[test]
    fn wrong_types_are_errors_at_the_path() {
        let v = parse_json5("{ port: 'x', on: 1, p: 'maybe' }").unwrap();
        let Value::Object(e) = &v else { panic!() };
        let mut cx = Ctx::new(&no_env, None);
        let obj = Obj::new(e, "gateway".into());
        assert!(
            obj.get("port")
                .unwrap()
                .node()
                .int_in(&mut cx, 1, 65535)
                .is_none()
        );
        assert!(obj.get("on").unwrap().node().bool(&mut cx).is_none());
        assert!(
            obj.get("p")
                .unwrap()
                .node()
                .choice(&mut cx, &[("yes", 1), ("no", 0)])
                .is_none()
        );
        let paths: Vec<_> = cx.diags.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["gateway.port", "gateway.on", "gateway.p"]);
        assert!(cx.diags.errors[2].fix.as_deref().unwrap().contains("yes|no"));
    }

    #[test]
    fn secret_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.txt");
        std::fs::write(&file, "from-file\n").unwrap();
        let text = format!(
            "{{ a: '${{S}}', b: {{source: 'env', id: 'S'}}, c: {{source: 'file', id: {:?}}}, d: {{source: 'env', id: 'NOPE'}}, e: 5 }}",
            file.display().to_string()
        );
        let v = parse_json5(&text).unwrap();
        let Value::Object(e) = &v else { panic!() };
        let env = |n: &str| (n == "S").then(|| "hunter2".to_string());
        let mut cx = Ctx::new(&env, None);
        let obj = Obj::new(e, "x".into());
        let get = |k, cx: &mut Ctx<'_>| obj.get(k).and_then(|n| n.node().secret(cx));
        assert_eq!(get("a", &mut cx).unwrap().expose(), "hunter2");
        assert_eq!(get("b", &mut cx).unwrap().expose(), "hunter2");
        assert_eq!(get("c", &mut cx).unwrap().expose(), "from-file");
        assert!(get("d", &mut cx).is_none());
        assert!(get("e", &mut cx).is_none());
        let errs: Vec<String> = cx.diags.errors.iter().map(ToString::to_string).collect();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].starts_with("x.d.id: environment variable NOPE is not set"));
        assert!(errs[1].starts_with("x.e: expected a string or {source, id}"));
        assert!(!errs.concat().contains("hunter2"));
    }

    #[test]
    fn config_env_is_a_fallback() {
        let env = |n: &str| (n == "A").then(|| "process".to_string());
        let mut cx = Ctx::new(&env, None);
        cx.add_config_env("A".into(), "file".into());
        cx.add_config_env("B".into(), "file".into());
        assert_eq!(cx.var("A").as_deref(), Some("process"));
        assert_eq!(cx.var("B").as_deref(), Some("file"));
        assert_eq!(cx.var("C"), None);
    }
}
