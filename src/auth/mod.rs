//! Who is calling: the MCP endpoint as an OAuth 2.1 resource server (the MCP specification's
//! "Authorization"), or with the static development tokens of `AUTH_TOKENS`.
//!
//! Layout:
//! - `settings`: the `AUTH_*` vars, validated (a malformed one names itself; never skipped).
//! - `bearer`: the `Authorization` header's bearer token, strictly parsed.
//! - `tokens`: the static development tokens (`AUTH_TOKENS`).
//! - `jwt`: JWT access tokens (RFC 9068) verified against a key set, and their claims checked.
//! - `keys`: when a key set may be fetched again (cache lifetime, unknown `kid`, at most once per
//!   interval).
//! - `token_cache`: verified tokens, by digest, until they expire.
//! - `discovery`: the authorization server's metadata (RFC 8414 / OpenID), this resource's metadata
//!   (RFC 9728) and the `WWW-Authenticate` challenges.
//! - `verifier`: the resource server itself: a token in, a [`Principal`] or a precise refusal out,
//!   fetching through a [`Fetcher`] the runtime glue provides.
//!
//! Time is passed in and fetching is a trait, so all of it is tested natively. Must not touch the
//! runtime.

mod bearer;
mod discovery;
mod jwt;
mod keys;
mod settings;
mod token_cache;
mod tokens;
mod verifier;

use futures::future::LocalBoxFuture;

pub use bearer::{bearer_token, MAX_AUTHORIZATION_BYTES};
pub use discovery::{
    authorization_server_metadata_urls, challenge, protected_resource_metadata, resource_metadata_url,
    AuthorizationServer, PROTECTED_RESOURCE_PATH,
};
pub use jwt::{check_claims, signing_keys, verify_signature, Claims, ClaimsCheck, SignatureError};
pub use keys::{max_age_secs, KeyCache, KEY_REFETCH_INTERVAL_MS};
pub use settings::{AuthSettings, OAuthSettings};
pub use token_cache::TokenCache;
pub use tokens::TokenAuth;
pub use verifier::{Fetched, Fetcher, OAuthVerifier};

use crate::error::Result;

/// The caller a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who it is: the token's `iss` and `sub` (`<iss>#<sub>`: an issuer never holds a fragment), or a
    /// development token's name. Sessions belong to it.
    pub id: String,
    /// The scopes the token grants; `None` for a development token, which is not scoped.
    pub scopes: Option<Vec<String>>,
}

impl Principal {
    /// Whether the principal holds every scope in `needed`.
    pub fn has_scopes(&self, needed: &[String]) -> bool {
        match &self.scopes {
            None => true,
            Some(granted) => needed.iter().all(|scope| granted.contains(scope)),
        }
    }
}

/// Checks the bearer token of a request to the MCP endpoint.
pub trait Authenticate {
    /// The principal `authorization` authenticates, `None` when authentication is off; a refusal
    /// otherwise (`MissingToken`, `InvalidToken`, `InsufficientScope`, `AuthUnavailable`).
    /// `audience` is the resource the token must be for when no `AUTH_AUDIENCE` is set (the
    /// endpoint's own URL).
    fn authenticate<'a>(
        &'a self,
        authorization: Option<&'a str>,
        audience: &'a str,
        now_ms: u64,
    ) -> LocalBoxFuture<'a, Result<Option<Principal>>>;

    /// Whether OAuth is on (then discovery answers and 401s carry a challenge).
    fn is_oauth(&self) -> bool {
        false
    }
}

/// No authentication: every request is anonymous.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoAuth;

impl Authenticate for NoAuth {
    fn authenticate<'a>(
        &'a self,
        _authorization: Option<&'a str>,
        _audience: &'a str,
        _now_ms: u64,
    ) -> LocalBoxFuture<'a, Result<Option<Principal>>> {
        Box::pin(futures::future::ready(Ok(None)))
    }
}
