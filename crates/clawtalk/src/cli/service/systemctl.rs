//! Driving `systemctl`: found on `PATH` (so tests can put a recording script there), with
//! `--user` for a user unit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, anyhow, bail};

use super::{Scope, UNIT_NAME};

/// A `systemctl` that can be run, for one scope.
pub struct Systemctl {
    program: PathBuf,
    scope: Scope,
}

impl Systemctl {
    /// Finds `systemctl` and checks that systemd runs the machine (`<root>/run/systemd/system`
    /// exists, the test sd_booted(3) makes), so a container or another init gets a clear
    /// refusal instead of a confusing bus error.
    pub fn find(scope: Scope, root: &Path) -> anyhow::Result<Self> {
        let booted = root.join("run/systemd/system");
        if !booted.is_dir() {
            bail!(
                "systemd is not running on this machine ({} does not exist), so there is no service \
                 manager to install clawtalk into; run `clawtalk gateway run` under your own \
                 supervisor (a container's restart policy, runit, s6, supervisord) instead",
                booted.display()
            );
        }
        let program = on_path("systemctl").ok_or_else(|| {
            anyhow!("systemd seems to run but `systemctl` is not on PATH; add its directory (usually /usr/bin) to PATH")
        })?;
        Ok(Self { program, scope })
    }

    /// Runs `systemctl [--user] <args…>`, failing with its own words when it fails.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = self
            .command(args)
            .output()
            .with_context(|| format!("cannot run {}", self.program.display()))?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.trim();
        bail!(
            "`{}` failed ({}){}",
            self.display(args),
            output.status,
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        )
    }

    /// The unit's state from `systemctl show` (`LoadState`, `ActiveState`, `SubState`,
    /// `UnitFileState`, `MainPID`).
    pub fn show(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let text = self.run(&[
            "show",
            UNIT_NAME,
            "--property=LoadState,ActiveState,SubState,UnitFileState,MainPID",
        ])?;
        Ok(text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        if self.scope == Scope::User {
            command.arg("--user");
        }
        command.args(args);
        command
    }

    /// The command line as the operator would type it.
    pub fn display(&self, args: &[&str]) -> String {
        let mut words = vec!["systemctl"];
        if self.scope == Scope::User {
            words.push("--user");
        }
        words.extend_from_slice(args);
        words.join(" ")
    }
}

/// The first executable `name` in `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// One line for `gateway status`: the unit's state as systemd reports it.
pub fn describe(state: &BTreeMap<String, String>, scope: Scope) -> String {
    let get = |k: &str| state.get(k).map_or("", String::as_str);
    if get("LoadState") == "not-found" {
        return format!(
            "service: not installed ({} {UNIT_NAME}; `clawtalk gateway install` adds it)",
            scope.noun()
        );
    }
    let mut line = format!("service: {} ({})", get("ActiveState"), get("SubState"));
    match get("UnitFileState") {
        "" => {}
        file_state => line.push_str(&format!(", {file_state}")),
    }
    match get("MainPID") {
        "" | "0" => {}
        pid => line.push_str(&format!(", pid {pid}")),
    }
    line.push_str(&format!("; {} {UNIT_NAME}", scope.noun()));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_running_unit_is_described_with_its_pid() {
        let s = state(&[
            ("LoadState", "loaded"),
            ("ActiveState", "active"),
            ("SubState", "running"),
            ("UnitFileState", "enabled"),
            ("MainPID", "4242"),
        ]);
        assert_eq!(
            describe(&s, Scope::System),
            "service: active (running), enabled, pid 4242; system unit clawtalk.service"
        );
    }

    #[test]
    fn a_missing_unit_says_how_to_add_it() {
        let s = state(&[("LoadState", "not-found"), ("ActiveState", "inactive")]);
        let line = describe(&s, Scope::User);
        assert!(line.starts_with("service: not installed (user unit"), "{line}");
        assert!(line.contains("clawtalk gateway install"), "{line}");
    }

    #[test]
    fn a_machine_without_systemd_is_refused_with_what_to_do() {
        let root = tempfile::tempdir().unwrap();
        let err = Systemctl::find(Scope::System, root.path())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("systemd is not running"), "{err}");
        assert!(err.contains("clawtalk gateway run"), "{err}");
    }
}
