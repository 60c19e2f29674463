//! A JSON5 document tree that keeps object keys in file order.
//!
//! `serde_json::Value` sorts keys unless the workspace-wide `preserve_order` feature is on, and
//! "the first agent is the default" needs file order, so the config has its own small tree.
//! Duplicate keys are kept (not collapsed) so the reader can report them.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// One parsed JSON5 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    /// Keys in file order; duplicates kept.
    Object(Vec<(String, Value)>),
}

/// A JSON number without precision loss for large integer ids.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    UInt(u64),
    Float(f64),
}

impl Number {
    /// The value as a non-negative integer, when it is one.
    pub fn as_u64(self) -> Option<u64> {
        match self {
            Number::Int(i) => u64::try_from(i).ok(),
            Number::UInt(u) => Some(u),
            // Only whole floats within range count; `1.5` is not a port.
            Number::Float(f) if f.fract() == 0.0 && (0.0..1.8e19).contains(&f) => Some(f as u64),
            Number::Float(_) => None,
        }
    }

    /// The value as a signed integer, when it is one.
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(i),
            Number::UInt(u) => i64::try_from(u).ok(),
            Number::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Some(f as i64),
            Number::Float(_) => None,
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::UInt(u) => write!(f, "{u}"),
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

impl Value {
    /// A short name of the JSON type, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

/// Deepest nesting of arrays and objects read. The JSON5 parser recurses once per level and
/// has no limit of its own, so `[[[[…` a few ten thousand deep would overflow the stack and
/// abort the process instead of being reported; real configs are under ten levels deep.
/// (128, like serde_json's and serde_yaml's limits.)
pub const MAX_DEPTH: usize = 128;

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor { depth: 0 })
    }
}

/// Reads one value `depth` levels down.
#[derive(Clone, Copy)]
struct Nested {
    depth: usize,
}

impl<'de> de::DeserializeSeed<'de> for Nested {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor { depth: self.depth })
    }
}

struct ValueVisitor {
    depth: usize,
}

impl ValueVisitor {
    /// The reader for this container's children, unless they would be too deep.
    fn children<E: de::Error>(&self) -> Result<Nested, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format!(
                "arrays and objects nested more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(Nested {
            depth: self.depth + 1,
        })
    }
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON5 value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(Number::Int(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(Number::UInt(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Number(Number::Float(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.children()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(child)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let child = self.children()?;
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            entries.push((key, map.next_value_seed(child)?));
        }
        Ok(Value::Object(entries))
    }
}

/// Parses JSON5 text (comments, trailing commas, unquoted keys, single quotes).
pub fn parse_json5(text: &str) -> Result<Value, String> {
    json5::from_str::<Value>(text).map_err(|e| e.to_string())
}

/// Appends an object key to a key path: `a.b`, or `a["odd key"]` when the key is not a plain word.
pub fn join_key(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '*');
    match (path.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

/// Appends an array index to a key path: `a[3]`.
pub fn join_index(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found in the security review (the JSON5 parser has no depth limit): `clawtalk config
    /// validate` on 100,000 `[` aborted with a stack overflow instead of reporting an error.
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{{ a: {} }}", "[".repeat(100_000));
        let error = parse_json5(&deep).unwrap_err();
        assert!(error.contains("nested more than 128 levels"), "{error}");
        let objects = "{a:".repeat(10_000);
        assert!(parse_json5(&objects).unwrap_err().contains("nested more than"));
        // The limit itself is fine; one more level is not.
        let nested = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        assert!(parse_json5(&nested(MAX_DEPTH)).is_ok());
        assert!(parse_json5(&nested(MAX_DEPTH + 1)).is_err());
        assert!(super::super::seed_yaml::parse_yaml(&nested(MAX_DEPTH + 1)).is_err());
    }

    #[test]
    fn keeps_key_order_comments_and_trailing_commas() {
        let v = parse_json5("{ // c\n z: 1, a: 'x', m: [1, 2,], }").unwrap();
        let Value::Object(entries) = v else { panic!() };
        let keys: Vec<_> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn large_integers_survive() {
        let v = parse_json5("{ id: 9007199254740993 }").unwrap();
        let Value::Object(entries) = v else { panic!() };
        assert_eq!(entries[0].1, Value::Number(Number::UInt(9_007_199_254_740_993)));
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = parse_json5("{ a: 1\n b: 2 }").unwrap_err();
        assert!(err.contains("line"), "{err}");
    }

    #[test]
    fn paths() {
        assert_eq!(join_key("", "agents"), "agents");
        assert_eq!(
            join_key("channels", "dingtalk-connector"),
            "channels.dingtalk-connector"
        );
        assert_eq!(join_key("a", "x.y"), "a[\"x.y\"]");
        assert_eq!(join_index("agents.list", 2), "agents.list[2]");
    }
}
