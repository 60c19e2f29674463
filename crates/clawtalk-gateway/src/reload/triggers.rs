//! What starts a reload: the config file changing on disk, and SIGHUP (the web console
//! calls [`super::reload_now`] itself).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::{Trigger, reload_now};
use crate::Shared;

/// Quiet time after the last change of the file before it is read: editors write a file in
/// several steps (truncate and write, or write a temp file and rename it over).
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Starts the file watcher (when the configuration came from a file) and the SIGHUP
/// handler, until shutdown.
pub(crate) fn spawn(shared: &Arc<Shared>, file: Option<&Path>) {
    if let Some(file) = file {
        match watch_file(file) {
            Ok((watcher, changes)) => {
                shared
                    .tasks
                    .spawn(follow_file(Arc::clone(shared), watcher, changes));
            }
            Err(error) => tracing::warn!(
                file = %file.display(),
                error = %format!("{error:#}"),
                "cannot watch the config file; reload with SIGHUP or the web console"
            ),
        }
    }
    #[cfg(unix)]
    shared.tasks.spawn(on_sighup(Arc::clone(shared)));
}

/// Watches the directory of `file` (an editor that replaces the file by a rename leaves a
/// watch on the file itself watching nothing) and reports changes of `file` only.
fn watch_file(file: &Path) -> anyhow::Result<(notify::RecommendedWatcher, mpsc::UnboundedReceiver<()>)> {
    let file = std::path::absolute(file)?;
    let dir = file
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let name = file.file_name().map(ToOwned::to_owned);
    let (sender, changes) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let ours = match &event {
            Ok(event) => {
                !event.kind.is_access() && event.paths.iter().any(|p| p.file_name() == name.as_deref())
            }
            // A lost event (queue overflow) may have been ours.
            Err(_) => true,
        };
        if ours {
            let _ = sender.send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    tracing::info!(file = %file.display(), "watching the config file for changes");
    Ok((watcher, changes))
}

/// Reloads after each burst of changes of the file.
async fn follow_file(
    shared: Arc<Shared>,
    // Held: dropping it stops the watch.
    _watcher: notify::RecommendedWatcher,
    mut changes: mpsc::UnboundedReceiver<()>,
) {
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            change = changes.recv() => if change.is_none() { return },
        }
        while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, changes.recv()).await {}
        if shared.shutdown.is_cancelled() {
            return;
        }
        tracing::info!("the config file changed: reloading");
        reload_now(&shared, Trigger::File).await;
    }
}

/// SIGHUP reloads, as daemons do (`systemctl reload`, `kill -HUP`), whatever
/// `gateway.reload.mode` says.
#[cfg(unix)]
async fn on_sighup(shared: Arc<Shared>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; reload from the web console");
            return;
        }
    };
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            hangup = hangups.recv() => if hangup.is_none() { return },
        }
        tracing::info!("SIGHUP: reloading the configuration");
        reload_now(&shared, Trigger::Signal).await;
    }
}
