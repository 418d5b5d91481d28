//! The authorization settings (wrangler vars and secrets), validated: a malformed one fails every
//! request with a 500 naming it, as `SHARD_COUNT` does, and is never skipped.
//!
//! - `AUTH_ISSUER`: the authorization server's issuer URL; set, the endpoint is an OAuth 2.1 resource
//!   server.
//! - `AUTH_AUDIENCE`: the resource identifier tokens must be issued for (RFC 8707); default: the
//!   endpoint's own URL as the request names it (`https://host/mcp`).
//! - `AUTH_JWKS_URL`: the key set, for providers without discovery (default: the metadata's
//!   `jwks_uri`).
//! - `AUTH_SCOPES`: scopes every request needs, space-separated.
//! - `AUTH_JWKS_REFETCH_MS`: a token naming a key the set lacks fetches it again at most this often
//!   (1,000 to 3,600,000; default 30,000).
//! - `AUTH_INTROSPECTION_CLIENT_ID` / `AUTH_INTROSPECTION_CLIENT_SECRET`: set, tokens that are not JWTs
//!   are checked by RFC 7662 introspection at the metadata's endpoint.
//! - `AUTH_TOKENS`: static development tokens instead (not with `AUTH_ISSUER`).
//!
//! Must not touch the runtime.

use url::Url;

use super::keys::KEY_REFETCH_INTERVAL_MS;
use super::tokens::TokenAuth;
use crate::error::{MeshError, Result};

/// How the MCP endpoint authenticates callers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AuthSettings {
    /// Every request is anonymous.
    #[default]
    Off,
    /// Static development tokens (`AUTH_TOKENS`).
    Tokens(TokenAuth),
    /// An OAuth 2.1 resource server (`AUTH_ISSUER`).
    OAuth(OAuthSettings),
}

/// The OAuth resource server's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSettings {
    /// `AUTH_ISSUER`, exactly as the tokens' `iss` must be.
    pub issuer: String,
    /// `AUTH_AUDIENCE`; `None`: the endpoint's own URL.
    pub audience: Option<String>,
    /// `AUTH_JWKS_URL`; `None`: the metadata's `jwks_uri`.
    pub jwks_url: Option<String>,
    /// `AUTH_SCOPES`: scopes every request needs.
    pub required_scopes: Vec<String>,
    /// `AUTH_INTROSPECTION_CLIENT_ID` and `_SECRET`: the credentials opaque tokens are introspected
    /// with; `None`: only JWT access tokens are accepted.
    pub introspection: Option<(String, String)>,
    /// `AUTH_JWKS_REFETCH_MS`: an unknown `kid` fetches the key set at most this often.
    pub jwks_refetch_ms: u64,
}

impl AuthSettings {
    /// Reads the `AUTH_*` vars through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let set = |name: &str| lookup(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty());
        let tokens = TokenAuth::from_list(&set("AUTH_TOKENS").unwrap_or_default())?;
        let Some(issuer) = set("AUTH_ISSUER") else {
            for var in [
                "AUTH_AUDIENCE",
                "AUTH_JWKS_URL",
                "AUTH_SCOPES",
                "AUTH_INTROSPECTION_CLIENT_ID",
                "AUTH_JWKS_REFETCH_MS",
            ] {
                if set(var).is_some() {
                    return Err(config(var, "needs AUTH_ISSUER".into()));
                }
            }
            return Ok(if tokens.is_enabled() { Self::Tokens(tokens) } else { Self::Off });
        };
        if tokens.is_enabled() {
            return Err(config("AUTH_TOKENS", "cannot be set with AUTH_ISSUER: choose one way to authenticate".into()));
        }
        let issuer_url = server_url("AUTH_ISSUER", &issuer)?;
        if issuer_url.query().is_some() {
            return Err(config("AUTH_ISSUER", "must have no query".into()));
        }
        let audience = set("AUTH_AUDIENCE");
        if let Some(audience) = &audience {
            let parsed =
                Url::parse(audience).map_err(|e| config("AUTH_AUDIENCE", format!("is not an absolute URI: {e}")))?;
            if parsed.fragment().is_some() {
                return Err(config("AUTH_AUDIENCE", "must have no fragment (RFC 8707)".into()));
            }
        }
        let jwks_url = set("AUTH_JWKS_URL");
        if let Some(url) = &jwks_url {
            server_url("AUTH_JWKS_URL", url)?;
        }
        let introspection = match (set("AUTH_INTROSPECTION_CLIENT_ID"), set("AUTH_INTROSPECTION_CLIENT_SECRET")) {
            (Some(id), Some(secret)) => Some((id, secret)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(config("AUTH_INTROSPECTION_CLIENT_SECRET", "is needed with the client id".into()))
            }
            (None, Some(_)) => return Err(config("AUTH_INTROSPECTION_CLIENT_ID", "is needed with the secret".into())),
        };
        let required_scopes =
            set("AUTH_SCOPES").map(|s| s.split_whitespace().map(str::to_owned).collect()).unwrap_or_default();
        let jwks_refetch_ms = match set("AUTH_JWKS_REFETCH_MS") {
            None => KEY_REFETCH_INTERVAL_MS,
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|ms| (1_000..=3_600_000).contains(ms))
                .ok_or_else(|| config("AUTH_JWKS_REFETCH_MS", format!("must be 1000 to 3600000 ms, got {raw:?}")))?,
        };
        Ok(Self::OAuth(OAuthSettings { issuer, audience, jwks_url, required_scopes, introspection, jwks_refetch_ms }))
    }
}

/// An authorization server URL: `https`, or `http` on a loopback host (development and tests).
pub(crate) fn server_url(var: &'static str, raw: &str) -> Result<Url> {
    let url = Url::parse(raw).map_err(|e| config(var, format!("is not a URL: {e}")))?;
    if url.fragment().is_some() {
        return Err(config(var, "must have no fragment".into()));
    }
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(config(var, "must be an https URL (http only on 127.0.0.1, localhost or [::1])".into())),
    }
}

fn config(var: &'static str, reason: String) -> MeshError {
    MeshError::Config { var, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<AuthSettings> {
        AuthSettings::from_lookup(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()))
    }

    fn var_of(result: Result<AuthSettings>) -> &'static str {
        match result {
            Err(MeshError::Config { var, .. }) => var,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn an_issuer_turns_oauth_on_with_its_options() {
        let on = settings(&[
            ("AUTH_ISSUER", "https://auth.example.com/tenant"),
            ("AUTH_AUDIENCE", "https://mcp.example.com/mcp"),
            ("AUTH_SCOPES", " mcp:read  mcp:call "),
            ("AUTH_INTROSPECTION_CLIENT_ID", "rs"),
            ("AUTH_INTROSPECTION_CLIENT_SECRET", "s3cret"),
        ])
        .unwrap();
        let AuthSettings::OAuth(oauth) = on else { panic!("not OAuth: {on:?}") };
        assert_eq!(oauth.issuer, "https://auth.example.com/tenant");
        assert_eq!(oauth.required_scopes, ["mcp:read", "mcp:call"]);
        assert_eq!(oauth.introspection, Some(("rs".into(), "s3cret".into())));
        assert!(settings(&[("AUTH_ISSUER", "http://127.0.0.1:9000")]).is_ok());
        assert!(settings(&[("AUTH_ISSUER", "http://localhost:9000/")]).is_ok());
        assert_eq!(settings(&[]).unwrap(), AuthSettings::Off);
        assert!(matches!(settings(&[("AUTH_TOKENS", "a:b")]).unwrap(), AuthSettings::Tokens(_)));
    }

    #[test]
    fn every_malformed_setting_names_itself() {
        assert_eq!(var_of(settings(&[("AUTH_ISSUER", "http://auth.example.com")])), "AUTH_ISSUER");
        assert_eq!(var_of(settings(&[("AUTH_ISSUER", "not a url")])), "AUTH_ISSUER");
        assert_eq!(var_of(settings(&[("AUTH_ISSUER", "https://a.example/#x")])), "AUTH_ISSUER");
        assert_eq!(var_of(settings(&[("AUTH_ISSUER", "https://a.example/?q=1")])), "AUTH_ISSUER");
        let issuer = ("AUTH_ISSUER", "https://a.example");
        assert_eq!(var_of(settings(&[issuer, ("AUTH_JWKS_URL", "ftp://a.example/keys")])), "AUTH_JWKS_URL");
        assert_eq!(var_of(settings(&[issuer, ("AUTH_AUDIENCE", "https://x/mcp#frag")])), "AUTH_AUDIENCE");
        assert_eq!(var_of(settings(&[issuer, ("AUTH_TOKENS", "a:b")])), "AUTH_TOKENS");
        assert_eq!(
            var_of(settings(&[issuer, ("AUTH_INTROSPECTION_CLIENT_ID", "x")])),
            "AUTH_INTROSPECTION_CLIENT_SECRET"
        );
        assert_eq!(var_of(settings(&[("AUTH_SCOPES", "a")])), "AUTH_SCOPES");
        assert_eq!(var_of(settings(&[("AUTH_TOKENS", "broken")])), "AUTH_TOKENS");
        assert_eq!(var_of(settings(&[issuer, ("AUTH_JWKS_REFETCH_MS", "10")])), "AUTH_JWKS_REFETCH_MS");
    }
}
