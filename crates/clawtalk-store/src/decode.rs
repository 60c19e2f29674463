//! Turning rows back into domain values, once for every backend.
//!
//! Both schemas use the same column names and the same four column shapes (text and 64-bit
//! integers, each maybe NULL), so the decoders are written against [`Columns`] and each
//! backend only says how to read those four shapes from its row type.

use std::str::FromStr;

use clawtalk_core::clock::EpochMs;
use clawtalk_core::ids::AccountId;
use clawtalk_core::reply::ReplyPart;
use dingtalk::ids::{ConversationId, MsgId, RobotCode, StaffId};
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::error::StoreError;
use super::model::{
    ApprovedSender, CardRecord, CronKind, CronRunStatus, CronStatus, CronTarget, CronTask, InboundRecord,
    Lease, NewCronTask, OutboxPart, PairingRequest, PairingStatus, Session, StoredInbound, TranscriptEntry,
    WorkerId,
};

/// Typed column reads with errors naming the column instead of panics.
pub trait Columns {
    /// A `TEXT NOT NULL` column.
    fn text(&self, column: &str) -> Result<String, StoreError>;
    /// A nullable text column.
    fn text_opt(&self, column: &str) -> Result<Option<String>, StoreError>;
    /// A 64-bit integer column.
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    /// A nullable 64-bit integer column.
    fn int_opt(&self, column: &str) -> Result<Option<i64>, StoreError>;

    /// An instant column (epoch ms): the one place stored times become [`EpochMs`].
    fn at(&self, column: &str) -> Result<EpochMs, StoreError> {
        self.int(column).map(EpochMs::from_millis)
    }
    /// A nullable instant column.
    fn at_opt(&self, column: &str) -> Result<Option<EpochMs>, StoreError> {
        Ok(self.int_opt(column)?.map(EpochMs::from_millis))
    }

    /// A text column parsed with `FromStr` (status and role enums).
    fn parse<T: FromStr<Err = StoreError>>(&self, column: &str) -> Result<T, StoreError> {
        self.text(column)?.parse()
    }

    /// A non-negative integer column that must fit in `u32` (counters, part numbers).
    fn count(&self, column: &str) -> Result<u32, StoreError> {
        let value = self.int(column)?;
        u32::try_from(value).map_err(|_| StoreError::decode(format!("column {column}: {value} out of range")))
    }

    /// The `lease_owner`, `lease_incarnation`, `lease_expires_at_ms` triple.
    fn lease(&self) -> Result<Option<Lease>, StoreError> {
        let owner = self.text_opt("lease_owner")?;
        let incarnation = self.text_opt("lease_incarnation")?;
        let expires = self.at_opt("lease_expires_at_ms")?;
        Ok(match (owner, incarnation, expires) {
            (Some(instance), Some(incarnation), Some(expires_at_ms)) => Some(Lease {
                owner: WorkerId {
                    instance,
                    incarnation,
                },
                expires_at_ms,
            }),
            _ => None,
        })
    }
}

fn typed<'r, R, T>(row: &'r R, column: &str) -> Result<T, StoreError>
where
    R: Row,
    T: Decode<'r, R::Database> + Type<R::Database>,
    for<'c> &'c str: ColumnIndex<R>,
{
    row.try_get(column)
        .map_err(|error| StoreError::decode(format!("column {column}: {error}")))
}

/// `impl Columns for $row`, reading every shape with `$typed(row, column)` (each backend's
/// typed column read with a decode error naming the column).
macro_rules! impl_columns {
    ($row:ty, $typed:path) => {
        impl $crate::decode::Columns for $row {
            fn text(&self, column: &str) -> Result<String, $crate::error::StoreError> {
                $typed(self, column)
            }
            fn text_opt(&self, column: &str) -> Result<Option<String>, $crate::error::StoreError> {
                $typed(self, column)
            }
            fn int(&self, column: &str) -> Result<i64, $crate::error::StoreError> {
                $typed(self, column)
            }
            fn int_opt(&self, column: &str) -> Result<Option<i64>, $crate::error::StoreError> {
                $typed(self, column)
            }
        }
    };
}
pub(crate) use impl_columns;
impl_columns!(sqlx::postgres::PgRow, typed);

/// Column list of [`inbound`].
macro_rules! inbox_columns {
    () => {
        "id, account_id, robot_code, msg_id, conversation_id, sender_staff_id, \
     session_key, received_at_ms, raw_payload_json, text, status, attempts, lease_owner, \
     lease_incarnation, lease_expires_at_ms, updated_at_ms, error"
    };
}
pub(crate) use inbox_columns;

pub fn inbound(row: &impl Columns) -> Result<StoredInbound, StoreError> {
    Ok(StoredInbound {
        id: row.int("id")?,
        record: InboundRecord {
            account_id: AccountId::new(row.text("account_id")?),
            robot_code: RobotCode::new(row.text("robot_code")?),
            msg_id: MsgId::new(row.text("msg_id")?),
            conversation_id: ConversationId::new(row.text("conversation_id")?),
            sender_staff_id: row.text_opt("sender_staff_id")?.map(StaffId::new),
            session_key: row.text("session_key")?,
            received_at_ms: row.at("received_at_ms")?,
            raw_payload_json: row.text("raw_payload_json")?,
            text: row.text("text")?,
        },
        status: row.parse("status")?,
        attempts: row.count("attempts")?,
        lease: row.lease()?,
        updated_at_ms: row.at("updated_at_ms")?,
        error: row.text_opt("error")?,
    })
}

/// Column list of [`reply_part`].
macro_rules! outbox_columns {
    () => {
        "id, inbound_id, part, idempotency_key, kind, body_json, status, \
     attempts, lease_owner, lease_incarnation, lease_expires_at_ms, process_query_key, sent_at_ms, last_error"
    };
}
pub(crate) use outbox_columns;

/// The one place stored reply bodies are read: [`ReplyPart::decode`] knows every version.
pub fn reply_part(row: &impl Columns) -> Result<OutboxPart, StoreError> {
    let body = ReplyPart::decode(&row.text("kind")?, &row.text("body_json")?).map_err(StoreError::decode)?;
    Ok(OutboxPart {
        id: row.int("id")?,
        inbound_id: row.int("inbound_id")?,
        part: row.count("part")?,
        idempotency_key: row.text("idempotency_key")?,
        body,
        status: row.parse("status")?,
        attempts: row.count("attempts")?,
        lease: row.lease()?,
        process_query_key: row.text_opt("process_query_key")?,
        sent_at_ms: row.at_opt("sent_at_ms")?,
        last_error: row.text_opt("last_error")?,
    })
}

/// Column list of [`session`].
macro_rules! session_columns {
    () => {
        "id, session_key, agent_id, generation, generation_started_at_ms, last_active_ms"
    };
}
pub(crate) use session_columns;

pub fn session(row: &impl Columns) -> Result<Session, StoreError> {
    Ok(Session {
        id: row.int("id")?,
        key: row.text("session_key")?,
        agent_id: row.text("agent_id")?,
        generation: row.count("generation")?,
        generation_started_at_ms: row.at("generation_started_at_ms")?,
        last_active_ms: row.at("last_active_ms")?,
    })
}

pub fn transcript_entry(row: &impl Columns) -> Result<TranscriptEntry, StoreError> {
    Ok(TranscriptEntry {
        id: row.int("id")?,
        generation: row.count("generation")?,
        role: row.parse("role")?,
        content_json: row.text("content_json")?,
        inbound_id: row.int_opt("inbound_id")?,
        at_ms: row.at("at_ms")?,
    })
}

/// Column list of [`pairing_request`].
macro_rules! pairing_columns {
    () => {
        "code, account_id, sender_id, nick, status, created_at_ms, expires_at_ms, decided_at_ms"
    };
}
pub(crate) use pairing_columns;

/// A request as seen at `now`: a pending code past its expiry reads as expired.
pub fn pairing_request(row: &impl Columns, now: EpochMs) -> Result<PairingRequest, StoreError> {
    let mut status: PairingStatus = row.parse("status")?;
    let expires_at_ms = row.at("expires_at_ms")?;
    if status == PairingStatus::Pending && expires_at_ms <= now {
        status = PairingStatus::Expired;
    }
    Ok(PairingRequest {
        code: row.text("code")?,
        account_id: AccountId::new(row.text("account_id")?),
        sender_id: row.text("sender_id")?,
        nick: row.text("nick")?,
        status,
        created_at_ms: row.at("created_at_ms")?,
        expires_at_ms,
        decided_at_ms: row.at_opt("decided_at_ms")?,
    })
}

/// Column list of [`approved_sender`].
macro_rules! approved_columns {
    () => {
        "account_id, sender_id, nick, approved_at_ms, via_code"
    };
}
pub(crate) use approved_columns;

pub fn approved_sender(row: &impl Columns) -> Result<ApprovedSender, StoreError> {
    Ok(ApprovedSender {
        account_id: AccountId::new(row.text("account_id")?),
        sender_id: row.text("sender_id")?,
        nick: row.text("nick")?,
        approved_at_ms: row.at("approved_at_ms")?,
        via_code: row.text_opt("via_code")?,
    })
}

/// Column list of [`card`].
macro_rules! card_columns {
    () => {
        "out_track_id, account_id, inbound_id, session_key, conversation_id, \
     content, status, created_at_ms, updated_at_ms"
    };
}
pub(crate) use card_columns;

pub fn card(row: &impl Columns) -> Result<CardRecord, StoreError> {
    Ok(CardRecord {
        out_track_id: row.text("out_track_id")?,
        account_id: AccountId::new(row.text("account_id")?),
        inbound_id: row.int_opt("inbound_id")?,
        session_key: row.text("session_key")?,
        conversation_id: row.text("conversation_id")?,
        content: row.text("content")?,
        status: row.parse("status")?,
        created_at_ms: row.at("created_at_ms")?,
        updated_at_ms: row.at("updated_at_ms")?,
    })
}

/// Column list of [`cron_task`].
macro_rules! cron_columns {
    () => {
        "id, account_id, agent_id, name, prompt, schedule_kind, schedule, \
     timezone, target_kind, target, webhook_secret, created_by, origin, status, next_run_at_ms, \
     run_requested_at_ms, paused_at_ms, lease_owner, lease_incarnation, lease_expires_at_ms, runs, last_run_at_ms, \
     last_status, last_error, created_at_ms, updated_at_ms"
    };
}
pub(crate) use cron_columns;

pub fn cron_task(row: &impl Columns) -> Result<CronTask, StoreError> {
    let target_value = row.text("target")?;
    let target = match row.text("target_kind")?.as_str() {
        "user" => CronTarget::User(target_value),
        "group" => CronTarget::Group(target_value),
        "webhook" => CronTarget::Webhook {
            url: target_value,
            secret: row.text_opt("webhook_secret")?,
        },
        other => return Err(StoreError::decode(format!("unknown cron target kind {other:?}"))),
    };
    let next_run_at_ms = row.at_opt("next_run_at_ms")?;
    Ok(CronTask {
        id: row.int("id")?,
        spec: NewCronTask {
            account_id: AccountId::new(row.text("account_id")?),
            agent_id: row.text("agent_id")?,
            name: row.text("name")?,
            prompt: row.text("prompt")?,
            kind: row.parse::<CronKind>("schedule_kind")?,
            schedule: row.text("schedule")?,
            timezone: row.text("timezone")?,
            target,
            created_by: row.text_opt("created_by")?,
            origin: row.text_opt("origin")?,
            next_run_at_ms: next_run_at_ms.unwrap_or(EpochMs::from_millis(0)),
        },
        status: row.parse::<CronStatus>("status")?,
        next_run_at_ms,
        run_requested_at_ms: row.at_opt("run_requested_at_ms")?,
        paused_at_ms: row.at_opt("paused_at_ms")?,
        lease: row.lease()?,
        runs: row.count("runs")?,
        last_run_at_ms: row.at_opt("last_run_at_ms")?,
        last_status: row
            .text_opt("last_status")?
            .map(|s| s.parse::<CronRunStatus>())
            .transpose()?,
        last_error: row.text_opt("last_error")?,
        created_at_ms: row.at("created_at_ms")?,
        updated_at_ms: row.at("updated_at_ms")?,
    })
}
