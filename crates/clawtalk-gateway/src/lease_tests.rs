//! Keeping a turn's lease through a store that fails renewals for a while, and giving the turn
//! up before its lease can lapse when the store keeps failing.

use std::sync::Arc;
use std::time::Duration;

use clawtalk_core::clock::{EpochMs, SystemClock};
use clawtalk_core::ids::AccountId;
use clawtalk_store::{
    ClaimScope, Dispatch, InboundRecord, RecordOutcome, SqliteStore, Store, StoreError, StoredInbound,
};
use dingtalk::ids::{ConversationId, MsgId, RobotCode, StaffId};
use sqlx::ConnectOptions as _;

use crate::Shared;

/// The shortest lease the configuration allows.
const LEASE: Duration = Duration::from_secs(3);

struct Harness {
    shared: Arc<Shared>,
    state: tempfile::TempDir,
}

impl Harness {
    async fn new() -> Self {
        let state = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(state.path().join("clawtalk.db")).await.unwrap());
        let config = clawtalk_config::test_support::config(&format!(
            r#"{{ agents: {{ list: [ {{ id: "main", model: "deepseek/deepseek-chat" }} ] }},
                 gateway: {{ stateDir: "{}", turnLeaseSeconds: {} }} }}"#,
            state.path().display(),
            LEASE.as_secs()
        ));
        let (shared, _receivers) =
            Shared::new(Arc::new(config), store, "test", Arc::new(SystemClock)).unwrap();
        Self { shared, state }
    }

    /// A turn claimed by this gateway just now, marked running here.
    async fn claimed_turn(&self) -> StoredInbound {
        self.claimed_turn_asked(Duration::ZERO).await
    }

    /// A turn whose claim was asked `ago` (and took that long to come back), marked running
    /// here now.
    async fn claimed_turn_asked(&self, ago: Duration) -> StoredInbound {
        let store = &self.shared.store;
        let now = EpochMs::from_millis(
            self.shared.clock.now().as_millis() - i64::try_from(ago.as_millis()).unwrap(),
        );
        let record = InboundRecord {
            account_id: AccountId::new("default"),
            robot_code: RobotCode::new("dingbot"),
            msg_id: MsgId::new("m1"),
            conversation_id: ConversationId::new("cidA"),
            sender_staff_id: Some(StaffId::new("0312")),
            session_key: "s1".into(),
            received_at_ms: now,
            raw_payload_json: r#"{"msgId":"m1"}"#.into(),
            text: "hello".into(),
        };
        let RecordOutcome::New(id) = store.record_inbound(record).await.unwrap() else {
            panic!("new");
        };
        store.dispatch_inbound(id, Dispatch::Queue, now).await.unwrap();
        let turn = store
            .claim_next_turn(ClaimScope::Any, &self.shared.me, self.shared.lease_ms(), now)
            .await
            .unwrap()
            .expect("claimed");
        assert!(super::enter(&self.shared, &turn));
        turn
    }

    /// Runs `sql` on the store's file behind its back.
    async fn execute(&self, sql: &str) {
        let mut db = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(self.state.path().join("clawtalk.db"))
            .connect()
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut db)
            .await
            .unwrap();
    }

    /// From now on every lease renewal fails, as when the store is too busy to take it.
    async fn fail_renewals(&self) {
        self.execute(
            "CREATE TRIGGER no_renewals BEFORE UPDATE OF lease_expires_at_ms ON inbox \
             WHEN OLD.status = 'running' AND NEW.status = 'running' \
             BEGIN SELECT RAISE(ABORT, 'database is locked'); END",
        )
        .await;
    }

    async fn expires_at(&self, turn: &StoredInbound) -> EpochMs {
        let row = self.shared.store.inbound(turn.id).await.unwrap().unwrap();
        row.lease.expect("leased").expires_at_ms
    }

    /// With every renewal failing, keeps `turn`'s lease as on a store other gateways share
    /// (which may claim the turn once its lease lapses); asserts that the turn was given up
    /// before the lease its claim stored lapsed, and returns when (and that expiry).
    async fn gives_up_in_time(&self, turn: &StoredInbound) -> (EpochMs, EpochMs) {
        let claimed_until = self.expires_at(turn).await;
        self.fail_renewals().await;
        let kept = super::keep(&self.shared, turn, true);
        let outcome = tokio::time::timeout(LEASE * 2, kept).await;
        let gave_up_at = self.shared.clock.now();
        assert!(
            matches!(outcome, Ok(StoreError::LeaseLost { id }) if id == turn.id),
            "{outcome:?}"
        );
        assert!(
            gave_up_at < claimed_until,
            "gave up at {gave_up_at:?}, after the lease lapsed at {claimed_until:?}"
        );
        (gave_up_at, claimed_until)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_whose_renewals_keep_failing_gives_up_before_its_lease_lapses() {
    let harness = Harness::new().await;
    let turn = harness.claimed_turn().await;
    let (gave_up_at, claimed_until) = harness.gives_up_in_time(&turn).await;
    // It tried again and again in between, not once.
    assert!(
        claimed_until.since(gave_up_at) < LEASE / 2,
        "gave up {:?} before the lease lapsed",
        claimed_until.since(gave_up_at)
    );
}

/// A claim that waited for the store leaves less of the lease than a whole one from when it
/// came back: the turn gives up before the lease the claim stored lapses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_claimed_slowly_gives_up_before_the_lease_its_claim_stored_lapses() {
    let harness = Harness::new().await;
    let turn = harness.claimed_turn_asked(LEASE / 2).await;
    harness.gives_up_in_time(&turn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_that_fail_for_a_while_are_retried_and_the_turn_keeps_its_lease() {
    let harness = Harness::new().await;
    let turn = harness.claimed_turn().await;
    let claimed_until = harness.expires_at(&turn).await;
    harness.fail_renewals().await;
    let kept = super::keep(&harness.shared, &turn, true);
    let heal = async {
        // Past the first renewal (a third of the lease), well before the lease lapses.
        tokio::time::sleep(LEASE / 2).await;
        harness.execute("DROP TRIGGER no_renewals").await;
        tokio::time::sleep(LEASE * 2).await;
    };
    tokio::select! {
        lost = kept => panic!("gave the turn up: {lost:?}"),
        () = heal => {}
    }
    let now = harness.shared.clock.now();
    let expires = harness.expires_at(&turn).await;
    assert!(
        expires > claimed_until && expires > now,
        "lease until {expires:?} at {now:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_store_of_its_own_a_turn_never_gives_up_its_lease() {
    let harness = Harness::new().await;
    let turn = harness.claimed_turn().await;
    harness.fail_renewals().await;
    // SQLite: nobody else can claim the turn, so it runs on past its lease while renewals fail.
    let kept = super::keep_lease(&harness.shared, &turn);
    let outcome = tokio::time::timeout(LEASE * 2, kept).await;
    assert!(outcome.is_err(), "gave the turn up: {outcome:?}");
}
