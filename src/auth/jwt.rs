//! JWT access tokens (RFC 9068): the signature verified with the key set's key the token names, then
//! the claims checked against this resource server's expectations with the time passed in.
//!
//! The algorithm comes from the key: the token's `alg` must be one of the asymmetric signature
//! algorithms and, when the key states its own `alg`, equal to it; `none` and HMAC are refused
//! outright (an HMAC "signed" with a public key would verify against what anyone can read).
//! `typ` may be `at+jwt` or a plain JWT. Must not touch the runtime.

use jsonwebtoken::jwk::{Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::error::{MeshError, Result};

/// Seconds of clock difference tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 60;

/// Why a signature check did not accept a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// No key of the set matches the token's `kid` (the set may have rotated: fetch it again).
    UnknownKey,
    /// Refused for good (malformed, an algorithm not accepted, a bad signature): why.
    Rejected(String),
}

/// The key set's keys that can verify signatures; keys of other kinds or uses are left out, so one
/// encryption key in a provider's set does not make the set unreadable.
pub fn signing_keys(jwks: &Value) -> Vec<Jwk> {
    let keys = jwks.get("keys").and_then(Value::as_array).cloned().unwrap_or_default();
    keys.into_iter()
        .filter_map(|key| serde_json::from_value::<Jwk>(key).ok())
        .filter(|key| !matches!(key.common.public_key_use, Some(PublicKeyUse::Encryption)))
        .filter(|key| key.common.key_algorithm.is_none_or(|alg| accepted_key_algorithm(alg).is_some()))
        .collect()
}

fn accepted_key_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    match alg {
        KeyAlgorithm::RS256 => Some(Algorithm::RS256),
        KeyAlgorithm::RS384 => Some(Algorithm::RS384),
        KeyAlgorithm::RS512 => Some(Algorithm::RS512),
        KeyAlgorithm::PS256 => Some(Algorithm::PS256),
        KeyAlgorithm::PS384 => Some(Algorithm::PS384),
        KeyAlgorithm::PS512 => Some(Algorithm::PS512),
        KeyAlgorithm::ES256 => Some(Algorithm::ES256),
        KeyAlgorithm::ES384 => Some(Algorithm::ES384),
        KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
        _ => None,
    }
}

/// Verifies `token`'s signature with the key of `keys` its header names and returns its claims,
/// unchecked.
pub fn verify_signature(token: &str, keys: &[Jwk]) -> std::result::Result<Value, SignatureError> {
    let rejected = |why: &str| SignatureError::Rejected(why.to_owned());
    let header = decode_header(token).map_err(|e| SignatureError::Rejected(format!("malformed: {e}")))?;
    if matches!(header.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err(rejected("HMAC-signed tokens are not accepted"));
    }
    let key = match &header.kid {
        Some(kid) => keys.iter().find(|key| key.common.key_id.as_deref() == Some(kid)),
        None if keys.len() == 1 => keys.first(),
        None => return Err(rejected("the token names no key and the set has several")),
    }
    .ok_or(SignatureError::UnknownKey)?;
    if let Some(alg) = key.common.key_algorithm {
        if accepted_key_algorithm(alg) != Some(header.alg) {
            return Err(rejected("the token's alg is not its key's"));
        }
    }
    let decoding = DecodingKey::from_jwk(key).map_err(|e| SignatureError::Rejected(format!("unusable key: {e}")))?;
    // Only the signature here: the claims are checked by `check_claims`, with the time passed in.
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    decode::<Value>(token, &decoding, &validation).map(|data| data.claims).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => rejected("bad signature"),
        jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => rejected("the token's alg does not fit its key"),
        _ => SignatureError::Rejected(format!("not verifiable: {e}")),
    })
}

/// What the claims of an accepted token must say.
#[derive(Debug, Clone, Copy)]
pub struct ClaimsCheck<'a> {
    /// `iss`, exactly.
    pub issuer: &'a str,
    /// One of `aud`, exactly (path included).
    pub audience: &'a str,
    /// The current time, in seconds since the Unix epoch.
    pub now_secs: u64,
}

/// An accepted token's claims that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The issuer.
    pub issuer: String,
    /// The subject: who the token is for.
    pub subject: String,
    /// When it expires, in seconds since the Unix epoch.
    pub expires_at: u64,
    /// The scopes it grants (`scope`, space-separated as RFC 9068 has it, or a `scp` list).
    pub scopes: Vec<String>,
}

/// Checks verified claims: `iss` exact, `aud` holding the audience, `exp` and `nbf` within
/// [`LEEWAY_SECS`], and a `sub`.
pub fn check_claims(claims: &Value, check: ClaimsCheck<'_>) -> Result<Claims> {
    let invalid = |why: &str| MeshError::InvalidToken(why.to_owned());
    let issuer = claims.get("iss").and_then(Value::as_str).ok_or_else(|| invalid("no iss"))?;
    if issuer != check.issuer {
        return Err(invalid("issued by another issuer"));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => return Err(invalid("no aud")),
    };
    if !audiences.contains(&check.audience) {
        return Err(invalid("issued for another resource"));
    }
    let time = |name: &str| claims.get(name).and_then(Value::as_f64).map(|t| t.max(0.0) as u64);
    let expires_at = time("exp").ok_or_else(|| invalid("no exp"))?;
    if check.now_secs > expires_at.saturating_add(LEEWAY_SECS) {
        return Err(invalid("expired"));
    }
    if time("nbf").is_some_and(|nbf| nbf > check.now_secs.saturating_add(LEEWAY_SECS)) {
        return Err(invalid("not valid yet"));
    }
    let subject =
        claims.get("sub").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| invalid("no sub"))?;
    let mut scopes: Vec<String> =
        claims.get("scope").and_then(Value::as_str).unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    if let Some(Value::Array(listed)) = claims.get("scp") {
        scopes.extend(listed.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    Ok(Claims { issuer: issuer.to_owned(), subject: subject.to_owned(), expires_at, scopes })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(now_secs: u64) -> ClaimsCheck<'static> {
        ClaimsCheck { issuer: "https://as.example", audience: "https://mcp.example/mcp", now_secs }
    }

    fn claims() -> Value {
        json!({"iss": "https://as.example", "aud": ["other", "https://mcp.example/mcp"], "sub": "alice",
               "exp": 2_000, "nbf": 1_000, "scope": "mcp:call mesh:announce", "scp": ["extra"]})
    }

    #[test]
    fn claims_are_checked_exactly_with_a_leeway_on_time() {
        let accepted = check_claims(&claims(), check(1_500)).unwrap();
        assert_eq!((accepted.subject.as_str(), accepted.expires_at), ("alice", 2_000));
        assert_eq!(accepted.scopes, ["mcp:call", "mesh:announce", "extra"]);
        assert!(check_claims(&claims(), check(2_060)).is_ok(), "within the leeway");
        let refused = |claims: Value, now: u64| match check_claims(&claims, check(now)) {
            Err(MeshError::InvalidToken(why)) => why,
            other => panic!("accepted: {other:?}"),
        };
        assert_eq!(refused(claims(), 2_061), "expired");
        assert_eq!(refused(claims(), 939), "not valid yet");
        let mut other_issuer = claims();
        other_issuer["iss"] = json!("https://as.example/");
        assert_eq!(refused(other_issuer, 1_500), "issued by another issuer");
        let mut no_path = claims();
        no_path["aud"] = json!("https://mcp.example");
        assert_eq!(refused(no_path, 1_500), "issued for another resource");
        let mut no_sub = claims();
        no_sub.as_object_mut().unwrap().remove("sub");
        assert_eq!(refused(no_sub, 1_500), "no sub");
    }
}
