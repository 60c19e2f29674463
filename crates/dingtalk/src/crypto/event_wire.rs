//! The HTTP shapes of an event push: its query, its body and the encrypted reply.

use serde::{Deserialize, Serialize};

use super::CryptoError;

/// The signing parameters from an event push's query string.
///
/// DingTalk documents `msg_signature`/`timestamp`; older integrations send `signature`/`timeStamp`.
/// Both spellings are accepted; when both are present the documented one wins, and a repeated
/// name keeps its first value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// `msg_signature` (or `signature`): lower-case hex SHA1.
    pub signature: String,
    /// `timestamp` (or `timeStamp`): an opaque string (seconds or milliseconds).
    pub timestamp: String,
    /// `nonce`.
    pub nonce: String,
}

impl EventQuery {
    /// Picks the three parameters out of already percent-decoded query pairs.
    ///
    /// # Errors
    /// [`CryptoError::MissingQueryParam`] when `msg_signature` (or `signature`), `timestamp` (or
    /// `timeStamp`) or `nonce` is absent.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, CryptoError> {
        let mut found = Found::default();
        for (key, value) in pairs {
            let slot = match key.as_str() {
                "msg_signature" => &mut found.signature,
                "signature" => &mut found.signature_legacy,
                "timestamp" => &mut found.timestamp,
                "timeStamp" => &mut found.timestamp_legacy,
                "nonce" => &mut found.nonce,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        let require = |value: Option<String>, name| value.ok_or(CryptoError::MissingQueryParam { name });
        Ok(Self {
            signature: require(found.signature.or(found.signature_legacy), "msg_signature")?,
            timestamp: require(found.timestamp.or(found.timestamp_legacy), "timestamp")?,
            nonce: require(found.nonce, "nonce")?,
        })
    }

    /// Parses a raw query string (the part after `?`), percent-decoding it.
    ///
    /// # Errors
    /// As [`EventQuery::from_pairs`].
    pub fn from_query(query: &str) -> Result<Self, CryptoError> {
        Self::from_pairs(
            url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())),
        )
    }
}

/// First occurrence of each accepted spelling.
#[derive(Default)]
struct Found {
    signature: Option<String>,
    signature_legacy: Option<String>,
    timestamp: Option<String>,
    timestamp_legacy: Option<String>,
    nonce: Option<String>,
}

/// The JSON body of an event push: `{"encrypt":"<base64>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedBody {
    /// Base64 ciphertext.
    pub encrypt: String,
}

/// The reply DingTalk requires to an event push (and the shape of any sealed message).
///
/// Serialises exactly as `{"msg_signature":…,"timeStamp":…,"nonce":…,"encrypt":…}`; note the
/// camel-case `timeStamp`, which the console checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedReply {
    /// Lower-case hex SHA1 over token, `timeStamp`, `nonce` and `encrypt`.
    pub msg_signature: String,
    /// The replier's current time, as sent.
    #[serde(rename = "timeStamp")]
    pub timestamp: String,
    /// Any random string.
    pub nonce: String,
    /// Base64 ciphertext.
    pub encrypt: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn accepts_documented_spelling() {
        let query = EventQuery::from_pairs(pairs(&[
            ("msg_signature", "abc"),
            ("timestamp", "1"),
            ("nonce", "n"),
            ("other", "x"),
        ]))
        .expect("query");
        assert_eq!(
            query,
            EventQuery {
                signature: "abc".into(),
                timestamp: "1".into(),
                nonce: "n".into()
            }
        );
    }

    #[test]
    fn accepts_legacy_spelling() {
        let query = EventQuery::from_query("signature=abc&timeStamp=1614767836&nonce=A7Co").expect("query");
        assert_eq!(query.signature, "abc");
        assert_eq!(query.timestamp, "1614767836");
        assert_eq!(query.nonce, "A7Co");
    }

    #[test]
    fn documented_spelling_wins_over_legacy() {
        let query = EventQuery::from_pairs(pairs(&[
            ("signature", "old"),
            ("timeStamp", "2"),
            ("msg_signature", "new"),
            ("timestamp", "1"),
            ("nonce", "n"),
        ]))
        .expect("query");
        assert_eq!((query.signature.as_str(), query.timestamp.as_str()), ("new", "1"));
    }

    #[test]
    fn repeated_parameter_keeps_first_value() {
        let query = EventQuery::from_query("msg_signature=first&msg_signature=second&timestamp=1&nonce=n")
            .expect("query");
        assert_eq!(query.signature, "first");
    }

    #[test]
    fn names_the_missing_parameter() {
        let cases = [
            ("timestamp=1&nonce=n", "msg_signature"),
            ("msg_signature=s&nonce=n", "timestamp"),
            ("signature=s&timeStamp=1", "nonce"),
        ];
        for (query, name) in cases {
            assert_eq!(
                EventQuery::from_query(query),
                Err(CryptoError::MissingQueryParam { name }),
                "{query}"
            );
        }
    }

    #[test]
    fn reply_serialises_with_exact_field_names_and_order() {
        let reply = EncryptedReply {
            msg_signature: "sig".into(),
            timestamp: "1608001896900".into(),
            nonce: "nonce123".into(),
            encrypt: "b64".into(),
        };
        assert_eq!(
            serde_json::to_string(&reply).expect("serialise"),
            r#"{"msg_signature":"sig","timeStamp":"1608001896900","nonce":"nonce123","encrypt":"b64"}"#
        );
        let body: EncryptedBody = serde_json::from_str(r#"{"encrypt":"b64"}"#).expect("body");
        assert_eq!(body.encrypt, "b64");
    }
}
