//! `clawtalk logs [-n N] [--follow] [--json]`: the gateway's log file, readable.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde_json::Value;

use super::common::ConfigArg;
use crate::logging::escape::escape_control;
use clawtalk_gateway::logfile;

/// How often `--follow` looks for new lines.
const POLL: Duration = Duration::from_millis(200);

/// `clawtalk logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// How many of the last lines to print.
    #[arg(short = 'n', long, default_value_t = 50)]
    lines: usize,
    /// Keep printing new lines as the gateway writes them (Ctrl-C stops).
    #[arg(short, long)]
    follow: bool,
    /// Print the raw JSON lines.
    #[arg(long)]
    json: bool,
}

/// Runs `clawtalk logs`.
///
/// # Errors
/// Invalid configuration, or no log file yet.
pub async fn run(args: LogsArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let state_dir = &config.gateway.state_dir;
    let path = logfile::path(state_dir);
    if !path.exists() && !args.follow {
        anyhow::bail!(
            "no log file at {} yet; it is written by `clawtalk gateway run` with this config",
            path.display()
        );
    }
    let mut out = std::io::stdout().lock();
    for line in last_lines(state_dir, args.lines)? {
        writeln!(out, "{}", render(&line, args.json))?;
    }
    out.flush()?;
    drop(out);
    if args.follow {
        let start = std::fs::metadata(&path).map_or(0, |m| m.len());
        tokio::select! {
            result = follow(path, start, args.json) => result?,
            () = clawtalk_gateway::wait_for_signal() => {}
        }
    }
    Ok(())
}

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

/// Prints lines appended after `offset`; starts over when the file is rotated or truncated.
async fn follow(path: PathBuf, mut offset: u64, json: bool) -> anyhow::Result<()> {
    let mut identity = file_identity(&path);
    let mut partial = String::new();
    loop {
        tokio::time::sleep(POLL).await;
        let Ok(meta) = std::fs::metadata(&path) else {
            continue; // between a rotation's rename and the new file
        };
        let now = file_identity(&path);
        if now != identity || meta.len() < offset {
            identity = now;
            offset = 0;
            partial.clear();
        }
        if meta.len() == offset {
            continue;
        }
        let mut file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        file.seek(SeekFrom::Start(offset))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        offset += bytes.len() as u64;
        partial.push_str(&String::from_utf8_lossy(&bytes));
        let mut out = std::io::stdout().lock();
        while let Some(end) = partial.find('\n') {
            let line: String = partial.drain(..=end).collect();
            let line = line.trim_end();
            if !line.is_empty() {
                writeln!(out, "{}", render(line, json))?;
            }
        }
        out.flush()?;
    }
}

/// Inode (Unix) so a rotation is noticed even when the new file has grown past the offset.
fn file_identity(path: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| m.ino())
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).ok().map(|_| 0)
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
