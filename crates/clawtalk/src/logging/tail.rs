//! Reading the gateway's log file back: the last lines (across the rotation) and each JSON
//! line as text. `clawtalk logs` and the console's log page both show the log this way.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

use super::escape::escape_control;
use clawtalk_gateway::logfile;

/// The last `n` lines, reaching into the rotated file when the current one is short.
pub(crate) fn last_lines(state_dir: &Path, n: usize) -> anyhow::Result<Vec<String>> {
    let mut lines: Vec<String> = read_lines(&logfile::path(state_dir))?;
    if lines.len() < n {
        let mut older = read_lines(&logfile::rotated_path(state_dir))?;
        older.append(&mut lines);
        lines = older;
    }
    let skip = lines.len().saturating_sub(n);
    Ok(lines.split_off(skip))
}

fn read_lines(path: &Path) -> anyhow::Result<Vec<String>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// One line: raw with `--json`, else `time LEVEL target: message key=value …`. Lines that
/// are not JSON are shown as they are. Decoded values are escaped again
/// ([`escape_control`]): a `\n` or an ESC inside a JSON string must not become a fake line
/// or a terminal command on the way to the screen.
pub(crate) fn render(line: &str, json: bool) -> String {
    if json {
        return line.to_owned();
    }
    let Ok(Value::Object(event)) = serde_json::from_str::<Value>(line) else {
        return escape_control(line).into_owned();
    };
    let text = |v: &Value| match v {
        Value::String(s) => escape_control(s).into_owned(),
        other => other.to_string(),
    };
    let timestamp = event.get("timestamp").map(text).unwrap_or_default();
    let level = event.get("level").map(text).unwrap_or_default();
    let target = event.get("target").map(text).unwrap_or_default();
    let mut rendered = format!("{timestamp} {level:>5} {target}:");
    if let Some(Value::Object(fields)) = event.get("fields") {
        if let Some(message) = fields.get("message") {
            rendered.push(' ');
            rendered.push_str(&text(message));
        }
        for (key, value) in fields.iter().filter(|(k, _)| *k != "message") {
            rendered.push_str(&format!(" {key}={}", text(value)));
        }
    }
    rendered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_read_as_text() {
        let line = r#"{"timestamp":"2026-12-01T22:00:00.000Z","level":"INFO","fields":{"message":"DingTalk connected","account":"default","connection":1},"target":"clawtalk_gateway::intake::stream"}"#;
        assert_eq!(
            render(line, false),
            "2026-12-01T22:00:00.000Z  INFO clawtalk_gateway::intake::stream: DingTalk connected account=default connection=1"
        );
        assert_eq!(render(line, true), line);
        assert_eq!(render("not json", false), "not json");
        let hostile =
            r#"{"level":"WARN","fields":{"message":"webhook\nFAKE","nick":"Eve\u001b[31m\r"},"target":"t"}"#;
        assert_eq!(
            render(hostile, false),
            "  WARN t: webhook\\nFAKE nick=Eve\\x1b[31m\\r"
        );
        assert_eq!(render("raw\x1b[2J", false), "raw\\x1b[2J");
    }

    #[test]
    fn last_lines_reach_into_the_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(logfile::rotated_path(dir.path()), "a\nb\n").unwrap();
        std::fs::write(logfile::path(dir.path()), "c\n").unwrap();
        assert_eq!(last_lines(dir.path(), 2).unwrap(), ["b", "c"]);
        assert_eq!(last_lines(dir.path(), 1).unwrap(), ["c"]);
    }
}
