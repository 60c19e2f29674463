//! The gateway token the web UI logs in with: `gateway.auth.token`, else one generated on the
//! first run and kept in `<stateDir>/gateway-token` (mode 0600).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use dingtalk::Secret;
use rand::RngCore;
use subtle::ConstantTimeEq;

use clawtalk_config::Config;

/// File name of the generated token in the state directory.
pub const TOKEN_FILE: &str = "gateway-token";

/// Where the token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `gateway.auth.token` in the config.
    Config,
    /// Generated earlier and read from this file.
    Stored(PathBuf),
    /// Generated just now and written to this file: show it once.
    Generated(PathBuf),
}

/// The token file of a state directory.
#[must_use]
pub fn token_path(state_dir: &Path) -> PathBuf {
    state_dir.join(TOKEN_FILE)
}

/// The configured token, else the stored one, else a new one (written with mode 0600).
///
/// # Errors
/// The state directory or the token file cannot be read or written.
pub fn resolve(config: &Config) -> anyhow::Result<(Secret, TokenSource)> {
    if let Some(token) = config.gateway.auth_token.as_ref().filter(|t| !t.is_empty()) {
        return Ok((token.clone(), TokenSource::Config));
    }
    let path = token_path(&config.gateway.state_dir);
    if let Some(token) = read_stored(&path)? {
        return Ok((token, TokenSource::Stored(path)));
    }
    let token = generate();
    write_new(&path, &token)?;
    Ok((token, TokenSource::Generated(path)))
}

/// The configured or stored token without creating one (`None`: the gateway never ran).
///
/// # Errors
/// An unreadable token file.
pub fn existing(config: &Config) -> anyhow::Result<Option<(Secret, TokenSource)>> {
    if let Some(token) = config.gateway.auth_token.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some((token.clone(), TokenSource::Config)));
    }
    let path = token_path(&config.gateway.state_dir);
    Ok(read_stored(&path)?.map(|token| (token, TokenSource::Stored(path))))
}

fn read_stored(path: &Path) -> anyhow::Result<Option<Secret>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let token = text.trim();
            anyhow::ensure!(
                !token.is_empty(),
                "{} is empty; delete it to generate a new gateway token",
                path.display()
            );
            Ok(Some(Secret::new(token)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading the gateway token {}", path.display())),
    }
}

/// 32 random bytes, hex: 256 bits, nothing to guess.
fn generate() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(hex(&bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn write_new(path: &Path, token: &Secret) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        clawtalk_store::create_private_dir(dir)
            .with_context(|| format!("creating the state directory {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    // create_new: two gateways starting at once must not overwrite each other's token.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating the gateway token file {}", path.display()))?;
    writeln!(file, "{}", token.expose())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing the gateway token file {}", path.display()))
}

/// Constant-time comparison, so the time a wrong guess takes says nothing about the token.
#[must_use]
pub fn matches(expected: &Secret, given: &str) -> bool {
    let expected = expected.expose().as_bytes();
    let given = given.trim().as_bytes();
    // `ct_eq` on slices of different lengths is false without comparing the contents; only
    // the length leaks, and every generated token has the same one.
    !expected.is_empty() && bool::from(expected.ct_eq(given))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = token_path(dir.path());
        assert_eq!(read_stored(&path).unwrap(), None);
        let token = generate();
        write_new(&path, &token).unwrap();
        assert_eq!(token.expose().len(), 64);
        assert_eq!(read_stored(&path).unwrap().unwrap().expose(), token.expose());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(write_new(&path, &generate()).is_err(), "never overwrites a token");
    }

    #[test]
    fn empty_token_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = token_path(dir.path());
        std::fs::write(&path, "\n").unwrap();
        let error = read_stored(&path).unwrap_err().to_string();
        assert!(error.contains("is empty; delete it"), "{error}");
    }

    #[test]
    fn comparison() {
        let token = Secret::new("abc123");
        assert!(matches(&token, "abc123"));
        assert!(matches(&token, " abc123\n"));
        assert!(!matches(&token, "abc124"));
        assert!(!matches(&token, "abc12"));
        assert!(!matches(&token, ""));
        assert!(!matches(&Secret::new(""), ""));
    }
}
