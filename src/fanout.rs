//! Fan-out planning: which shards a send must reach, and with which session ids.
//!
//! A targeted send groups its ids by shard so each shard gets one request, whatever the number of
//! recipients on it; a broadcast goes to the coordinator's member shards only. The plan also decides
//! how the Worker issues the requests: the Workers runtime lets one invocation hold only
//! [`MAX_CONCURRENT_SUBREQUESTS`] connections at once and make a bounded number of subrequests, so the
//! shards are sent to with at most that many requests waiting for headers. Above a shard count
//! (`RELAY_ABOVE_SHARDS`) a send goes through relays instead: about √N relay objects, each calling its
//! share of the shards, so no caller makes more than about √N calls. Must not touch the runtime.

use crate::error::MeshError;
pub use crate::protocol::ShardBatch;
use crate::protocol::{Member, SendReply};
use crate::routing::shards_for_many;

/// Simultaneous outgoing connections per Workers invocation; more queue in the runtime anyway, so
/// issuing more at once only adds memory.
pub const MAX_CONCURRENT_SUBREQUESTS: usize = 6;

/// Subrequests a single Worker invocation may make to Durable Objects (the documented floor; paid
/// plans allow 10,000 for fetches but the DO figure has been documented at 1,000). A broadcast costs
/// one coordinator call plus one per member shard, so direct fan-out is safe up to this many shards.
pub const DIRECT_FANOUT_SHARD_LIMIT: usize = 999;

/// Groups `session_ids` by the shard that holds them. Duplicate ids are sent once. The result is
/// ordered by shard index so plans are deterministic.
pub fn plan_targeted<S: AsRef<str>>(session_ids: &[S], shard_count: u32) -> Vec<ShardBatch> {
    let shards = shards_for_many(session_ids, shard_count);
    // Bucketed by shard index (dense, at most MAX_SHARD_COUNT wide) rather than a map: one pass, no
    // per-id tree walk; ids are borrowed until each batch is sorted and deduplicated.
    let width = shards.iter().max().map_or(0, |&top| top as usize + 1);
    let mut by_shard: Vec<Vec<&str>> = vec![Vec::new(); width];
    for (id, &shard) in session_ids.iter().zip(&shards) {
        by_shard[shard as usize].push(id.as_ref());
    }
    by_shard
        .into_iter()
        .enumerate()
        .filter(|(_, sessions)| !sessions.is_empty())
        .map(|(shard, mut sessions)| {
            sessions.sort_unstable();
            sessions.dedup();
            let sessions = sessions.into_iter().map(str::to_owned).collect();
            // shard < width ≤ u32::MAX + 1 by construction.
            ShardBatch { shard: shard as u32, sessions: Some(sessions) }
        })
        .collect()
}

/// A broadcast: one batch per member shard with sessions.
pub fn plan_broadcast(members: &[Member]) -> Vec<ShardBatch> {
    members
        .iter()
        .filter(|member| member.sessions > 0)
        .map(|member| ShardBatch { shard: member.shard, sessions: None })
        .collect()
}

/// Whether a plan fits one Worker invocation's subrequest budget.
pub fn fits_direct_fanout(batches: &[ShardBatch]) -> bool {
    batches.len() <= DIRECT_FANOUT_SHARD_LIMIT
}

/// How many relays a send to `batches` shards goes through: ⌈√batches⌉, so the Worker's calls (one
/// per relay) and each relay's (one per shard of its share) are about as many.
pub fn relay_count(batches: usize) -> usize {
    let mut relays = (batches as f64).sqrt().ceil() as usize;
    // Exact for any count a send can have, whatever the float rounding.
    while relays > 1 && (relays - 1) * (relays - 1) >= batches {
        relays -= 1;
    }
    while relays * relays < batches {
        relays += 1;
    }
    relays.max(1)
}

/// Splits a send's batches over `relay_count` relays: relay r gets batches r, r + R, r + 2R, … (so
/// every relay has its share of the busiest shards of an ordered plan). No relay gets none.
pub fn plan_relays(batches: Vec<ShardBatch>) -> Vec<Vec<ShardBatch>> {
    let relays = relay_count(batches.len());
    let mut shares: Vec<Vec<ShardBatch>> = (0..relays).map(|_| Vec::new()).collect();
    for (i, batch) in batches.into_iter().enumerate() {
        shares[i % relays].push(batch);
    }
    shares.retain(|share| !share.is_empty());
    shares
}

/// Whether a send to `batches` shards goes through relays: more than `relay_above` shards, where 0
/// means never.
pub fn goes_through_relays(batches: usize, relay_above: u32) -> bool {
    relay_above > 0 && batches > relay_above as usize
}

/// The calls the Worker makes for a send to `batches` shards: one per shard, or one per relay.
pub fn calls_made(batches: usize, relay_above: u32) -> usize {
    if goes_through_relays(batches, relay_above) {
        relay_count(batches)
    } else {
        batches
    }
}

/// The name of relay `index` (an object of the shard class that holds no streams).
pub fn relay_name(index: usize) -> String {
    format!("{RELAY_NAME_PREFIX}{index}")
}

/// Prefix of every relay object's name.
pub const RELAY_NAME_PREFIX: &str = "relay-";

/// The shards' (or relays') outcomes of one send, summed: the total of the replies that came, and the
/// errors of the calls that failed. A send with any error failed: the caller must not believe
/// everyone was reached.
pub fn sum_replies(outcomes: Vec<Result<SendReply, MeshError>>) -> (SendReply, Vec<MeshError>) {
    let mut total = SendReply::default();
    let mut errors = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(reply) => total.merge(reply),
            Err(error) => errors.push(error),
        }
    }
    (total, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::shard_for;

    #[test]
    fn a_send_makes_one_call_per_shard_or_per_relay() {
        assert_eq!(calls_made(16, 16), 16);
        assert_eq!(calls_made(17, 16), 5);
        assert_eq!(calls_made(64, 0), 64, "0 turns relays off");
        assert_eq!(calls_made(0, 16), 0);
    }

    #[test]
    fn targeted_sends_are_grouped_once_per_shard_and_deduplicated() {
        let ids: Vec<String> = (0..500).map(|i| format!("session-{i}")).collect();
        let mut with_dupes = ids.clone();
        with_dupes.extend(ids.iter().take(50).cloned());
        let plan = plan_targeted(&with_dupes, 16);
        let shards: Vec<u32> = plan.iter().map(|b| b.shard).collect();
        let mut sorted = shards.clone();
        sorted.dedup();
        assert_eq!(shards, sorted, "one batch per shard, in order");
        let total: usize = plan.iter().map(|b| b.sessions.as_ref().unwrap().len()).sum();
        assert_eq!(total, 500);
        for batch in &plan {
            for id in batch.sessions.as_ref().unwrap() {
                assert_eq!(shard_for(id, 16), batch.shard);
            }
        }
    }

    #[test]
    fn broadcast_skips_empty_shards() {
        let members =
            [Member { shard: 0, sessions: 3 }, Member { shard: 2, sessions: 0 }, Member { shard: 5, sessions: 1 }];
        let plan = plan_broadcast(&members);
        assert_eq!(plan.iter().map(|b| b.shard).collect::<Vec<_>>(), vec![0, 5]);
        assert!(plan.iter().all(|b| b.sessions.is_none()));
    }

    #[test]
    fn large_broadcasts_are_flagged_past_the_subrequest_budget() {
        let members: Vec<Member> = (0..1200).map(|shard| Member { shard, sessions: 1 }).collect();
        assert!(fits_direct_fanout(&plan_broadcast(&members[..999])));
        assert!(!fits_direct_fanout(&plan_broadcast(&members)));
    }

    #[test]
    fn an_empty_send_plans_nothing() {
        assert!(plan_targeted::<&str>(&[], 8).is_empty());
        assert!(plan_broadcast(&[]).is_empty());
    }

    #[test]
    fn relays_are_about_the_square_root_of_the_shards_and_every_shard_is_in_exactly_one() {
        for (shards, relays) in [(1, 1), (2, 2), (4, 2), (5, 3), (16, 4), (17, 5), (512, 23), (999, 32)] {
            assert_eq!(relay_count(shards), relays, "{shards} shards");
        }
        let members: Vec<Member> = (0..40).map(|shard| Member { shard, sessions: 1 }).collect();
        let shares = plan_relays(plan_broadcast(&members));
        assert_eq!(shares.len(), 7);
        let mut reached: Vec<u32> = shares.iter().flatten().map(|b| b.shard).collect();
        reached.sort_unstable();
        assert_eq!(reached, (0..40).collect::<Vec<_>>());
        assert!(shares.iter().all(|share| (5..=6).contains(&share.len())), "{shares:?}");
        assert!(plan_relays(Vec::new()).is_empty());
    }

    #[test]
    fn replies_sum_and_every_failure_is_kept() {
        let reply = |delivered, missing: &[&str]| SendReply {
            report: crate::protocol::SendReport { delivered, failed: 0, missing: missing.len() as u64 },
            missing_ids: missing.iter().map(|id| id.to_string()).collect(),
        };
        let (total, errors) =
            sum_replies(vec![Ok(reply(3, &["a"])), Err(MeshError::ShardFull { shard: 2 }), Ok(reply(4, &["b", "c"]))]);
        assert_eq!(total.report.delivered, 7);
        assert_eq!(total.report.missing, 3);
        assert_eq!(total.missing_ids, ["a", "b", "c"]);
        assert_eq!(errors, [MeshError::ShardFull { shard: 2 }]);
        assert_eq!(relay_name(3), "relay-3");
    }

    #[test]
    fn relays_are_used_above_the_configured_shard_count_only() {
        assert!(!goes_through_relays(500, 0), "0 turns them off");
        assert!(!goes_through_relays(16, 16));
        assert!(goes_through_relays(17, 16));
    }
}
