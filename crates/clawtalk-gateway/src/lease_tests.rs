//! Keeping a turn's lease through a store that fails renewals for a while, and giving the turn
//! up before its lease can lapse when the store keeps failing.

use std::future::Future as _;
use std::sync::Arc;
use std::time::Duration;

use clawtalk_core::clock::{EpochMs, SystemClock};
use clawtalk_core::ids::AccountId;
use clawtalk_store::{
    ClaimScope, Dispatch, InboundRecord, PgStore, RecordOutcome, SqliteStore, Store, StoreError,
    StoredInbound,
};
use dingtalk::ids::{ConversationId, MsgId, RobotCode, StaffId};
use sqlx::{Connection as _, PgConnection};

use crate::Shared;

#[path = "../../clawtalk-store/tests/support/pg.rs"]
#[allow(dead_code)] // Helpers for other tests too.
mod pg;

/// The shortest lease the configuration allows.
const LEASE: Duration = Duration::from_secs(3);

struct Harness {
    shared: Arc<Shared>,
    state: tempfile::TempDir,
}

impl Harness {
    async fn new() -> Self {
        let state = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(state.path().join("clawtalk.db")).await.unwrap();
        Self::on(Arc::new(store), state, LEASE)
    }

    /// On a PostgreSQL schema of its own, with a lease of `lease`; `None` (skipped) without
    /// `CLAWTALK_TEST_PG`.
    async fn on_postgres(test: &str, lease: Duration) -> Option<(Self, pg::TestSchema)> {
        let schema = pg::TestSchema::create(test).await?;
        let store = PgStore::open(&schema.url()).await.expect("open the store");
        let harness = Self::on(Arc::new(store), tempfile::tempdir().unwrap(), lease);
        Some((harness, schema))
    }

    fn on(store: Arc<dyn Store>, state: tempfile::TempDir, lease: Duration) -> Self {
        let config = clawtalk_config::test_support::config(&format!(
            r#"{{ agents: {{ list: [ {{ id: "main", model: "deepseek/deepseek-chat" }} ] }},
                 gateway: {{ stateDir: "{}", turnLeaseSeconds: {} }} }}"#,
            state.path().display(),
            lease.as_secs()
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
        rusqlite::Connection::open(self.state.path().join("clawtalk.db"))
            .unwrap()
            .execute_batch(sql)
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

/// A write holding `turn`'s row locked on PostgreSQL (as a turn planning its reply does) until
/// [`RowLock::release`].
struct RowLock(PgConnection);

impl RowLock {
    async fn take(schema: &pg::TestSchema, turn: &StoredInbound) -> Self {
        let mut conn = PgConnection::connect(&schema.url()).await.unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        sqlx::query("SELECT id FROM inbox WHERE id = $1 FOR UPDATE")
            .bind(turn.id)
            .execute(&mut conn)
            .await
            .unwrap();
        Self(conn)
    }

    async fn release(mut self) {
        sqlx::query("COMMIT").execute(&mut self.0).await.unwrap();
    }
}

/// A renewal that finds its row locked is asked again within moments of the lock's release,
/// not a third of a lease later: the turn keeps its lease and never gives up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_held_off_by_a_locked_row_goes_through_once_the_lock_is_released() {
    let lease = Duration::from_secs(9);
    let Some((harness, schema)) = Harness::on_postgres("lease_locked_row", lease).await else {
        return;
    };
    let turn = harness.claimed_turn().await;
    let claimed_until = harness.expires_at(&turn).await;
    let lock = RowLock::take(&schema, &turn).await;
    let kept = super::keep(&harness.shared, &turn, true);
    let released_and_renewed = async {
        // Past the first renewal (a third of the lease), which finds the row locked.
        tokio::time::sleep(lease / 3 + lease / 18).await;
        assert_eq!(
            harness.expires_at(&turn).await,
            claimed_until,
            "renewed through a lock"
        );
        lock.release().await;
        let released = tokio::time::Instant::now();
        while harness.expires_at(&turn).await == claimed_until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        released.elapsed()
    };
    let after = tokio::select! {
        lost = kept => panic!("gave the turn up: {lost:?}"),
        after = released_and_renewed => after,
    };
    // Left to the next scheduled renewal, it would have come a third of a lease later.
    assert!(after < lease / 6, "renewed {after:?} after the lock was released");
}

/// A renewal held off by a locked row is not asked again once its turn stopped waiting for
/// it: a turn that ended or gave its lease up must not have it renewed behind its back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_off_renewal_whose_turn_stopped_waiting_is_not_asked_again() {
    let Some((harness, schema)) = Harness::on_postgres("lease_dropped_renewal", LEASE).await else {
        return;
    };
    let turn = harness.claimed_turn().await;
    let claimed_until = harness.expires_at(&turn).await;
    let lock = RowLock::take(&schema, &turn).await;
    let renewal = super::Renewals::renew(&harness.shared, turn.id);
    let waited = tokio::time::timeout(Duration::from_millis(400), renewal).await;
    assert!(waited.is_err(), "the renewal went through a lock: {waited:?}");
    // A store call already under way when the turn stopped waiting still goes out (and finds
    // the row locked); the lock outlasts it.
    tokio::time::sleep(Duration::from_millis(250)).await;
    lock.release().await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        harness.expires_at(&turn).await,
        claimed_until,
        "renewed after its turn stopped waiting"
    );
}

/// A renewal whose turn stopped waiting before the store call went out is left out of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_whose_turn_stopped_waiting_before_the_call_is_not_made() {
    let harness = Harness::new().await;
    let turn = harness.claimed_turn().await;
    let claimed_until = harness.expires_at(&turn).await;
    {
        // Asked, then dropped at once: well within the moment the call gathers renewals.
        let mut renewal = std::pin::pin!(super::Renewals::renew(&harness.shared, turn.id));
        let mut asked = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(renewal.as_mut().poll(&mut asked).is_pending());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        harness.expires_at(&turn).await,
        claimed_until,
        "renewed after its turn stopped waiting"
    );
}
