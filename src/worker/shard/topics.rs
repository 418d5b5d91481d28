//! The part of `SyncLayer` that keeps the subscriber index of the topics hashed onto this shard, and
//! takes a closed listen stream's or an expired session's subscriptions out of the other shards' indexes.

use worker::WebSocket;

use super::SyncLayer;
use crate::error::{MeshError, Result};
use crate::manager::validate_session_id;
use crate::protocol::{shard_path, SocketAttachment, TopicChange, MAX_TOPIC_BYTES};
use crate::routing::candidate_shards;
use crate::worker::stubs::{self, Target};

impl SyncLayer {
    pub(super) fn topic_change(&self, change: TopicChange, subscribe: bool) -> Result<()> {
        validate_session_id(&change.session)?;
        if change.topic.is_empty() || change.topic.len() > MAX_TOPIC_BYTES {
            return Err(MeshError::InvalidParams(format!("a topic is 1 to {MAX_TOPIC_BYTES} bytes")));
        }
        let statement = if subscribe {
            "INSERT OR IGNORE INTO topic_subscribers (topic, session) VALUES (?, ?)"
        } else {
            "DELETE FROM topic_subscribers WHERE topic = ? AND session = ?"
        };
        self.sql(statement, vec![change.topic.into(), change.session.into()])?;
        Ok(())
    }

    /// A closed listen stream's topic-index entries (listen streams never come back under the same
    /// id, so nothing else would remove them).
    pub(super) async fn forget_listener_topics(&self, ws: &WebSocket) {
        let Ok(Some(attachment)) = ws.deserialize_attachment::<SocketAttachment>() else { return };
        if attachment.listener.is_some() {
            self.forget_topics(&attachment.session, &attachment.topics).await;
        }
    }

    /// Removes `session` from the index of each topic, on the topic's shard in every layout in service.
    pub(super) async fn forget_topics(&self, session: &str, topics: &[String]) {
        if topics.is_empty() {
            return;
        }
        let config = match self.settings() {
            Ok(config) => config,
            Err(error) => {
                worker::console_error!("shard {}: topic cleanup: {error}", self.shard.get());
                return;
            }
        };
        for topic in topics {
            for shard in candidate_shards(topic, config.shard_count, &config.previous_shard_counts) {
                let change = TopicChange { topic: topic.clone(), session: session.to_owned() };
                let outcome = if shard == self.shard.get() {
                    self.topic_change(change, false)
                } else {
                    match stubs::stub(&self.env, &config.shard_binding, Target::Shard(shard)) {
                        Ok(stub) => stubs::call::<_, serde_json::Value>(&stub, shard_path::TOPIC_UNSUBSCRIBE, &change)
                            .await
                            .map(|_| ()),
                        Err(error) => Err(error),
                    }
                };
                if let Err(error) = outcome {
                    worker::console_warn!(
                        "shard {}: removing {session} from a topic index failed: {error}",
                        self.shard.get()
                    );
                }
            }
        }
    }

    pub(super) fn topic_subscribers(&self, topic: &str) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Row {
            session: String,
        }
        let rows: Vec<Row> = self.rows("SELECT session FROM topic_subscribers WHERE topic = ?", vec![topic.into()])?;
        Ok(rows.into_iter().map(|row| row.session).collect())
    }
}
