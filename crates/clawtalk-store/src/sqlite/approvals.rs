//! Approval requests and grants on SQLite: each decision is one write job, so the first
//! decision wins even with several processes on the file.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use rusqlite::params;

use super::SqliteStore;
use super::sql::{execute, query_one, query_opt, scalar_opt};
use crate::approval_rows::{approval, approval_columns};
use crate::model::{ApprovalDecision, ApprovalRecord, DecideOutcome, NewApproval};
use crate::{ApprovalStore, StoreResult};

const BY_ID: &str = concat!(
    "SELECT ",
    approval_columns!(),
    " FROM tool_approvals WHERE id = ?1"
);

#[async_trait]
impl ApprovalStore for SqliteStore {
    async fn approval_request(&self, request: NewApproval, now: EpochMs) -> StoreResult<ApprovalRecord> {
        let now_ms = now.as_millis();
        self.write_one(move |conn| {
            execute(
                conn,
                "INSERT INTO tool_approvals (id, account_id, session_key, agent_id, requester, tool, \
                 summary, created_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (id) DO NOTHING",
                params![
                    request.id,
                    request.account_id.as_str(),
                    request.session_key,
                    request.agent_id,
                    request.requester,
                    request.tool,
                    request.summary,
                    now_ms,
                    request.expires_at.as_millis()
                ],
            )?;
            query_one(conn, BY_ID, [&request.id], |row| approval(row))
        })
        .await
    }

    async fn approval(&self, id: &str) -> StoreResult<Option<ApprovalRecord>> {
        let id = id.to_owned();
        self.read(move |conn| query_opt(conn, BY_ID, [&id], |row| approval(row)))
            .await
    }

    async fn approval_decide(
        &self,
        id: &str,
        decision: ApprovalDecision,
        decided_by: Option<&str>,
        now: EpochMs,
    ) -> StoreResult<DecideOutcome> {
        let now_ms = now.as_millis();
        let (id, decided_by) = (id.to_owned(), decided_by.map(str::to_owned));
        self.write_one(move |conn| {
            let always = decision == ApprovalDecision::AllowAlways;
            let changed = execute(
                conn,
                "UPDATE tool_approvals SET status = ?2, always = ?3, decided_by = ?4, decided_at_ms = ?5 \
                 WHERE id = ?1 AND status = 'pending'",
                params![
                    id,
                    decision.status().as_str(),
                    i64::from(always),
                    decided_by,
                    now_ms
                ],
            )?;
            let Some(row) = query_opt(conn, BY_ID, [&id], |row| approval(row))? else {
                return Ok(DecideOutcome::Unknown);
            };
            if changed == 0 {
                return Ok(DecideOutcome::AlreadyDecided(row));
            }
            if always {
                execute(
                    conn,
                    "INSERT INTO tool_approval_grants (account_id, user_id, tool, granted_at_ms) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                    params![row.account_id.as_str(), row.requester, row.tool, now_ms],
                )?;
            }
            Ok(DecideOutcome::Decided(row))
        })
        .await
    }

    async fn approval_granted(&self, account_id: &str, user: &str, tool: &str) -> StoreResult<bool> {
        let (account, user, tool) = (account_id.to_owned(), user.to_owned(), tool.to_owned());
        self.read(move |conn| {
            let found: Option<i64> = scalar_opt(
                conn,
                "SELECT 1 FROM tool_approval_grants WHERE account_id = ?1 AND user_id = ?2 AND tool = ?3",
                params![account, user, tool],
            )?;
            Ok(found.is_some())
        })
        .await
    }

    async fn approval_purge(&self, before: EpochMs) -> StoreResult<u64> {
        let before_ms = before.as_millis();
        self.write_one(move |conn| {
            let n = execute(
                conn,
                "DELETE FROM tool_approvals WHERE status <> 'pending' AND decided_at_ms < ?1",
                [before_ms],
            )?;
            Ok(u64::try_from(n).unwrap_or(u64::MAX))
        })
        .await
    }
}
