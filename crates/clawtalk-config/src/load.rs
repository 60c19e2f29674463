//! Finding and reading the config file.
//!
//! Search order (first hit wins):
//! 1. `--config PATH` (must exist),
//! 2. `$CLAWTALK_CONFIG` (must exist),
//! 3. `~/.clawtalk/clawtalk.json`,
//! 4. `$OPENCLAW_CONFIG_PATH`, else `$OPENCLAW_STATE_DIR/openclaw.json`, else
//!    `~/.openclaw/openclaw.json` (read unchanged),
//! 5. no file: built-in defaults plus environment variables.
//!
//! A file ending in `.yaml`/`.yml` is read as `channels.yaml` (the seed format, see
//! [`super::seed_yaml`]); a `channels.yaml` beside a JSON config adds its bots to it.

use std::fmt;
use std::path::{Path, PathBuf};

use super::include::resolve_includes;
use super::issue::{ConfigErrors, ConfigIssue, Diagnostics};
use super::openclaw::read_document;
use super::reader::{Ctx, EnvLookup};
use super::seed_yaml::{PathMap, is_yaml_path, parse_yaml, translate};
use super::types::Config;
use super::validate::assemble;
use super::value::{Value, parse_json5};

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `--config PATH`.
    Flag(PathBuf),
    /// `$CLAWTALK_CONFIG`.
    ClawtalkEnv(PathBuf),
    /// `~/.clawtalk/clawtalk.json`.
    ClawtalkHome(PathBuf),
    /// `$OPENCLAW_CONFIG_PATH` or `$OPENCLAW_STATE_DIR/openclaw.json`.
    OpenClawEnv(PathBuf),
    /// `~/.openclaw/openclaw.json`.
    OpenClawHome(PathBuf),
    /// Text handed to [`Config::from_json5`] or [`Config::from_text`].
    Inline,
    /// No file: defaults and environment variables only.
    Defaults,
}

impl ConfigSource {
    /// The file read, if any.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Flag(p)
            | Self::ClawtalkEnv(p)
            | Self::ClawtalkHome(p)
            | Self::OpenClawEnv(p)
            | Self::OpenClawHome(p) => Some(p),
            Self::Inline | Self::Defaults => None,
        }
    }

    /// Whether the file is (probably) an OpenClaw config, which changes a few notices.
    #[must_use]
    pub fn is_openclaw(&self) -> bool {
        match self {
            Self::OpenClawEnv(_) | Self::OpenClawHome(_) => true,
            Self::Flag(p) | Self::ClawtalkEnv(p) => p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("openclaw")),
            _ => false,
        }
    }
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(p) => write!(f, "{} (from --config)", p.display()),
            Self::ClawtalkEnv(p) => write!(f, "{} (from CLAWTALK_CONFIG)", p.display()),
            Self::ClawtalkHome(p) => write!(f, "{}", p.display()),
            Self::OpenClawEnv(p) => write!(f, "{} (OpenClaw config, from environment)", p.display()),
            Self::OpenClawHome(p) => write!(f, "{} (OpenClaw config)", p.display()),
            Self::Inline => f.write_str("inline text"),
            Self::Defaults => f.write_str("no config file; defaults and environment variables"),
        }
    }
}

/// A valid configuration and the warnings found while reading it.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The configuration.
    pub config: Config,
    /// Where it came from.
    pub source: ConfigSource,
    /// Unknown or ignored keys and risky settings; worth logging at startup.
    pub warnings: Vec<ConfigIssue>,
}

/// Finds, reads and validates the configuration with the given environment.
pub fn load(explicit: Option<&Path>, env: EnvLookup<'_>) -> Result<LoadedConfig, ConfigErrors> {
    let home = env("HOME")
        .or_else(|| env("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let mut early = Diagnostics::default();
    let source = locate(explicit, env, home.as_deref(), &mut early);
    let text = match source.path() {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) => {
                early.error(
                    path.display().to_string(),
                    format!("cannot read the config file: {e}"),
                    "check the path and its permissions",
                );
                None
            }
        },
    };
    if !early.errors.is_empty() {
        return Err(ConfigErrors {
            source,
            errors: early.errors,
            warnings: early.warnings,
        });
    }
    let mut cx = Ctx::new(env, home);
    cx.diags.warnings = early.warnings;
    let openclaw = source.is_openclaw();
    let is_yaml = source.path().is_some_and(is_yaml_path);
    parse_and_build(text.as_deref(), source, cx, is_yaml, openclaw)
}

/// Parses `text` (or an empty document) as YAML (`channels.yaml`) or JSON5 and builds the config.
pub fn parse_and_build(
    text: Option<&str>,
    source: ConfigSource,
    mut cx: Ctx<'_>,
    is_yaml: bool,
    openclaw: bool,
) -> Result<LoadedConfig, ConfigErrors> {
    let parsed = match text {
        None => Ok(Value::Object(Vec::new())),
        Some(text) if is_yaml => parse_yaml(text),
        Some(text) => parse_json5(text),
    };
    let root = match parsed {
        Ok(v) => v,
        Err(e) => {
            let path = source
                .path()
                .map_or_else(|| "(text)".to_owned(), |p| p.display().to_string());
            let (what, fix) = if is_yaml {
                (
                    "YAML",
                    "fix the syntax at that position (indent with spaces, `key: value`)",
                )
            } else {
                (
                    "JSON5",
                    "fix the syntax at that position (comments and trailing commas are fine)",
                )
            };
            cx.diags.error(path, format!("not valid {what}: {e}"), fix);
            return Err(ConfigErrors {
                source,
                errors: cx.diags.errors,
                warnings: cx.diags.warnings,
            });
        }
    };
    let (root, paths) = if is_yaml {
        translate(&root, Value::Object(Vec::new()), "", &mut cx)
    } else {
        let (root, mut paths) = resolve_includes(root, source.path(), &mut cx);
        match source
            .path()
            .filter(|_| !openclaw)
            .and_then(sibling_channels_yaml)
        {
            Some(yaml_path) => {
                let (root, sibling) = merge_sibling(root, &yaml_path, &mut cx);
                paths.absorb(sibling);
                (root, paths)
            }
            None => (root, paths),
        }
    };
    build(&root, source, cx, openclaw, &paths)
}

/// `channels.yaml` next to a JSON config file, when there is one.
fn sibling_channels_yaml(config: &Path) -> Option<PathBuf> {
    let dir = config.parent()?;
    ["channels.yaml", "channels.yml"]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

/// Adds the bots of a `channels.yaml` beside the config file to it; diagnostics about them
/// are prefixed with the YAML file's name. A config that configures DingTalk itself (for
/// example one made by `config import` from that very file) wins, so nothing counts twice.
fn merge_sibling(root: Value, yaml_path: &Path, cx: &mut Ctx<'_>) -> (Value, PathMap) {
    let name = yaml_path.display().to_string();
    let own = super::channels::CHANNELS
        .iter()
        .any(|c| root.get("channels").and_then(|ch| ch.get(c)).is_some());
    if own {
        cx.diags.warn(
            name,
            "not read: the config file beside it configures DingTalk channels itself",
            Some("delete or move channels.yaml once it is imported (clawtalk config import)".into()),
        );
        return (root, PathMap::default());
    }
    let parsed = std::fs::read_to_string(yaml_path)
        .map_err(|e| format!("cannot read it: {e}"))
        .and_then(|text| parse_yaml(&text).map_err(|e| format!("not valid YAML: {e}")));
    match parsed {
        Ok(yaml) => translate(&yaml, root, &format!("{name}: "), cx),
        Err(e) => {
            cx.diags.error(
                name,
                e,
                "fix the file, or move it away if it is not meant for clawtalk",
            );
            (root, PathMap::default())
        }
    }
}

/// Reads and validates a parsed document; `paths` maps diagnostics back to `channels.yaml` keys.
pub fn build(
    root: &Value,
    source: ConfigSource,
    mut cx: Ctx<'_>,
    openclaw: bool,
    paths: &PathMap,
) -> Result<LoadedConfig, ConfigErrors> {
    let draft = read_document(root, &mut cx);
    let config = assemble(draft, &mut cx, openclaw);
    for issue in cx.diags.errors.iter_mut().chain(cx.diags.warnings.iter_mut()) {
        paths.remap(issue);
    }
    // Issues are found section by section; sorting by path gives a stable report that groups
    // everything about one account or agent together.
    cx.diags.errors.sort_by(|a, b| a.path.cmp(&b.path));
    cx.diags.warnings.sort_by(|a, b| a.path.cmp(&b.path));
    if cx.diags.error_count() > 0 {
        Err(ConfigErrors {
            source,
            errors: cx.diags.errors,
            warnings: cx.diags.warnings,
        })
    } else {
        Ok(LoadedConfig {
            config,
            source,
            warnings: cx.diags.warnings,
        })
    }
}

/// Applies the search order. A path named explicitly (flag or `CLAWTALK_CONFIG`) must exist;
/// a stale `OPENCLAW_CONFIG_PATH` only warns, since it belongs to another program.
fn locate(
    explicit: Option<&Path>,
    env: EnvLookup<'_>,
    home: Option<&Path>,
    diags: &mut Diagnostics,
) -> ConfigSource {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(p) = explicit {
        return ConfigSource::Flag(p.to_path_buf());
    }
    if let Some(p) = set("CLAWTALK_CONFIG") {
        return ConfigSource::ClawtalkEnv(PathBuf::from(p));
    }
    if let Some(home) = home {
        let ours = home.join(".clawtalk").join("clawtalk.json");
        if ours.is_file() {
            return ConfigSource::ClawtalkHome(ours);
        }
    }
    if let Some(p) = set("OPENCLAW_CONFIG_PATH") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return ConfigSource::OpenClawEnv(p);
        }
        diags.warn(
            "env OPENCLAW_CONFIG_PATH",
            format!("{} does not exist; not used", p.display()),
            None,
        );
    }
    if let Some(dir) = set("OPENCLAW_STATE_DIR") {
        let p = Path::new(&dir).join("openclaw.json");
        if p.is_file() {
            return ConfigSource::OpenClawEnv(p);
        }
    }
    if let Some(home) = home {
        let theirs = home.join(".openclaw").join("openclaw.json");
        if theirs.is_file() {
            return ConfigSource::OpenClawHome(theirs);
        }
    }
    ConfigSource::Defaults
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn search_order() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_str().unwrap();
        let mut d = Diagnostics::default();
        let env = env_of(&[("HOME", h)]);
        assert_eq!(
            locate(None, &env, Some(home.path()), &mut d),
            ConfigSource::Defaults
        );

        std::fs::create_dir_all(home.path().join(".openclaw")).unwrap();
        let oc = home.path().join(".openclaw/openclaw.json");
        std::fs::write(&oc, "{}").unwrap();
        assert_eq!(
            locate(None, &env, Some(home.path()), &mut d),
            ConfigSource::OpenClawHome(oc.clone())
        );

        let env2 = env_of(&[("OPENCLAW_CONFIG_PATH", "/nonexistent/x.json")]);
        assert_eq!(
            locate(None, &env2, Some(home.path()), &mut d),
            ConfigSource::OpenClawHome(oc)
        );
        assert_eq!(d.warnings.len(), 1);

        std::fs::create_dir_all(home.path().join(".clawtalk")).unwrap();
        let ours = home.path().join(".clawtalk/clawtalk.json");
        std::fs::write(&ours, "{}").unwrap();
        assert_eq!(
            locate(None, &env, Some(home.path()), &mut d),
            ConfigSource::ClawtalkHome(ours)
        );

        let env3 = env_of(&[("CLAWTALK_CONFIG", "/etc/c.json")]);
        assert_eq!(
            locate(None, &env3, Some(home.path()), &mut d),
            ConfigSource::ClawtalkEnv("/etc/c.json".into())
        );
        assert_eq!(
            locate(Some(Path::new("/x.json")), &env3, Some(home.path()), &mut d),
            ConfigSource::Flag("/x.json".into())
        );
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let env = env_of(&[]);
        let err = load(Some(Path::new("/nonexistent/clawtalk.json")), &env).unwrap_err();
        assert_eq!(err.errors.len(), 1);
        assert!(err.errors[0].path.contains("/nonexistent/clawtalk.json"));
    }

    #[test]
    fn syntax_error_names_the_position() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.json");
        std::fs::write(&p, "{ gateway: { port: 1 }\n agents: {} }").unwrap();
        let env = env_of(&[]);
        let err = load(Some(&p), &env).unwrap_err();
        assert!(err.errors[0].message.contains("line 2"), "{}", err.errors[0]);
    }
}
