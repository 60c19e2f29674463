//! A response's status line and header fields, and what they say about the body's framing
//! and the connection's reuse (RFC 9112 §6.3, §9.3).

use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// Most header fields a response may carry; providers send a dozen or two.
const MAX_HEADERS: usize = 128;

/// How the body's end is found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Framing {
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) framing: Framing,
    /// Whether the connection may carry another request after this body.
    pub(crate) keep_alive: bool,
}

/// Parses a head from the start of `buf`: `Ok(None)` when it is not complete yet, else the
/// head and its length in bytes.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Head, usize)>, String> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut fields);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(format!(
                "the model server's response head is not valid HTTP/1: {e}"
            ));
        }
    };
    let code = response.code.unwrap_or_default();
    let status = StatusCode::from_u16(code)
        .map_err(|_| format!("the model server answered with the invalid status {code}"))?;
    let mut headers = HeaderMap::with_capacity(response.headers.len());
    for field in response.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| format!("the model server sent an invalid header name {:?}", field.name))?;
        let value = HeaderValue::from_bytes(field.value)
            .map_err(|_| format!("the model server sent an invalid value for the header {name}"))?;
        headers.append(name, value);
    }
    let http10 = response.version == Some(0);
    let framing = framing(status, &headers)?;
    let keep_alive = framing != Framing::UntilClose && keeps_alive(&headers, http10);
    Ok(Some((
        Head {
            status,
            headers,
            framing,
            keep_alive,
        },
        len,
    )))
}

fn framing(status: StatusCode, headers: &HeaderMap) -> Result<Framing, String> {
    if status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Ok(Framing::Length(0));
    }
    if headers.contains_key(TRANSFER_ENCODING) {
        // Only a final `chunked` delimits the body; any other coding runs to the close.
        let last = headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|c| !c.is_empty());
        return Ok(match last {
            Some(c) if c.eq_ignore_ascii_case("chunked") => Framing::Chunked,
            _ => Framing::UntilClose,
        });
    }
    let mut length = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        for part in value.to_str().unwrap_or("x").split(',') {
            let n: u64 = part
                .trim()
                .parse()
                .map_err(|_| format!("the model server sent an invalid Content-Length {value:?}"))?;
            if length.is_some_and(|l| l != n) {
                return Err("the model server sent two different Content-Length values".to_owned());
            }
            length = Some(n);
        }
    }
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

fn keeps_alive(headers: &HeaderMap, http10: bool) -> bool {
    let has = |token: &str| {
        headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if http10 { has("keep-alive") } else { !has("close") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        let (head, len) = parse(text.as_bytes()).unwrap().unwrap();
        assert_eq!(len, text.len());
        head
    }

    #[test]
    fn a_partial_head_asks_for_more() {
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Ty").unwrap().is_none());
    }

    #[test]
    fn framing_follows_the_headers() {
        let h =
            head("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(h.framing, Framing::Chunked);
        assert!(h.keep_alive);
        assert_eq!(h.headers["content-type"], "text/event-stream");

        let h = head("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 12\r\nConnection: close\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(12));
        assert!(!h.keep_alive);

        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!(h.framing, Framing::UntilClose);
        assert!(!h.keep_alive, "a body read to the close ends the connection");

        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(h.keep_alive);

        let h = head("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(0));
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(7));
    }

    #[test]
    fn bad_heads_are_errors_that_say_what_was_wrong() {
        let err = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").unwrap_err();
        assert!(err.contains("two different Content-Length"), "{err}");
        let err = parse(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").unwrap_err();
        assert!(err.contains("invalid Content-Length"), "{err}");
        let err = parse(b"SSH-2.0-OpenSSH\r\n\r\n").unwrap_err();
        assert!(err.contains("not valid HTTP/1"), "{err}");
    }
}
