//! A send's calls, planned once for every caller: the Rust Worker (`crate::cloudflare`) and, through
//! the wasm exports, the tmcp adapter (`js/tmcp-mesh`), which only attaches the payload and makes the
//! calls. A send goes to its batches' shards straight, or above `RELAY_ABOVE_SHARDS` through relays
//! (`crate::fanout`); mid-resharding, a targeted send retries on each previous layout the ids its
//! current shards did not have, if that layout puts them elsewhere. Must not touch the runtime.

use serde::Serialize;
use serde_json::{json, Value};

use crate::fanout::{goes_through_relays, plan_relays, relay_name, ShardBatch};
use crate::protocol::{ObjectCall, RelaySend, SendReply, SendRequest};
use crate::routing::{shard_for, shard_name};

/// How a send reaches its shards: straight, or through relays; never a mix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendPlan {
    /// One call per batch, to its shard.
    Straight(Vec<ShardBatch>),
    /// One call per share, to relay `relay-<i>` for the `i`-th, which calls the share's shards.
    Relayed(Vec<Vec<ShardBatch>>),
}

/// A call as the adapter makes it: the object's name, the path, and the body without its payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedCall {
    /// The object's name (`shard-N` or `relay-i`).
    pub object: String,
    /// The call's path.
    pub path: &'static str,
    /// The call's body, less `payload` and `kind`.
    pub body: Value,
}

/// The plan of a send to `batches`: straight, or above `relay_above` shards through relays.
pub fn plan_send(batches: Vec<ShardBatch>, relay_above: u32) -> SendPlan {
    if goes_through_relays(batches.len(), relay_above) {
        SendPlan::Relayed(plan_relays(batches))
    } else {
        SendPlan::Straight(batches)
    }
}

impl SendPlan {
    /// The plan's calls as the adapter makes them, in the order the Worker makes them.
    pub fn calls(&self) -> Vec<PlannedCall> {
        match self {
            Self::Straight(batches) => batches
                .iter()
                .map(|batch| {
                    let body = match &batch.sessions {
                        Some(sessions) => json!({ "sessions": sessions }),
                        None => json!({}),
                    };
                    PlannedCall { object: shard_name(batch.shard), path: SendRequest::PATH, body }
                })
                .collect(),
            Self::Relayed(shares) => shares
                .iter()
                .enumerate()
                .map(|(index, batches)| PlannedCall {
                    object: relay_name(index),
                    path: RelaySend::PATH,
                    body: json!({ "batches": batches }),
                })
                .collect(),
        }
    }
}

/// Of the ids a targeted send found no stream for, those to retry on the `previous` layout: the ones
/// it puts on another shard than the `current` layout (the others were asked already).
pub fn ids_to_retry(missing: Vec<String>, current: u32, previous: u32) -> Vec<String> {
    missing.into_iter().filter(|id| shard_for(id, previous) != shard_for(id, current)).collect()
}

/// Folds the reply of a retry of `retried` ids into the send's reply: what the retry reached is no
/// longer missing, and its missing ids replace the retried ones.
pub fn absorb_retry(reply: &mut SendReply, retried: usize, again: SendReply) {
    let retried = retried as u64;
    reply.report.missing = reply.report.missing.saturating_sub(retried - again.report.missing.min(retried));
    reply.report.delivered += again.report.delivered;
    reply.report.failed += again.report.failed;
    reply.missing_ids = again.missing_ids;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::SendReport;

    fn batch(shard: u32, sessions: Option<&[&str]>) -> ShardBatch {
        ShardBatch { shard, sessions: sessions.map(|ids| ids.iter().map(|id| id.to_string()).collect()) }
    }

    #[test]
    fn a_send_calls_its_shards_straight_up_to_the_threshold_then_relays() {
        let batches: Vec<ShardBatch> = (0..5).map(|shard| batch(shard, None)).collect();
        let straight = plan_send(batches.clone(), 5).calls();
        assert_eq!(straight.len(), 5);
        assert_eq!(straight[2], PlannedCall { object: "shard-2".into(), path: SendRequest::PATH, body: json!({}) });
        let relayed = plan_send(batches, 4).calls();
        assert_eq!(relayed.len(), 3, "⌈√5⌉ relays");
        let first = &relayed[0];
        assert_eq!((first.object.as_str(), first.path), ("relay-0", RelaySend::PATH));
        assert_eq!(first.body, json!({ "batches": [{ "shard": 0 }, { "shard": 3 }] }));
        let targeted = &plan_send(vec![batch(7, Some(&["a", "b"]))], 0).calls()[0];
        assert_eq!(targeted.body, json!({ "sessions": ["a", "b"] }));
    }

    #[test]
    fn a_planned_body_reads_as_its_call_once_the_payload_is_added() {
        let plans = [SendPlan::Straight(vec![batch(1, Some(&["s"]))]), SendPlan::Relayed(vec![vec![batch(2, None)]])];
        for planned in plans.iter().flat_map(SendPlan::calls) {
            let mut body = planned.body.clone();
            body["payload"] = json!({ "event": "data: x\n\n" });
            let text = body.to_string();
            let reads = match planned.path {
                SendRequest::PATH => crate::protocol::decode_call::<SendRequest>(&text).is_ok(),
                _ => crate::protocol::decode_call::<RelaySend>(&text).is_ok(),
            };
            assert!(reads, "{text}");
        }
    }

    #[test]
    fn only_ids_a_previous_layout_moves_are_retried_and_their_reply_is_folded_in() {
        let ids: Vec<String> = (0..200).map(|i| format!("id-{i}")).collect();
        let retry = ids_to_retry(ids.clone(), 8, 4);
        assert!(!retry.is_empty() && retry.len() < ids.len());
        assert!(retry.iter().all(|id| shard_for(id, 4) != shard_for(id, 8)));
        let mut reply = SendReply {
            report: SendReport { delivered: 5, failed: 0, missing: 3 },
            missing_ids: vec!["x".into(), "y".into(), "z".into()],
        };
        let again =
            SendReply { report: SendReport { delivered: 2, failed: 1, missing: 1 }, missing_ids: vec!["z".into()] };
        absorb_retry(&mut reply, 3, again);
        assert_eq!(reply.report, SendReport { delivered: 7, failed: 1, missing: 1 });
        assert_eq!(reply.missing_ids, vec!["z".to_owned()]);
    }
}
