//! When the authorization server's key set is fetched: kept for the lifetime its response gives
//! (within bounds), fetched again when it expires, and again early only when a token names a key it
//! lacks (the server rotated its keys) and at most once per interval (`AUTH_JWKS_REFETCH_MS`, default
//! [`KEY_REFETCH_INTERVAL_MS`]), so a flood of tokens with made-up key ids costs one fetch per interval,
//! not one per token. Must not touch the runtime.

use jsonwebtoken::jwk::Jwk;

/// An unknown `kid` fetches the key set again at most this often, unless `AUTH_JWKS_REFETCH_MS` says.
pub const KEY_REFETCH_INTERVAL_MS: u64 = 30_000;
/// How long a key set is kept when its response says nothing (`Cache-Control: max-age`).
pub const DEFAULT_KEYS_MAX_AGE_MS: u64 = 5 * 60 * 1000;
/// The longest a key set is kept whatever its response says, so a rotation is seen within a day.
pub const MAX_KEYS_MAX_AGE_MS: u64 = 24 * 60 * 60 * 1000;

/// The key set as last fetched.
#[derive(Debug, Clone)]
pub struct KeyCache {
    keys: Vec<Jwk>,
    fetched_at_ms: Option<u64>,
    max_age_ms: u64,
    refetch_interval_ms: u64,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new(KEY_REFETCH_INTERVAL_MS)
    }
}

impl KeyCache {
    /// An empty cache whose unknown keys fetch again at most once per `refetch_interval_ms`.
    pub fn new(refetch_interval_ms: u64) -> Self {
        Self { keys: Vec::new(), fetched_at_ms: None, max_age_ms: 0, refetch_interval_ms }
    }

    /// The keys (empty before the first fetch).
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// Whether the keys may be used without fetching: fetched, and within their lifetime.
    pub fn is_fresh(&self, now_ms: u64) -> bool {
        self.fetched_at_ms.is_some_and(|at| now_ms < at.saturating_add(self.max_age_ms))
    }

    /// Whether a token naming an unknown key may fetch the set again now.
    pub fn may_refetch(&self, now_ms: u64) -> bool {
        self.fetched_at_ms.is_none_or(|at| now_ms >= at.saturating_add(self.refetch_interval_ms))
    }

    /// Keeps a fetched set for `max_age_secs` (the response's), bounded.
    pub fn store(&mut self, keys: Vec<Jwk>, now_ms: u64, max_age_secs: Option<u64>) {
        let max_age_ms = max_age_secs.map_or(DEFAULT_KEYS_MAX_AGE_MS, |secs| secs.saturating_mul(1000));
        self.keys = keys;
        self.fetched_at_ms = Some(now_ms);
        self.max_age_ms = max_age_ms.min(MAX_KEYS_MAX_AGE_MS);
    }

    /// Notes a fetch that failed at `now_ms`: the keys held stay, but no unknown `kid` fetches again
    /// before the interval passes (an unreachable server is not asked on every request).
    pub fn note_failed_fetch(&mut self, now_ms: u64) {
        if self.fetched_at_ms.is_none_or(|at| now_ms.saturating_sub(at) >= self.refetch_interval_ms) {
            self.fetched_at_ms = Some(now_ms);
            self.max_age_ms = 0;
        }
    }
}

/// The `max-age` of a `Cache-Control` header value, in seconds.
pub fn max_age_secs(cache_control: &str) -> Option<u64> {
    cache_control.split(',').find_map(|directive| {
        let (name, value) = directive.trim().split_once('=')?;
        name.trim().eq_ignore_ascii_case("max-age").then(|| value.trim().trim_matches('"').parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_kept_for_its_lifetime_and_refetched_for_unknown_keys_once_per_interval() {
        let mut cache = KeyCache::default();
        assert!(!cache.is_fresh(0) && cache.may_refetch(0));
        cache.store(Vec::new(), 1_000, Some(600));
        assert!(cache.is_fresh(600_999) && !cache.is_fresh(601_000));
        assert!(!cache.may_refetch(1_000 + KEY_REFETCH_INTERVAL_MS - 1));
        assert!(cache.may_refetch(1_000 + KEY_REFETCH_INTERVAL_MS));
        cache.store(Vec::new(), 0, Some(10 * 24 * 3600));
        assert!(!cache.is_fresh(MAX_KEYS_MAX_AGE_MS), "bounded to a day");
        cache.store(Vec::new(), 0, None);
        assert!(cache.is_fresh(DEFAULT_KEYS_MAX_AGE_MS - 1));
    }

    #[test]
    fn a_failed_fetch_is_not_retried_before_the_interval() {
        let mut cache = KeyCache::default();
        cache.note_failed_fetch(5_000);
        assert!(!cache.is_fresh(5_000));
        assert!(!cache.may_refetch(5_000 + KEY_REFETCH_INTERVAL_MS - 1));
        assert!(cache.may_refetch(5_000 + KEY_REFETCH_INTERVAL_MS));
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(max_age_secs("public, max-age=300, must-revalidate"), Some(300));
        assert_eq!(max_age_secs("no-store"), None);
        assert_eq!(max_age_secs("Max-Age=\"60\""), Some(60));
    }
}
