//! Editing and writing the document tree: used by `config import` and the onboarding wizard,
//! which change a few keys and must keep everything else (key order, `${VAR}` references,
//! keys clawtalk does not know) exactly as the user wrote it.

use std::io::Write;
use std::path::Path;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::value::{Number, Value};

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(Number::Int(i)) => s.serialize_i64(*i),
            Value::Number(Number::UInt(u)) => s.serialize_u64(*u),
            Value::Number(Number::Float(f)) => s.serialize_f64(*f),
            Value::String(v) => s.serialize_str(v),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        Value::String(s.into())
    }

    /// An object from `(key, value)` pairs, in that order.
    pub fn object<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Self {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The value at `key` (the last one if repeated), when this is an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value at a path of object keys.
    pub fn at(&self, path: &[&str]) -> Option<&Value> {
        path.iter().try_fold(self, |v, key| v.get(key))
    }

    /// Mutable value at `key`, when this is an object.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        match self {
            Value::Object(entries) => entries.iter_mut().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets `key` (replacing the last occurrence in place, so key order is kept), turning a
    /// non-object into an empty object first.
    pub fn set(&mut self, key: &str, value: Value) {
        let entries = self.as_object_mut();
        match entries.iter_mut().rev().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => entries.push((key.to_owned(), value)),
        }
    }

    /// Removes every occurrence of `key` and returns the last one.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let Value::Object(entries) = self else {
            return None;
        };
        let mut removed = None;
        entries.retain_mut(|(k, v)| {
            if k == key {
                removed = Some(std::mem::replace(v, Value::Null));
                false
            } else {
                true
            }
        });
        removed
    }

    /// The object at a path of keys, created (and non-objects replaced) along the way.
    pub fn object_at(&mut self, path: &[&str]) -> &mut Value {
        let mut node = self;
        for key in path {
            if !matches!(node.get(key), Some(Value::Object(_))) {
                node.set(key, Value::Object(Vec::new()));
            }
            node = node.get_mut(key).expect("the key was just set");
        }
        node
    }

    fn as_object_mut(&mut self) -> &mut Vec<(String, Value)> {
        if !matches!(self, Value::Object(_)) {
            *self = Value::Object(Vec::new());
        }
        match self {
            Value::Object(entries) => entries,
            _ => unreachable!("made an object above"),
        }
    }

    /// Names of the `${VAR}` references in every string of the document.
    pub fn referenced_vars(&self) -> Vec<String> {
        let names = std::cell::RefCell::new(Vec::<String>::new());
        self.visit_strings(&mut |s| {
            let record = |name: &str| {
                let mut names = names.borrow_mut();
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
                Some(String::from("x"))
            };
            let _ = super::secrets::expand_vars(s, &record);
        });
        names.into_inner()
    }

    fn visit_strings(&self, f: &mut dyn FnMut(&str)) {
        match self {
            Value::String(s) => f(s),
            Value::Array(items) => items.iter().for_each(|v| v.visit_strings(f)),
            Value::Object(entries) => entries.iter().for_each(|(_, v)| v.visit_strings(f)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Pretty JSON (which is valid JSON5), keys in document order.
    pub fn to_pretty_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_owned());
        text.push('\n');
        text
    }
}

/// Writes `text` to `path` readable by the owner only (0600 on Unix), atomically: a temp file
/// in the same directory is renamed over the old one, so a crash never leaves half a config.
/// Missing parent directories are created (0700 on Unix).
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
    }
    let name = path
        .file_name()
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::parse_json5;

    #[test]
    fn edits_keep_order_references_and_unknown_keys() {
        let mut doc = parse_json5(
            "{ z: 1, // note\n channels: { dingtalk: { clientSecret: '${S}', x: true } }, a: [1] }",
        )
        .unwrap();
        doc.object_at(&["channels", "dingtalk"])
            .set("dmPolicy", Value::str("open"));
        doc.object_at(&["agents", "defaults"])
            .set("model", Value::str("p/m"));
        let text = doc.to_pretty_json();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["channels"]["dingtalk"]["clientSecret"], "${S}");
        assert_eq!(back["channels"]["dingtalk"]["x"], true);
        assert_eq!(back["agents"]["defaults"]["model"], "p/m");
        let order: Vec<usize> = ["\"z\"", "\"channels\"", "\"a\"", "\"agents\""]
            .iter()
            .map(|k| text.find(k).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn remove_and_replace() {
        let mut doc = parse_json5("{ a: 1, b: 2, a: 3 }").unwrap();
        assert!(matches!(doc.remove("a"), Some(Value::Number(n)) if n.as_i64() == Some(3)));
        doc.set("b", Value::Bool(true));
        assert_eq!(doc, Value::object([("b", Value::Bool(true))]));
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/clawtalk.json");
        write_private(&path, "{}\n").unwrap();
        write_private(&path, "{ a: 1 }\n").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ a: 1 }\n");
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1);
    }
}
