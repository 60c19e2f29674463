//! Pairing codes and the allowlist on PostgreSQL.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use sqlx::PgConnection;

use super::PgStore;
use crate::decode::{Columns, approved_columns, approved_sender, pairing_columns, pairing_request};
use crate::error::{PairingError, StoreError};
use crate::model::{
    ApprovedSender, PairingFilter, PairingOutcome, PairingPolicy, PairingRequest, PairingStatus,
};
use crate::rules::{fresh_codes, normalize_code};
use crate::{PairingStore, StoreResult};

/// First key of the advisory locks that serialise pairing requests of one account (the
/// second is a hash of the account id), so it cannot collide with other advisory locks.
const PAIRING_LOCK_CLASS: i32 = 0x7041_6972; // "pAir"

/// The request behind `code`, locked, checked to be pending and unexpired (or, with
/// `allow_expired`, stored as pending but past its expiry).
async fn live_request(
    conn: &mut PgConnection,
    code: &str,
    now: EpochMs,
    allow_expired: bool,
) -> Result<PairingRequest, StoreError> {
    let sql = concat!(
        "SELECT ",
        pairing_columns!(),
        ", status AS stored_status FROM pairing_requests WHERE code = $1 FOR UPDATE"
    );
    let Some(row) = sqlx::query(sql).bind(code).fetch_optional(&mut *conn).await? else {
        return Err(PairingError::UnknownCode {
            code: code.to_owned(),
        }
        .into());
    };
    let request = pairing_request(&row, now)?;
    match request.status {
        PairingStatus::Pending => Ok(request),
        PairingStatus::Expired if allow_expired && row.text("stored_status")? == "pending" => Ok(request),
        PairingStatus::Expired => Err(PairingError::Expired {
            code: request.code,
            expired_at_ms: request.expires_at_ms,
        }
        .into()),
        decided => Err(PairingError::AlreadyDecided {
            code: request.code,
            status: decided.to_string(),
        }
        .into()),
    }
}

#[async_trait]
impl PairingStore for PgStore {
    async fn pairing_request(
        &self,
        account_id: &str,
        sender_id: &str,
        nick: &str,
        policy: PairingPolicy,
        now: EpochMs,
    ) -> StoreResult<PairingOutcome> {
        let now_ms = now.as_millis();
        if policy.ttl_ms <= 0 || policy.max_pending_per_account == 0 {
            return Err(StoreError::Invalid(format!(
                "pairing policy {policy:?} allows no codes"
            )));
        }
        let codes = fresh_codes();
        let mut tx = self.pool.begin().await?;
        // One request of an account at a time across replicas: the "one live code per
        // sender" and "at most N pending" checks below read, then write.
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(PAIRING_LOCK_CLASS)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        let approved: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM approved_senders WHERE account_id = $1 AND sender_id = $2")
                .bind(account_id)
                .bind(sender_id)
                .fetch_optional(&mut *tx)
                .await?;
        if approved.is_some() {
            return Ok(PairingOutcome::AlreadyApproved);
        }
        // Lapsed codes of this sender are closed so the list shows one live code each.
        sqlx::query(
            "UPDATE pairing_requests SET status = 'expired' \
             WHERE account_id = $1 AND sender_id = $2 AND status = 'pending' AND expires_at_ms <= $3",
        )
        .bind(account_id)
        .bind(sender_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let sql = concat!(
            "SELECT ",
            pairing_columns!(),
            " FROM pairing_requests \
             WHERE account_id = $1 AND sender_id = $2 AND status = 'pending' ORDER BY id DESC LIMIT 1"
        );
        let live = sqlx::query(sql)
            .bind(account_id)
            .bind(sender_id)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = live {
            let existing = pairing_request(&row, now)?;
            tx.commit().await?;
            return Ok(PairingOutcome::Existing(existing));
        }
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pairing_requests \
             WHERE account_id = $1 AND status = 'pending' AND expires_at_ms > $2",
        )
        .bind(account_id)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        if pending >= i64::from(policy.max_pending_per_account) {
            tx.commit().await?;
            return Ok(PairingOutcome::TooManyPending {
                limit: policy.max_pending_per_account,
            });
        }
        let sql = concat!(
            "INSERT INTO pairing_requests (code, account_id, sender_id, nick, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (code) DO NOTHING RETURNING ",
            pairing_columns!()
        );
        for code in &codes {
            let row = sqlx::query(sql)
                .bind(code)
                .bind(account_id)
                .bind(sender_id)
                .bind(nick)
                .bind(now_ms)
                .bind(now_ms.saturating_add(policy.ttl_ms))
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = row {
                let created = pairing_request(&row, now)?;
                tx.commit().await?;
                return Ok(PairingOutcome::Created(created));
            }
        }
        Err(StoreError::Database {
            code: None,
            detail: "could not draw an unused pairing code".to_owned(),
        })
    }

    async fn pairing_list(&self, filter: PairingFilter, now: EpochMs) -> StoreResult<Vec<PairingRequest>> {
        let now_ms = now.as_millis();
        let rows = match filter {
            PairingFilter::Pending => {
                let sql = concat!(
                    "SELECT ",
                    pairing_columns!(),
                    " FROM pairing_requests \
                     WHERE status = 'pending' AND expires_at_ms > $1 ORDER BY id"
                );
                sqlx::query(sql).bind(now_ms).fetch_all(&self.pool).await?
            }
            PairingFilter::All => {
                let sql = concat!(
                    "SELECT ",
                    pairing_columns!(),
                    " FROM pairing_requests ORDER BY id DESC"
                );
                sqlx::query(sql).fetch_all(&self.pool).await?
            }
        };
        rows.iter().map(|row| pairing_request(row, now)).collect()
    }

    async fn pairing_approve(&self, code: &str, now: EpochMs) -> StoreResult<ApprovedSender> {
        let now_ms = now.as_millis();
        let code = normalize_code(code);
        let mut tx = self.pool.begin().await?;
        // The row lock makes a concurrent second approval wait and then see `approved`.
        let request = live_request(&mut tx, &code, now, false).await?;
        sqlx::query(
            "UPDATE pairing_requests SET status = 'approved', decided_at_ms = $2 \
             WHERE code = $1 AND status = 'pending'",
        )
        .bind(&code)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let sql = concat!(
            "INSERT INTO approved_senders (account_id, sender_id, nick, approved_at_ms, via_code) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account_id, sender_id) DO UPDATE SET \
                 nick = excluded.nick, approved_at_ms = excluded.approved_at_ms, via_code = excluded.via_code \
             RETURNING ",
            approved_columns!()
        );
        let row = sqlx::query(sql)
            .bind(request.account_id.as_str())
            .bind(&request.sender_id)
            .bind(&request.nick)
            .bind(now_ms)
            .bind(&code)
            .fetch_one(&mut *tx)
            .await?;
        let approved = approved_sender(&row)?;
        tx.commit().await?;
        Ok(approved)
    }

    async fn pairing_reject(&self, code: &str, now: EpochMs) -> StoreResult<PairingRequest> {
        let now_ms = now.as_millis();
        let code = normalize_code(code);
        let mut tx = self.pool.begin().await?;
        live_request(&mut tx, &code, now, true).await?;
        let sql = concat!(
            "UPDATE pairing_requests SET status = 'rejected', decided_at_ms = $2 \
             WHERE code = $1 AND status = 'pending' RETURNING ",
            pairing_columns!()
        );
        let row = sqlx::query(sql)
            .bind(&code)
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await?;
        let rejected = pairing_request(&row, now)?;
        tx.commit().await?;
        Ok(rejected)
    }

    async fn is_approved(&self, account_id: &str, sender_id: &str) -> StoreResult<bool> {
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM approved_senders WHERE account_id = $1 AND sender_id = $2")
                .bind(account_id)
                .bind(sender_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    async fn approved_senders(&self, account_id: Option<&str>) -> StoreResult<Vec<ApprovedSender>> {
        let sql = concat!(
            "SELECT ",
            approved_columns!(),
            " FROM approved_senders \
             WHERE $1::TEXT IS NULL OR account_id = $1 ORDER BY account_id, approved_at_ms"
        );
        let rows = sqlx::query(sql).bind(account_id).fetch_all(&self.pool).await?;
        rows.iter().map(approved_sender).collect()
    }

    async fn revoke_sender(&self, account_id: &str, sender_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM approved_senders WHERE account_id = $1 AND sender_id = $2")
            .bind(account_id)
            .bind(sender_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
