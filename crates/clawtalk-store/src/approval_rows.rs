//! Approval rows back into [`ApprovalRecord`]s, the same for both backends.

use clawtalk_core::ids::AccountId;

use crate::decode::Columns;
use crate::error::StoreError;
use crate::model::ApprovalRecord;

/// Column list of [`approval`].
macro_rules! approval_columns {
    () => {
        "id, account_id, session_key, agent_id, requester, tool, summary, status, always, \
         decided_by, created_at_ms, expires_at_ms, decided_at_ms"
    };
}
pub(crate) use approval_columns;

pub fn approval(row: &impl Columns) -> Result<ApprovalRecord, StoreError> {
    Ok(ApprovalRecord {
        id: row.text("id")?,
        account_id: AccountId::new(row.text("account_id")?),
        session_key: row.text("session_key")?,
        agent_id: row.text("agent_id")?,
        requester: row.text("requester")?,
        tool: row.text("tool")?,
        summary: row.text("summary")?,
        status: row.parse("status")?,
        always: row.int("always")? == 1,
        decided_by: row.text_opt("decided_by")?,
        created_at_ms: row.at("created_at_ms")?,
        expires_at_ms: row.at("expires_at_ms")?,
        decided_at_ms: row.at_opt("decided_at_ms")?,
    })
}
