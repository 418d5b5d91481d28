//! A shard's number. It comes from the object's id name (`shard-N`); where the runtime gives the object
//! no name (the local dev registry's cross-process proxy addresses objects by id alone), the shard takes
//! it from the first call's `HEADER_OBJECT_NAME` and stores it in its own `object_name` table, so a wake
//! without a request (socket events, the alarm) knows it too.

use worker::{Request, SqlStorage, State};

use super::super::log;
use super::super::sql;
use crate::log_event::{Level, LogEvent};
use crate::protocol::HEADER_OBJECT_NAME;
use crate::routing::parse_shard_name;

/// A shard's number before it knows it.
pub(super) const UNNAMED: u32 = u32::MAX;

/// The number a shard starts with: its id's name, else the name it stored, else `UNNAMED`.
pub(super) fn number_at_start(state: &State, sql: &SqlStorage) -> u32 {
    sql::create_table(sql, "shard name", "CREATE TABLE IF NOT EXISTS object_name (name TEXT NOT NULL)");
    let name = state.id().name().or_else(|| stored_name(sql));
    name.as_deref().and_then(parse_shard_name).unwrap_or(UNNAMED)
}

/// The name [`learn`] stored, if any (an unreadable table counts as none: the next call names it).
fn stored_name(sql: &SqlStorage) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Row {
        name: String,
    }
    let rows: Vec<Row> = sql::rows(sql, "SELECT name FROM object_name LIMIT 1", vec![]).ok()?;
    rows.into_iter().next().map(|row| row.name)
}

/// The number the caller's `HEADER_OBJECT_NAME` gives, stored for later wakes; `None` if the call
/// names no shard.
pub(super) fn learn(sql: &SqlStorage, request: &Request) -> Option<u32> {
    let name = request.headers().get(HEADER_OBJECT_NAME).ok()??;
    let shard = parse_shard_name(&name)?;
    if let Err(error) = sql::exec(sql, "INSERT INTO object_name (name) VALUES (?)", vec![name.into()]) {
        let message = format!("storing its name: {error}");
        log::emit(&LogEvent::new(Level::Error, "shard_name_not_stored", message).shard(shard));
    }
    Some(shard)
}
