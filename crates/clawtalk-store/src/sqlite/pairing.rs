//! Pairing codes and the allowlist on SQLite.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::row::int;
use super::sql::{execute, query_all, query_one, query_opt, scalar, scalar_opt};
use crate::decode::{Columns, approved_columns, approved_sender, pairing_columns, pairing_request};
use crate::error::{PairingError, StoreError};
use crate::model::{
    ApprovedSender, PairingFilter, PairingOutcome, PairingPolicy, PairingRequest, PairingStatus,
};
use crate::rules::{fresh_codes, normalize_code};
use crate::{PairingStore, StoreResult};

/// The request behind `code`, checked to be pending and unexpired.
fn live_request(
    conn: &Connection,
    code: &str,
    now: EpochMs,
    allow_expired: bool,
) -> Result<PairingRequest, StoreError> {
    let sql: &str = concat!(
        "SELECT ",
        pairing_columns!(),
        " FROM pairing_requests WHERE code = ?1"
    );
    let found = query_opt(conn, sql, [code], |row| {
        Ok((pairing_request(row, now)?, row.text("status")? == "pending"))
    })?;
    let Some((request, stored_pending)) = found else {
        return Err(PairingError::UnknownCode {
            code: code.to_owned(),
        }
        .into());
    };
    match request.status {
        PairingStatus::Pending => Ok(request),
        PairingStatus::Expired if allow_expired && stored_pending => Ok(request),
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
impl PairingStore for SqliteStore {
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
        let (account_id, sender_id, nick) = (account_id.to_owned(), sender_id.to_owned(), nick.to_owned());
        let codes = fresh_codes();
        self.write(move |conn| {
            let approved: Option<i64> = scalar_opt(
                conn,
                "SELECT 1 FROM approved_senders WHERE account_id = ?1 AND sender_id = ?2",
                params![account_id, sender_id],
            )?;
            if approved.is_some() {
                return Ok(PairingOutcome::AlreadyApproved);
            }
            // Lapsed codes of this sender are closed so the list shows one live code each.
            execute(
                conn,
                "UPDATE pairing_requests SET status = 'expired' \
                 WHERE account_id = ?1 AND sender_id = ?2 AND status = 'pending' AND expires_at_ms <= ?3",
                params![account_id, sender_id, now_ms],
            )?;
            let sql: &str = concat!("SELECT ", pairing_columns!(), " FROM pairing_requests \
                 WHERE account_id = ?1 AND sender_id = ?2 AND status = 'pending' ORDER BY id DESC LIMIT 1");
            if let Some(live) = query_opt(conn, sql, params![account_id, sender_id], |row| {
                pairing_request(row, now)
            })? {
                return Ok(PairingOutcome::Existing(live));
            }
            let pending: i64 = scalar(
                conn,
                "SELECT COUNT(*) FROM pairing_requests \
                 WHERE account_id = ?1 AND status = 'pending' AND expires_at_ms > ?2",
                params![account_id, now_ms],
            )?;
            if pending >= int(policy.max_pending_per_account) {
                return Ok(PairingOutcome::TooManyPending {
                    limit: policy.max_pending_per_account,
                });
            }
            let sql: &str = concat!("INSERT INTO pairing_requests (code, account_id, sender_id, nick, created_at_ms, expires_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (code) DO NOTHING RETURNING ", pairing_columns!());
            for code in &codes {
                let params = params![
                    code,
                    account_id,
                    sender_id,
                    nick,
                    now_ms,
                    now_ms.saturating_add(policy.ttl_ms)
                ];
                if let Some(created) = query_opt(conn, sql, params, |row| pairing_request(row, now))? {
                    return Ok(PairingOutcome::Created(created));
                }
            }
            Err(StoreError::Database {
                code: None,
                detail: "could not draw an unused pairing code".to_owned(),
            })
        })
        .await
    }

    async fn pairing_list(&self, filter: PairingFilter, now: EpochMs) -> StoreResult<Vec<PairingRequest>> {
        let now_ms = now.as_millis();
        self.read(move |conn| {
            let decode = |row: &rusqlite::Row<'_>| pairing_request(row, now);
            match filter {
                PairingFilter::Pending => {
                    let sql = concat!(
                        "SELECT ",
                        pairing_columns!(),
                        " FROM pairing_requests \
                         WHERE status = 'pending' AND expires_at_ms > ?1 ORDER BY id"
                    );
                    query_all(conn, sql, [now_ms], decode)
                }
                PairingFilter::All => {
                    let sql = concat!(
                        "SELECT ",
                        pairing_columns!(),
                        " FROM pairing_requests ORDER BY id DESC"
                    );
                    query_all(conn, sql, [], decode)
                }
            }
        })
        .await
    }

    async fn pairing_approve(&self, code: &str, now: EpochMs) -> StoreResult<ApprovedSender> {
        let now_ms = now.as_millis();
        let code = normalize_code(code);
        self.write(move |conn| {
            let request = live_request(conn, &code, now, false)?;
            // Single use: the conditional update is what makes a second approval fail.
            execute(
                conn,
                "UPDATE pairing_requests SET status = 'approved', decided_at_ms = ?2 \
                 WHERE code = ?1 AND status = 'pending'",
                params![code, now_ms],
            )?;
            query_one(
                conn,
                "INSERT INTO approved_senders (account_id, sender_id, nick, approved_at_ms, via_code) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (account_id, sender_id) DO UPDATE SET \
                     nick = excluded.nick, approved_at_ms = excluded.approved_at_ms, via_code = excluded.via_code \
                 RETURNING account_id, sender_id, nick, approved_at_ms, via_code",
                params![request.account_id.as_str(), request.sender_id, request.nick, now_ms, code],
                |row| approved_sender(row),
            )
        })
        .await
    }

    async fn pairing_reject(&self, code: &str, now: EpochMs) -> StoreResult<PairingRequest> {
        let now_ms = now.as_millis();
        let code = normalize_code(code);
        self.write_one(move |conn| {
            live_request(conn, &code, now, true)?;
            let sql: &str = concat!(
                "UPDATE pairing_requests SET status = 'rejected', decided_at_ms = ?2 \
                 WHERE code = ?1 AND status = 'pending' RETURNING ",
                pairing_columns!()
            );
            query_one(conn, sql, params![code, now_ms], |row| pairing_request(row, now))
        })
        .await
    }

    async fn is_approved(&self, account_id: &str, sender_id: &str) -> StoreResult<bool> {
        let (account_id, sender_id) = (account_id.to_owned(), sender_id.to_owned());
        self.read(move |conn| {
            let found: Option<i64> = scalar_opt(
                conn,
                "SELECT 1 FROM approved_senders WHERE account_id = ?1 AND sender_id = ?2",
                params![account_id, sender_id],
            )?;
            Ok(found.is_some())
        })
        .await
    }

    async fn approved_senders(&self, account_id: Option<&str>) -> StoreResult<Vec<ApprovedSender>> {
        let account_id = account_id.map(str::to_owned);
        self.read(move |conn| {
            let sql: &str = concat!(
                "SELECT ",
                approved_columns!(),
                " FROM approved_senders WHERE ?1 IS NULL OR account_id = ?1 \
                 ORDER BY account_id, approved_at_ms"
            );
            query_all(conn, sql, [account_id], |row| approved_sender(row))
        })
        .await
    }

    async fn revoke_sender(&self, account_id: &str, sender_id: &str) -> StoreResult<bool> {
        let (account_id, sender_id) = (account_id.to_owned(), sender_id.to_owned());
        self.write_one(move |conn| {
            let done = execute(
                conn,
                "DELETE FROM approved_senders WHERE account_id = ?1 AND sender_id = ?2",
                params![account_id, sender_id],
            )?;
            Ok(done == 1)
        })
        .await
    }
}
