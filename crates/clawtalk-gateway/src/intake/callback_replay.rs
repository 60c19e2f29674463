//! Replay protection for HTTP-mode bot callbacks.
//!
//! The `sign` header covers only the timestamp, not the body (protocol §8: HMAC-SHA256 of
//! `timestamp + "\n" + appSecret`), so a captured `timestamp`/`sign` pair would authenticate any
//! body for the hour it stays fresh. Each pair therefore belongs to the first message it
//! carried, in the store, so that a restart or another replica on the same store refuses it
//! too:
//!
//! - the same message again under its pair (DingTalk delivering it twice) is accepted, and the
//!   inbox's msgId dedup keeps it from being answered twice;
//! - any other message under a used pair is refused: a forged body and a genuine second
//!   message that DingTalk signed in the same millisecond look exactly alike, and accepting
//!   the latter would let anyone holding a captured pair post as any sender.

use std::time::Duration;

use clawtalk_core::clock::EpochMs;
use dingtalk::crypto::MAX_TIMESTAMP_SKEW_MS;

use clawtalk_store::{CallbackSignStore, SignUse, StoreResult};

/// Pairs are kept two freshness windows, not one: a replica whose clock runs ahead must not
/// forget a pair that one whose clock runs behind still finds fresh.
const KEEP: Duration = Duration::from_millis(2 * MAX_TIMESTAMP_SKEW_MS.unsigned_abs());

/// Why a pair that carried another message is refused (answered and logged).
pub(crate) const TAKEN: &str = "replayed: this timestamp/sign pair already carried another message \
     (DingTalk's HTTP-mode sign does not cover the body, so a second message signed in the same \
     millisecond cannot be told from a replay)";

/// Claims the verified pair of `account_id`'s callback signed at `timestamp` for `msg_id`.
pub(crate) async fn claim(
    store: &dyn CallbackSignStore,
    account_id: &str,
    timestamp: EpochMs,
    msg_id: &str,
    now: EpochMs,
) -> StoreResult<SignUse> {
    store
        .callback_sign_use(account_id, timestamp, msg_id, now.minus(KEEP))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_store::SqliteStore;

    #[tokio::test]
    async fn a_pair_belongs_to_its_first_message_for_two_windows() {
        let store = SqliteStore::in_memory().await.unwrap();
        let now = EpochMs::from_millis(10 * MAX_TIMESTAMP_SKEW_MS);
        let ms = Duration::from_millis;
        assert_eq!(claim(&store, "a", now, "m1", now).await.unwrap(), SignUse::First);
        assert_eq!(
            claim(&store, "a", now, "m1", now.plus(ms(1))).await.unwrap(),
            SignUse::Again
        );
        assert_eq!(
            claim(&store, "a", now, "m2", now.plus(ms(1))).await.unwrap(),
            SignUse::Taken
        );
        // Another account's pair with the same timestamp is its own.
        assert_eq!(
            claim(&store, "b", now, "m2", now.plus(ms(1))).await.unwrap(),
            SignUse::First
        );
        // A clock an hour ahead still remembers it; only past two windows is it forgotten.
        let later = now.plus(ms(MAX_TIMESTAMP_SKEW_MS.unsigned_abs() + 1));
        assert_eq!(
            claim(&store, "a", now, "m2", later).await.unwrap(),
            SignUse::Taken
        );
        let gone = now.plus(KEEP + ms(1));
        assert_eq!(claim(&store, "x", gone, "m", gone).await.unwrap(), SignUse::First);
        assert_eq!(claim(&store, "a", now, "m2", gone).await.unwrap(), SignUse::First);
    }
}
