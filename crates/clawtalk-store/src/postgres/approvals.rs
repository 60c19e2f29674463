//! Approval requests and grants on PostgreSQL, shared by every replica: the conditional
//! update makes the first decision win wherever it lands.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;

use super::PgStore;
use crate::approval_rows::{approval, approval_columns};
use crate::model::{ApprovalDecision, ApprovalRecord, DecideOutcome, NewApproval};
use crate::{ApprovalStore, StoreResult};

const BY_ID: &str = concat!(
    "SELECT ",
    approval_columns!(),
    " FROM tool_approvals WHERE id = $1"
);

#[async_trait]
impl ApprovalStore for PgStore {
    async fn approval_request(&self, request: NewApproval, now: EpochMs) -> StoreResult<ApprovalRecord> {
        sqlx::query(
            "INSERT INTO tool_approvals (id, account_id, session_key, agent_id, requester, tool, \
             summary, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&request.id)
        .bind(request.account_id.as_str())
        .bind(&request.session_key)
        .bind(&request.agent_id)
        .bind(&request.requester)
        .bind(&request.tool)
        .bind(&request.summary)
        .bind(now.as_millis())
        .bind(request.expires_at.as_millis())
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(BY_ID).bind(&request.id).fetch_one(&self.pool).await?;
        approval(&row)
    }

    async fn approval(&self, id: &str) -> StoreResult<Option<ApprovalRecord>> {
        let row = sqlx::query(BY_ID).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(approval).transpose()
    }

    async fn approval_decide(
        &self,
        id: &str,
        decision: ApprovalDecision,
        decided_by: Option<&str>,
        now: EpochMs,
    ) -> StoreResult<DecideOutcome> {
        let always = decision == ApprovalDecision::AllowAlways;
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE tool_approvals SET status = $2, always = $3, decided_by = $4, decided_at_ms = $5 \
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(decision.status().as_str())
        .bind(i64::from(always))
        .bind(decided_by)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let Some(row) = sqlx::query(BY_ID).bind(id).fetch_optional(&mut *tx).await? else {
            tx.commit().await?;
            return Ok(DecideOutcome::Unknown);
        };
        let row = approval(&row)?;
        if changed == 0 {
            tx.commit().await?;
            return Ok(DecideOutcome::AlreadyDecided(row));
        }
        if always {
            sqlx::query(
                "INSERT INTO tool_approval_grants (account_id, user_id, tool, granted_at_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(row.account_id.as_str())
            .bind(&row.requester)
            .bind(&row.tool)
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(DecideOutcome::Decided(row))
    }

    async fn approval_granted(&self, account_id: &str, user: &str, tool: &str) -> StoreResult<bool> {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM tool_approval_grants WHERE account_id = $1 AND user_id = $2 AND tool = $3",
        )
        .bind(account_id)
        .bind(user)
        .bind(tool)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn approval_purge(&self, before: EpochMs) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM tool_approvals WHERE status <> 'pending' AND decided_at_ms < $1")
            .bind(before.as_millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
