//! `gateway install` and `gateway uninstall`.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::Args;

use clawtalk_config::Config;

use super::passwd::{self, Account};
use super::systemctl::Systemctl;
use super::unit::{self, UnitSpec};
use super::{Scope, UNIT_NAME, UnitArgs, is_root};

/// The account a system unit runs as when it exists and none is named.
const DEFAULT_SERVICE_USER: &str = "clawtalk";

/// `gateway install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub unit: UnitArgs,
    /// Config file the service runs with (default: the one `gateway run` would find now).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Account a system unit runs as (default: `clawtalk` when that user exists, else root;
    /// `root` to insist).
    #[arg(long, value_name = "NAME")]
    pub service_user: Option<String>,
}

/// Writes the unit, reloads systemd and enables it.
pub fn install(args: &InstallArgs) -> anyhow::Result<()> {
    let scope = args.unit.scope();
    let root = args.unit.root();
    // Before anything is written: no systemd, no install.
    let systemctl = Systemctl::find(scope, root)?;
    let account = service_account(scope, root, args.service_user.as_deref())?;

    let config_path = locate_config(args.config.as_deref())?;
    let config = load_as(&config_path, account.as_ref())?;
    let exec = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .context("cannot tell where the clawtalk binary is")?;
    let config_dir = config_path
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| anyhow!("{} has no directory", config_path.display()))?;
    let mut writable = vec![config_dir];
    writable.extend(config.agents.iter().map(|a| a.workspace.clone()));
    let state_dir = config.gateway.state_dir.clone();
    let spec = UnitSpec {
        scope,
        exec,
        config: config_path.clone(),
        state_dir: state_dir.clone(),
        writable: writable.clone(),
        user: account.as_ref().map(|a| a.name.clone()),
    };
    let text = unit::render(&spec).map_err(|e| anyhow!("cannot write the unit: {e}"))?;

    // ProtectSystem=strict cannot make a missing directory writable, and the gateway could not
    // create it under a read-only tree: the directories it writes must exist first.
    for dir in std::iter::once(&state_dir).chain(&writable) {
        ensure_dir(dir, account.as_ref(), root)?;
    }
    let unit_path = args.unit.unit_path()?;
    let previous = std::fs::read_to_string(&unit_path).ok();
    if let Some(parent) = unit_path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&unit_path, &text).with_context(|| format!("cannot write {}", unit_path.display()))?;
    let verb = match previous {
        None => "wrote",
        Some(old) if old == text => "kept (unchanged)",
        Some(_) => "updated",
    };
    println!("{verb} {} {}", scope.noun(), unit_path.display());
    println!(
        "  runs: {} gateway run --config {}",
        spec.exec.display(),
        config_path.display()
    );
    match &account {
        Some(a) => println!("  as user {} (uid {})", a.name, a.uid),
        None if scope == Scope::System => println!(
            "  as root: create a dedicated account with `useradd --system --home-dir /var/lib/clawtalk \
             --shell /usr/sbin/nologin clawtalk` and install again to run unprivileged"
        ),
        None => {}
    }

    systemctl.run(&["daemon-reload"])?;
    systemctl.run(&["enable", UNIT_NAME])?;
    println!(
        "enabled {UNIT_NAME}: it starts at {}",
        match scope {
            Scope::System => "boot",
            Scope::User => "login",
        }
    );
    for hint in hints(&config_path, &state_dir, account.as_ref(), scope) {
        println!("note: {hint}");
    }
    println!("start it now with `clawtalk gateway start`");
    Ok(())
}

/// `gateway uninstall`: stops and disables the unit and removes its file; the state directory
/// and the config stay.
pub fn uninstall(args: &UnitArgs) -> anyhow::Result<()> {
    let scope = args.scope();
    let systemctl = Systemctl::find(scope, args.root())?;
    let unit_path = args.unit_path()?;
    if !unit_path.exists() {
        println!(
            "no {} at {}; nothing to remove",
            scope.noun(),
            unit_path.display()
        );
        return Ok(());
    }
    systemctl.run(&["disable", "--now", UNIT_NAME])?;
    std::fs::remove_file(&unit_path).with_context(|| format!("cannot remove {}", unit_path.display()))?;
    systemctl.run(&["daemon-reload"])?;
    println!(
        "stopped, disabled and removed {}; the config and the state directory are kept",
        unit_path.display()
    );
    Ok(())
}

/// The account a system unit runs as: the one named, else `clawtalk` if it exists, else root
/// (`None`). A user unit always runs as its user.
fn service_account(scope: Scope, root: &Path, named: Option<&str>) -> anyhow::Result<Option<Account>> {
    match (scope, named) {
        (Scope::User, Some(_)) => bail!(
            "--service-user is for system units; a user unit runs as the user who installs it \
             (run as root, or pass --scope system, to install one for another account)"
        ),
        (Scope::User, None) | (Scope::System, Some("root")) => Ok(None),
        (Scope::System, Some(name)) => passwd::lookup(root, name)?.map(Some).ok_or_else(|| {
            anyhow!(
                "there is no user {name:?} in {}; create it (`useradd --system --home-dir \
                 /var/lib/clawtalk --shell /usr/sbin/nologin {name}`) or pass another --service-user",
                root.join("etc/passwd").display()
            )
        }),
        (Scope::System, None) => passwd::lookup(root, DEFAULT_SERVICE_USER),
    }
}

/// The config file `gateway run` would read now, as an absolute path. A service never sees the
/// installer's shell, so an environment-only configuration cannot be installed.
fn locate_config(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let found = match explicit {
        Some(path) => path.to_path_buf(),
        None => {
            let loaded = Config::load(None).map_err(|errors| anyhow!("{errors}"))?;
            loaded.source.path().map(Path::to_path_buf).ok_or_else(|| {
                anyhow!(
                    "no config file found (the configuration comes from environment variables \
                     only, which a service does not see); write one with `clawtalk onboard \
                     dingtalk`, or pass --config PATH"
                )
            })?
        }
    };
    std::fs::canonicalize(&found).with_context(|| format!("cannot find the config file {}", found.display()))
}

/// Loads the config as the service will: with the service account's HOME, so defaults under
/// `~` (the state directory) land where that account will look.
fn load_as(path: &Path, account: Option<&Account>) -> anyhow::Result<Config> {
    let home = account.map(|a| a.home.clone());
    let env = move |name: &str| match (name, &home) {
        ("HOME", Some(home)) => Some(home.clone()),
        _ => std::env::var(name).ok(),
    };
    Config::load_with_env(Some(path), &env)
        .map(|loaded| loaded.config)
        .map_err(|errors| {
            anyhow!(
                "{errors}\nfix the config (`clawtalk config validate --config {}`) and install again",
                path.display()
            )
        })
}

/// Creates `dir` owner-only when missing, owned by the service account when there is one (and
/// the files are the real ones, not a `--root` tree).
fn ensure_dir(dir: &Path, account: Option<&Account>, root: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} owner-only", dir.display()))?;
    }
    if let Some(a) = account
        && root == Path::new("/")
        && is_root()
    {
        std::os::unix::fs::chown(dir, Some(a.uid), Some(a.gid))
            .with_context(|| format!("cannot give {} to {}", dir.display(), a.name))?;
    }
    Ok(())
}

/// What the operator should know before starting the service.
fn hints(config: &Path, state_dir: &Path, account: Option<&Account>, scope: Scope) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut hints = Vec::new();
    if let Some(a) = account {
        for (what, path) in [("config file", config), ("state directory", state_dir)] {
            if let Ok(meta) = std::fs::metadata(path)
                && meta.uid() != a.uid
            {
                hints.push(format!(
                    "the {what} {} belongs to uid {}, not {}; give it to the service \
                     (`chown -R {} {}`) or it cannot be {}",
                    path.display(),
                    meta.uid(),
                    a.name,
                    a.name,
                    path.display(),
                    if what == "config file" { "read" } else { "written" }
                ));
            }
        }
    }
    if std::fs::read_to_string(config).is_ok_and(|text| text.contains("${")) {
        hints.push(format!(
            "the config refers to environment variables (${{…}}); the service sees only those \
             set in {} (KEY=value lines, mode 0600)",
            state_dir.join("service.env").display()
        ));
    }
    if scope == Scope::User {
        hints
            .push("a user unit stops when you log out; `loginctl enable-linger` keeps it running".to_owned());
    }
    hints
}
