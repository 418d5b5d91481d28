//! The server's side of tasks, in memory: both revisions' requests through `McpServer::dispatch`,
//! and the runs `McpServer::run_due_tasks` makes.

use futures::executor::block_on;
use schemars::JsonSchema;
use serde::Deserialize;

use super::*;
use crate::mcp::handlers::{NoArguments, ToolSpec};
use crate::tasks::TASKS_EXTENSION;

#[derive(Deserialize, JsonSchema)]
struct Wait {
    seconds: u32,
}

fn server() -> Rc<McpServer<InMemoryBackend>> {
    let confirm = json!({ "type": "object", "properties": { "confirm": { "type": "boolean" } } });
    Rc::new(
        McpServer::new("t", "1")
            .tool("plain", "never a task", |_ctx, _: NoArguments| async { Ok("plain") })
            .tool_with(
                ToolSpec::new("wait", "waits").task_support(TaskSupport::Optional),
                |ctx, Wait { seconds }| async move {
                    ctx.progress(0.0, Some(f64::from(seconds)), Some("started"));
                    ctx.sleep(seconds * 1_000).await;
                    Ok(format!("waited {seconds} s"))
                },
            )
            .tool_with(
                ToolSpec::new("ask_two", "asks two").task_support(TaskSupport::Required),
                move |ctx, _: NoArguments| {
                    let confirm = confirm.clone();
                    async move {
                        let ask = |key: &str| (key.to_owned(), "elicitation/create".to_owned(), confirm.clone());
                        let answers = ctx.answers(vec![ask("a"), ask("b")], None)?;
                        Ok(format!("{} answers", answers.len()))
                    }
                },
            )
            .tool_with(
                ToolSpec::new("named", "asks before its task").task_support(TaskSupport::Required).ask_before_task(
                    "name",
                    "elicitation/create",
                    json!({ "message": "name?" }),
                ),
                |ctx, _: NoArguments| async move {
                    let answer = ctx.answers(vec![("name".into(), "elicitation/create".into(), json!({}))], None)?;
                    Ok(format!("hello {}", answer[0]["content"]["name"].as_str().unwrap_or("?")))
                },
            ),
    )
}

fn ctx(backend: &Rc<InMemoryBackend>, era: Era, tasks: bool, owner: Option<&str>) -> RequestContext<InMemoryBackend> {
    let capabilities = if tasks {
        json!({ "elicitation": {}, "extensions": { TASKS_EXTENSION: {} } })
    } else {
        json!({ "elicitation": {} })
    };
    RequestContext {
        backend: backend.clone(),
        era,
        session: None,
        client_capabilities: capabilities,
        log_level: None,
        progress_token: None,
        outbox: None,
        input_responses: Map::new(),
        request_state: None,
        owner: owner.map(str::to_owned),
    }
}

/// A 2026-07-28 request declaring the extension, from an anonymous caller.
fn stateless(
    server: &Rc<McpServer<InMemoryBackend>>,
    backend: &Rc<InMemoryBackend>,
    method: &str,
    params: Value,
) -> Result<Value> {
    call(server, ctx(backend, Era::Stateless, true, None), method, params)
}

fn call(
    server: &Rc<McpServer<InMemoryBackend>>,
    ctx: RequestContext<InMemoryBackend>,
    method: &str,
    params: Value,
) -> Result<Value> {
    block_on(server.clone().dispatch(ctx, method, params.as_object().cloned().unwrap_or_default()))
}

#[test]
fn a_task_capable_call_answers_a_stored_task_that_completes_when_run() {
    let (server, backend) = (server(), Rc::new(InMemoryBackend::new()));
    let listed = stateless(&server, &backend, "tools/list", json!({})).unwrap();
    assert!(listed["tools"][0].get("execution").is_none(), "a tool that never runs as a task says nothing");
    assert_eq!(listed["tools"][1]["execution"]["taskSupport"], "optional");
    assert_eq!(server.capabilities(Era::Stateless)["extensions"][TASKS_EXTENSION], json!({}));
    assert!(server.capabilities(Era::Session)["tasks"]["requests"]["tools"]["call"].is_object());

    let sync = call(
        &server,
        ctx(&backend, Era::Stateless, false, None),
        "tools/call",
        json!({"name": "wait", "arguments": {"seconds": 1}}),
    );
    assert_eq!(sync.unwrap()["content"][0]["text"], "waited 1 s", "without the extension it runs in the call");

    let created = call(
        &server,
        ctx(&backend, Era::Stateless, true, Some("alice")),
        "tools/call",
        json!({"name": "wait", "arguments": {"seconds": 2}}),
    )
    .unwrap();
    assert_eq!((created["resultType"].as_str(), created["status"].as_str()), (Some("task"), Some("working")));
    let id = created["taskId"].as_str().unwrap().to_owned();
    let get = |owner: Option<&str>| {
        call(&server, ctx(&backend, Era::Stateless, true, owner), "tasks/get", json!({ "taskId": id }))
    };
    assert_eq!(get(Some("alice")).unwrap()["status"], "working", "stored before the handle was answered");
    assert_eq!(get(Some("bob")).unwrap_err().rpc_code(), -32602, "another owner's task does not exist");
    assert_eq!(get(None).unwrap_err().rpc_code(), -32602);

    block_on(server.run_due_tasks(&backend));
    let done = get(Some("alice")).unwrap();
    assert_eq!((done["resultType"].as_str(), done["status"].as_str()), (Some("complete"), Some("completed")));
    assert_eq!(done["result"]["content"][0]["text"], "waited 2 s");
    assert_eq!(backend.observed.borrow().tool_calls["wait"]["ok"], 2, "the task's run is a tool call too");
}

#[test]
fn requests_without_the_extension_are_refused_before_any_task_is_looked_up() {
    let (server, backend) = (server(), Rc::new(InMemoryBackend::new()));
    let refused = call(&server, ctx(&backend, Era::Stateless, false, None), "tools/call", json!({"name": "ask_two"}));
    let refused = refused.unwrap_err();
    assert_eq!(refused.rpc_code(), -32021);
    assert!(refused.rpc_data().unwrap()["requiredCapabilities"]["extensions"][TASKS_EXTENSION].is_object());
    for method in ["tasks/get", "tasks/update", "tasks/cancel"] {
        let gated = call(&server, ctx(&backend, Era::Stateless, false, None), method, json!({ "taskId": "gate-test" }));
        assert_eq!(gated.unwrap_err().rpc_code(), -32021, "{method}");
        let unknown = stateless(&server, &backend, method, json!({ "taskId": "gate-test" }));
        assert_eq!(unknown.unwrap_err().rpc_code(), -32602, "{method}");
    }
    for removed in ["tasks/result", "tasks/list"] {
        let gone = stateless(&server, &backend, removed, json!({ "taskId": "x" }));
        assert_eq!(gone.unwrap_err().rpc_code(), -32601, "{removed}");
    }
    let bad = stateless(&server, &backend, "tools/call", json!({"name": "wait", "arguments": {"seconds": "x"}}));
    assert!(matches!(&bad, Err(MeshError::InvalidParams(m)) if m.starts_with("arguments.seconds")), "{bad:?}");
    assert!(backend.tasks.borrow().is_empty(), "no task for arguments the handler would refuse");
    let hint = stateless(&server, &backend, "tools/call", json!({"name": "plain", "task": {"ttl": 1}}));
    assert_eq!(hint.unwrap()["content"][0]["text"], "plain", "the old task hint does not make a task");
}

#[test]
fn questions_are_answered_one_at_a_time_and_bad_answers_change_nothing() {
    let (server, backend) = (server(), Rc::new(InMemoryBackend::new()));
    let created = stateless(&server, &backend, "tools/call", json!({"name": "ask_two"})).unwrap();
    let id = created["taskId"].as_str().unwrap().to_owned();
    block_on(server.run_due_tasks(&backend));
    let get = || stateless(&server, &backend, "tasks/get", json!({ "taskId": id })).unwrap();
    let asking = get();
    assert_eq!(asking["status"], "input_required");
    assert_eq!(asking["inputRequests"].as_object().unwrap().len(), 2);
    let update = |responses: Value| {
        let mut ctx = ctx(&backend, Era::Stateless, true, None);
        ctx.input_responses = responses.as_object().cloned().unwrap();
        call(&server, ctx, "tasks/update", json!({ "taskId": id }))
    };
    assert_eq!(update(json!({ "a": { "action": "perhaps" } })).unwrap_err().rpc_code(), -32602);
    assert_eq!(
        update(json!({ "a": { "action": "accept", "content": {} }, "zzz": 1 })).unwrap(),
        json!({ "resultType": "complete" })
    );
    let partial = get();
    assert_eq!(partial["status"], "input_required", "one answer of two");
    assert_eq!(partial["inputRequests"].as_object().unwrap().keys().collect::<Vec<_>>(), ["b"]);
    update(json!({ "b": { "action": "accept", "content": {} } })).unwrap();
    block_on(server.run_due_tasks(&backend));
    assert_eq!(get()["result"]["content"][0]["text"], "2 answers");
    assert_eq!(
        update(json!({ "b": { "action": "accept" } })).unwrap()["resultType"],
        "complete",
        "a finished task ignores answers"
    );
}

#[test]
fn cancelling_is_idempotent_now_and_refused_twice_in_the_session_era() {
    let (server, backend) = (server(), Rc::new(InMemoryBackend::new()));
    let created =
        stateless(&server, &backend, "tools/call", json!({"name": "wait", "arguments": {"seconds": 60}})).unwrap();
    let id = created["taskId"].as_str().unwrap();
    for _ in 0..2 {
        let ack = stateless(&server, &backend, "tasks/cancel", json!({ "taskId": id }));
        assert_eq!(ack.unwrap(), json!({ "resultType": "complete" }));
    }
    block_on(server.run_due_tasks(&backend));
    let got = stateless(&server, &backend, "tasks/get", json!({ "taskId": id })).unwrap();
    assert_eq!(got["status"], "cancelled", "its work did not revive it");

    let session = |_| ctx(&backend, Era::Session, false, Some("session-1"));
    let v1 = call(
        &server,
        session(()),
        "tools/call",
        json!({"name": "wait", "arguments": {"seconds": 5}, "task": {"ttl": 60_000}}),
    )
    .unwrap();
    let id = v1["task"]["taskId"].as_str().unwrap();
    assert_eq!((v1["task"]["ttl"].as_u64(), v1["task"]["status"].as_str()), (Some(60_000), Some("working")));
    let cancelled = call(&server, session(()), "tasks/cancel", json!({ "taskId": id })).unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(call(&server, session(()), "tasks/cancel", json!({ "taskId": id })).unwrap_err().rpc_code(), -32602);
    let required = call(&server, session(()), "tools/call", json!({"name": "ask_two"}));
    assert_eq!(required.unwrap_err().rpc_code(), -32601, "a task-only tool needs the task param in 2025-11-25");
}

#[test]
fn the_session_era_result_waits_for_the_end_and_names_its_task() {
    let (server, backend) = (server(), Rc::new(InMemoryBackend::new()));
    let session = || ctx(&backend, Era::Session, false, Some("session-1"));
    let v1 = call(&server, session(), "tools/call", json!({"name": "wait", "arguments": {"seconds": 1}, "task": {}}))
        .unwrap();
    let id = v1["task"]["taskId"].as_str().unwrap().to_owned();
    block_on(server.run_due_tasks(&backend));
    let result = call(&server, session(), "tasks/result", json!({ "taskId": id })).unwrap();
    assert_eq!(result["content"][0]["text"], "waited 1 s");
    assert_eq!(result["_meta"][RELATED_TASK_META]["taskId"], id.as_str());
    assert!(result.get("resultType").is_none());
    let other = ctx(&backend, Era::Session, false, Some("session-2"));
    assert_eq!(call(&server, other, "tasks/get", json!({ "taskId": id })).unwrap_err().rpc_code(), -32602);
    let brief = call(
        &server,
        session(),
        "tools/call",
        json!({"name": "wait", "arguments": {"seconds": 1}, "task": {"ttl": 1}}),
    );
    let brief = brief.unwrap()["task"].clone();
    assert_eq!(brief["ttl"], MIN_TASK_TTL_MS, "a ttl below the least kept is raised to it");
    backend.clock_ms.set(backend.clock_ms.get() + MIN_TASK_TTL_MS);
    let expired = call(&server, session(), "tasks/get", json!({ "taskId": brief["taskId"] }));
    assert_eq!(expired.unwrap_err().rpc_code(), -32602, "a task past its ttl is not found");
}

#[test]
fn a_question_before_the_task_is_asked_in_the_call_and_its_answer_rides_into_the_task() {
    let (server, backend) = (server(), Rc::new(InMemoryBackend::new()));
    let first = stateless(&server, &backend, "tools/call", json!({"name": "named"}));
    assert!(matches!(first, Err(MeshError::InputRequired(_))), "{first:?}");
    assert!(backend.tasks.borrow().is_empty(), "no task before the answer");
    let mut retry = ctx(&backend, Era::Stateless, true, None);
    retry.input_responses =
        json!({ "name": { "action": "accept", "content": { "name": "Alice" } } }).as_object().cloned().unwrap();
    let created = call(&server, retry, "tools/call", json!({"name": "named"})).unwrap();
    assert_eq!(created["resultType"], "task");
    block_on(server.run_due_tasks(&backend));
    let id = created["taskId"].as_str().unwrap();
    let done = stateless(&server, &backend, "tasks/get", json!({ "taskId": id })).unwrap();
    assert_eq!(done["result"]["content"][0]["text"], "hello Alice");
}
