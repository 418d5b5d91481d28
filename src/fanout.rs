//! Fan-out planning: which shards a send must reach, and with which session ids.
//!
//! A targeted send groups its ids by shard so each shard gets one request, whatever the number of
//! recipients on it; a broadcast goes to the coordinator's member shards only. The plan also decides
//! how the Worker issues the requests: the Workers runtime lets one invocation hold only
//! [`MAX_CONCURRENT_SUBREQUESTS`] connections at once and make a bounded number of subrequests, so the
//! shards are sent to with at most that many requests in flight. Must not touch the runtime.

use crate::protocol::Member;
use crate::routing::shards_for_many;

/// Simultaneous outgoing connections per Workers invocation; more queue in the runtime anyway, so
/// issuing more at once only adds memory.
pub const MAX_CONCURRENT_SUBREQUESTS: usize = 6;

/// Subrequests a single Worker invocation may make to Durable Objects (the documented floor; paid
/// plans allow 10,000 for fetches but the DO figure has been documented at 1,000). A broadcast costs
/// one coordinator call plus one per member shard, so direct fan-out is safe up to this many shards.
pub const DIRECT_FANOUT_SHARD_LIMIT: usize = 999;

/// One shard's share of a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardBatch {
    /// The shard's number.
    pub shard: u32,
    /// `None` means every session on the shard (a broadcast).
    pub sessions: Option<Vec<String>>,
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::shard_for;

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
}
