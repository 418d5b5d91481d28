//! The mesh as an OAuth 2.1 resource server, end to end: a worker whose `AUTH_ISSUER` is a real
//! authorization server (oidc-provider, started by `tests/clients/oauth_client.mjs` on a free port),
//! driven by that script: discovery, the TypeScript SDK's own OAuth client, scopes, binding, every
//! refusal, a key rotation and the authorization server going away. Used by `tests/e2e.rs`.

use std::time::Duration;

use super::interop::{finish, node, run};
use super::workerd::{free_port, Wrangler};

/// How often an unknown key may fetch the key set again in this run (the rotation waits this long).
const REFETCH_MS: &str = "1000";

/// Runs the OAuth scenario on its own worker (the Rust reference server); its summary line, or why it
/// failed.
pub fn run_scenario() -> Result<String, String> {
    scenario(None, Some("mcp-mesh-oauth"), "rust")
}

/// The scenario's steps that hold for any server, against the tmcp example with `meshOAuth`.
pub fn run_tmcp_scenario() -> Result<String, String> {
    scenario(Some("examples/tmcp/wrangler.toml"), Some("mcp-mesh-tmcp-oauth"), "tmcp")
}

fn scenario(config: Option<&str>, name: Option<&str>, mode: &str) -> Result<String, String> {
    let as_port = free_port();
    let issuer = format!("http://127.0.0.1:{as_port}");
    let vars = [("SHARD_COUNT", "4"), ("AUTH_ISSUER", issuer.as_str()), ("AUTH_JWKS_REFETCH_MS", REFETCH_MS)];
    let wrangler = Wrangler::start_with_args(config, name, &vars)
        .map_err(|error| format!("could not start the OAuth worker: {error}"))?;
    let url = wrangler.url("/mcp");
    let port = as_port.to_string();
    let script = "tests/clients/oauth_client.mjs";
    let (ok, output) = run(&node(), &[script, &url, &port, REFETCH_MS, mode], Duration::from_secs(180))?;
    for line in output.lines().filter(|l| l.starts_with("ok   oauth::") || l.starts_with("FAIL oauth::")) {
        println!("     {line}");
    }
    let outcome = finish(ok, &output, "oauth:");
    if outcome.is_err() {
        eprintln!("--- OAuth worker log (tail) ---\n{}", wrangler.log_tail());
    }
    outcome
}
