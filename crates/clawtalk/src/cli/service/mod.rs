//! `clawtalk gateway install|uninstall|start|stop|restart` and the service line of
//! `gateway status`: the gateway as a systemd service, system-wide as root, a user unit
//! otherwise.

mod install;
mod passwd;
mod systemctl;
mod unit;

use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::{Args, ValueEnum};

pub use install::{InstallArgs, install, uninstall};
use systemctl::Systemctl;

/// The unit's name; `systemctl status clawtalk` finds it.
pub const UNIT_NAME: &str = "clawtalk.service";

/// Which service manager instance holds the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scope {
    /// /etc/systemd/system, started at boot (needs root).
    System,
    /// ~/.config/systemd/user, started with the user's session (or at boot with lingering).
    User,
}

impl Scope {
    /// "system unit" / "user unit".
    pub fn noun(self) -> &'static str {
        match self {
            Self::System => "system unit",
            Self::User => "user unit",
        }
    }
}

/// Where the unit lives: taken by every service command.
#[derive(Debug, Clone, Default, Args)]
pub struct UnitArgs {
    /// `system` (default as root) or `user` (default otherwise).
    #[arg(long, value_enum)]
    pub scope: Option<Scope>,
    /// Treat this directory as `/` when reading and writing files (unit, /etc/passwd,
    /// /run/systemd): for packaging and tests. `systemctl` is still the one on PATH.
    #[arg(long, value_name = "DIR", env = "CLAWTALK_SERVICE_ROOT")]
    pub root: Option<PathBuf>,
}

impl UnitArgs {
    fn scope(&self) -> Scope {
        self.scope
            .unwrap_or_else(|| if is_root() { Scope::System } else { Scope::User })
    }

    fn root(&self) -> &Path {
        self.root.as_deref().unwrap_or(Path::new("/"))
    }

    /// The unit file's path, inside `--root` when given.
    fn unit_path(&self) -> anyhow::Result<PathBuf> {
        let path = match self.scope() {
            Scope::System => PathBuf::from("/etc/systemd/system").join(UNIT_NAME),
            Scope::User => user_unit_dir()?.join(UNIT_NAME),
        };
        Ok(rebase(self.root(), &path))
    }
}

/// `$XDG_CONFIG_HOME/systemd/user`, else `~/.config/systemd/user`, where systemd's user manager
/// looks for units an administrator (here: the user) wrote.
fn user_unit_dir() -> anyhow::Result<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(config) = var("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(config).join("systemd/user"));
    }
    match var("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".config/systemd/user")),
        None => bail!(
            "HOME is not set, so there is no user unit directory; set HOME or use --scope system as root"
        ),
    }
}

/// `path` (absolute) as seen under `root`.
fn rebase(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Which systemctl verb a lifecycle command runs.
#[derive(Debug, Clone, Copy)]
pub enum Verb {
    Start,
    Stop,
    Restart,
}

/// `gateway start|stop|restart`: the verb on the installed unit, then its state.
pub fn control(verb: Verb, args: &UnitArgs) -> anyhow::Result<()> {
    let scope = args.scope();
    let systemctl = Systemctl::find(scope, args.root())?;
    let unit = args.unit_path()?;
    if !unit.is_file() {
        bail!(
            "clawtalk is not installed as a {} ({} does not exist); run `clawtalk gateway install` first{}",
            scope.noun(),
            unit.display(),
            if args.scope.is_none() && scope == Scope::User {
                " (or, for the system-wide unit, run this as root)"
            } else {
                ""
            }
        );
    }
    let word = match verb {
        Verb::Start => "start",
        Verb::Stop => "stop",
        Verb::Restart => "restart",
    };
    systemctl.run(&[word, UNIT_NAME])?;
    println!("{}", systemctl::describe(&systemctl.show()?, scope));
    Ok(())
}

/// The service's state for `gateway status`: a line, and the same as JSON.
pub fn status(args: &UnitArgs) -> (String, serde_json::Value) {
    let scope = args.scope();
    let systemctl = match Systemctl::find(scope, args.root()) {
        Ok(s) => s,
        Err(e) => {
            return (
                "service: none (systemd is not running here)".to_owned(),
                serde_json::json!({ "manager": "none", "detail": format!("{e:#}") }),
            );
        }
    };
    match systemctl.show() {
        Ok(state) => (
            systemctl::describe(&state, scope),
            serde_json::json!({
                "manager": "systemd",
                "scope": scope.noun(),
                "unit": UNIT_NAME,
                "installed": state.get("LoadState").is_some_and(|s| s != "not-found"),
                "activeState": state.get("ActiveState"),
                "subState": state.get("SubState"),
                "unitFileState": state.get("UnitFileState"),
                "mainPid": state.get("MainPID").and_then(|p| p.parse::<u32>().ok()).filter(|p| *p != 0),
            }),
        ),
        Err(e) => (
            format!("service: unknown ({e:#})"),
            serde_json::json!({ "manager": "systemd", "error": format!("{e:#}") }),
        ),
    }
}
