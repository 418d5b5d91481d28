//! Static development tokens (`AUTH_TOKENS`: `name:token,name:token`): each token stands for the
//! named identity. For development and tests; production uses OAuth (`AUTH_ISSUER`). Must not touch
//! the runtime.

use futures::future::LocalBoxFuture;

use super::{bearer_token, Authenticate, Principal};
use crate::access::constant_time_eq;
use crate::error::{MeshError, Result};

/// Bearer tokens and the identities they stand for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenAuth {
    identities: Vec<(String, String)>,
}

impl TokenAuth {
    /// Parses `AUTH_TOKENS`; a pair without a name or a token fails, naming the var.
    pub fn from_list(list: &str) -> Result<Self> {
        let mut identities = Vec::new();
        for pair in list.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
            let (name, token) = pair.split_once(':').map(|(n, t)| (n.trim(), t.trim())).unwrap_or(("", ""));
            if name.is_empty() || token.is_empty() || bearer_token(Some(&format!("Bearer {token}"))).is_err() {
                return Err(MeshError::Config {
                    var: "AUTH_TOKENS",
                    reason: "must be name:token pairs separated by commas, each token a bearer token".into(),
                });
            }
            identities.push((name.to_owned(), token.to_owned()));
        }
        Ok(Self { identities })
    }

    /// Whether any token is configured.
    pub fn is_enabled(&self) -> bool {
        !self.identities.is_empty()
    }

    /// The identity a request with this `Authorization` header authenticates as. Every token is
    /// compared in constant time, and all of them are compared.
    pub fn identify(&self, authorization: Option<&str>) -> Result<Option<Principal>> {
        if !self.is_enabled() {
            return Ok(None);
        }
        let given = bearer_token(authorization)?;
        let mut found = None;
        for (name, token) in &self.identities {
            if constant_time_eq(given.as_bytes(), token.as_bytes()) && found.is_none() {
                found = Some(name.clone());
            }
        }
        let id = found.ok_or_else(|| MeshError::InvalidToken("unknown token".into()))?;
        Ok(Some(Principal { id, scopes: None }))
    }
}

impl Authenticate for TokenAuth {
    fn authenticate<'a>(
        &'a self,
        authorization: Option<&'a str>,
        _audience: &'a str,
        _now_ms: u64,
    ) -> LocalBoxFuture<'a, Result<Option<Principal>>> {
        Box::pin(futures::future::ready(self.identify(authorization)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_map_to_identities() {
        let auth = TokenAuth::from_list("alice:t0k3n-a, bob:t0k3n-b").unwrap();
        let with = |token: &str| format!("Bearer {token}");
        let id = |token: &str| auth.identify(Some(&with(token))).map(|p| p.map(|p| p.id));
        assert_eq!(id("t0k3n-a"), Ok(Some("alice".to_owned())));
        assert_eq!(id("t0k3n-b"), Ok(Some("bob".to_owned())));
        assert!(matches!(id("t0k3n"), Err(MeshError::InvalidToken(_))));
        assert_eq!(auth.identify(None), Err(MeshError::MissingToken));
        assert_eq!(TokenAuth::default().identify(None), Ok(None));
    }

    #[test]
    fn a_malformed_pair_fails_naming_the_var() {
        for bad in ["alice:a,broken", ":x", "alice:", "alice:two words"] {
            let error = TokenAuth::from_list(bad).unwrap_err();
            assert!(matches!(error, MeshError::Config { var: "AUTH_TOKENS", .. }), "{bad:?}: {error}");
        }
        assert!(!TokenAuth::from_list("").unwrap().is_enabled());
    }
}
