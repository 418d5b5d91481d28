//! The bearer token of an `Authorization` header (RFC 6750 §2.1): the scheme `Bearer` (any case),
//! one or more spaces, then a token68. Nothing else is a token; tokens in query strings or bodies are
//! never read. Must not touch the runtime.

use crate::error::{MeshError, Result};

/// The longest `Authorization` header accepted: far above any real access token (a JWT with many
/// claims is a few KiB), far below what would make verifying it costly.
pub const MAX_AUTHORIZATION_BYTES: usize = 8 * 1024;

/// The token of `authorization`; `MissingToken` without one, `HeaderTooLarge` past the limit,
/// `InvalidToken` for another scheme or a malformed token.
pub fn bearer_token(authorization: Option<&str>) -> Result<&str> {
    let header = authorization.ok_or(MeshError::MissingToken)?;
    if header.len() > MAX_AUTHORIZATION_BYTES {
        return Err(MeshError::HeaderTooLarge);
    }
    let (scheme, rest) = header.trim().split_once(' ').ok_or_else(|| invalid("not a Bearer token"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(invalid("not a Bearer token"));
    }
    let token = rest.trim_start_matches(' ');
    let body = token.trim_end_matches('=');
    let token68 = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
    if body.is_empty() || !body.bytes().all(token68) {
        return Err(invalid("malformed bearer token"));
    }
    Ok(token)
}

fn invalid(why: &str) -> MeshError {
    MeshError::InvalidToken(why.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_well_formed_bearer_token_is_a_token() {
        assert_eq!(bearer_token(Some("Bearer abc.DEF-_~+/==")), Ok("abc.DEF-_~+/=="));
        assert_eq!(bearer_token(Some("bearer   x")), Ok("x"));
        assert_eq!(bearer_token(None), Err(MeshError::MissingToken));
        for bad in ["Basic abc", "Bearer", "Bearer ", "Bearer a b", "Bearer a,b", "Bearer ==", "Bearerx y", "x"] {
            assert!(matches!(bearer_token(Some(bad)), Err(MeshError::InvalidToken(_))), "{bad:?}");
        }
        let huge = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_BYTES));
        assert_eq!(bearer_token(Some(&huge)), Err(MeshError::HeaderTooLarge));
        assert_eq!(MeshError::HeaderTooLarge.http_status(), 431);
    }
}
