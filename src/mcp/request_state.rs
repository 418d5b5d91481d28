//! `requestState` for stateless input-required results (MRTR): the handler's state, signed with
//! HMAC-SHA256 so a client cannot forge or alter it, carried by the client to the retried call.
//! Any isolate can verify it (the key is deployment-wide), which is what keeps the revision
//! stateless. The state is bound to the principal it was issued to: another caller presenting it is
//! refused as if it were forged. Must not touch the runtime.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::error::{MeshError, Result};

type HmacSha256 = Hmac<Sha256>;

/// Signs `state`, issued to `owner` (the principal's id; `None` when anonymous), into an opaque token:
/// `base64url(json).base64url(hmac)`.
pub fn sign(key: &[u8], state: &Value, owner: Option<&str>) -> String {
    let payload = URL_SAFE_NO_PAD.encode(json!({ "owner": owner, "state": state }).to_string());
    let tag = URL_SAFE_NO_PAD.encode(mac(key, payload.as_bytes()));
    format!("{payload}.{tag}")
}

/// Verifies a token made by [`sign`] with the same key for the same `owner`, and returns the state.
pub fn verify(key: &[u8], token: &str, owner: Option<&str>) -> Result<Value> {
    let (payload, tag) = token.split_once('.').ok_or(MeshError::TamperedState)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| MeshError::TamperedState)?;
    let mut check = HmacSha256::new_from_slice(key).map_err(|_| MeshError::TamperedState)?;
    check.update(payload.as_bytes());
    // verify_slice compares in constant time.
    check.verify_slice(&tag).map_err(|_| MeshError::TamperedState)?;
    let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| MeshError::TamperedState)?;
    let mut signed: Value = serde_json::from_slice(&json).map_err(|_| MeshError::TamperedState)?;
    if signed.get("owner").and_then(Value::as_str) != owner {
        return Err(MeshError::TamperedState);
    }
    Ok(signed.get_mut("state").map(Value::take).unwrap_or(Value::Null))
}

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC accepts keys of any length; this arm exists only to avoid a panic path.
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signed_state_round_trips_and_any_change_is_caught() {
        let key = b"test key";
        let token = sign(key, &json!({"round": 2, "name": "Alice"}), None);
        assert_eq!(verify(key, &token, None).unwrap(), json!({"round": 2, "name": "Alice"}));
        assert_eq!(verify(key, &format!("{token}-TAMPERED"), None), Err(MeshError::TamperedState));
        assert_eq!(verify(b"other key", &token, None), Err(MeshError::TamperedState));
        let (payload, tag) = token.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(json!({"owner": null, "state": {"round": 3}}).to_string());
        assert_eq!(verify(key, &format!("{forged}.{tag}"), None), Err(MeshError::TamperedState));
        assert!(verify(key, payload, None).is_err());
        assert!(verify(key, "", None).is_err());
    }

    #[test]
    fn state_issued_to_one_principal_is_refused_to_another() {
        let key = b"test key";
        let token = sign(key, &json!({"step": 1}), Some("https://as#alice"));
        assert_eq!(verify(key, &token, Some("https://as#alice")).unwrap(), json!({"step": 1}));
        assert_eq!(verify(key, &token, Some("https://as#bob")), Err(MeshError::TamperedState));
        assert_eq!(verify(key, &token, None), Err(MeshError::TamperedState));
    }
}
