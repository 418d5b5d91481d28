//! Tokens already verified, by digest, until they expire: a client's later requests cost a lookup,
//! not a signature check. Bounded: past [`MAX_CACHED_TOKENS`] the expired entries go, then, if it is
//! still full, everything (a refill costs one verification per active token). Must not touch the
//! runtime.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::Principal;

/// Verified tokens kept at most.
pub const MAX_CACHED_TOKENS: usize = 10_000;

struct Entry {
    principal: Principal,
    audience: String,
    expires_at_secs: u64,
}

/// Verified tokens of one isolate.
#[derive(Default)]
pub struct TokenCache {
    entries: HashMap<[u8; 32], Entry>,
}

impl TokenCache {
    /// The principal `token` was verified as for `audience`, if that holds until after `now_secs`.
    pub fn get(&self, token: &str, audience: &str, now_secs: u64) -> Option<Principal> {
        let entry = self.entries.get(&digest(token))?;
        (entry.audience == audience && now_secs < entry.expires_at_secs).then(|| entry.principal.clone())
    }

    /// Keeps a verification until `expires_at_secs`.
    pub fn insert(&mut self, token: &str, audience: &str, principal: Principal, expires_at_secs: u64, now_secs: u64) {
        if self.entries.len() >= MAX_CACHED_TOKENS {
            self.entries.retain(|_, entry| entry.expires_at_secs > now_secs);
            if self.entries.len() >= MAX_CACHED_TOKENS {
                self.entries.clear();
            }
        }
        let entry = Entry { principal, audience: audience.to_owned(), expires_at_secs };
        self.entries.insert(digest(token), entry);
    }

    /// How many verifications are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Principal {
        Principal { id: "https://as#alice".into(), scopes: Some(vec!["a".into()]) }
    }

    #[test]
    fn a_verified_token_is_found_until_it_expires_and_only_for_its_audience() {
        let mut cache = TokenCache::default();
        cache.insert("t", "https://x/mcp", alice(), 100, 0);
        assert_eq!(cache.get("t", "https://x/mcp", 99), Some(alice()));
        assert_eq!(cache.get("t", "https://x/mcp", 100), None);
        assert_eq!(cache.get("t", "https://y/mcp", 50), None);
        assert_eq!(cache.get("u", "https://x/mcp", 50), None);
    }

    #[test]
    fn it_stays_bounded() {
        let mut cache = TokenCache::default();
        for i in 0..MAX_CACHED_TOKENS + 5 {
            cache.insert(&i.to_string(), "a", alice(), if i < 10 { 1 } else { 1_000 }, 500);
        }
        assert!(cache.len() <= MAX_CACHED_TOKENS);
    }
}
