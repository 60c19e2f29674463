//! Memory rows back into [`MemoryRecord`]s, for both backends (see `decode.rs`).

use crate::decode::Columns;
use crate::error::StoreError;
use crate::model::{MemoryRecord, MemorySubject};

/// Column list of [`memory_record`].
macro_rules! memory_columns {
    () => {
        "id, agent_id, scope, subject, text, source, path, line_start, line_end, created_by, \
         created_at_ms, updated_at_ms"
    };
}
pub(crate) use memory_columns;

/// One memory row.
pub fn memory_record(row: &impl Columns) -> Result<MemoryRecord, StoreError> {
    let path = row.text("path")?;
    let line = |column| -> Result<Option<u32>, StoreError> {
        row.int_opt(column)?
            .map(|n| u32::try_from(n).map_err(|_| StoreError::decode(format!("column {column}: {n}"))))
            .transpose()
    };
    let lines = match (line("line_start")?, line("line_end")?) {
        (Some(start), Some(end)) => Some((start, end)),
        _ => None,
    };
    Ok(MemoryRecord {
        id: row.int("id")?,
        agent_id: row.text("agent_id")?,
        owner: MemorySubject {
            scope: row.parse("scope")?,
            subject: row.text("subject")?,
        },
        text: row.text("text")?,
        source: row.parse("source")?,
        path: (!path.is_empty()).then_some(path),
        lines,
        created_by: row.text_opt("created_by")?,
        created_at_ms: row.at("created_at_ms")?,
        updated_at_ms: row.at("updated_at_ms")?,
    })
}

/// The visible owners as one text per owner (`scope`, a unit separator, `subject`), which
/// both backends compare against `scope || char(31) || subject` in one bound parameter.
#[must_use]
pub fn owner_keys(owners: &[MemorySubject]) -> Vec<String> {
    owners
        .iter()
        .map(|o| format!("{}\u{1f}{}", o.scope.as_str(), o.subject))
        .collect()
}
