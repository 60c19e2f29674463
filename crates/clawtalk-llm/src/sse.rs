//! An incremental Server-Sent Events parser.
//!
//! Hand-written (about a hundred lines) instead of a dependency because we need two things a
//! generic parser hides: byte chunks may split anywhere (inside a UTF-8 character, between the
//! `\r` and `\n` of a CRLF), and at end of body we must know whether an unterminated event was
//! left over, which is how a truncated stream shows itself.
//!
//! Follows the WHATWG event-stream rules: lines end in CRLF, LF or CR; `:` starts a comment;
//! `data:` lines accumulate joined by `\n`; a blank line dispatches; a single space after the
//! colon is dropped; a leading BOM is skipped.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, when present (`None` means the default `message`).
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
    /// The `id:` field, when present.
    pub id: Option<String>,
}

/// Parser state carried between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` at the start of the next one belongs to it.
    after_cr: bool,
    /// Whether the BOM check at the very start has been done.
    started: bool,
    data: String,
    has_data: bool,
    event: Option<String>,
    id: Option<String>,
}

impl SseParser {
    /// A parser at the start of a stream.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes; complete events are appended to `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) {
        if !self.started {
            // Wait until we can tell whether the stream starts with a BOM.
            let mut probe = std::mem::take(&mut self.line);
            probe.extend_from_slice(bytes);
            if probe.len() < 3 && b"\xEF\xBB\xBF".starts_with(&probe) {
                self.line = probe;
                return;
            }
            self.started = true;
            let start = if probe.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
            let probe = probe[start..].to_vec();
            self.push(&probe, out);
            return;
        }
        // An empty chunk says nothing about whether the `\r` was half of a CRLF.
        if self.after_cr && !bytes.is_empty() {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&bytes[..pos]);
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
            let was_cr = bytes[pos] == b'\r';
            bytes = &bytes[pos + 1..];
            if was_cr {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(bytes);
    }

    /// Ends the stream. Returns the event that was still being built (an unterminated last
    /// line, or data lines without the closing blank line), so the caller can decide whether
    /// the body was cut short or the server merely omitted the final newline.
    #[must_use]
    pub fn finish(mut self) -> Option<SseEvent> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            let mut sink = Vec::new();
            self.process_line(&line, &mut sink);
            debug_assert!(sink.is_empty(), "a non-empty line never dispatches");
        }
        self.has_data.then(|| self.take_event())
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if self.has_data {
                out.push(self.take_event());
            } else {
                // A blank line with no data resets the event type (spec).
                self.event = None;
            }
            return;
        }
        if line[0] == b':' {
            return; // comment, e.g. `: keep-alive` sent by DeepSeek while queued
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            _ => {} // `retry` and unknown fields: nothing for us to do
        }
    }

    fn take_event(&mut self) -> SseEvent {
        self.has_data = false;
        SseEvent {
            event: self.event.take(),
            data: std::mem::take(&mut self.data),
            id: self.id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_in(chunks: &[&[u8]]) -> (Vec<SseEvent>, Option<SseEvent>) {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c, &mut out);
        }
        (out, p.finish())
    }

    fn data(d: &str) -> SseEvent {
        SseEvent {
            data: d.into(),
            ..SseEvent::default()
        }
    }

    const SAMPLE: &str = "\u{feff}: keep-alive\r\n\r\ndata: {\"a\":1}\r\n\r\nevent: error\ndata: line1\ndata:line2\n\ndata: 你好\r\rid: 7\ndata\n\ndata: [DONE]\n\n";

    #[test]
    fn parses_comments_multiline_crlf_cr_bom_and_done() {
        let (events, rest) = parse_in(&[SAMPLE.as_bytes()]);
        assert_eq!(rest, None);
        assert_eq!(
            events,
            vec![
                data("{\"a\":1}"),
                SseEvent {
                    event: Some("error".into()),
                    data: "line1\nline2".into(),
                    id: None
                },
                data("你好"),
                SseEvent {
                    event: None,
                    data: String::new(),
                    id: Some("7".into())
                },
                SseEvent {
                    event: None,
                    data: "[DONE]".into(),
                    id: Some("7".into())
                },
            ]
        );
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let bytes = SAMPLE.as_bytes();
        let whole = parse_in(&[bytes]);
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let got = parse_in(&[&bytes[..i], &bytes[i..j], &bytes[j..]]);
                assert_eq!(got, whole, "split at {i},{j}");
            }
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse_in(&singles), whole);
    }

    #[test]
    fn an_empty_chunk_between_cr_and_lf_keeps_them_one_line_end() {
        let whole = parse_in(&[b"data: a\r\ndata: b\n\n"]);
        assert_eq!(parse_in(&[b"data: a\r", b"", b"\ndata: b\n\n"]), whole);
        assert_eq!(whole.0, vec![data("a\nb")]);
    }

    #[test]
    fn unterminated_event_is_returned_by_finish() {
        let (events, rest) = parse_in(&[b"data: {\"a\":1}\n\ndata: {\"choi"]);
        assert_eq!(events, vec![data("{\"a\":1}")]);
        assert_eq!(rest, Some(data("{\"choi")));
        let (_, rest) = parse_in(&[b"data: [DONE]\n"]);
        assert_eq!(rest, Some(data("[DONE]")));
        let (_, rest) = parse_in(&[b"data: x\n\n: trailing comment"]);
        assert_eq!(rest, None);
    }

    fn sse_doc() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            "[a-z{}\":, 你]{0,12}".prop_map(|s| format!("data: {s}")),
            "[a-z]{0,6}".prop_map(|s| format!("event:{s}")),
            "[ -~]{0,8}".prop_map(|s| format!(":{s}")),
            Just(String::new()),
        ];
        let eol = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
        proptest::collection::vec((line, eol), 0..24).prop_map(|lines| {
            lines
                .into_iter()
                .flat_map(|(l, e)| format!("{l}{e}").into_bytes())
                .collect()
        })
    }

    proptest! {
        #[test]
        fn random_chunking_is_invisible(doc in sse_doc(), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8)) {
            let whole = parse_in(&[&doc]);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(doc.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut prev = 0;
            for p in points {
                chunks.push(&doc[prev..p]);
                prev = p;
            }
            chunks.push(&doc[prev..]);
            prop_assert_eq!(parse_in(&chunks), whole);
        }
    }
}
