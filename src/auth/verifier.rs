//! The resource server: a bearer token in, a [`Principal`] or a precise refusal out. A token already
//! verified is a lookup ([`TokenCache`]); a JWT is verified against the authorization server's key
//! set ([`KeyCache`]); an opaque token is introspected (RFC 7662) when credentials for it are set. The
//! authorization server being unreachable is `AuthUnavailable` (503), never acceptance. Fetching is
//! the [`Fetcher`] the runtime glue gives; everything else is here and tested natively.

use std::cell::RefCell;

use futures::future::LocalBoxFuture;
use serde_json::Value;

use super::discovery::{authorization_server_metadata_urls, AuthorizationServer};
use super::jwt::{check_claims, signing_keys, verify_signature, ClaimsCheck, SignatureError};
use super::keys::KeyCache;
use super::settings::OAuthSettings;
use super::token_cache::TokenCache;
use super::{bearer_token, Authenticate, Principal};
use crate::error::{MeshError, Result};

/// An HTTP answer from the authorization server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Its status.
    pub status: u16,
    /// Its body.
    pub body: String,
    /// Its `Cache-Control: max-age`, in seconds.
    pub max_age_secs: Option<u64>,
}

/// How the verifier reaches the authorization server; `Err` is a failure to reach it at all.
pub trait Fetcher {
    /// GETs `url`.
    fn get<'a>(&'a self, url: &'a str) -> LocalBoxFuture<'a, Result<Fetched>>;
    /// POSTs `form` (URL-encoded) to `url` with HTTP basic authentication as `client`.
    fn post_form<'a>(
        &'a self,
        url: &'a str,
        client: (&'a str, &'a str),
        form: &'a [(&'a str, &'a str)],
    ) -> LocalBoxFuture<'a, Result<Fetched>>;
}

struct State {
    server: Option<AuthorizationServer>,
    keys: KeyCache,
    tokens: TokenCache,
}

/// An OAuth 2.1 resource server's token check, with its caches (one per isolate).
pub struct OAuthVerifier<F: Fetcher> {
    settings: OAuthSettings,
    fetcher: F,
    state: RefCell<State>,
}

impl<F: Fetcher> OAuthVerifier<F> {
    /// A verifier with empty caches.
    pub fn new(settings: OAuthSettings, fetcher: F) -> Self {
        let keys = KeyCache::new(settings.jwks_refetch_ms);
        let state = State { server: None, keys, tokens: TokenCache::default() };
        Self { settings, fetcher, state: RefCell::new(state) }
    }

    /// The settings it checks tokens against.
    pub fn settings(&self) -> &OAuthSettings {
        &self.settings
    }

    /// The principal `token` stands for, if it was issued by the configured issuer for `audience`,
    /// is in date, and grants `AUTH_SCOPES`.
    pub async fn verify(&self, token: &str, audience: &str, now_ms: u64) -> Result<Principal> {
        let now_secs = now_ms / 1000;
        let audience = self.settings.audience.as_deref().unwrap_or(audience);
        let cached = self.state.borrow().tokens.get(token, audience, now_secs);
        let principal = match cached {
            Some(principal) => principal,
            None => {
                let (principal, expires_at) = if looks_like_jwt(token) {
                    self.verify_jwt(token, audience, now_ms).await?
                } else if self.settings.introspection.is_some() {
                    self.introspect(token, audience, now_secs).await?
                } else {
                    return Err(MeshError::InvalidToken("not a JWT access token".into()));
                };
                self.state.borrow_mut().tokens.insert(token, audience, principal.clone(), expires_at, now_secs);
                principal
            }
        };
        if !principal.has_scopes(&self.settings.required_scopes) {
            return Err(MeshError::InsufficientScope(self.settings.required_scopes.join(" ")));
        }
        Ok(principal)
    }

    async fn verify_jwt(&self, token: &str, audience: &str, now_ms: u64) -> Result<(Principal, u64)> {
        if !self.state.borrow().keys.is_fresh(now_ms) {
            self.fetch_keys(now_ms).await?;
        }
        let keys = self.state.borrow().keys.keys().to_vec();
        let claims = match verify_signature(token, &keys) {
            Ok(claims) => claims,
            Err(SignatureError::UnknownKey) if self.state.borrow().keys.may_refetch(now_ms) => {
                // The server may have rotated its keys since the set was fetched.
                self.fetch_keys(now_ms).await?;
                let keys = self.state.borrow().keys.keys().to_vec();
                verify_signature(token, &keys).map_err(refusal)?
            }
            Err(error) => return Err(refusal(error)),
        };
        let check = ClaimsCheck { issuer: &self.settings.issuer, audience, now_secs: now_ms / 1000 };
        let claims = check_claims(&claims, check)?;
        let principal = Principal { id: principal_id(&claims.issuer, &claims.subject), scopes: Some(claims.scopes) };
        Ok((principal, claims.expires_at))
    }

    async fn fetch_keys(&self, now_ms: u64) -> Result<()> {
        let url = match &self.settings.jwks_url {
            Some(url) => url.clone(),
            None => self
                .server()
                .await?
                .jwks_uri
                .ok_or_else(|| MeshError::AuthUnavailable("the issuer's metadata has no jwks_uri".into()))?,
        };
        match self.fetcher.get(&url).await {
            Ok(fetched) if fetched.status == 200 => {
                let jwks: Value = serde_json::from_str(&fetched.body)
                    .map_err(|_| MeshError::AuthUnavailable("the key set is not JSON".into()))?;
                self.state.borrow_mut().keys.store(signing_keys(&jwks), now_ms, fetched.max_age_secs);
                Ok(())
            }
            other => {
                self.state.borrow_mut().keys.note_failed_fetch(now_ms);
                Err(unavailable("the key set", other))
            }
        }
    }

    /// The issuer's metadata, fetched once per isolate.
    async fn server(&self) -> Result<AuthorizationServer> {
        if let Some(server) = self.state.borrow().server.clone() {
            return Ok(server);
        }
        let mut last = None;
        for url in authorization_server_metadata_urls(&self.settings.issuer) {
            match self.fetcher.get(&url).await {
                Ok(fetched) if fetched.status == 200 => {
                    let metadata: Value = serde_json::from_str(&fetched.body).unwrap_or(Value::Null);
                    let server = AuthorizationServer::from_metadata(&metadata, &self.settings.issuer)?;
                    self.state.borrow_mut().server = Some(server.clone());
                    return Ok(server);
                }
                other => last = Some(other),
            }
        }
        Err(unavailable("the issuer's metadata", last.unwrap_or_else(|| Ok(not_found()))))
    }

    async fn introspect(&self, token: &str, audience: &str, now_secs: u64) -> Result<(Principal, u64)> {
        let Some((client_id, secret)) = &self.settings.introspection else {
            return Err(MeshError::InvalidToken("not a JWT access token".into()));
        };
        let endpoint =
            self.server().await?.introspection_endpoint.ok_or_else(|| {
                MeshError::AuthUnavailable("the issuer's metadata has no introspection_endpoint".into())
            })?;
        let form = [("token", token), ("token_type_hint", "access_token")];
        let answer = match self.fetcher.post_form(&endpoint, (client_id, secret), &form).await {
            Ok(fetched) if fetched.status == 200 => fetched,
            other => return Err(unavailable("introspection", other)),
        };
        let info: Value = serde_json::from_str(&answer.body)
            .map_err(|_| MeshError::AuthUnavailable("introspection did not answer JSON".into()))?;
        if info.get("active").and_then(Value::as_bool) != Some(true) {
            return Err(MeshError::InvalidToken("not active".into()));
        }
        let mut claims = info.clone();
        // Introspection may leave out what it is sure of: the issuer is the one asked.
        claims.as_object_mut().map(|c| c.entry("iss").or_insert(Value::from(self.settings.issuer.as_str())));
        let claims = check_claims(&claims, ClaimsCheck { issuer: &self.settings.issuer, audience, now_secs })?;
        let principal = Principal { id: principal_id(&claims.issuer, &claims.subject), scopes: Some(claims.scopes) };
        Ok((principal, claims.expires_at))
    }
}

impl<F: Fetcher> Authenticate for OAuthVerifier<F> {
    fn authenticate<'a>(
        &'a self,
        authorization: Option<&'a str>,
        audience: &'a str,
        now_ms: u64,
    ) -> LocalBoxFuture<'a, Result<Option<Principal>>> {
        Box::pin(async move {
            let token = bearer_token(authorization)?;
            self.verify(token, audience, now_ms).await.map(Some)
        })
    }

    fn is_oauth(&self) -> bool {
        true
    }
}

/// A principal's id: the issuer and the subject (an issuer identifier has no fragment, so `#` cannot
/// be part of it).
pub fn principal_id(issuer: &str, subject: &str) -> String {
    format!("{issuer}#{subject}")
}

/// Three base64url segments: the shape of a JWS compact serialization.
fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

fn refusal(error: SignatureError) -> MeshError {
    match error {
        SignatureError::UnknownKey => MeshError::InvalidToken("signed with a key the issuer does not publish".into()),
        SignatureError::Rejected(why) => MeshError::InvalidToken(why),
    }
}

fn not_found() -> Fetched {
    Fetched { status: 404, body: String::new(), max_age_secs: None }
}

fn unavailable(what: &str, outcome: Result<Fetched>) -> MeshError {
    match outcome {
        Ok(fetched) => MeshError::AuthUnavailable(format!("{what} answered {}", fetched.status)),
        Err(error) => MeshError::AuthUnavailable(format!("{what} could not be fetched: {error}")),
    }
}

#[cfg(test)]
mod tests;
