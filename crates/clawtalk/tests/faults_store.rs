//! Fault suite, the store: the disk under the SQLite database fills up while turns run and
//! messages arrive. Frames that cannot be stored are not acknowledged (DingTalk delivers
//! them again), the gateway says why in its log and stays up, and once there is space again
//! every message is answered exactly once.
//!
//! The state directory is a small tmpfs, filled with a filler file: that needs root (CI runs
//! as root); elsewhere the test says it was skipped.

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use dingtalk_sim::DeliveryStatus;
use llm_mock::Script;
use support::faults::{self, Expect};
use support::world::{ConfigExtras, OPEN};
use support::{TIMEOUT, World, WorldOptions, wait_until};

/// A tmpfs mounted at a directory for the test's lifetime.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// `None` when this process may not mount (not root, or no tmpfs).
    fn mount(dir: &Path, size_mb: u32) -> Option<Self> {
        std::fs::create_dir_all(dir).expect("create the mount point");
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size_mb}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .ok()?;
        status.success().then(|| Self {
            dir: dir.to_path_buf(),
        })
    }

    /// Writes a file until the file system is full; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.dir.join("filler");
        let mut file = std::fs::File::create(&path).expect("create the filler");
        for chunk in [1 << 20, 4096, 512] {
            let block = vec![0xa5_u8; chunk];
            while file.write_all(&block).and_then(|()| file.flush()).is_ok() {}
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: the gateway (dropped, so killed, before this) may still be closing its files.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_delays_messages_but_loses_and_repeats_none() {
    let world = World::start_with(WorldOptions {
        model_delays: true,
        ..WorldOptions::default()
    })
    .await;
    let Some(disk) = Tmpfs::mount(&world.state_dir(), 24) else {
        eprintln!("skipped: cannot mount a tmpfs (needs root) to fill the store's disk");
        return;
    };
    let config = world.write_config(&world.config_with(&ConfigExtras {
        channels: OPEN,
        gateway: "turnLeaseSeconds: 3,",
        ..ConfigExtras::default()
    }));
    let mut gateway = world.start_gateway(&config).await;
    let mut asked = faults::ask_many(&world, "warm", 0, 2);
    faults::wait_all_replied(&world, &asked, TIMEOUT).await;

    // Turns at the model when the disk fills: their results cannot be written.
    for i in 0..3 {
        let tag = faults::tag("midturn", i);
        world.model.push(
            Script::text(format!("The answer to {tag}."))
                .delay(Duration::from_millis(2500), Duration::ZERO)
                .when_last_user_contains(tag),
        );
    }
    let running = faults::ask_many(&world, "midturn", 0, 3);
    for a in &running {
        world.wait_request_for(&a.tag).await;
    }
    let filler = disk.fill();
    asked.extend(running);

    // Messages while the disk is full: not stored, so not acknowledged, so delivered again.
    let refused = faults::ask_many(&world, "full", 0, 5);
    wait_until("the unstorable messages to be delivered again", TIMEOUT, || {
        refused
            .iter()
            .all(|a| {
                world
                    .sim
                    .delivery(&a.msg_id)
                    .is_some_and(|d| d.pushes.len() >= 2 && d.status != DeliveryStatus::Acked)
            })
            .then_some(())
    })
    .await;
    // Two lease periods: the failed turns are picked up again while the disk is still full.
    tokio::time::sleep(Duration::from_secs(7)).await;
    gateway.assert_running();
    let log = gateway.log();
    assert!(
        log.contains("cannot store an inbound message"),
        "the log says why messages are not acknowledged"
    );
    assert!(!log.contains("panicked"), "no task panicked on the full disk");
    asked.extend(refused);

    std::fs::remove_file(&filler).expect("free the disk");
    let db = world.state_dir().join("clawtalk.db");
    faults::assert_settled_once(&world, &db, &asked, TIMEOUT * 2, |_| Expect::Answer).await;
    for a in asked.iter().filter(|a| a.tag.starts_with("[midturn")) {
        assert_eq!(
            world.requests_for(&a.tag).len(),
            2,
            "{}: the turn whose result could not be written ran again, once",
            a.tag
        );
    }
    drop(gateway);
    drop(disk);
}
