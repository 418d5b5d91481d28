//! The mesh as an OAuth 2.1 resource server, end to end: a worker whose `AUTH_ISSUER` is a real
//! authorization server (oidc-provider, started by `tests/clients/oauth_client.mjs` on a free port),
//! driven by that script: discovery, the TypeScript SDK's own OAuth client, scopes, binding, every
//! refusal, a key rotation and the authorization server going away. Used by `tests/e2e.rs`.

use std::time::Duration;

use std::process::{Child, Command, Stdio};

use super::e2e_http::check;
use super::interop::{finish, node, root, run};
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
    let mut outcome = finish(ok, &output, "oauth:");
    if mode == "rust" {
        outcome =
            outcome.and_then(|summary| rejections_were_counted(&wrangler).map(|counts| format!("{summary}; {counts}")));
    }
    if outcome.is_err() {
        eprintln!("--- OAuth worker log (tail) ---\n{}", wrangler.log_tail());
    }
    outcome
}

/// The client's refused requests (no token, bad tokens) show in `/mesh/metrics` by reason.
fn rejections_were_counted(wrangler: &Wrangler) -> Result<String, String> {
    let metrics = super::operator::scrape(wrangler)?;
    let missing = metrics.sum("mcp_mesh_auth_rejections_total", &[("reason", "missing_token")]);
    let invalid = metrics.sum("mcp_mesh_auth_rejections_total", &[("reason", "invalid_token")]);
    check(missing >= 1.0 && invalid >= 1.0, format!("auth rejections counted: missing {missing}, invalid {invalid}"))?;
    Ok(format!("rejections counted: {missing} missing_token, {invalid} invalid_token"))
}

/// The Python SDK's own OAuth client (`tests/clients/py_oauth_client.py`, client credentials) in both
/// eras, against the Rust server with an authorization server running beside it.
pub fn run_python_scenario() -> Result<String, String> {
    let as_port = free_port();
    let issuer = format!("http://127.0.0.1:{as_port}");
    let vars = [("SHARD_COUNT", "4"), ("AUTH_ISSUER", issuer.as_str())];
    let wrangler = Wrangler::start_with_args(None, Some("mcp-mesh-py-oauth"), &vars)
        .map_err(|error| format!("could not start the OAuth worker: {error}"))?;
    let url = wrangler.url("/mcp");
    let _server = AuthorizationServer::start(as_port, &url)?;
    let python = root().join(".venv/bin/python").to_string_lossy().into_owned();
    let mut summaries = Vec::new();
    for mode in ["legacy", "auto"] {
        let args = ["tests/clients/py_oauth_client.py", url.as_str(), issuer.as_str(), mode];
        let (ok, output) = run(&python, &args, Duration::from_secs(120))?;
        summaries.push(finish(ok, &output, &format!("py-oauth-{mode}:"))?);
    }
    Ok(summaries.join("; "))
}

/// `loadtest/auth_server.mjs` as a child process, stopped when dropped.
struct AuthorizationServer(Child);

impl AuthorizationServer {
    fn start(port: u16, resource: &str) -> Result<Self, String> {
        let token_file = std::env::temp_dir().join(format!("mcp-mesh-as-{}-{port}", std::process::id()));
        let child = Command::new(node())
            .args(["loadtest/auth_server.mjs", &port.to_string(), resource, &token_file.to_string_lossy()])
            .current_dir(root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting the authorization server: {e}"))?;
        let server = Self(child);
        // It writes its first token once it serves.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::fs::metadata(&token_file).map(|m| m.len() == 0).unwrap_or(true) {
            if std::time::Instant::now() > deadline {
                return Err("the authorization server did not start".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }
}

impl Drop for AuthorizationServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
