//! Tasks end to end: the tasks clients against the shared worker and its peer process
//! (`tests/clients/tasks_client.mjs`), and what a restart of the objects' process does to running
//! tasks (its own worker, restarted mid-task): one is resumed and completes, one cut by three
//! restarts in a row ends `failed` saying so; none is left `working`.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::e2e_http::check;
use super::interop::{finish, node, run};
use super::workerd::{request, Wrangler};

const VERSION: &str = "2026-07-28";
const EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// The ext-tasks and SDK task clients, starting on `url` and following on `peer_url`.
pub fn clients(url: &str, peer_url: &str, token: &str) -> Result<String, String> {
    let (ok, output) =
        run(&node(), &["tests/clients/tasks_client.mjs", url, peer_url, token], Duration::from_secs(420))?;
    for line in output.lines().filter(|line| line.starts_with("     tasks:")) {
        println!("{line}");
    }
    finish(ok, &output, "tasks:")
}

/// One 2026-07-28 request declaring the tasks extension; the JSON-RPC response.
fn call(w: &Wrangler, method: &str, params: Value) -> Result<Value, String> {
    let name = params.get("name").or_else(|| params.get("taskId")).and_then(Value::as_str).unwrap_or_default();
    let mut params = params.clone();
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientCapabilities": { "extensions": { EXTENSION: {} } },
    });
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", VERSION),
        ("Mcp-Method", method),
        ("Mcp-Name", name),
    ];
    let reply = request("POST", &w.url("/mcp"), &headers, Some(&body));
    serde_json::from_str(&reply.body).map_err(|e| format!("{method}: {e}: {} {}", reply.status, reply.body))
}

fn start_countdown(w: &Wrangler, seconds: u32) -> Result<String, String> {
    let created = call(w, "tools/call", json!({ "name": "countdown", "arguments": { "seconds": seconds } }))?;
    created["result"]["taskId"].as_str().map(str::to_owned).ok_or_else(|| format!("no task: {created}"))
}

fn task(w: &Wrangler, id: &str) -> Result<Value, String> {
    let got = call(w, "tasks/get", json!({ "taskId": id }))?;
    got.get("result").cloned().ok_or_else(|| format!("tasks/get {id}: {got}"))
}

/// Polls until the task is no longer `working` or `within` passes; its last state.
fn settle(w: &Wrangler, id: &str, within: Duration) -> Result<Value, String> {
    let deadline = Instant::now() + within;
    loop {
        let state = task(w, id)?;
        if state["status"] != "working" || Instant::now() > deadline {
            return Ok(state);
        }
        thread::sleep(Duration::from_millis(250));
    }
}

/// Restarts the objects' process while tasks run: a short one is resumed and completes; a long one
/// cut by three restarts in a row (three runs started) is failed with a message that says why.
pub fn a_restart_mid_task_resumes_or_fails_it() -> Result<String, String> {
    let mut w = Wrangler::start_with_args(None, Some("mcp-mesh-tasks"), &[("SHARD_COUNT", "4")])?;
    let short = start_countdown(&w, 6)?;
    let long = start_countdown(&w, 300)?;
    thread::sleep(Duration::from_millis(2_500));
    check(task(&w, &short)?["status"] == "working", "the short task runs before the restart")?;
    for restart in 1..=3 {
        w.restart()?;
        // A poll after the restart finds each task cut: it runs again (or, past its runs, fails).
        task(&w, &short)?;
        let long_state = task(&w, &long)?;
        if restart < 3 {
            check(long_state["status"] == "working", format!("after restart {restart}: {long_state}"))?;
        }
        if restart == 1 {
            let done = settle(&w, &short, Duration::from_secs(30))?;
            check(
                done["status"] == "completed" && done["result"]["content"][0]["text"] == "counted down 6 s",
                format!("the short task after a restart: {done}"),
            )?;
        } else {
            thread::sleep(Duration::from_millis(1_500));
        }
    }
    let failed = settle(&w, &long, Duration::from_secs(10))?;
    let message = failed["error"]["message"].as_str().unwrap_or_default();
    check(
        failed["status"] == "failed" && message.contains("restarted") && failed.get("result").is_none(),
        format!("the long task after three restarts: {failed}"),
    )?;
    Ok(format!(
        "restarts: a 6 s task resumed and completed after one; a 300 s task cut three times failed: {message:?}"
    ))
}
