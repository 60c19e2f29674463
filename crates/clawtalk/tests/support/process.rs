//! The gateway as a child process: `clawtalk gateway run`, with a cleared environment.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running `clawtalk` child. Dropping it kills it (SIGKILL) and reaps it, so a failing test
/// never leaves a gateway behind; when the test is panicking, the log is printed first.
pub struct GatewayProcess {
    child: Child,
    log: PathBuf,
    exited: Option<ExitStatus>,
}

/// What to run.
pub struct Launch<'a> {
    /// The HOME of the child (the test's temp dir).
    pub home: &'a Path,
    /// `--config PATH`; `None` lets the gateway search (`~/.clawtalk`, `~/.openclaw`).
    pub config: Option<&'a Path>,
    /// Extra environment variables (everything else is cleared).
    pub env: &'a [(String, String)],
    /// Where stdout and stderr go.
    pub log: PathBuf,
    /// `--port`; `None` = 0, a free one. A test that must name the port in the config before
    /// the start (a callback URL DingTalk is told) picks one.
    pub port: Option<u16>,
}

/// The lease owner name every incarnation in a test shares, so a restarted gateway takes
/// over the turns of the one it replaces (as a restarted service on the same host does).
pub const INSTANCE: &str = "e2e";

impl GatewayProcess {
    /// Spawns `clawtalk gateway run`.
    pub fn spawn(launch: &Launch<'_>) -> Self {
        Self::spawn_with(launch, |_| {})
    }

    /// [`GatewayProcess::spawn`], with `adjust` applied to the command last (resource limits
    /// set in `pre_exec`, say).
    pub fn spawn_with(launch: &Launch<'_>, adjust: impl FnOnce(&mut Command)) -> Self {
        let log = File::create(&launch.log).expect("create the gateway log file");
        let log_err = log.try_clone().expect("clone the log file handle");
        let mut command = Command::new(env!("CARGO_BIN_EXE_clawtalk"));
        // A free port for the web UI (on by default), so tests can run side by side; the
        // address is logged ("web UI listening on http://…").
        let port = launch.port.unwrap_or(0).to_string();
        command.args(["gateway", "run", "--port", &port]);
        if let Some(config) = launch.config {
            command.arg("--config").arg(config);
        }
        command
            .env_clear()
            .env("HOME", launch.home)
            .env("CLAWTALK_INSTANCE", INSTANCE)
            .env("RUST_LOG", "info,clawtalk=debug,dingtalk=info")
            .env("RUST_BACKTRACE", "1")
            .env("NO_COLOR", "1")
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        adjust(&mut command);
        let child = command.spawn().expect("spawn the clawtalk binary");
        Self {
            child,
            log: launch.log.clone(),
            exited: None,
        }
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the log when the process has exited (e.g. a config error at start-up).
    pub fn assert_running(&mut self) {
        if let Some(status) = self.try_exit() {
            panic!("the gateway exited early with {status}; its log:\n{}", self.log());
        }
    }

    fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("poll the gateway process");
        }
        self.exited
    }

    /// SIGKILL: no chance to clean up, like a power cut or the OOM killer.
    pub fn kill(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            self.exited = Some(self.child.wait().expect("reap the killed gateway"));
        }
    }

    /// SIGTERM, what service managers send: the gateway should drain and exit.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM {} failed: {status}", self.pid());
    }

    /// Waits for the process to exit; panics (and kills it) after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return status;
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!(
                    "the gateway did not exit within {timeout:?}; its log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(200).collect();
            eprintln!(
                "----- gateway log {} (last {} lines) -----",
                self.log.display(),
                tail.len()
            );
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
            eprintln!("----- end of gateway log -----");
        }
        self.kill();
    }
}

/// Runs `clawtalk <args>` to completion off the async runtime (the simulator serves on it
/// meanwhile), with a cleared environment and `home` as HOME.
pub async fn run_cli(home: &Path, args: &[&str]) -> std::process::Output {
    let home = home.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_clawtalk"))
            .env_clear()
            .env("HOME", home)
            .env("RUST_LOG", "warn")
            .args(args)
            .output()
            .expect("run clawtalk")
    })
    .await
    .expect("join")
}
