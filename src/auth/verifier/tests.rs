//! The verifier against a fake authorization server holding real keys (tests/fixtures/keys): every
//! acceptance and every refusal of the resource server's rules.

use std::cell::{Cell, RefCell};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;
use crate::auth::KEY_REFETCH_INTERVAL_MS;

const ISSUER: &str = "https://as.example";
const AUDIENCE: &str = "https://mcp.example/mcp";
const NOW_MS: u64 = 1_800_000_000_000;
const RSA: &str = include_str!("../../../tests/fixtures/keys/rsa.pem");
const RSA_ROTATED: &str = include_str!("../../../tests/fixtures/keys/rsa-rotated.pem");
const EC: &str = include_str!("../../../tests/fixtures/keys/ec.pem");
const ED: &str = include_str!("../../../tests/fixtures/keys/ed25519.pem");
const ED_X: &str = include_str!("../../../tests/fixtures/keys/ed25519.x");

fn encoding_key(alg: Algorithm, pem: &str) -> EncodingKey {
    match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .unwrap()
}

/// The public JWK of a test key, with its `kid`.
fn jwk(alg: Algorithm, pem: &str, kid: &str) -> Value {
    let mut jwk = match alg {
        Algorithm::EdDSA => json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X.trim(), "alg": "EdDSA"}),
        _ => serde_json::to_value(Jwk::from_encoding_key(&encoding_key(alg, pem), alg).unwrap()).unwrap(),
    };
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    jwk
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": NOW_MS / 1000 + 300, "iat": NOW_MS / 1000,
           "scope": "mcp:call mesh:announce", "client_id": "c"})
}

fn token(alg: Algorithm, pem: &str, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    header.typ = Some("at+jwt".to_owned());
    encode(&header, claims, &encoding_key(alg, pem)).unwrap()
}

/// An authorization server in memory: its metadata, its key set (which a test may rotate or take
/// down), an introspection endpoint, and a count of every fetch.
struct FakeServer {
    jwks: RefCell<Value>,
    down: Cell<bool>,
    fetches: RefCell<Vec<String>>,
    active_opaque: &'static str,
}

impl FakeServer {
    fn new() -> Self {
        let keys = json!({"keys": [
            jwk(Algorithm::RS256, RSA, "rsa-1"),
            jwk(Algorithm::ES256, EC, "ec-1"),
            jwk(Algorithm::EdDSA, ED, "ed-1"),
            {"kty": "RSA", "use": "enc", "kid": "enc-1", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"},
        ]});
        Self {
            jwks: RefCell::new(keys),
            down: Cell::new(false),
            fetches: RefCell::new(Vec::new()),
            active_opaque: "opaque-ok",
        }
    }

    fn count(&self, suffix: &str) -> usize {
        self.fetches.borrow().iter().filter(|url| url.ends_with(suffix)).count()
    }
}

impl Fetcher for &FakeServer {
    fn get<'a>(&'a self, url: &'a str) -> LocalBoxFuture<'a, Result<Fetched>> {
        self.fetches.borrow_mut().push(url.to_owned());
        let answer = if self.down.get() {
            Err(MeshError::Upstream { what: "as", detail: "connection refused".into() })
        } else if url == "https://as.example/.well-known/oauth-authorization-server" {
            let body = json!({"issuer": ISSUER, "jwks_uri": "https://as.example/jwks",
                              "introspection_endpoint": "https://as.example/introspect"});
            Ok(Fetched { status: 200, body: body.to_string(), max_age_secs: None })
        } else if url == "https://as.example/jwks" {
            Ok(Fetched { status: 200, body: self.jwks.borrow().to_string(), max_age_secs: Some(600) })
        } else {
            Ok(Fetched { status: 404, body: String::new(), max_age_secs: None })
        };
        Box::pin(futures::future::ready(answer))
    }

    fn post_form<'a>(
        &'a self,
        url: &'a str,
        client: (&'a str, &'a str),
        form: &'a [(&'a str, &'a str)],
    ) -> LocalBoxFuture<'a, Result<Fetched>> {
        self.fetches.borrow_mut().push(url.to_owned());
        assert_eq!(client, ("rs", "rs-secret"));
        let token = form.iter().find(|(k, _)| *k == "token").map(|(_, v)| *v).unwrap_or_default();
        let body = if token == self.active_opaque {
            json!({"active": true, "sub": "bob", "aud": AUDIENCE, "exp": NOW_MS / 1000 + 60, "scope": "mcp:call"})
        } else {
            json!({"active": false})
        };
        Box::pin(futures::future::ready(Ok(Fetched { status: 200, body: body.to_string(), max_age_secs: None })))
    }
}

fn settings() -> OAuthSettings {
    OAuthSettings {
        issuer: ISSUER.into(),
        audience: None,
        jwks_url: None,
        required_scopes: vec!["mcp:call".into()],
        introspection: Some(("rs".into(), "rs-secret".into())),
        jwks_refetch_ms: KEY_REFETCH_INTERVAL_MS,
    }
}

fn verify(verifier: &OAuthVerifier<&FakeServer>, token: &str, now_ms: u64) -> Result<Principal> {
    futures::executor::block_on(verifier.verify(token, AUDIENCE, now_ms))
}

fn refusal(verifier: &OAuthVerifier<&FakeServer>, token: &str) -> String {
    match verify(verifier, token, NOW_MS) {
        Err(MeshError::InvalidToken(why)) => why,
        other => panic!("not refused as invalid: {other:?}"),
    }
}

#[test]
fn tokens_of_each_algorithm_are_accepted_and_bound_to_issuer_and_subject() {
    let server = FakeServer::new();
    let verifier = OAuthVerifier::new(settings(), &server);
    for (alg, pem, kid) in
        [(Algorithm::RS256, RSA, "rsa-1"), (Algorithm::ES256, EC, "ec-1"), (Algorithm::EdDSA, ED, "ed-1")]
    {
        let principal =
            verify(&verifier, &token(alg, pem, kid, &claims()), NOW_MS).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(principal.id, "https://as.example#alice");
        assert_eq!(principal.scopes, Some(vec!["mcp:call".to_owned(), "mesh:announce".to_owned()]));
    }
    assert_eq!((server.count("/oauth-authorization-server"), server.count("/jwks")), (1, 1), "one fetch of each");
}

#[test]
fn a_verified_token_is_a_lookup_until_it_expires() {
    let server = FakeServer::new();
    let verifier = OAuthVerifier::new(settings(), &server);
    let rs = token(Algorithm::RS256, RSA, "rsa-1", &claims());
    verify(&verifier, &rs, NOW_MS).unwrap();
    server.down.set(true);
    assert!(verify(&verifier, &rs, NOW_MS + 1_000).is_ok(), "from the cache, the server not asked");
    assert_eq!(server.fetches.borrow().len(), 2);
    assert!(
        matches!(verify(&verifier, &rs, NOW_MS + 361_000), Err(MeshError::InvalidToken(_))),
        "past exp and the leeway"
    );
}

#[test]
fn every_forgery_and_mismatch_is_refused_with_its_reason() {
    let server = FakeServer::new();
    let verifier = OAuthVerifier::new(settings(), &server);
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = claims();
        change(&mut claims);
        token(Algorithm::RS256, RSA, "rsa-1", &claims)
    };
    assert_eq!(refusal(&verifier, &with(&|c| c["exp"] = json!(NOW_MS / 1000 - 61))), "expired");
    assert_eq!(refusal(&verifier, &with(&|c| c["nbf"] = json!(NOW_MS / 1000 + 61))), "not valid yet");
    assert_eq!(
        refusal(&verifier, &with(&|c| c["aud"] = json!("https://other.example/mcp"))),
        "issued for another resource"
    );
    assert_eq!(refusal(&verifier, &with(&|c| c["aud"] = json!("https://mcp.example"))), "issued for another resource");
    assert_eq!(refusal(&verifier, &with(&|c| c["iss"] = json!("https://evil.example"))), "issued by another issuer");
    // A valid token with one claim changed: the signature no longer holds.
    let genuine = token(Algorithm::RS256, RSA, "rsa-1", &claims());
    let parts: Vec<&str> = genuine.split('.').collect();
    let forged_claims = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": NOW_MS / 1000 + 300, "scope": "mcp:call"})
            .to_string(),
    );
    assert_eq!(refusal(&verifier, &format!("{}.{}.{}", parts[0], forged_claims, parts[2])), "bad signature");
    // alg none, and HS256 "signed" with the RSA public key's JWK text.
    let b64 = |v: Value| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, v.to_string());
    let none = format!("{}.{}.", b64(json!({"alg": "none", "kid": "rsa-1"})), b64(claims()));
    assert!(refusal(&verifier, &none).starts_with("malformed"), "alg none");
    let public = jwk(Algorithm::RS256, RSA, "rsa-1").to_string();
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("rsa-1".into());
    let hmac = encode(&hs, &claims(), &EncodingKey::from_secret(public.as_bytes())).unwrap();
    assert_eq!(refusal(&verifier, &hmac), "HMAC-signed tokens are not accepted");
    // ES256 header on the RSA key's kid: the key decides the algorithm.
    let mismatched = token(Algorithm::ES256, EC, "rsa-1", &claims());
    assert_eq!(refusal(&verifier, &mismatched), "the token's alg is not its key's");
    assert_eq!(refusal(&verifier, "not-a-jwt"), "not active");
}

#[test]
fn an_unknown_key_refetches_once_per_interval_and_a_rotation_is_picked_up() {
    let server = FakeServer::new();
    let verifier = OAuthVerifier::new(settings(), &server);
    verify(&verifier, &token(Algorithm::RS256, RSA, "rsa-1", &claims()), NOW_MS).unwrap();
    // A flood of tokens naming made-up keys: one refetch in the interval, however many tokens.
    for i in 0..50 {
        let garbage = token(Algorithm::RS256, RSA, &format!("made-up-{i}"), &claims());
        assert_eq!(refusal(&verifier, &garbage), "signed with a key the issuer does not publish");
    }
    assert_eq!(server.count("/jwks"), 1, "no refetch inside the interval after the first fetch");
    // The server rotates; after the interval a token with the new key is accepted after one refetch.
    server.jwks.borrow_mut()["keys"].as_array_mut().unwrap().push(jwk(Algorithm::RS256, RSA_ROTATED, "rsa-2"));
    let later = NOW_MS + KEY_REFETCH_INTERVAL_MS;
    let rotated = token(Algorithm::RS256, RSA_ROTATED, "rsa-2", &claims());
    assert!(verify(&verifier, &rotated, later).is_ok());
    assert_eq!(server.count("/jwks"), 2);
}

#[test]
fn an_unreachable_server_is_unavailable_never_acceptance() {
    let server = FakeServer::new();
    server.down.set(true);
    let verifier = OAuthVerifier::new(settings(), &server);
    let error = verify(&verifier, &token(Algorithm::RS256, RSA, "rsa-1", &claims()), NOW_MS).unwrap_err();
    assert!(matches!(error, MeshError::AuthUnavailable(_)), "{error:?}");
    assert_eq!((error.http_status(), error.retry_after_secs()), (503, Some(1)));
}

#[test]
fn opaque_tokens_are_introspected_and_scopes_enforced() {
    let server = FakeServer::new();
    let verifier = OAuthVerifier::new(settings(), &server);
    let principal = verify(&verifier, "opaque-ok", NOW_MS).unwrap();
    assert_eq!(principal.id, "https://as.example#bob");
    assert_eq!(refusal(&verifier, "opaque-revoked"), "not active");
    let mut needs_more = settings();
    needs_more.required_scopes = vec!["mcp:admin".into()];
    let strict = OAuthVerifier::new(needs_more, &server);
    let error = verify(&strict, &token(Algorithm::RS256, RSA, "rsa-1", &claims()), NOW_MS).unwrap_err();
    assert_eq!(error, MeshError::InsufficientScope("mcp:admin".into()));
    assert_eq!(error.http_status(), 403);
}
