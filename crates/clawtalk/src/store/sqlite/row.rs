//! Reading columns back with typed errors instead of panics.

use std::str::FromStr;

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::store::error::StoreError;
use crate::store::model::{Lease, WorkerId};

/// A column, or a `Decode` error naming it.
pub(super) fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column)
        .map_err(|error| StoreError::decode(format!("column {column}: {error}")))
}

/// A text column parsed with `FromStr` (status and role enums).
pub(super) fn parse<T>(row: &SqliteRow, column: &str) -> Result<T, StoreError>
where
    T: FromStr<Err = StoreError>,
{
    get::<String>(row, column)?.parse()
}

/// A non-negative integer column that must fit in `u32` (counters, part numbers).
pub(super) fn count(row: &SqliteRow, column: &str) -> Result<u32, StoreError> {
    let value: i64 = get(row, column)?;
    u32::try_from(value).map_err(|_| StoreError::decode(format!("column {column}: {value} out of range")))
}

/// The `lease_owner`, `lease_incarnation`, `lease_expires_at_ms` triple.
pub(super) fn lease(row: &SqliteRow) -> Result<Option<Lease>, StoreError> {
    let owner: Option<String> = get(row, "lease_owner")?;
    let incarnation: Option<String> = get(row, "lease_incarnation")?;
    let expires: Option<i64> = get(row, "lease_expires_at_ms")?;
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

/// Converts a caller's `u32` to SQLite's integer.
pub(super) fn int(value: u32) -> i64 {
    i64::from(value)
}
