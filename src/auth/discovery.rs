//! Discovery, both ways: where the authorization server's metadata is (RFC 8414, falling back to
//! OpenID Connect Discovery) and what it says; this resource's own metadata (RFC 9728), which clients
//! find from the `WWW-Authenticate` challenge of a 401. Must not touch the runtime.

use serde_json::{json, Value};
use url::Url;

use crate::error::{MeshError, Result};

/// Where this resource's metadata is served; `/mcp` after it names the MCP endpoint's (RFC 9728 §3.1).
pub const PROTECTED_RESOURCE_PATH: &str = "/.well-known/oauth-protected-resource";

/// The URLs an issuer's metadata may be at, in the order the MCP specification tries them: RFC 8414
/// (the well-known path inserted before the issuer's path), then OpenID Connect with the path
/// inserted, then OpenID Connect appended to the issuer.
pub fn authorization_server_metadata_urls(issuer: &str) -> Vec<String> {
    let Ok(url) = Url::parse(issuer) else { return Vec::new() };
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    if path.is_empty() {
        return vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ];
    }
    vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}/.well-known/openid-configuration{path}"),
        format!("{origin}{path}/.well-known/openid-configuration"),
    ]
}

/// What the mesh uses of the authorization server's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationServer {
    /// Its key set.
    pub jwks_uri: Option<String>,
    /// Its RFC 7662 introspection endpoint.
    pub introspection_endpoint: Option<String>,
}

impl AuthorizationServer {
    /// Reads a metadata document; its `issuer` must be the configured one exactly (RFC 8414 §3.3),
    /// or the document is not this server's.
    pub fn from_metadata(metadata: &Value, issuer: &str) -> Result<Self> {
        if metadata.get("issuer").and_then(Value::as_str) != Some(issuer) {
            return Err(MeshError::AuthUnavailable(format!("the metadata found is not issuer {issuer}'s")));
        }
        let url = |key: &str| metadata.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(Self { jwks_uri: url("jwks_uri"), introspection_endpoint: url("introspection_endpoint") })
    }
}

/// This resource's metadata (RFC 9728): the resource, its authorization server, the scopes it knows,
/// and that tokens travel only in the `Authorization` header.
pub fn protected_resource_metadata(resource: &str, issuer: &str, scopes_supported: &[String]) -> Value {
    let mut metadata = json!({
        "resource": resource,
        "authorization_servers": [issuer],
        "bearer_methods_supported": ["header"],
    });
    if !scopes_supported.is_empty() {
        metadata["scopes_supported"] = json!(scopes_supported);
    }
    metadata
}

/// The metadata URL of the MCP endpoint served at `origin` (`https://host`).
pub fn resource_metadata_url(origin: &str) -> String {
    format!("{origin}{PROTECTED_RESOURCE_PATH}/mcp")
}

/// A `WWW-Authenticate` challenge (RFC 6750 §3, RFC 9728 §5.1): where the metadata is, the scopes a
/// request needs, and for a refused token its error (`invalid_token`, `insufficient_scope`).
pub fn challenge(resource_metadata: &str, scope: &str, error: Option<(&str, &str)>) -> String {
    let quoted = |value: &str| value.replace(['"', '\\'], "");
    let mut header = format!("Bearer resource_metadata=\"{}\"", quoted(resource_metadata));
    if !scope.is_empty() {
        header.push_str(&format!(", scope=\"{}\"", quoted(scope)));
    }
    if let Some((code, description)) = error {
        header.push_str(&format!(", error=\"{code}\", error_description=\"{}\"", quoted(description)));
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_insert_the_well_known_path_before_the_issuers() {
        assert_eq!(
            authorization_server_metadata_urls("https://as.example/tenant/1/"),
            [
                "https://as.example/.well-known/oauth-authorization-server/tenant/1",
                "https://as.example/.well-known/openid-configuration/tenant/1",
                "https://as.example/tenant/1/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            authorization_server_metadata_urls("http://127.0.0.1:9000"),
            [
                "http://127.0.0.1:9000/.well-known/oauth-authorization-server",
                "http://127.0.0.1:9000/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn only_the_configured_issuers_metadata_is_read() {
        let metadata = json!({"issuer": "https://as.example", "jwks_uri": "https://as.example/jwks"});
        let server = AuthorizationServer::from_metadata(&metadata, "https://as.example").unwrap();
        assert_eq!(server.jwks_uri.as_deref(), Some("https://as.example/jwks"));
        assert!(AuthorizationServer::from_metadata(&metadata, "https://as.example/").is_err());
    }

    #[test]
    fn challenges_name_the_metadata_the_scope_and_the_error() {
        let url = resource_metadata_url("https://mcp.example");
        assert_eq!(url, "https://mcp.example/.well-known/oauth-protected-resource/mcp");
        assert_eq!(challenge(&url, "", None), format!("Bearer resource_metadata=\"{url}\""));
        assert_eq!(
            challenge(&url, "mesh:announce", Some(("insufficient_scope", "needs \"mesh:announce\""))),
            format!(
                "Bearer resource_metadata=\"{url}\", scope=\"mesh:announce\", error=\"insufficient_scope\", \
                 error_description=\"needs mesh:announce\""
            )
        );
        let metadata = protected_resource_metadata("https://mcp.example/mcp", "https://as", &["a".into()]);
        assert_eq!(metadata["bearer_methods_supported"], json!(["header"]));
        assert_eq!(metadata["scopes_supported"], json!(["a"]));
    }
}
