//! Reading columns back with typed errors instead of panics.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::store::error::StoreError;

/// A column, or a `Decode` error naming it.
pub(super) fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column)
        .map_err(|error| StoreError::decode(format!("column {column}: {error}")))
}

/// Converts a caller's `u32` to SQLite's integer.
pub(super) fn int(value: u32) -> i64 {
    i64::from(value)
}
