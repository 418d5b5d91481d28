//! SQLite for the objects: one place that runs a statement and one that reads its rows, both mapping
//! a failure to an error (`MeshError::Platform`), so no caller can take a failed read for an empty one.

use serde::de::DeserializeOwned;
use worker::{SqlCursor, SqlStorage, SqlStorageValue};

use super::stubs::platform;
use crate::error::Result;

/// Runs `statement` with `bindings`.
pub fn exec(sql: &SqlStorage, statement: &str, bindings: Vec<SqlStorageValue>) -> Result<SqlCursor> {
    sql.exec(statement, bindings).map_err(platform("sql exec"))
}

/// Runs `statement` and reads every row it returns as a `T`.
pub fn rows<T: DeserializeOwned>(sql: &SqlStorage, statement: &str, bindings: Vec<SqlStorageValue>) -> Result<Vec<T>> {
    exec(sql, statement, bindings)?.to_array().map_err(platform("sql rows"))
}

/// Creates a part's table if it is not there yet. Runs in an object's constructor, which cannot
/// fail: an error is logged, and the part's first statement on the table reports it again.
pub fn create_table(sql: &SqlStorage, owner: &str, statement: &str) {
    if let Err(error) = sql.exec(statement, None) {
        let message = format!("{owner}: schema: {error}");
        super::log::emit(&crate::log_event::LogEvent::new(crate::log_event::Level::Error, "schema_failed", message));
    }
}

#[derive(serde::Deserialize)]
struct JsonRow {
    json: String,
}

/// The one-row table `table` (`id INTEGER PRIMARY KEY, json TEXT NOT NULL`): creates it if needed.
pub fn create_json_row(sql: &SqlStorage, owner: &str, table: &str) {
    create_table(
        sql,
        owner,
        &format!("CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, json TEXT NOT NULL)"),
    );
}

/// The value stored in the one-row table `table`; the default when none was stored or the stored
/// one no longer reads (a value must never make the object fail).
pub fn load_json_row<T: DeserializeOwned + Default>(sql: &SqlStorage, table: &str) -> Result<T> {
    let rows: Vec<JsonRow> = rows(sql, &format!("SELECT json FROM {table} WHERE id = 0"), vec![])?;
    Ok(rows.first().and_then(|row| serde_json::from_str(&row.json).ok()).unwrap_or_default())
}

/// Stores `value` as the one row of `table`.
pub fn store_json_row<T: serde::Serialize>(sql: &SqlStorage, table: &str, value: &T) -> Result<()> {
    let json = crate::protocol::encode_reply(value)?;
    exec(sql, &format!("INSERT OR REPLACE INTO {table} (id, json) VALUES (0, ?)"), vec![json.into()])?;
    Ok(())
}

/// How many rows `table` has.
pub fn count_rows(sql: &SqlStorage, table: &str) -> Result<u64> {
    #[derive(serde::Deserialize)]
    struct Row {
        n: f64,
    }
    let rows: Vec<Row> = rows(sql, &format!("SELECT COUNT(*) AS n FROM {table}"), vec![])?;
    Ok(rows.first().map_or(0, |row| row.n as u64))
}
