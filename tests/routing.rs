//! Routing contract tests: golden vectors (the mapping must never change silently), balance across
//! shards, and the share of sessions that move when a shard is added.

use mcp_mesh::routing::{jump_consistent_hash, session_key, shard_for, shard_name};

/// (id, xxh3-64 seed 0, shard for N = 1, 2, 16, 64, 256, 512). Computed with an independent
/// implementation (the `xxhash` C library through Python, and the paper's jump hash in Python), not
/// with this crate: if these break, deployed sessions would move to shards that do not hold them.
const GOLDEN: &[(&str, u64, [u32; 6])] = &[
    ("", 0x2d06800538d394c2, [0, 0, 0, 52, 241, 241]),
    ("a", 0xe6c632b61e964e1f, [0, 1, 14, 14, 14, 350]),
    ("session-0", 0xf95ae688b2161ff9, [0, 1, 15, 54, 150, 150]),
    ("00000000-0000-4000-8000-000000000001", 0x703e28f876f666f2, [0, 0, 12, 52, 199, 296]),
    ("e841ae54-5e68-4ca0-9de1-2becb972bcd9", 0x6ed10f1fb7513b69, [0, 0, 0, 39, 231, 359]),
    ("mesh://counter", 0x031ac0d07a18f97c, [0, 0, 15, 15, 203, 417]),
    ("~!@#$%^&*()_+{}|:<>?", 0xbcb6856159b34f2c, [0, 0, 7, 38, 245, 245]),
];
const GOLDEN_SHARD_COUNTS: [u32; 6] = [1, 2, 16, 64, 256, 512];

#[test]
fn golden_vectors_hold() {
    for (id, key, shards) in GOLDEN {
        assert_eq!(session_key(id), *key, "xxh3 of {id:?}");
        for (n, expected) in GOLDEN_SHARD_COUNTS.iter().zip(shards) {
            assert_eq!(shard_for(id, *n), *expected, "{id:?} over {n} shards");
        }
    }
    assert_eq!(shard_name(7), "shard-7");
}

/// Deterministic UUIDv4-shaped ids from splitmix64, so the test is reproducible without a RNG crate.
fn random_ids(count: usize, seed: u64) -> Vec<String> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..count)
        .map(|_| {
            let (a, b) = (next(), next());
            format!(
                "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                a >> 32,
                (a >> 16) & 0xffff,
                a & 0xfff,
                ((b >> 48) & 0x3fff) | 0x8000,
                b & 0xffff_ffff_ffff
            )
        })
        .collect()
}

fn max_over_mean(ids: &[String], shards: u32) -> f64 {
    let mut counts = vec![0u64; shards as usize];
    for id in ids {
        counts[shard_for(id, shards) as usize] += 1;
    }
    let mean = ids.len() as f64 / f64::from(shards);
    *counts.iter().max().unwrap_or(&0) as f64 / mean
}

#[test]
fn sessions_spread_evenly() {
    let ids = random_ids(100_000, 1);
    for shards in [1, 4, 16, 64] {
        let ratio = max_over_mean(&ids, shards);
        assert!(ratio <= 1.10, "{shards} shards: max/mean {ratio:.4}");
    }
    // At 256 shards, 100,000 ids are only ~390 per shard, and for *any* uniform hash the fullest of
    // 256 shards sits about 2.8 standard deviations (~14%) above the mean, so 1.10 is out of reach
    // by statistics alone (measured: 1.124). We assert the 4-sigma bound there, and the 1.10 target
    // at one million ids, where a standard deviation is 1.6% of the mean.
    let ratio = max_over_mean(&ids, 256);
    assert!(ratio <= 1.20, "256 shards, 100k ids: max/mean {ratio:.4}");
    let many = random_ids(1_000_000, 2);
    let ratio = max_over_mean(&many, 256);
    assert!(ratio <= 1.10, "256 shards, 1M ids: max/mean {ratio:.4}");
}

#[test]
fn growing_by_one_shard_moves_about_one_over_n_plus_one() {
    let ids = random_ids(100_000, 3);
    for n in [1u32, 2, 4, 8, 15, 16, 63, 255] {
        let mut moved = 0usize;
        for id in &ids {
            let before = shard_for(id, n);
            let after = shard_for(id, n + 1);
            if before != after {
                // Jump hash only ever moves keys into the new shard.
                assert_eq!(after, n, "{id} moved from {before} to {after} when adding shard {n}");
                moved += 1;
            }
        }
        let share = moved as f64 / ids.len() as f64;
        let expected = 1.0 / f64::from(n + 1);
        // Binomial noise at 100k ids is under 0.2 percentage points; 15% relative leaves room for it.
        assert!(
            (share - expected).abs() <= expected * 0.15,
            "{n} -> {}: moved {share:.4}, expected {expected:.4}",
            n + 1
        );
    }
}

#[test]
fn jump_hash_matches_the_paper_on_raw_keys() {
    // Independent values (Python port of the paper's C++) for raw keys.
    assert_eq!(jump_consistent_hash(0, 1), 0);
    assert_eq!(jump_consistent_hash(0xe6c632b61e964e1f, 16), 14);
    assert_eq!(jump_consistent_hash(0x703e28f876f666f2, 512), 296);
}
