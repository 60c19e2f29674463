//! `clawtalk logs [-n N] [--follow] [--json]`: the gateway's log file, readable.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::common::ConfigArg;
use crate::logging::tail::{last_lines, render};
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
