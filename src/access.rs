//! Which `Host`s and `Origin`s may reach the endpoint (DNS rebinding protection), and the
//! constant-time comparison the development tokens and the admin routes use. Who is calling is
//! `crate::auth`. Plain functions of header values, tested natively.

use crate::error::{MeshError, Result};

/// Which Hosts and Origins may reach the endpoint (DNS rebinding protection).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    /// Extra hosts (no port) besides loopback; `*` allows any host.
    pub allowed_hosts: Vec<String>,
    /// Exact origins (`scheme://host[:port]`) allowed besides those whose host is allowed.
    pub allowed_origins: Vec<String>,
}

impl OriginPolicy {
    /// Parses comma-separated lists (the `ALLOWED_HOSTS` and `ALLOWED_ORIGINS` vars).
    pub fn from_lists(hosts: &str, origins: &str) -> Self {
        let split = |text: &str| {
            text.split(',').map(|x| x.trim().to_ascii_lowercase()).filter(|x| !x.is_empty()).collect::<Vec<_>>()
        };
        Self { allowed_hosts: split(hosts), allowed_origins: split(origins) }
    }

    /// Whether any `Host` is allowed (`ALLOWED_HOSTS = "*"`).
    pub fn allows_any_host(&self) -> bool {
        self.allowed_hosts.iter().any(|allowed| allowed == "*")
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = strip_port(host).to_ascii_lowercase();
        matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]")
            || self.allowed_hosts.iter().any(|allowed| allowed == "*" || *allowed == host)
    }

    /// 403 for a `Host` that is not allowed, or an `Origin` that is neither listed nor on an allowed host
    /// (the request's two headers, if present).
    pub fn check(&self, host: Option<&str>, origin: Option<&str>) -> Result<()> {
        if let Some(host) = host {
            if !self.host_allowed(host) {
                return Err(MeshError::Forbidden(format!("Host {:?} is not allowed", truncate(host))));
            }
        }
        if let Some(origin) = origin {
            let lowered = origin.trim().to_ascii_lowercase();
            let listed = self.allowed_origins.contains(&lowered);
            let host = lowered.split_once("://").map(|(_, rest)| rest.split('/').next().unwrap_or(""));
            if !listed && !host.is_some_and(|h| self.host_allowed(h)) {
                return Err(MeshError::Forbidden(format!("Origin {:?} is not allowed", truncate(origin))));
            }
        }
        Ok(())
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(100).collect()
}

/// `host:port` → `host`, keeping bracketed IPv6 literals whole.
fn strip_port(host: &str) -> &str {
    if let Some(end) = host.find(']') {
        return &host[..=end];
    }
    host.rsplit_once(':').map_or(host, |(h, port)| if port.chars().all(|c| c.is_ascii_digit()) { h } else { host })
}

/// Equality whose time does not depend on where the inputs first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = a.len() ^ b.len();
    for (i, byte) in b.iter().enumerate() {
        difference |= usize::from(a.get(i).copied().unwrap_or(0) ^ byte);
    }
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_policy_allows_loopback_and_listed_hosts_only() {
        let policy = OriginPolicy::from_lists("mcp.example.com", "https://app.example.org");
        let ok = |host: &str, origin: Option<&str>| policy.check(Some(host), origin).is_ok();
        assert!(ok("localhost:8787", None));
        assert!(ok("127.0.0.1:3000", Some("http://localhost:3000")));
        assert!(ok("[::1]:80", None));
        assert!(ok("MCP.example.com", Some("https://mcp.example.com")));
        assert!(ok("mcp.example.com", Some("https://app.example.org")));
        assert!(!ok("evil.example.com", Some("http://evil.example.com")));
        assert!(!ok("localhost:8787", Some("http://evil.example.com")));
        assert!(!ok("localhost", Some("null")));
        let open = OriginPolicy::from_lists("*", "");
        assert!(open.check(Some("anything.dev"), None).is_ok());
        assert_eq!(policy.check(Some("evil.com"), None).unwrap_err().http_status(), 403);
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret!"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
