//! Masking of credentials in text shown to people: URLs (user-info passwords and
//! secret-looking query parameters), JSON (secret-looking keys) and free text that quotes URLs.
//!
//! One policy for every view: the web UI (`/config`, transcripts, WebChat errors, `/cron`),
//! error messages and log lines, so a secret hidden in one place is hidden in all of them.

use std::borrow::Cow;

use serde_json::Value;

/// What a masked value is replaced by.
pub const MASK: &str = "***";

/// Whether a JSON key or URL query parameter name looks like it holds a credential:
/// `access_token`, `sessionWebhook`'s `session`, `clientSecret`, `apiKey`, `sign`,
/// `msg_signature`, `password`, `ticket`, … Words that merely contain such a word
/// (`keywords`, `maxTokens`) are not credentials.
#[must_use]
pub fn is_secret_name(name: &str) -> bool {
    const ENDINGS: [&str; 13] = [
        "token",
        "key",
        "sign",
        "signature",
        "ticket",
        "session",
        "auth",
        "authorization",
        "credential",
        "credentials",
        "pwd",
        "passwd",
        "cookie",
    ];
    let lower: String = name
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    lower.contains("secret") || lower.contains("password") || ENDINGS.iter().any(|end| lower.ends_with(end))
}

/// `scheme://user:pass@host/path?access_token=t&x=1` →
/// `scheme://user:***@host/path?access_token=***&x=1`. Text that is not an absolute URL
/// comes back unchanged.
#[must_use]
pub fn mask_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let (scheme, rest) = url.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push(':');
                    out.push_str(MASK);
                }
                None => out.push_str(userinfo),
            }
            out.push('@');
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    let (before_fragment, fragment) = match tail.find('#') {
        Some(at) => tail.split_at(at),
        None => (tail, ""),
    };
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            out.push_str(&mask_query(query));
        }
        None => out.push_str(before_fragment),
    }
    out.push_str(fragment);
    out
}

/// `a=1&token=t` → `a=1&token=***`; names are compared percent-decoded.
fn mask_query(query: &str) -> String {
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() && is_secret_name(&decoded(name)) => {
                // A URL quoted in text may be followed by punctuation that is not the value's.
                let end = value.find([')', ']', ',', ';']).unwrap_or(value.len());
                format!("{name}={MASK}{}", &value[end..])
            }
            _ => pair.to_owned(),
        })
        .collect();
    parts.join("&")
}

fn decoded(name: &str) -> String {
    url::form_urlencoded::parse(name.as_bytes())
        .next()
        .map_or_else(|| name.to_owned(), |(k, _)| k.into_owned())
}

/// Every URL quoted in `text` passed through [`mask_url`], and every custom robot signing
/// secret (`SEC` and 64 hex digits, as DingTalk's robot security settings show it, e.g.
/// open.dingtalk.com "自定义机器人安全设置") shortened to `SEC***`; the rest unchanged. A URL
/// ends at white space, a quote, `<`, `>`, `\` or a backtick (how URLs are quoted in
/// messages, JSON and HTML).
#[must_use]
pub fn mask_text(text: &str) -> Cow<'_, str> {
    let urls = mask_urls(text);
    match mask_signing_secrets(&urls) {
        Cow::Borrowed(_) => urls,
        Cow::Owned(masked) => Cow::Owned(masked),
    }
}

/// Shortest run of hex digits after `SEC` taken for a signing secret.
const MIN_SECRET_HEX: usize = 32;

fn mask_signing_secrets(text: &str) -> Cow<'_, str> {
    let is_secret_at = |at: usize| {
        let starts_word = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        let hex = text[at + 3..].bytes().take_while(u8::is_ascii_hexdigit).count();
        starts_word && hex >= MIN_SECRET_HEX
    };
    if !text.match_indices("SEC").any(|(at, _)| is_secret_at(at)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in text.match_indices("SEC") {
        if at < copied || !is_secret_at(at) {
            continue;
        }
        let end = at + 3 + text[at + 3..].bytes().take_while(u8::is_ascii_hexdigit).count();
        out.push_str(&text[copied..at]);
        out.push_str("SEC");
        out.push_str(MASK);
        copied = end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

fn mask_urls(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let scheme_start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '\\' | '`'))
            .map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..scheme_start]);
        out.push_str(&mask_url(&rest[scheme_start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// A JSON value with every secret-looking key's value replaced by [`MASK`] and every string
/// passed through [`mask_text`] (a webhook URL under any key loses its `access_token`).
#[must_use]
pub fn mask_json(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let masked = match value {
                        Value::String(s) if !s.is_empty() && is_secret_name(key) => {
                            Value::String(MASK.to_owned())
                        }
                        Value::Number(_) if is_secret_name(key) => Value::String(MASK.to_owned()),
                        other => mask_json(other),
                    };
                    (key.clone(), masked)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask_json).collect()),
        Value::String(s) => Value::String(mask_text(s).into_owned()),
        other => other.clone(),
    }
}

/// Tool-call arguments as stored (a JSON text from the model), masked for display; text that
/// is not JSON is masked as free text.
#[must_use]
pub fn mask_arguments(arguments: &str) -> String {
    match serde_json::from_str::<Value>(arguments) {
        Ok(value) => mask_json(&value).to_string(),
        Err(_) => mask_text(arguments).into_owned(),
    }
}

/// `scheme://host/path` of a URL whose query may carry a token or signature.
pub fn redact_url(url: &url::Url) -> String {
    let query = if url.query().is_some() { "?…" } else { "" };
    format!(
        "{}://{}{}{query}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.path()
    )
}

/// A custom robot webhook for people: the URL without its `access_token`, and whether it signs.
#[must_use]
pub fn describe_custom_robot(url: &str, signed: bool) -> String {
    let shown = url::Url::parse(url).map_or_else(|_| "(unreadable URL)".to_owned(), |u| redact_url(&u));
    let signed = if signed { ", signed" } else { "" };
    format!("custom robot {shown}{signed}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_names() {
        for name in [
            "access_token",
            "accessToken",
            "secret",
            "clientSecret",
            "apiKey",
            "api-key",
            "aesKey",
            "sign",
            "msg_signature",
            "password",
            "session",
            "ticket",
            "Authorization",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "keywords",
            "maxTokens",
            "timestamp",
            "name",
            "webhook",
            "schedule",
            "robotCode",
            "url",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn urls_lose_passwords_and_secret_parameters() {
        assert_eq!(
            mask_url("https://bob:hunter2@llm.example/v1?key=abc&model=x#frag"),
            "https://bob:***@llm.example/v1?key=***&model=x#frag"
        );
        assert_eq!(
            mask_url("https://oapi.dingtalk.com/robot/send?access_token=t0k&timestamp=1&sign=s%2B1"),
            "https://oapi.dingtalk.com/robot/send?access_token=***&timestamp=1&sign=***"
        );
        assert_eq!(
            mask_url("http://127.0.0.1:9/robot/sendBySession?session=s3cr3t"),
            "http://127.0.0.1:9/robot/sendBySession?session=***"
        );
        assert_eq!(mask_url("postgres://u@db/x"), "postgres://u@db/x");
        assert_eq!(mask_url("not a url"), "not a url");
        // A name spelled with percent escapes is still recognised.
        assert_eq!(
            mask_url("http://h/?access%5Ftoken=t"),
            "http://h/?access%5Ftoken=***"
        );
    }

    #[test]
    fn urls_quoted_in_text_are_masked() {
        let text =
            "error sending request for url (http://u:pw@h:1/v1/chat?api_key=k9), see \"wss://w/c?ticket=tk\"";
        assert_eq!(
            mask_text(text),
            "error sending request for url (http://u:***@h:1/v1/chat?api_key=***), see \"wss://w/c?ticket=***\""
        );
        assert!(matches!(mask_text("no links here"), Cow::Borrowed(_)));
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(
            mask_text(&format!("secret: SEC{hex}, again (SEC{hex})")),
            "secret: SEC***, again (SEC***)"
        );
        // Words that merely start with SEC, or short hex, stay.
        let not_secrets = format!("SECTION SECabc1 XSEC{hex}");
        assert_eq!(mask_text(&not_secrets), not_secrets);
    }

    #[test]
    fn json_keys_and_embedded_urls_are_masked() {
        let args = json!({
            "name": "daily",
            "target": {
                "webhook": "https://oapi.dingtalk.com/robot/send?access_token=tok123",
                "secret": "SECabc",
                "keywords": ["report"],
            },
            "headers": [{ "Authorization": "Bearer x" }],
            "pin": { "password": 1234 },
        });
        let masked = mask_json(&args);
        assert_eq!(
            masked,
            json!({
                "name": "daily",
                "target": {
                    "webhook": "https://oapi.dingtalk.com/robot/send?access_token=***",
                    "secret": "***",
                    "keywords": ["report"],
                },
                "headers": [{ "Authorization": "***" }],
                "pin": { "password": "***" },
            })
        );
        assert_eq!(mask_arguments("{\"token\":\"t\"}"), "{\"token\":\"***\"}");
        assert_eq!(
            mask_arguments("not json http://h/?sign=x"),
            "not json http://h/?sign=***"
        );
    }
}
