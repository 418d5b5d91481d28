//! Session id → shard index: xxh3-64 of the id, then jump consistent hash over the shard count.
//!
//! This file owns the mapping that decides which `SyncLayer` object holds a session. It is pure and
//! must not touch the Workers runtime. The mapping is part of the deployed contract: changing it moves
//! live sessions to shards that do not hold them, so `tests/routing.rs` pins it with golden vectors.

use twox_hash::XxHash3_64;

/// The largest shard count a deployment may configure: 512 × 32,768 ≈ 16.7M sessions. A broadcast
/// costs one subrequest per member shard plus one, so this keeps every broadcast inside one Worker
/// invocation's Durable Object subrequest budget (see `fanout::DIRECT_FANOUT_SHARD_LIMIT`).
pub const MAX_SHARD_COUNT: u32 = 512;

/// Prefix of every shard object's name; the full name is `shard-<index>`.
pub const SHARD_NAME_PREFIX: &str = "shard-";

/// The 64-bit key a session id is hashed to before the jump. Seed 0 keeps it reproducible anywhere
/// xxh3 exists (the Python and JS ports of xxh3 give the same value).
pub fn session_key(session_id: &str) -> u64 {
    XxHash3_64::oneshot(session_id.as_bytes())
}

/// Jump consistent hash (Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm", 2014).
///
/// Growing from `n` to `n + 1` buckets moves only about `1 / (n + 1)` of the keys, all of them into
/// the new bucket, which is what lets a deployment add shards while sessions are live. `buckets` of 0
/// is treated as 1 so the function is total.
pub fn jump_consistent_hash(mut key: u64, buckets: u32) -> u32 {
    let buckets = i64::from(buckets.max(1));
    let mut bucket: i64 = -1;
    let mut next: i64 = 0;
    while next < buckets {
        bucket = next;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        // The paper's constant: (b + 1) * 2^31 / ((key >> 33) + 1), computed in f64 as published.
        next = ((bucket + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    // bucket is in 0..buckets, which fits u32 because buckets came from a u32.
    bucket as u32
}

/// The shard that holds `session_id` when the deployment has `shard_count` shards.
pub fn shard_for(session_id: &str, shard_count: u32) -> u32 {
    jump_consistent_hash(session_key(session_id), shard_count)
}

/// How many keys [`shards_for_many`] walks through the jump loop side by side.
const JUMP_LANES: usize = 8;

/// [`shard_for`] for many ids at once, with exactly the same answers (`out[i]` is `ids[i]`'s shard).
///
/// One jump walks a dependent chain of float divisions (~ln N of them), so a single id waits on each
/// division's full latency. Walking `JUMP_LANES` (8) keys in lockstep keeps several divisions in
/// flight; the per-step arithmetic is the paper's, bit for bit, so the mapping does not change. Fan-out
/// planning for large targeted sends uses this.
pub fn shards_for_many<S: AsRef<str>>(ids: &[S], shard_count: u32) -> Vec<u32> {
    let mut out = Vec::with_capacity(ids.len());
    let mut chunks = ids.chunks_exact(JUMP_LANES);
    for chunk in &mut chunks {
        let mut keys = [0u64; JUMP_LANES];
        for (key, id) in keys.iter_mut().zip(chunk) {
            *key = session_key(id.as_ref());
        }
        out.extend_from_slice(&jump_lanes(keys, shard_count));
    }
    out.extend(chunks.remainder().iter().map(|id| shard_for(id.as_ref(), shard_count)));
    out
}

/// [`jump_consistent_hash`] over `JUMP_LANES` keys in lockstep. A lane that has finished keeps its
/// values (selected, not branched on) until the slowest lane is done.
fn jump_lanes(mut keys: [u64; JUMP_LANES], buckets: u32) -> [u32; JUMP_LANES] {
    let buckets = i64::from(buckets.max(1));
    let mut bucket = [-1i64; JUMP_LANES];
    let mut next = [0i64; JUMP_LANES];
    while next.iter().any(|&n| n < buckets) {
        for lane in 0..JUMP_LANES {
            let live = next[lane] < buckets;
            let candidate_bucket = next[lane];
            let stepped = keys[lane].wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
            let jumped = ((candidate_bucket + 1) as f64 * ((1u64 << 31) as f64 / ((stepped >> 33) + 1) as f64)) as i64;
            if live {
                bucket[lane] = candidate_bucket;
                keys[lane] = stepped;
                next[lane] = jumped;
            }
        }
    }
    // Every bucket is in 0..buckets (each lane ran at least once), which fits u32.
    bucket.map(|b| b as u32)
}

/// Where a session may live while a deployment changes its shard count: its shard under the
/// current count first, then under each previous count still in service (`PREVIOUS_SHARD_COUNTS`),
/// without repeats. Sessions stay on the shard that created them; lookups try these in order.
pub fn candidate_shards(session_id: &str, shard_count: u32, previous_counts: &[u32]) -> Vec<u32> {
    let key = session_key(session_id);
    let mut shards = vec![jump_consistent_hash(key, shard_count)];
    for &count in previous_counts {
        let shard = jump_consistent_hash(key, count);
        if !shards.contains(&shard) {
            shards.push(shard);
        }
    }
    shards
}

/// The stable name a shard object is addressed by (`id_from_name`). Names, not ids, are the contract:
/// the same name always reaches the same object, across deploys.
pub fn shard_name(shard: u32) -> String {
    format!("{SHARD_NAME_PREFIX}{shard}")
}

/// Parses a name made by [`shard_name`] back into its index.
pub fn parse_shard_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix(SHARD_NAME_PREFIX)?;
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bucket_takes_everything() {
        for key in [0, 1, u64::MAX, 12345] {
            assert_eq!(jump_consistent_hash(key, 1), 0);
            assert_eq!(jump_consistent_hash(key, 0), 0);
        }
    }

    #[test]
    fn results_stay_in_range() {
        for n in [1, 2, 3, 7, 16, 1000] {
            for i in 0..2000u64 {
                assert!(jump_consistent_hash(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), n) < n);
            }
        }
    }

    #[test]
    fn candidates_start_with_the_current_layout_and_never_repeat() {
        for i in 0..500 {
            let id = format!("s-{i}");
            let candidates = candidate_shards(&id, 24, &[16, 16, 24]);
            assert_eq!(candidates[0], shard_for(&id, 24));
            assert!(candidates.contains(&shard_for(&id, 16)));
            assert!(candidates.len() <= 2);
            // Jump hash moves a key only into a new shard: if it moved, its old home is below 16.
            if candidates.len() == 2 {
                assert!(candidates[0] >= 16 && candidates[1] < 16);
            }
        }
        assert_eq!(candidate_shards("x", 8, &[]), vec![shard_for("x", 8)]);
    }

    #[test]
    fn many_at_once_matches_one_at_a_time() {
        // Lengths around the lane width exercise the remainder path; 1000 ids mix long and short walks.
        for count in [0usize, 1, 7, 8, 9, 17, 1000] {
            let ids: Vec<String> = (0..count).map(|i| format!("id-{i}-{}", i * 7919)).collect();
            for n in [0u32, 1, 2, 3, 16, 255, 256, 512, 100_000] {
                let expected: Vec<u32> = ids.iter().map(|id| shard_for(id, n)).collect();
                assert_eq!(shards_for_many(&ids, n), expected, "{count} ids over {n} shards");
            }
        }
    }

    #[test]
    fn shard_names_round_trip() {
        for i in [0, 1, 15, 511] {
            assert_eq!(parse_shard_name(&shard_name(i)), Some(i));
        }
        for bad in ["shard-", "shard-01", "shard-x", "coordinator", "shard--1"] {
            assert_eq!(parse_shard_name(bad), None, "{bad}");
        }
    }
}
