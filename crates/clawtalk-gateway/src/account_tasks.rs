//! One account's tasks, started at start-up and by reloads: its intake lanes and its Stream
//! connection (and, at start-up only, its card callback route's registration); and their end
//! when a reload removes the account (drain, then disconnect).

use std::sync::Arc;
use std::time::Duration;

use crate::Shared;
use crate::account_control::{AccountControl, StreamControl};
use crate::accounts;
use crate::card_route;
use crate::intake::{self, lanes::LaneReceiver};
use clawtalk_config::{Config, ConnectionMode, DingTalkAccount};
use clawtalk_core::ids::AccountId;

/// The longest a removed account's taken messages may take to be answered before its
/// connection closes anyway (what is unfinished then stays in the store).
const DRAIN_LIMIT: Duration = Duration::from_secs(300);
/// How long no turn of a draining account must run before it counts as drained: a message
/// its lanes just admitted is claimed by the scheduler within this time.
const DRAIN_QUIET: Duration = Duration::from_millis(300);
/// How long a closing Stream connection may take to say goodbye.
const CLOSE_LIMIT: Duration = Duration::from_secs(10);

/// Builds the runtime of `account` (not yet running) and returns what its lanes task reads.
pub(crate) fn install(shared: &Arc<Shared>, config: &Config, account: &DingTalkAccount) -> LaneReceiver {
    let (sender, receiver) = accounts::lanes();
    let runtime = accounts::build_one(
        config,
        account,
        &shared.store,
        &shared.clock,
        sender,
        Arc::new(AccountControl::default()),
        &shared.usage,
    );
    shared
        .accounts
        .insert(AccountId::new(account.id.as_str()), Arc::new(runtime));
    shared.status.update(&account.id, |_| {});
    receiver
}

/// Runs `account`'s intake lanes until it is removed or the gateway stops.
pub(crate) fn spawn_lanes(shared: &Arc<Shared>, account: DingTalkAccount, lanes: LaneReceiver) {
    shared
        .tasks
        .spawn(intake::lanes::run(Arc::clone(shared), account, lanes));
}

/// Opens `account`'s Stream connection, closing the one it had (a changed secret or
/// endpoint reconnects this way).
pub(crate) fn connect(shared: &Arc<Shared>, account: &DingTalkAccount) {
    let Some(runtime) = shared.account(&account.id) else {
        return;
    };
    let stream = StreamControl::default();
    if let Some(previous) = runtime.control.swap_stream(Some(stream.clone())) {
        previous.close.cancel();
    }
    shared.tasks.spawn(intake::stream::run(
        Arc::clone(shared),
        account.clone(),
        Arc::clone(&runtime.control),
        stream,
    ));
}

/// Registers `account`'s card callback route with DingTalk in the background, when it has one
/// (an HTTP-mode account with `cardCallbackUrl`): at start, and when a reload adds the route
/// or changes it (`reload/reconcile.rs`).
pub(crate) fn register_card_route(shared: &Arc<Shared>, account: &DingTalkAccount) {
    if card_route::of(account).is_some() {
        shared
            .tasks
            .spawn(card_route::keep_registered(Arc::clone(shared), account.clone()));
    }
}

/// Closes `account`'s Stream connection, if it has one (it now receives over HTTP, say).
pub(crate) fn disconnect(shared: &Shared, account_id: &str) {
    if let Some(previous) = shared
        .account(account_id)
        .and_then(|runtime| runtime.control.swap_stream(None))
    {
        previous.close.cancel();
    }
}

/// Starts an account a reload added.
pub(crate) fn start(shared: &Arc<Shared>, config: &Config, account: &DingTalkAccount) {
    let lanes = install(shared, config, account);
    spawn_lanes(shared, account.clone(), lanes);
    if account.mode == ConnectionMode::Stream {
        connect(shared, account);
    }
}

/// Ends an account a reload removed or disabled: it takes no new messages, the ones it took
/// are admitted and their turns finish (their replies go out through its runtime), then its
/// connection closes and its runtime goes.
pub(crate) async fn retire(shared: Arc<Shared>, account_id: String) {
    let Some(runtime) = shared.account(&account_id) else {
        return;
    };
    let control = Arc::clone(&runtime.control);
    drop(runtime);
    control.stop.cancel();
    tracing::info!(account = %account_id, "account removed from the config: draining");
    let drained = tokio::select! {
        () = shared.shutdown.cancelled() => return,
        drained = tokio::time::timeout(DRAIN_LIMIT, drain(&control)) => drained.is_ok(),
    };
    if !drained {
        tracing::warn!(account = %account_id, limit = ?DRAIN_LIMIT, "removed account still busy; disconnecting anyway (unfinished turns stay in the store)");
    }
    if let Some(stream) = control.swap_stream(None) {
        stream.close.cancel();
        let _ = tokio::time::timeout(CLOSE_LIMIT, stream.closed.cancelled()).await;
    }
    // Unless a later reload brought the account back meanwhile (a new runtime).
    if shared
        .account(&account_id)
        .is_some_and(|now| Arc::ptr_eq(&now.control, &control))
    {
        shared.accounts.remove(&account_id);
        shared.status.forget(&account_id);
    }
    tracing::info!(account = %account_id, "removed account drained and disconnected");
}

/// Waits until the account's lanes have admitted what they took and none of its turns runs.
async fn drain(control: &AccountControl) {
    control.lanes_done.cancelled().await;
    loop {
        while control.turns_running() > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(DRAIN_QUIET).await;
        if control.turns_running() == 0 {
            return;
        }
    }
}
