//! Values passed to SQLite.

/// Converts a caller's `u32` to SQLite's integer.
pub(super) fn int(value: u32) -> i64 {
    i64::from(value)
}
