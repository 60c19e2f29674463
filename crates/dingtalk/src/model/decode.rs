//! The error type for decoding inbound payloads, and a small reader over JSON objects.
//!
//! Inbound payloads are decoded by hand from a [`serde_json::Value`] rather than with
//! `#[derive(Deserialize)]` because DingTalk's payloads are loose (numbers sent as strings,
//! empty strings meaning "absent", fields that appear only sometimes) and because every
//! error must name the field that was wrong, which serde's derived errors do not.
//!
//! The rule applied everywhere: a field that is absent or `null` is treated as absent; a
//! field that is present with the wrong JSON type is an error naming that field.

use serde_json::{Map, Value};

use super::frame::json_kind;

/// Why an inbound payload (bot message, card callback, event) could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The text is not JSON at all (syntax error, truncation, nesting deeper than serde_json allows).
    #[error("{what} is not valid JSON: {source}")]
    Json {
        /// Which payload.
        what: &'static str,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON is valid but is not an object where one is required.
    #[error("{what} must be a JSON object, found {found}")]
    NotAnObject {
        /// Which payload or field.
        what: String,
        /// The JSON kind that was found instead.
        found: &'static str,
    },
    /// A field the payload cannot be used without is absent, `null` or empty.
    #[error("{what} lacks required field `{field}`")]
    MissingField {
        /// Which payload.
        what: &'static str,
        /// Path of the missing field, e.g. `msgId`.
        field: String,
    },
    /// A field is present with the wrong JSON type or an unusable value.
    #[error("{what}: field `{field}` must be {expected}, found {found}")]
    InvalidField {
        /// Which payload.
        what: &'static str,
        /// Path of the field, e.g. `atUsers[1].staffId`.
        field: String,
        /// What the field must be.
        expected: &'static str,
        /// What was found (a JSON kind or a short value).
        found: String,
    },
    /// A field that carries JSON *text* (e.g. a card callback's `content`) holds text that does not parse.
    #[error("{what}: field `{field}` must hold JSON text, but it does not parse: {source}")]
    EmbeddedJson {
        /// Which payload.
        what: &'static str,
        /// Path of the field.
        field: String,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
}

/// Parses text as JSON, naming the payload on failure.
pub(crate) fn parse_json(what: &'static str, text: &str) -> Result<Value, ModelError> {
    serde_json::from_str(text).map_err(|source| ModelError::Json { what, source })
}

/// Describes a value for an error message: its kind, plus a short excerpt for scalars.
fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let excerpt: String = s.chars().take(40).collect();
            format!("the string {excerpt:?}")
        }
        Value::Number(n) => format!("the number {n}"),
        Value::Bool(b) => format!("the boolean {b}"),
        other => json_kind(other).to_owned(),
    }
}

/// Read access to one JSON object with field-path-aware errors.
#[derive(Clone)]
pub(crate) struct Obj<'a> {
    what: &'static str,
    /// Path of this object inside the payload, e.g. `content.` or `atUsers[2].`; empty at the top.
    prefix: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// Views a top-level payload as an object.
    pub(crate) fn root(what: &'static str, value: &'a Value) -> Result<Self, ModelError> {
        match value {
            Value::Object(map) => Ok(Self {
                what,
                prefix: String::new(),
                map,
            }),
            other => Err(ModelError::NotAnObject {
                what: what.to_owned(),
                found: json_kind(other),
            }),
        }
    }

    /// Views a nested value (e.g. an array item) as an object; `path` names it in errors,
    /// e.g. `atUsers[1]`.
    pub(crate) fn nested(what: &'static str, path: String, value: &'a Value) -> Result<Self, ModelError> {
        match value {
            Value::Object(map) => Ok(Self {
                what,
                prefix: format!("{path}."),
                map,
            }),
            other => Err(ModelError::NotAnObject {
                what: format!("{what}: `{path}`"),
                found: json_kind(other),
            }),
        }
    }

    /// The field's full path for errors.
    pub(crate) fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The raw value, `None` when absent or `null`.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn invalid(&self, key: &str, expected: &'static str, found: &Value) -> ModelError {
        ModelError::InvalidField {
            what: self.what,
            field: self.path(key),
            expected,
            found: describe(found),
        }
    }

    /// A string field.
    pub(crate) fn str(&self, key: &str) -> Result<Option<&'a str>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(self.invalid(key, "a string", other)),
        }
    }

    /// An owned string field.
    pub(crate) fn string(&self, key: &str) -> Result<Option<String>, ModelError> {
        Ok(self.str(key)?.map(str::to_owned))
    }

    /// A string field where DingTalk sends `""` to mean "unknown" (e.g. `senderStaffId` of externals).
    pub(crate) fn non_empty(&self, key: &str) -> Result<Option<&'a str>, ModelError> {
        Ok(self.str(key)?.filter(|s| !s.is_empty()))
    }

    /// A typed id; `""` counts as absent.
    pub(crate) fn id<T>(&self, key: &str, make: impl FnOnce(&'a str) -> T) -> Result<Option<T>, ModelError> {
        Ok(self.non_empty(key)?.map(make))
    }

    /// A required, non-empty string field.
    pub(crate) fn required(&self, key: &str) -> Result<&'a str, ModelError> {
        self.non_empty(key)?.ok_or_else(|| ModelError::MissingField {
            what: self.what,
            field: self.path(key),
        })
    }

    /// A field sent sometimes as a string and sometimes as a number (ids like `taskId`,
    /// `fileId`), normalised to a string; `""` counts as absent.
    pub(crate) fn stringish(&self, key: &str) -> Result<Option<String>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(self.invalid(key, "a string or a number", other)),
        }
    }

    /// A boolean field. Also accepts `"true"`/`"false"` strings, which loosely typed senders produce.
    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(other) => Err(self.invalid(key, "a boolean", other)),
        }
    }

    /// An integer sent as a JSON number or as a decimal string (DingTalk does both for
    /// timestamps and durations); `""` counts as absent.
    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, ModelError> {
        const EXPECTED: &str = "an integer (a number or a decimal string)";
        match self.get(key) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                })
                .map(Some)
                .ok_or_else(|| self.invalid(key, EXPECTED, v)),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(v @ Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| self.invalid(key, EXPECTED, v)),
            Some(other) => Err(self.invalid(key, EXPECTED, other)),
        }
    }

    /// A non-negative integer (durations).
    pub(crate) fn uint(&self, key: &str) -> Result<Option<u64>, ModelError> {
        match self.int(key)? {
            None => Ok(None),
            Some(i) => u64::try_from(i).map(Some).map_err(|_| ModelError::InvalidField {
                what: self.what,
                field: self.path(key),
                expected: "a non-negative integer",
                found: format!("the number {i}"),
            }),
        }
    }

    /// An array field.
    pub(crate) fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.invalid(key, "an array", other)),
        }
    }

    /// An object field as a map (for fields kept as free-form JSON, e.g. card `params`).
    pub(crate) fn map(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(self.invalid(key, "an object", other)),
        }
    }

    /// An object field.
    pub(crate) fn object(&self, key: &str) -> Result<Option<Obj<'a>>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                what: self.what,
                prefix: format!("{}.", self.path(key)),
                map,
            })),
            Some(other) => Err(self.invalid(key, "an object", other)),
        }
    }

    /// A field that carries JSON either as text (the documented form) or inline, decoded to a
    /// value. `""` counts as absent.
    pub(crate) fn embedded_json(&self, key: &str) -> Result<Option<Value>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => {
                serde_json::from_str(s)
                    .map(Some)
                    .map_err(|source| ModelError::EmbeddedJson {
                        what: self.what,
                        field: self.path(key),
                        source,
                    })
            }
            Some(inline @ (Value::Object(_) | Value::Array(_))) => Ok(Some(inline.clone())),
            Some(other) => Err(self.invalid(key, "JSON text or an object", other)),
        }
    }
}

/// Lenient accessors for fields that only third parties report (quote replies, hosting
/// context): a shape we do not recognise yields `None` instead of rejecting the message.
pub(crate) mod loose {
    use serde_json::Value;

    /// The string at `key`, if it is one.
    pub(crate) fn str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
        v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    /// The string or number at `key`, as a string.
    pub(crate) fn stringish(v: &Value, key: &str) -> Option<String> {
        match v.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The integer (number or decimal string) at `key`.
    pub(crate) fn int(v: &Value, key: &str) -> Option<i64> {
        match v.get(key)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn int_accepts_numbers_and_decimal_strings_only() {
        let v = json!({"a": 5, "b": "12", "c": " 7 ", "d": "", "e": {}, "f": "x1", "g": 3.0, "h": 3.5});
        let o = Obj::root("t", &v).unwrap();
        assert_eq!(o.int("a").unwrap(), Some(5));
        assert_eq!(o.int("b").unwrap(), Some(12));
        assert_eq!(o.int("c").unwrap(), Some(7));
        assert_eq!(o.int("d").unwrap(), None);
        assert_eq!(o.int("missing").unwrap(), None);
        assert_eq!(o.int("g").unwrap(), Some(3));
        for bad in ["e", "f", "h"] {
            let err = o.int(bad).unwrap_err();
            assert!(
                matches!(&err, ModelError::InvalidField { field, .. } if field == bad),
                "{err}"
            );
        }
    }

    #[test]
    fn errors_name_the_nested_path() {
        let v = json!({"content": {"downloadCode": 5}});
        let o = Obj::root("bot message", &v).unwrap();
        let c = o.object("content").unwrap().unwrap();
        let err = c.str("downloadCode").unwrap_err();
        assert_eq!(
            err.to_string(),
            "bot message: field `content.downloadCode` must be a string, found the number 5"
        );
    }
}
