//! The part of `SyncLayer` that keeps the subscriber index of the topics (resource URIs) hashed onto
//! this shard, in its own `topic_subscribers` table; and takes a closed listen stream's or an expired
//! session's subscriptions out of the indexes on other shards.

use worker::{Env, SqlStorage};

use super::super::log;
use super::super::sql;
use super::super::stubs::{self, Target};
use crate::config::MeshConfig;
use crate::error::{MeshError, Result};
use crate::log_event::{Level, LogEvent};
use crate::manager::validate_session_id;
use crate::protocol::{Unsubscribe, MAX_TOPIC_BYTES};
use crate::routing::candidate_shards;

/// The shard's topic index.
pub(super) struct TopicIndex {
    sql: SqlStorage,
}

impl TopicIndex {
    pub fn new(sql: SqlStorage) -> Self {
        let table = concat!(
            "CREATE TABLE IF NOT EXISTS topic_subscribers ",
            "(topic TEXT NOT NULL, session TEXT NOT NULL, PRIMARY KEY (topic, session))"
        );
        sql::create_table(&sql, "shard topic index", table);
        Self { sql }
    }

    /// (topic, session) entries in the index.
    pub fn count(&self) -> Result<u64> {
        sql::count_rows(&self.sql, "topic_subscribers")
    }

    /// Adds (`subscribe`) or removes `session` from `topic`'s subscribers.
    pub fn change(&self, topic: &str, session: &str, subscribe: bool) -> Result<()> {
        validate_session_id(session)?;
        // The MCP layer refuses such URIs with -32602 before they get here; this guards the table.
        if topic.is_empty() || topic.len() > MAX_TOPIC_BYTES {
            return Err(MeshError::InvalidParams(format!("a topic is 1 to {MAX_TOPIC_BYTES} bytes")));
        }
        let statement = if subscribe {
            "INSERT OR IGNORE INTO topic_subscribers (topic, session) VALUES (?, ?)"
        } else {
            "DELETE FROM topic_subscribers WHERE topic = ? AND session = ?"
        };
        sql::exec(&self.sql, statement, vec![topic.into(), session.into()])?;
        Ok(())
    }

    pub fn subscribers(&self, topic: &str) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Row {
            session: String,
        }
        let rows: Vec<Row> =
            sql::rows(&self.sql, "SELECT session FROM topic_subscribers WHERE topic = ?", vec![topic.into()])?;
        Ok(rows.into_iter().map(|row| row.session).collect())
    }

    /// Removes `session` from the index of each topic, on the topic's shard in every layout in service
    /// (this shard is `own`). Best effort: a stale entry only costs a "missing" on a later send.
    pub async fn forget_everywhere(&self, env: &Env, config: &MeshConfig, own: u32, session: &str, topics: &[String]) {
        for topic in topics {
            for shard in candidate_shards(topic, config.shard_count, &config.previous_shard_counts) {
                let outcome = if shard == own {
                    self.change(topic, session, false)
                } else {
                    let call = Unsubscribe { topic: topic.clone(), session: session.to_owned() };
                    match stubs::stub(env, &config.shard_binding, Target::Shard(shard)) {
                        Ok(stub) => stubs::call(&stub, &call).await.map(|_| ()),
                        Err(error) => Err(error),
                    }
                };
                if let Err(error) = outcome {
                    let message = format!("removing it from {topic}'s index on shard {shard} failed: {error}");
                    log::emit(&LogEvent::new(Level::Warn, "topic_cleanup_failed", message).shard(own).session(session));
                }
            }
        }
    }
}
