//! `${VAR}` references in string values and OpenClaw "SecretInput" objects.
//!
//! Rules (same as OpenClaw, so its files mean the same thing here):
//! - `${NAME}` is replaced by the environment variable `NAME`; only upper-case names
//!   (`[A-Z_][A-Z0-9_]*`) are references, so `${foo}` in a prompt stays literal text.
//! - `$${NAME}` is an escape and yields the literal text `${NAME}`.
//! - A missing or empty variable is an error naming the variable (never its value).
//! - Secrets may also be `{ source: "env", id: "VAR" }` or `{ source: "file", id: "/path" }`.

use std::path::{Path, PathBuf};

/// Replaces every `${NAME}` in `input`. Returns the names of missing variables on failure, in
/// order of appearance, so all of them are reported at once.
pub fn expand_vars(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, Vec<String>> {
    // Fast path: most strings have no `$` at all.
    if !input.contains('$') {
        return Ok(input.to_owned());
    }
    let mut out = String::with_capacity(input.len());
    let mut missing = Vec::new();
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$${")
            && let Some(name) = reference(after)
        {
            // Escape: keep `${NAME}` literally.
            out.push_str("${");
            out.push_str(name);
            out.push('}');
            rest = &after[name.len() + 1..];
        } else if let Some(after) = tail.strip_prefix("${")
            && let Some(name) = reference(after)
        {
            match lookup(name) {
                Some(value) if !value.is_empty() => out.push_str(&value),
                _ => {
                    if !missing.iter().any(|m| m == name) {
                        missing.push(name.to_owned());
                    }
                }
            }
            rest = &after[name.len() + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    if missing.is_empty() { Ok(out) } else { Err(missing) }
}

/// If `s` starts with `NAME}` for a valid variable name, returns the name.
fn reference(s: &str) -> Option<&str> {
    let end = s.find('}')?;
    let name = &s[..end];
    let mut chars = name.chars();
    let first = chars.next()?;
    let valid = (first.is_ascii_uppercase() || first == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    valid.then_some(name)
}

/// Longest secret file read. Keys and tokens are well under 1 KiB; the cap keeps a path
/// to a device (`/dev/zero`) or a wrong, huge file from eating all memory at start-up.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Reads a secret from a file named by a SecretInput `{ source: "file", id }`.
/// Trailing newlines are dropped because editors and `echo` add them.
pub fn read_secret_file(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_SECRET_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| e.kind().to_string())?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(format!(
            "larger than {} KiB, so not a key or token file",
            MAX_SECRET_FILE_BYTES / 1024
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// Expands a leading `~` to the home directory.
pub fn expand_home(raw: &str, home: Option<&Path>) -> PathBuf {
    match (raw.strip_prefix('~'), home) {
        (Some(""), Some(home)) => home.to_path_buf(),
        (Some(rest), Some(home)) if rest.starts_with('/') || rest.starts_with('\\') => home.join(&rest[1..]),
        _ => PathBuf::from(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("sk-1".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_references() {
        assert_eq!(expand_vars("a${KEY}b", &env).unwrap(), "ask-1b");
        assert_eq!(expand_vars("${KEY}${KEY}", &env).unwrap(), "sk-1sk-1");
        assert_eq!(expand_vars("plain", &env).unwrap(), "plain");
    }

    #[test]
    fn escape_and_non_references_stay_literal() {
        assert_eq!(expand_vars("$${KEY}", &env).unwrap(), "${KEY}");
        assert_eq!(expand_vars("${lower} $5 ${ ", &env).unwrap(), "${lower} $5 ${ ");
        assert_eq!(expand_vars("$$", &env).unwrap(), "$$");
    }

    #[test]
    fn missing_and_empty_variables_are_reported_once_each() {
        assert_eq!(
            expand_vars("${A}-${EMPTY}-${A}", &env).unwrap_err(),
            vec!["A".to_string(), "EMPTY".to_string()]
        );
    }

    #[test]
    fn secret_files_are_read_trimmed_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "sk-file\r\n").unwrap();
        assert_eq!(read_secret_file(&key).unwrap(), "sk-file");
        let huge = dir.path().join("huge");
        std::fs::write(&huge, vec![b'a'; 64 * 1024 + 1]).unwrap();
        assert!(
            read_secret_file(&huge)
                .unwrap_err()
                .contains("larger than 64 KiB")
        );
        // A device never ends; the cap stops the read.
        #[cfg(unix)]
        assert!(
            read_secret_file(Path::new("/dev/zero"))
                .unwrap_err()
                .contains("larger than")
        );
        std::fs::write(&key, [0xff, 0xfe]).unwrap();
        assert_eq!(read_secret_file(&key).unwrap_err(), "not UTF-8 text");
    }

    #[test]
    fn home_expansion() {
        let home = Path::new("/home/u");
        assert_eq!(expand_home("~/x", Some(home)), PathBuf::from("/home/u/x"));
        assert_eq!(expand_home("~", Some(home)), PathBuf::from("/home/u"));
        assert_eq!(expand_home("/abs", Some(home)), PathBuf::from("/abs"));
        assert_eq!(expand_home("~/x", None), PathBuf::from("~/x"));
    }
}
