//! A shard's number. It comes from the object's id name (`shard-N`); where the runtime gives the object
//! no name (the local dev registry's cross-process proxy addresses objects by id alone), the shard takes
//! it from the first call's `HEADER_OBJECT_NAME` and stores it, so a wake without a request (socket
//! events, the alarm) knows it too.

use worker::{Request, SqlStorage, State};

use super::SyncLayer;
use crate::protocol::HEADER_OBJECT_NAME;
use crate::routing::parse_shard_name;

/// `SyncLayer::shard` before the shard knows its number.
pub(super) const UNNAMED: u32 = u32::MAX;

/// The number a shard starts with: its id's name, else the name it stored, else `UNNAMED`.
pub(super) fn number_at_start(state: &State, sql: &SqlStorage) -> u32 {
    let name = state.id().name().or_else(|| stored_name(sql));
    name.as_deref().and_then(parse_shard_name).unwrap_or(UNNAMED)
}

/// The name `learn_name` stored, if any (an unreadable table counts as none: the next call names it).
fn stored_name(sql: &SqlStorage) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Row {
        name: String,
    }
    let rows: Vec<Row> = crate::worker::sql::rows(sql, "SELECT name FROM object_name LIMIT 1", vec![]).ok()?;
    rows.into_iter().next().map(|row| row.name)
}

impl SyncLayer {
    /// Takes the shard's number from the caller's `HEADER_OBJECT_NAME` when the runtime gave the object no
    /// name, and stores it so that a wake without a request (socket events, the alarm) knows it too.
    pub(super) fn learn_name(&self, request: &Request) {
        let Ok(Some(name)) = request.headers().get(HEADER_OBJECT_NAME) else { return };
        let Some(shard) = parse_shard_name(&name) else { return };
        self.shard.set(shard);
        self.reporter.borrow_mut().set_shard(shard);
        if let Err(error) = self.sql("INSERT INTO object_name (name) VALUES (?)", vec![name.into()]) {
            worker::console_error!("shard {shard}: storing its name: {error}");
        }
    }
}
