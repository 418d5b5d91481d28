//! criterion benches of the OAuth resource server's cost per request: the first verification of a
//! JWT access token for each signature algorithm (signature plus claims, natively), and the lookup
//! that every later request of the same token costs. Run with `cargo bench --bench auth`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use mcp_mesh::auth::{check_claims, signing_keys, verify_signature, ClaimsCheck, Principal, TokenCache};
use serde_json::{json, Value};

const ISSUER: &str = "https://as.example";
const AUDIENCE: &str = "https://mcp.example/mcp";
const NOW_SECS: u64 = 1_800_000_000;

fn key(alg: Algorithm) -> (EncodingKey, Value) {
    let pem = |name: &str| std::fs::read(format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let public = |key: &EncodingKey| serde_json::to_value(Jwk::from_encoding_key(key, alg).unwrap()).unwrap();
    match alg {
        Algorithm::ES256 => {
            let key = EncodingKey::from_ec_pem(&pem("ec.pem")).unwrap();
            let jwk = public(&key);
            (key, jwk)
        }
        Algorithm::EdDSA => {
            let x = String::from_utf8(pem("ed25519.x")).unwrap();
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": x.trim(), "alg": "EdDSA"});
            (EncodingKey::from_ed_pem(&pem("ed25519.pem")).unwrap(), jwk)
        }
        _ => {
            let key = EncodingKey::from_rsa_pem(&pem("rsa.pem")).unwrap();
            let jwk = public(&key);
            (key, jwk)
        }
    }
}

fn first_verification(c: &mut Criterion) {
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": NOW_SECS + 300,
                        "scope": "mcp:call mesh:announce"});
    let mut group = c.benchmark_group("auth/first_verification");
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let (encoding, mut jwk) = key(alg);
        jwk["kid"] = json!("k");
        let keys = signing_keys(&json!({ "keys": [jwk] }));
        let mut header = Header::new(alg);
        header.kid = Some("k".into());
        let token = encode(&header, &claims, &encoding).unwrap();
        let check = ClaimsCheck { issuer: ISSUER, audience: AUDIENCE, now_secs: NOW_SECS };
        group.bench_function(format!("{alg:?}"), |b| {
            b.iter(|| {
                let verified = verify_signature(black_box(&token), &keys).unwrap();
                check_claims(&verified, check).unwrap()
            })
        });
    }
    group.finish();
}

fn cached_token(c: &mut Criterion) {
    let mut cache = TokenCache::default();
    let token = "a".repeat(800);
    let principal = Principal { id: "https://as.example#alice".into(), scopes: Some(vec!["mcp:call".into()]) };
    cache.insert(&token, AUDIENCE, principal, NOW_SECS + 300, NOW_SECS);
    c.bench_function("auth/cached_token_lookup", |b| b.iter(|| cache.get(black_box(&token), AUDIENCE, NOW_SECS)));
}

criterion_group!(benches, first_verification, cached_token);
criterion_main!(benches);
