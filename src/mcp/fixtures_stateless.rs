//! Conformance fixtures for the 2026-07-28 revision: input-required (MRTR) tools and prompt, the
//! diagnostic tools of the `server-stateless` scenario, and a tool with an `x-mcp-header` parameter.
//! Each also works in the session era, where `answers` / `ask_client` become server→client
//! requests. Must not touch the runtime.

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{json, Value};

use super::backend::McpBackend;
use super::context::RequestContext;
use super::fixtures::{prompt, prompt_result, string_arg, text_result};
use super::reference::tool;
use super::server::{handler, McpServer};
use crate::error::{MeshError, Result};

fn no_args() -> Value {
    json!({ "type": "object", "properties": {} })
}

fn elicit(message: &str, schema: Value) -> (String, Value) {
    ("elicitation/create".to_owned(), json!({ "message": message, "requestedSchema": schema }))
}

fn ask(key: &str, (method, params): (String, Value)) -> (String, String, Value) {
    (key.to_owned(), method, params)
}

fn name_question() -> (String, String, Value) {
    ask(
        "user_name",
        elicit(
            "What is your name?",
            json!({ "type": "object", "properties": { "name": { "type": "string" } }, "required": ["name"] }),
        ),
    )
}

fn sampling(text: &str, max_tokens: u32) -> (String, Value) {
    (
        "sampling/createMessage".to_owned(),
        json!({ "messages": [{ "role": "user", "content": { "type": "text", "text": text } }], "maxTokens": max_tokens }),
    )
}

fn roots() -> (String, Value) {
    ("roots/list".to_owned(), json!({}))
}

/// The accepted content of an elicitation answer, or an error for anything else.
fn accepted(answer: &Value) -> Result<&serde_json::Map<String, Value>> {
    if answer.get("action").and_then(Value::as_str) != Some("accept") {
        return Err(MeshError::InvalidParams("the elicitation was not accepted".into()));
    }
    answer
        .get("content")
        .and_then(Value::as_object)
        .ok_or_else(|| MeshError::InvalidParams("the elicitation answer has no content object".into()))
}

fn field<'a>(content: &'a serde_json::Map<String, Value>, key: &str) -> Result<&'a str> {
    content
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| MeshError::InvalidParams(format!("the answer lacks a string {key:?}")))
}

fn sampled_text(answer: &Value) -> Result<&str> {
    answer
        .get("content")
        .and_then(|c| c.get("text"))
        .and_then(Value::as_str)
        .ok_or_else(|| MeshError::InvalidParams("the sampling answer has no text".into()))
}

/// One question, answered over the session's stream or by a stateless retry.
async fn one<B: McpBackend>(
    ctx: &RequestContext<B>,
    question: (String, String, Value),
    state: Option<Value>,
) -> Result<Value> {
    match ctx.era {
        super::context::Era::Stateless => Ok(ctx.answers(vec![question], state)?.pop().unwrap_or(Value::Null)),
        super::context::Era::Session => ctx.ask_client(&question.0, &question.1, question.2).await,
    }
}

pub fn register<B: McpBackend>(server: McpServer<B>) -> McpServer<B> {
    server
        .tool(tool("test_missing_capability", "Needs the client's sampling capability", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            if !ctx.client_supports("sampling") {
                return Err(MeshError::MissingClientCapability("sampling/createMessage".into()));
            }
            Ok(text_result("The client supports sampling"))
        }))
        .tool(tool("test_streaming_elicitation", "Reports progress, then asks the user a question", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            ctx.progress(0.0, Some(1.0), Some("about to ask"));
            ctx.notify("notifications/message", json!({ "level": "info", "data": "about to ask" }));
            let answer = one(&ctx, name_question(), None).await?;
            Ok(text_result(format!("Hello, {}!", field(accepted(&answer)?, "name")?)))
        }))
        .tool(tool("test_logging_tool", "Logs at info level (only when the request asked for logs)", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            ctx.log("info", Some("conformance"), json!("test_logging_tool ran"));
            Ok(text_result("logged"))
        }))
        .tool(tool("test_input_required_result_elicitation", "Asks the user's name through input-required results", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            let answer = one(&ctx, name_question(), None).await?;
            Ok(text_result(format!("Hello, {}!", field(accepted(&answer)?, "name")?)))
        }))
        .tool(tool("test_input_required_result_sampling", "Asks the client's LLM through input-required results", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            let answer = one(&ctx, ask("sample_request", sampling("What is the capital of France?", 100)), None).await?;
            Ok(text_result(format!("LLM said: {}", sampled_text(&answer)?)))
        }))
        .tool(tool("test_input_required_result_list_roots", "Asks for the client's roots through input-required results", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            let answer = one(&ctx, ask("roots_request", roots()), None).await?;
            let count = answer.get("roots").and_then(Value::as_array).map_or(0, Vec::len);
            Ok(text_result(format!("Found {count} root(s)")))
        }))
        .tool(tool("test_input_required_result_request_state", "Round-trips signed requestState", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            let question = ask("confirm", elicit("Please confirm", json!({ "type": "object", "properties": { "ok": { "type": "boolean" } }, "required": ["ok"] })));
            let state = json!({ "step": "confirm" });
            if ctx.era == super::context::Era::Stateless && ctx.request_state.as_ref() != Some(&state) {
                return Err(MeshError::InputRequired(super::context::InputRequest { questions: vec![question], state: Some(state) }));
            }
            let answer = one(&ctx, question, Some(state)).await?;
            accepted(&answer)?;
            Ok(text_result("state-ok: requestState validated"))
        }))
        .tool(tool("test_input_required_result_multiple_inputs", "Asks three questions at once", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            let questions = vec![name_question(), ask("greeting", sampling("Generate a greeting", 50)), ask("client_roots", roots())];
            let state = json!({ "step": "multiple" });
            let answers = match ctx.era {
                super::context::Era::Stateless => {
                    if ctx.request_state.as_ref() != Some(&state) {
                        return Err(MeshError::InputRequired(super::context::InputRequest { questions, state: Some(state) }));
                    }
                    ctx.answers(questions, Some(state))?
                }
                super::context::Era::Session => {
                    let mut answers = Vec::new();
                    for (key, method, params) in questions {
                        answers.push(ctx.ask_client(&key, &method, params).await?);
                    }
                    answers
                }
            };
            let name = field(accepted(&answers[0])?, "name")?;
            Ok(text_result(format!("{name}: {} ({} roots)", sampled_text(&answers[1])?, answers[2].get("roots").and_then(Value::as_array).map_or(0, Vec::len))))
        }))
        .tool(tool("test_input_required_result_multi_round", "Asks two questions in two rounds", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            let color = ask("step2", elicit("What is your favorite color?", json!({ "type": "object", "properties": { "color": { "type": "string" } }, "required": ["color"] })));
            let name_q = ask("step1", elicit("What is your name?", json!({ "type": "object", "properties": { "name": { "type": "string" } }, "required": ["name"] })));
            if ctx.era == super::context::Era::Session {
                let name = ctx.ask_client("step1", &name_q.1, name_q.2).await?;
                let color_answer = ctx.ask_client("step2", &color.1, color.2).await?;
                return Ok(text_result(format!("Multi-round complete for {} who likes {}", field(accepted(&name)?, "name")?, field(accepted(&color_answer)?, "color")?)));
            }
            match ctx.request_state.as_ref().and_then(|s| s.get("round")).and_then(Value::as_u64) {
                Some(2) => {
                    let name = ctx.request_state.as_ref().and_then(|s| s.get("name")).and_then(Value::as_str).unwrap_or_default().to_owned();
                    let state = json!({ "round": 2, "name": name });
                    let answer = ctx.answers(vec![color], Some(state))?.pop().unwrap_or(Value::Null);
                    Ok(text_result(format!("Multi-round complete for {name} who likes {}", field(accepted(&answer)?, "color")?)))
                }
                Some(1) => {
                    let answer = ctx.answers(vec![name_q], Some(json!({ "round": 1 })))?.pop().unwrap_or(Value::Null);
                    let name = field(accepted(&answer)?, "name")?.to_owned();
                    // Round two asks a new question under new state.
                    Err(MeshError::InputRequired(super::context::InputRequest { questions: vec![color], state: Some(json!({ "round": 2, "name": name })) }))
                }
                _ => Err(MeshError::InputRequired(super::context::InputRequest { questions: vec![name_q], state: Some(json!({ "round": 1 })) })),
            }
        }))
        .tool(tool("test_input_required_result_tampered_state", "Rejects a requestState it did not sign", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            let question = ask("confirm", elicit("Please confirm", json!({ "type": "object", "properties": { "ok": { "type": "boolean" } }, "required": ["ok"] })));
            let state = json!({ "step": "tamper-check" });
            if ctx.era == super::context::Era::Stateless && ctx.request_state.as_ref() != Some(&state) {
                return Err(MeshError::InputRequired(super::context::InputRequest { questions: vec![question], state: Some(state) }));
            }
            accepted(&one(&ctx, question, Some(state)).await?)?;
            Ok(text_result("state verified"))
        }))
        .tool(tool("test_input_required_result_capabilities", "Asks only what the client declared it can answer", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            let mut questions = Vec::new();
            if ctx.client_supports("elicitation") {
                questions.push(ask("elicit_input", elicit("Please provide input", json!({ "type": "object", "properties": { "value": { "type": "string" } } }))));
            }
            if ctx.client_supports("sampling") {
                questions.push(ask("sample_input", sampling("Say something", 20)));
            }
            if questions.is_empty() {
                return Err(MeshError::MissingClientCapability("sampling/createMessage".into()));
            }
            let keys: Vec<String> = questions.iter().map(|(k, _, _)| k.clone()).collect();
            match ctx.era {
                super::context::Era::Stateless => {
                    ctx.answers(questions, None)?;
                }
                super::context::Era::Session => {
                    for (key, method, params) in questions {
                        ctx.ask_client(&key, &method, params).await?;
                    }
                }
            }
            Ok(text_result(format!("capabilities-ok: received {}", keys.join(", "))))
        }))
        .tool(tool("test_trigger_tool_change", "Tells every listener the tool list changed", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            let report = super::reference::broadcast_change(&*ctx.backend, "notifications/tools/list_changed", crate::protocol::topic::TOOLS_LIST_CHANGED).await?;
            Ok(text_result(format!("tools/list_changed sent to {} streams", report.delivered)))
        }))
        .tool(tool("test_trigger_prompt_change", "Tells every listener the prompt list changed", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            let report = super::reference::broadcast_change(&*ctx.backend, "notifications/prompts/list_changed", crate::protocol::topic::PROMPTS_LIST_CHANGED).await?;
            Ok(text_result(format!("prompts/list_changed sent to {} streams", report.delivered)))
        }))
        .tool(
            tool("test_custom_header", "Echoes a parameter that is mirrored in the Mcp-Param-Region header", json!({
                "type": "object",
                "properties": { "region": { "type": "string", "description": "A region name", "x-mcp-header": "Region" } },
                "required": ["region"]
            })),
            handler(|_ctx: RequestContext<B>, params| async move {
                Ok(CallToolResult::success(vec![ContentBlock::text(format!("region: {}", string_arg(&params, "region")?))]))
            }),
        )
        .prompt(
            prompt(json!({ "name": "test_input_required_result_prompt", "description": "A prompt that asks the user for context first" })),
            handler(|ctx: RequestContext<B>, _args| async move {
                let question = ask("user_context", elicit("What context should the prompt use?", json!({ "type": "object", "properties": { "context": { "type": "string" } }, "required": ["context"] })));
                let answer = one(&ctx, question, None).await?;
                let context = field(accepted(&answer)?, "context")?.to_owned();
                prompt_result(json!([{ "role": "user", "content": { "type": "text", "text": format!("Prompt with context: {context}") } }]))
            }),
        )
}
