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
        worker::console_error!("{owner}: schema: {error}");
    }
}
