//! Rebuilds when a migration is added: `sqlx::migrate!` (the PostgreSQL schema, and the SQLite
//! one in the tests that compare migrators) embeds the SQL files at compile time but cannot ask
//! the compiler to watch the folder on stable Rust.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
