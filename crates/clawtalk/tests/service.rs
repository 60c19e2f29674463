//! `clawtalk gateway install|uninstall|start|stop|restart|status` as real processes, writing
//! into a temp root (`--root`) and driving a fake `systemctl` on PATH that records what it was
//! asked.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;
use tempfile::TempDir;

/// A temp dir with a root tree (systemd "booted", a `clawtalk` account), a config, and a bin dir
/// holding the fake `systemctl`.
struct Host {
    dir: TempDir,
}

impl Host {
    fn new() -> Self {
        let host = Self {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        std::fs::create_dir_all(host.root().join("run/systemd/system")).unwrap();
        std::fs::create_dir_all(host.root().join("etc")).unwrap();
        std::fs::write(
            host.root().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/bash\nclawtalk:x:998:997::/var/lib/clawtalk:/usr/sbin/nologin\n",
        )
        .unwrap();
        std::fs::create_dir_all(host.bin()).unwrap();
        let script = host.bin().join("systemctl");
        // Records its arguments; `show` answers like a running unit; an argument list containing
        // $SYSTEMCTL_FAIL fails the way systemctl does.
        std::fs::write(
            &script,
            "#!/bin/sh\n\
             echo \"$*\" >> \"$SYSTEMCTL_LOG\"\n\
             if [ -n \"$SYSTEMCTL_FAIL\" ]; then case \"$*\" in *\"$SYSTEMCTL_FAIL\"*) \
             echo 'Failed to enable unit: Access denied' >&2; exit 1;; esac; fi\n\
             case \"$1 $2\" in *show*) printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\n\
             UnitFileState=enabled\\nMainPID=4242\\n';; esac\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = json!({
            "gateway": { "stateDir": host.state_dir() },
            "agents": { "defaults": { "model": "mock/m" } },
            "models": { "providers": { "mock": { "baseUrl": "http://127.0.0.1:9/v1", "apiKey": "x" } } },
            "channels": { "dingtalk": { "clientId": "dingservicetest", "clientSecret": "${BOT_SECRET}" } },
        });
        std::fs::create_dir_all(host.config().parent().unwrap()).unwrap();
        std::fs::write(host.config(), config.to_string()).unwrap();
        host
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn root(&self) -> PathBuf {
        self.path().join("root")
    }
    fn bin(&self) -> PathBuf {
        self.path().join("bin")
    }
    fn home(&self) -> PathBuf {
        self.path().join("home")
    }
    fn config(&self) -> PathBuf {
        self.path().join("etc-clawtalk/clawtalk.json")
    }
    fn state_dir(&self) -> PathBuf {
        self.path().join("state")
    }
    fn log(&self) -> PathBuf {
        self.path().join("systemctl.log")
    }
    fn system_unit(&self) -> PathBuf {
        self.root().join("etc/systemd/system/clawtalk.service")
    }
    fn user_unit(&self) -> PathBuf {
        let home = self.home();
        self.root()
            .join(home.strip_prefix("/").unwrap())
            .join(".config/systemd/user/clawtalk.service")
    }

    /// What the fake systemctl was asked, one call a line.
    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// `clawtalk <args> --root <root>` with PATH = the fake bin dir only.
    fn run(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_clawtalk"));
        command
            .env_clear()
            .env("HOME", self.home())
            .env("PATH", self.bin())
            .env("SYSTEMCTL_LOG", self.log())
            .env("BOT_SECRET", "s3cret-from-the-shell")
            .env("RUST_LOG", "warn")
            .args(args)
            .arg("--root")
            .arg(self.root());
        for (k, v) in extra_env {
            command.env(k, v);
        }
        command.output().expect("run clawtalk")
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

fn fails_with(out: &Output, needle: &str) -> String {
    assert_eq!(out.status.code(), Some(1), "stdout: {}", stdout(out));
    let err = stderr(out);
    assert!(err.starts_with("error: ") && err.contains(needle), "{err}");
    err
}

#[test]
fn install_writes_a_hardened_system_unit_reloads_and_enables_it() {
    let host = Host::new();
    let config = host.config().display().to_string();
    let out = ok(&host.run(
        &["gateway", "install", "--scope", "system", "--config", &config],
        &[],
    ));

    let unit = std::fs::read_to_string(host.system_unit()).expect("unit written");
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_clawtalk")).unwrap();
    let state = host.state_dir().display().to_string();
    let lines: Vec<&str> = unit.lines().collect();
    for want in [
        format!("ExecStart={} gateway run --config {config}", exe.display()),
        "ExecReload=/bin/kill -HUP $MAINPID".to_owned(),
        "Restart=on-failure".to_owned(),
        "User=clawtalk".to_owned(),
        "NoNewPrivileges=yes".to_owned(),
        "PrivateTmp=yes".to_owned(),
        "ProtectSystem=strict".to_owned(),
        format!("ReadWritePaths={state}"),
        format!("ReadWritePaths={}", host.config().parent().unwrap().display()),
        format!("Environment=CLAWTALK_STATE_DIR={state}"),
        "WantedBy=multi-user.target".to_owned(),
    ] {
        assert!(lines.contains(&want.as_str()), "missing {want:?} in\n{unit}");
    }
    assert!(unit.contains("\nProtectHome="), "{unit}");
    assert!(!unit.contains("s3cret"), "{unit}");

    assert_eq!(
        host.calls(),
        ["daemon-reload", "enable clawtalk.service"],
        "{out}"
    );
    assert!(out.starts_with("wrote system unit "), "{out}");
    assert!(out.contains("as user clawtalk (uid 998)"), "{out}");
    // The config names ${BOT_SECRET}, which the service cannot see in the installer's shell.
    assert!(out.contains("service.env"), "{out}");
    // The state directory exists, owner-only, so ProtectSystem=strict can make it writable.
    let mode = std::fs::metadata(host.state_dir()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);

    // Again: the same text is kept, and systemd is reloaded all the same.
    let again = ok(&host.run(
        &["gateway", "install", "--scope", "system", "--config", &config],
        &[],
    ));
    assert!(again.starts_with("kept (unchanged) system unit"), "{again}");

    // Lifecycle verbs reach systemctl and report the unit's state.
    let out = ok(&host.run(&["gateway", "restart", "--scope", "system"], &[]));
    assert_eq!(
        out.trim(),
        "service: active (running), enabled, pid 4242; system unit clawtalk.service"
    );
    ok(&host.run(&["gateway", "stop", "--scope", "system"], &[]));
    ok(&host.run(&["gateway", "start", "--scope", "system"], &[]));
    let calls = host.calls();
    for want in [
        "restart clawtalk.service",
        "stop clawtalk.service",
        "start clawtalk.service",
    ] {
        assert!(calls.iter().any(|c| c == want), "{want} not in {calls:?}");
    }

    // `gateway status` shows the service beside the (absent) gateway.
    let out = host.run(
        &["gateway", "status", "--scope", "system", "--config", &config],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.starts_with("service: active (running), enabled, pid 4242; system unit"),
        "{text}"
    );
    assert!(text.contains("gateway: not running"), "{text}");
    let out = host.run(
        &[
            "gateway", "status", "--scope", "system", "--config", &config, "--json",
        ],
        &[],
    );
    let value: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert_eq!(value["running"], false);
    assert_eq!(value["service"]["activeState"], "active");
    assert_eq!(value["service"]["mainPid"], 4242);

    // Uninstall stops, disables, removes and reloads; the state stays.
    let out = ok(&host.run(&["gateway", "uninstall", "--scope", "system"], &[]));
    assert!(out.contains("removed"), "{out}");
    assert!(!host.system_unit().exists());
    assert!(host.state_dir().is_dir());
    let calls = host.calls();
    assert_eq!(
        calls[calls.len() - 2..],
        ["disable --now clawtalk.service", "daemon-reload"]
    );
}

#[test]
fn a_user_unit_goes_under_the_home_and_uses_systemctl_user() {
    let host = Host::new();
    let config = host.config().display().to_string();
    let out = ok(&host.run(
        &["gateway", "install", "--scope", "user", "--config", &config],
        &[],
    ));
    let unit = std::fs::read_to_string(host.user_unit()).expect("user unit written");
    assert!(!unit.contains("User=") && !unit.contains("ProtectHome"), "{unit}");
    assert!(unit.contains("\nWantedBy=default.target\n"), "{unit}");
    assert_eq!(
        host.calls(),
        ["--user daemon-reload", "--user enable clawtalk.service"]
    );
    assert!(out.contains("loginctl enable-linger"), "{out}");

    // XDG_CONFIG_HOME moves it.
    let xdg = host.home().join("xdg");
    let xdg_arg = xdg.display().to_string();
    ok(&host.run(
        &["gateway", "install", "--scope", "user", "--config", &config],
        &[("XDG_CONFIG_HOME", &xdg_arg)],
    ));
    let moved = host
        .root()
        .join(xdg.strip_prefix("/").unwrap())
        .join("systemd/user/clawtalk.service");
    assert!(moved.is_file(), "{}", moved.display());

    assert_eq!(
        fails_with(
            &host.run(
                &[
                    "gateway",
                    "install",
                    "--scope",
                    "user",
                    "--config",
                    &config,
                    "--service-user",
                    "clawtalk"
                ],
                &[],
            ),
            "--service-user is for system units",
        )
        .lines()
        .count(),
        1
    );
}

#[test]
fn refusals_are_clear_and_write_nothing() {
    let host = Host::new();
    let config = host.config().display().to_string();

    // No systemd on the "machine".
    std::fs::remove_dir_all(host.root().join("run")).unwrap();
    fails_with(
        &host.run(
            &["gateway", "install", "--scope", "system", "--config", &config],
            &[],
        ),
        "systemd is not running",
    );
    fails_with(
        &host.run(&["gateway", "start", "--scope", "system"], &[]),
        "systemd is not running",
    );
    assert!(!host.system_unit().exists());
    let out = host.run(
        &["gateway", "status", "--scope", "system", "--config", &config],
        &[],
    );
    assert!(
        stdout(&out).starts_with("service: none (systemd is not running here)"),
        "{}",
        stdout(&out)
    );
    std::fs::create_dir_all(host.root().join("run/systemd/system")).unwrap();

    // An account that does not exist.
    fails_with(
        &host.run(
            &[
                "gateway",
                "install",
                "--scope",
                "system",
                "--config",
                &config,
                "--service-user",
                "ghost",
            ],
            &[],
        ),
        "there is no user \"ghost\"",
    );
    // Not installed yet.
    fails_with(
        &host.run(&["gateway", "restart", "--scope", "system"], &[]),
        "run `clawtalk gateway install` first",
    );
    // A config that does not load.
    let broken = host.path().join("broken.json");
    std::fs::write(
        &broken,
        r#"{ channels: { dingtalk: { dmPolicy: "sometimes" } } }"#,
    )
    .unwrap();
    let err = fails_with(
        &host.run(
            &[
                "gateway",
                "install",
                "--scope",
                "system",
                "--config",
                &broken.display().to_string(),
            ],
            &[],
        ),
        "dmPolicy",
    );
    assert!(err.contains("clawtalk config validate"), "{err}");
    assert!(!host.system_unit().exists());
    assert!(host.calls().is_empty(), "{:?}", host.calls());

    // systemctl's own refusal is passed on with the command that failed.
    let err = fails_with(
        &host.run(
            &["gateway", "install", "--scope", "system", "--config", &config],
            &[("SYSTEMCTL_FAIL", "enable")],
        ),
        "`systemctl enable clawtalk.service` failed",
    );
    assert!(err.contains("Access denied"), "{err}");
}
