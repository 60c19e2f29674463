//! Statements on a rusqlite connection, with the store's errors instead of rusqlite's.
//!
//! Every statement goes through the connection's prepared-statement cache: the store runs
//! the same few dozen statements over and over.

use rusqlite::types::FromSql;
use rusqlite::{Connection, Params, Row};

use crate::error::StoreError;

/// Runs statements that return no rows (transaction control, pragmas).
pub fn exec(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Runs one statement; returns the number of rows it changed.
pub fn execute(conn: &Connection, sql: &str, params: impl Params) -> Result<usize, StoreError> {
    Ok(conn.prepare_cached(sql)?.execute(params)?)
}

/// The first row, decoded, or `None` when there is none.
pub fn query_opt<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    decode: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    match rows.next()? {
        Some(row) => decode(row).map(Some),
        None => Ok(None),
    }
}

/// The first row, decoded; a statement that must return a row but did not is a decode error.
pub fn query_one<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    decode: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    query_opt(conn, sql, params, decode)?
        .ok_or_else(|| StoreError::decode(format!("no row returned by: {}", first_words(sql))))
}

/// Every row, decoded.
pub fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    mut decode: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// The first column of the first row, or `None` when there is no row.
pub fn scalar_opt<T: FromSql>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Option<T>, StoreError> {
    query_opt(conn, sql, params, |row| typed(row, 0))
}

/// The first column of the first row.
pub fn scalar<T: FromSql>(conn: &Connection, sql: &str, params: impl Params) -> Result<T, StoreError> {
    query_one(conn, sql, params, |row| typed(row, 0))
}

fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(4).collect::<Vec<_>>().join(" ")
}

fn typed<T: FromSql, I: rusqlite::RowIndex + std::fmt::Display + Copy>(
    row: &Row<'_>,
    column: I,
) -> Result<T, StoreError> {
    row.get(column)
        .map_err(|error| StoreError::decode(format!("column {column}: {error}")))
}

crate::decode::impl_columns!(Row<'_>, typed);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Columns;

    #[test]
    fn rows_decode_and_errors_name_the_column() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT, b INTEGER); INSERT INTO t VALUES ('x', 1), (NULL, 2);")
            .unwrap();
        let all = query_all(&conn, "SELECT a, b FROM t ORDER BY b", [], |r| {
            Ok((r.text_opt("a")?, r.int("b")?))
        })
        .unwrap();
        assert_eq!(all, [(Some("x".to_owned()), 1), (None, 2)]);
        let error = query_one(&conn, "SELECT a FROM t WHERE b = 2", [], |r| r.text("a")).unwrap_err();
        assert!(error.to_string().contains("column a"), "{error}");
        let none: Option<i64> = scalar_opt(&conn, "SELECT b FROM t WHERE b = 9", []).unwrap();
        assert_eq!(none, None);
        let missing = query_one(&conn, "SELECT b FROM t WHERE b = 9", [], |r| r.int("b")).unwrap_err();
        assert!(matches!(missing, StoreError::Decode { .. }), "{missing:?}");
        assert_eq!(execute(&conn, "UPDATE t SET b = b + 10", []).unwrap(), 2);
    }
}
