//! The text of the systemd unit `clawtalk gateway install` writes.
//!
//! Directive meanings follow systemd.service(5) and systemd.exec(5)
//! (<https://www.freedesktop.org/software/systemd/man/latest/systemd.exec.html>): with
//! `ProtectSystem=strict` the whole file system is read-only to the gateway except the paths
//! named in `ReadWritePaths=`, so every directory the gateway writes (state, the config's own
//! directory for the setup pages, agent workspaces) must be listed or its writes fail.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::Scope;

/// Everything that varies between installations.
#[derive(Debug, Clone)]
pub struct UnitSpec {
    pub scope: Scope,
    /// The `clawtalk` binary, absolute.
    pub exec: PathBuf,
    /// The config file the gateway reads, absolute.
    pub config: PathBuf,
    /// The state directory (also exported as `CLAWTALK_STATE_DIR`, so it does not depend on
    /// the service's `HOME`).
    pub state_dir: PathBuf,
    /// Further directories the gateway writes: the config's directory, agent workspaces.
    pub writable: Vec<PathBuf>,
    /// `User=` for a system unit; `None` runs as root (system) or as the user (user unit).
    pub user: Option<String>,
}

/// Seconds between a crash and the restart: long enough not to spin on a broken config,
/// short enough that DingTalk redelivers little.
const RESTART_SEC: u32 = 5;

/// A graceful stop drains running turns; the gateway finishes well within this.
const STOP_TIMEOUT_SEC: u32 = 30;

/// Renders the unit, or says which path cannot be written into one.
pub fn render(spec: &UnitSpec) -> Result<String, String> {
    let exec = unit_path(&spec.exec)?;
    let config = unit_path(&spec.config)?;
    let state = unit_path(&spec.state_dir)?;
    let mut all = vec![state.clone()];
    for dir in &spec.writable {
        all.push(unit_path(dir)?);
    }
    // A directory inside another listed one is writable through it.
    let mut writable: Vec<String> = Vec::new();
    for (i, dir) in all.iter().enumerate() {
        let covered = all.iter().enumerate().any(|(j, other)| {
            let (d, o) = (Path::new(dir), Path::new(other));
            (d != o && d.starts_with(o)) || (d == o && j < i)
        });
        if !covered {
            writable.push(dir.clone());
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `clawtalk gateway install`; `clawtalk gateway uninstall` removes it."
    );
    out.push_str("[Unit]\nDescription=clawtalk DingTalk AI-agent gateway\n");
    out.push_str("Wants=network-online.target\nAfter=network-online.target\n\n");

    out.push_str("[Service]\nType=simple\n");
    let _ = writeln!(out, "ExecStart={exec} gateway run --config {config}");
    // The gateway reloads its config on SIGHUP (`systemctl reload clawtalk`).
    out.push_str("ExecReload=/bin/kill -HUP $MAINPID\n");
    out.push_str("Restart=on-failure\n");
    let _ = writeln!(out, "RestartSec={RESTART_SEC}");
    let _ = writeln!(out, "TimeoutStopSec={STOP_TIMEOUT_SEC}");
    let _ = writeln!(out, "Environment=CLAWTALK_STATE_DIR={state}");
    // Secrets referenced as ${VAR} in the config: the service does not see a login shell's
    // environment, so they go in this optional file (KEY=value lines, mode 0600).
    let _ = writeln!(out, "EnvironmentFile=-{state}/service.env");
    if let (Scope::System, Some(user)) = (spec.scope, &spec.user) {
        // The user's primary group is the default Group=.
        let _ = writeln!(out, "User={user}");
    }
    out.push_str("UMask=0077\n");
    out.push_str("NoNewPrivileges=yes\n");
    out.push_str("PrivateTmp=yes\n");
    out.push_str("ProtectSystem=strict\n");
    for dir in &writable {
        let _ = writeln!(out, "ReadWritePaths={dir}");
    }
    if spec.scope == Scope::System {
        // A user unit runs as its user to read that user's files; ProtectHome there would hide
        // the home directory it lives in. A system unit hides homes unless it needs one.
        let needs_home = std::iter::once(&spec.exec)
            .chain([&spec.config, &spec.state_dir])
            .chain(&spec.writable)
            .any(|p| under_home(p));
        let _ = writeln!(
            out,
            "ProtectHome={}",
            if needs_home { "read-only" } else { "yes" }
        );
        // Kernel and device restrictions that need the system manager's privileges.
        out.push_str("PrivateDevices=yes\nProtectKernelTunables=yes\nProtectKernelModules=yes\n");
        out.push_str("ProtectControlGroups=yes\nRestrictSUIDSGID=yes\n");
    }
    out.push_str("LockPersonality=yes\nRestrictRealtime=yes\n");
    out.push_str("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n\n");

    out.push_str("[Install]\n");
    let target = match spec.scope {
        Scope::System => "multi-user.target",
        Scope::User => "default.target",
    };
    let _ = writeln!(out, "WantedBy={target}");
    Ok(out)
}

/// What `ProtectHome=` hides.
fn under_home(path: &Path) -> bool {
    ["/home", "/root", "/run/user"]
        .iter()
        .any(|home| path.starts_with(home))
}

/// A path as a unit file may hold it: absolute, and free of characters systemd would split on
/// or interpret. `%` (specifiers) and `$` (variables) are doubled, which systemd reads back as
/// themselves.
fn unit_path(path: &Path) -> Result<String, String> {
    let text = path.to_str().ok_or_else(|| {
        format!(
            "{} is not valid UTF-8; a systemd unit cannot name it, so move it to a plain path",
            path.display()
        )
    })?;
    if !path.is_absolute() {
        return Err(format!("{text:?} is not an absolute path"));
    }
    if let Some(c) = text
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\' | ';'))
    {
        return Err(format!(
            "{text:?} contains {c:?}, which a systemd unit line would split or unquote; \
             use a path without spaces, quotes, backslashes or semicolons"
        ));
    }
    Ok(text.replace('%', "%%").replace('$', "$$"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(scope: Scope) -> UnitSpec {
        UnitSpec {
            scope,
            exec: "/usr/local/bin/clawtalk".into(),
            config: "/etc/clawtalk/clawtalk.json".into(),
            state_dir: "/var/lib/clawtalk".into(),
            writable: vec!["/etc/clawtalk".into(), "/var/lib/clawtalk/workspace".into()],
            user: Some("clawtalk".into()),
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn a_system_unit_is_hardened_and_runs_the_gateway_with_its_config() {
        let text = render(&spec(Scope::System)).unwrap();
        let l = lines(&text);
        for want in [
            "ExecStart=/usr/local/bin/clawtalk gateway run --config /etc/clawtalk/clawtalk.json",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "Restart=on-failure",
            "RestartSec=5",
            "User=clawtalk",
            "NoNewPrivileges=yes",
            "PrivateTmp=yes",
            "ProtectSystem=strict",
            "ReadWritePaths=/var/lib/clawtalk",
            "ReadWritePaths=/etc/clawtalk",
            "ProtectHome=yes",
            "Environment=CLAWTALK_STATE_DIR=/var/lib/clawtalk",
            "WantedBy=multi-user.target",
        ] {
            assert!(l.contains(&want), "missing {want:?} in\n{text}");
        }
        // The workspace lies inside the state directory: one line covers both.
        assert_eq!(text.matches("ReadWritePaths=").count(), 2, "{text}");

        let mut s = spec(Scope::System);
        s.writable = vec!["/srv/bot".into(), "/srv/bot".into()];
        s.state_dir = "/srv/bot/state".into();
        let text = render(&s).unwrap();
        assert_eq!(text.matches("ReadWritePaths=").count(), 1, "{text}");
        assert!(text.contains("\nReadWritePaths=/srv/bot\n"), "{text}");
    }

    #[test]
    fn a_system_unit_reading_from_a_home_keeps_homes_read_only() {
        let mut s = spec(Scope::System);
        s.state_dir = "/root/.clawtalk".into();
        s.user = None;
        let text = render(&s).unwrap();
        assert!(text.contains("\nProtectHome=read-only\n"), "{text}");
        assert!(text.contains("\nReadWritePaths=/root/.clawtalk\n"), "{text}");
        assert!(!text.contains("User="), "{text}");
    }

    #[test]
    fn a_user_unit_has_no_user_no_protect_home_and_starts_with_the_session() {
        let text = render(&spec(Scope::User)).unwrap();
        assert!(!text.contains("User=") && !text.contains("ProtectHome"), "{text}");
        assert!(!text.contains("PrivateDevices"), "{text}");
        assert!(text.contains("\nProtectSystem=strict\n"), "{text}");
        assert!(text.contains("\nWantedBy=default.target\n"), "{text}");
    }

    #[test]
    fn specifiers_and_variables_in_paths_are_escaped() {
        let mut s = spec(Scope::User);
        s.config = "/srv/100%/$HOME.json".into();
        let text = render(&s).unwrap();
        assert!(text.contains("--config /srv/100%%/$$HOME.json\n"), "{text}");
    }

    #[test]
    fn paths_a_unit_cannot_hold_are_refused_with_the_reason() {
        for (bad, why) in [
            ("/srv/my bot/clawtalk.json", "' '"),
            ("/srv/a\"b.json", "'\"'"),
            ("/srv/a\nExecStartPre=/bin/sh", "'\\n'"),
            ("relative.json", "not an absolute path"),
        ] {
            let mut s = spec(Scope::System);
            s.config = bad.into();
            let err = render(&s).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }
}
