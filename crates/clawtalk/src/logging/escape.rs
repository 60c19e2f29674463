//! Log lines that cannot be forged: every value written to a log has its control characters
//! escaped and its URL credentials masked, in both formats.
//!
//! Values come from outside (request paths, headers, nicknames, message text); a raw newline
//! in one would start a fake log line, and an ANSI escape would rewrite the operator's
//! terminal. The human format escapes each field as it is formatted ([`EscapedFields`]); the
//! JSON format is escaped by serde_json except for the characters [`JsonLineGuard`] handles.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{FormatFields, Writer};

use clawtalk_core::mask::mask_text;

/// Characters that can break a log line or drive a terminal: C0 and C1 controls (CR, LF,
/// ESC, …), DEL, the Unicode line and paragraph separators, and the bidirectional overrides
/// that reorder what a reader sees.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every unsafe character written as an escape (`\n`, `\r`, `\t`, `\x1b`,
/// `\u{2028}`), so it stays on one line and prints as itself.
#[must_use]
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A value as it may appear in a log: URL credentials masked, control characters escaped.
#[must_use]
pub fn log_safe(text: &str) -> String {
    escape_control(&mask_text(text)).into_owned()
}

/// The field formatter of the human log format: `name=value` pairs and the bare message,
/// like tracing-subscriber's default, with every value passed through [`log_safe`].
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = EscapingVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct EscapingVisitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl EscapingVisitor<'_> {
    fn write(&mut self, field: &Field, value: &str) {
        let name = field.name();
        // tracing-log's metadata of `log` records, already shown as the target.
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        let value = log_safe(value);
        let separator = if self.first { "" } else { " " };
        self.first = false;
        self.result = if name == "message" {
            write!(self.writer, "{separator}{value}")
        } else {
            let name = name.strip_prefix("r#").unwrap_or(name);
            if self.writer.has_ansi_escapes() {
                // Italic name and dimmed `=`, as the default formatter shows them.
                write!(
                    self.writer,
                    "{separator}\x1b[3m{name}\x1b[0m\x1b[2m=\x1b[0m{value}"
                )
            } else {
                write!(self.writer, "{separator}{name}={value}")
            }
        };
    }
}

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, value);
        } else {
            // Quoted, as the default formatter shows string fields.
            self.write(field, &format!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(error) = source {
            let _ = write!(text, ": {error}");
            source = error.source();
        }
        self.write(field, &text);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, &format!("{value:?}"));
    }
}

/// A `MakeWriter` for JSON log lines that masks URL credentials and escapes what serde_json
/// leaves raw (DEL, C1 controls, U+2028/2029, bidi overrides) as `\uXXXX`. Outside strings a
/// JSON line is ASCII punctuation, so every such character is inside a string, where the
/// escape means the same character.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLineGuard<M>(pub M);

/// One guarded write.
pub struct GuardedWriter<W>(W);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for JsonLineGuard<M> {
    type Writer = GuardedWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        GuardedWriter(self.0.make_writer())
    }
}

impl<W: io::Write> io::Write for GuardedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The formatter hands over one whole line per call.
        match std::str::from_utf8(buf) {
            Ok(line) => self.0.write_all(json_line(line).as_bytes())?,
            Err(_) => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

fn json_line(line: &str) -> String {
    let masked = mask_text(line);
    let (body, end) = match masked.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (masked.as_ref(), ""),
    };
    let mut out = String::with_capacity(masked.len());
    for c in body.chars() {
        if is_unsafe(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out.push_str(end);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            escape_control("a\nb\r\tc\x1b[31md\u{7f}\u{9b}e\u{2028}f\u{202e}"),
            "a\\nb\\r\\tc\\x1b[31md\\x7f\\u{9b}e\\u{2028}f\\u{202e}"
        );
        assert!(matches!(escape_control("plain 文字"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_lines_escape_what_serde_leaves_raw_and_stay_valid_json() {
        let value = "x\u{85}y\u{2028}z\u{7f} http://u:pw@h/?token=t";
        let line = format!("{}\n", serde_json::json!({ "v": value }));
        let guarded = json_line(&line);
        assert_eq!(
            guarded,
            "{\"v\":\"x\\u0085y\\u2028z\\u007f http://u:***@h/?token=***\"}\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(&guarded).unwrap();
        assert_eq!(parsed["v"], "x\u{85}y\u{2028}z\u{7f} http://u:***@h/?token=***");
    }
}
