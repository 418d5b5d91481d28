//! The conformance suite's fixtures (`@modelcontextprotocol/conformance`, its everything-server):
//! tools, resources, a template, prompts and completions with the exact names, texts and shapes the
//! scenarios check. Must not touch the runtime.

use rmcp::model::{
    CallToolResult, CompleteResult, ContentBlock, GetPromptResult, Prompt, Resource, ResourceContents, ResourceTemplate,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::backend::McpBackend;
use super::context::RequestContext;
use super::reference::tool;
use super::server::{handler, resource_handler, McpServer, Params};
use crate::error::{MeshError, Result};

/// A 1×1 PNG.
pub const PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
/// A WAV header with no samples.
pub const WAV_BASE64: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA=";

/// Builds an `rmcp::model` value from its wire form (several of its types have no public constructor
/// for every field).
pub(crate) fn wire<T: DeserializeOwned>(value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| MeshError::Protocol(format!("fixture: {e}")))
}

fn content(value: Value) -> Result<ContentBlock> {
    wire(value)
}

pub(crate) fn text_result(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

fn no_args() -> Value {
    json!({ "type": "object", "properties": {} })
}

pub(crate) fn string_arg(params: &Params, name: &str) -> Result<String> {
    params
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| MeshError::InvalidParams(format!("\"{name}\" must be a string")))
}

pub fn register<B: McpBackend>(server: McpServer<B>) -> McpServer<B> {
    let server = register_tools(server);
    let server = register_resources(server);
    let server = register_prompts(server);
    super::fixtures_stateless::register(server)
}

fn register_tools<B: McpBackend>(server: McpServer<B>) -> McpServer<B> {
    server
        .tool(tool("test_simple_text", "Returns a simple text response", no_args()), handler(|_ctx: RequestContext<B>, _p| async {
            Ok(text_result("This is a simple text response for testing."))
        }))
        .tool(tool("test_image_content", "Returns an image", no_args()), handler(|_ctx: RequestContext<B>, _p| async {
            Ok(CallToolResult::success(vec![content(json!({"type": "image", "data": PNG_BASE64, "mimeType": "image/png"}))?]))
        }))
        .tool(tool("test_audio_content", "Returns audio", no_args()), handler(|_ctx: RequestContext<B>, _p| async {
            Ok(CallToolResult::success(vec![content(json!({"type": "audio", "data": WAV_BASE64, "mimeType": "audio/wav"}))?]))
        }))
        .tool(tool("test_embedded_resource", "Returns an embedded resource", no_args()), handler(|_ctx: RequestContext<B>, _p| async {
            Ok(CallToolResult::success(vec![content(json!({"type": "resource", "resource": {
                "uri": "test://embedded-resource", "mimeType": "text/plain", "text": "This is an embedded resource content."
            }}))?]))
        }))
        .tool(tool("test_multiple_content_types", "Returns text, an image and a resource", no_args()), handler(|_ctx: RequestContext<B>, _p| async {
            Ok(CallToolResult::success(vec![
                ContentBlock::text("Multiple content types test:"),
                content(json!({"type": "image", "data": PNG_BASE64, "mimeType": "image/png"}))?,
                content(json!({"type": "resource", "resource": {
                    "uri": "test://mixed-content-resource", "mimeType": "application/json", "text": "{\"test\":\"data\",\"value\":123}"
                }}))?,
            ]))
        }))
        .tool(tool("test_tool_with_logging", "Logs three messages while it runs", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            for (i, text) in ["Tool execution started", "Tool processing data", "Tool execution completed"].iter().enumerate() {
                if i > 0 {
                    ctx.sleep(50).await;
                }
                ctx.log("info", Some("conformance"), json!(text));
            }
            Ok(text_result("Tool with logging executed successfully"))
        }))
        .tool(tool("test_tool_with_progress", "Reports progress while it runs", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            for (i, progress) in [0.0, 50.0, 100.0].iter().enumerate() {
                if i > 0 {
                    ctx.sleep(50).await;
                }
                ctx.progress(*progress, Some(100.0), Some(&format!("Completed step {i} of 2")));
            }
            Ok(text_result("Tool with progress executed successfully"))
        }))
        .tool(tool("test_error_handling", "Always fails", no_args()), handler(|_ctx: RequestContext<B>, _p| async {
            Ok(CallToolResult::error(vec![ContentBlock::text("This tool intentionally returns an error for testing")]))
        }))
        .tool(
            tool("test_sampling", "Asks the client's LLM", json!({
                "type": "object", "properties": { "prompt": { "type": "string", "description": "The prompt to send" } }, "required": ["prompt"]
            })),
            handler(|ctx: RequestContext<B>, params| async move {
                let prompt = string_arg(&params, "prompt")?;
                let answer = ctx.ask_client("sampling", "sampling/createMessage", json!({
                    "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
                    "maxTokens": 100
                })).await?;
                let text = answer.get("content").and_then(|c| c.get("text")).and_then(Value::as_str).unwrap_or_default();
                Ok(text_result(format!("LLM response: {text}")))
            }),
        )
        .tool(
            tool("test_elicitation", "Asks the user for a username and an email", json!({
                "type": "object", "properties": { "message": { "type": "string", "description": "What to ask" } }, "required": ["message"]
            })),
            handler(|ctx: RequestContext<B>, params| async move {
                let message = string_arg(&params, "message")?;
                let answer = ctx.ask_client("elicitation", "elicitation/create", json!({
                    "message": message,
                    "requestedSchema": {
                        "type": "object",
                        "properties": {
                            "username": { "type": "string", "description": "User's response" },
                            "email": { "type": "string", "description": "User's email address" }
                        },
                        "required": ["username", "email"]
                    }
                })).await?;
                Ok(text_result(format!("User response: {}", elicitation_summary(&answer))))
            }),
        )
        .tool(tool("test_elicitation_sep1034_defaults", "Elicitation with default values", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            let answer = ctx.ask_client("elicitation", "elicitation/create", json!({
                "message": "Please review and update the form fields with defaults",
                "requestedSchema": {
                    "type": "object",
                    "properties": {
                        "name": { "type": "string", "description": "User name", "default": "John Doe" },
                        "age": { "type": "integer", "description": "User age", "default": 30 },
                        "score": { "type": "number", "description": "User score", "default": 95.5 },
                        "status": { "type": "string", "description": "User status", "enum": ["active", "inactive", "pending"], "default": "active" },
                        "verified": { "type": "boolean", "description": "Verification status", "default": true }
                    },
                    "required": []
                }
            })).await?;
            Ok(text_result(format!("Elicitation completed: {}", elicitation_fields(&answer))))
        }))
        .tool(tool("test_elicitation_sep1330_enums", "Elicitation with every enum shape", no_args()), handler(|ctx: RequestContext<B>, _p| async move {
            let answer = ctx.ask_client("elicitation", "elicitation/create", json!({
                "message": "Please select options from the enum fields",
                "requestedSchema": {
                    "type": "object",
                    "properties": {
                        "untitledSingle": { "type": "string", "description": "Select one option", "enum": ["option1", "option2", "option3"] },
                        "titledSingle": { "type": "string", "description": "Select one option with titles", "oneOf": [
                            { "const": "value1", "title": "First Option" },
                            { "const": "value2", "title": "Second Option" },
                            { "const": "value3", "title": "Third Option" }
                        ] },
                        "legacyEnum": { "type": "string", "description": "Select one option (legacy)", "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"] },
                        "untitledMulti": { "type": "array", "description": "Select multiple options", "items": { "type": "string", "enum": ["option1", "option2", "option3"] } },
                        "titledMulti": { "type": "array", "description": "Select multiple options with titles", "items": { "anyOf": [
                            { "const": "value1", "title": "First Choice" },
                            { "const": "value2", "title": "Second Choice" },
                            { "const": "value3", "title": "Third Choice" }
                        ] } }
                    },
                    "required": []
                }
            })).await?;
            Ok(text_result(format!("Elicitation completed: {}", elicitation_fields(&answer))))
        }))
        .tool(
            tool("json_schema_2020_12_tool", "A tool whose input schema uses JSON Schema 2020-12", json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": { "address": { "$anchor": "addressDef", "type": "object", "properties": { "street": { "type": "string" }, "city": { "type": "string" } } } },
                "properties": {
                    "name": { "type": "string" },
                    "address": { "$ref": "#/$defs/address" },
                    "contactMethod": { "type": "string", "enum": ["phone", "email"] },
                    "phone": { "type": "string" },
                    "email": { "type": "string" }
                },
                "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
                "if": { "properties": { "contactMethod": { "const": "phone" } }, "required": ["contactMethod"] },
                "then": { "required": ["phone"] },
                "else": { "required": ["email"] },
                "additionalProperties": false
            })),
            handler(|_ctx: RequestContext<B>, params| async move {
                Ok(text_result(format!("JSON Schema 2020-12 tool called with: {}", Value::Object(params))))
            }),
        )
}

/// `action=<a>, content=<json>` of an elicitation answer, as the fixtures report it.
fn elicitation_fields(answer: &Value) -> String {
    format!(
        "action={}, content={}",
        answer.get("action").and_then(Value::as_str).unwrap_or("unknown"),
        answer.get("content").cloned().unwrap_or(json!({}))
    )
}

fn elicitation_summary(answer: &Value) -> String {
    format!(
        "<action: {}, content: {}>",
        answer.get("action").and_then(Value::as_str).unwrap_or("unknown"),
        answer.get("content").cloned().unwrap_or(json!({}))
    )
}

/// A static text resource.
fn text_resource<B: McpBackend>(
    server: McpServer<B>,
    uri: &str,
    name: &str,
    description: &str,
    text: &'static str,
) -> McpServer<B> {
    server.resource(
        Resource::new(uri, name).with_description(description).with_mime_type("text/plain"),
        resource_handler(move |_ctx: RequestContext<B>, uri, _vars| async move {
            Ok(vec![ResourceContents::text(text, uri).with_mime_type("text/plain")])
        }),
    )
}

fn register_resources<B: McpBackend>(server: McpServer<B>) -> McpServer<B> {
    let server = text_resource(
        server,
        "test://static-text",
        "Static Text Resource",
        "A static text resource for testing",
        "This is the content of the static text resource.",
    );
    let server = text_resource(
        server,
        "test://watched-resource",
        "Watched Resource",
        "A resource clients may subscribe to",
        "Watched resource content",
    );
    server
        .resource(
            Resource::new("test://static-binary", "Static Binary Resource")
                .with_description("A static binary resource (a PNG) for testing")
                .with_mime_type("image/png"),
            resource_handler(|_ctx: RequestContext<B>, uri, _vars| async move {
                Ok(vec![wire(json!({ "uri": uri, "mimeType": "image/png", "blob": PNG_BASE64 }))?])
            }),
        )
        .resource_template(
            wire::<ResourceTemplate>(json!({
                "uriTemplate": "test://template/{id}/data",
                "name": "Resource Template",
                "description": "A resource template with an id parameter",
                "mimeType": "application/json"
            }))
            .unwrap_or_else(|_| ResourceTemplate::new("test://template/{id}/data", "Resource Template")),
            resource_handler(|_ctx: RequestContext<B>, uri, vars| async move {
                let id = vars.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
                let text = json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") }).to_string();
                Ok(vec![ResourceContents::text(text, uri).with_mime_type("application/json")])
            }),
        )
}

pub(crate) fn prompt(value: Value) -> Prompt {
    let name = value.get("name").and_then(Value::as_str).unwrap_or("prompt").to_owned();
    wire(value).unwrap_or_else(|_| Prompt::new(name, None::<String>, None))
}

pub(crate) fn prompt_result(messages: Value) -> Result<GetPromptResult> {
    wire(json!({ "messages": messages }))
}

fn register_prompts<B: McpBackend>(server: McpServer<B>) -> McpServer<B> {
    server
        .prompt(
            prompt(json!({ "name": "test_simple_prompt", "description": "A simple prompt without arguments" })),
            handler(|_ctx: RequestContext<B>, _args| async {
                prompt_result(json!([{ "role": "user", "content": { "type": "text", "text": "This is a simple prompt for testing." } }]))
            }),
        )
        .prompt(
            prompt(json!({ "name": "test_prompt_with_arguments", "description": "A prompt with arguments", "arguments": [
                { "name": "arg1", "description": "First test argument", "required": true },
                { "name": "arg2", "description": "Second test argument", "required": true }
            ] })),
            handler(|_ctx: RequestContext<B>, args| async move {
                let arg1 = string_arg(&args, "arg1")?;
                let arg2 = string_arg(&args, "arg2")?;
                prompt_result(json!([{ "role": "user", "content": { "type": "text",
                    "text": format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'") } }]))
            }),
        )
        .prompt(
            prompt(json!({ "name": "test_prompt_with_embedded_resource", "description": "A prompt with an embedded resource", "arguments": [
                { "name": "resourceUri", "description": "URI of the resource to embed", "required": true }
            ] })),
            handler(|_ctx: RequestContext<B>, args| async move {
                let uri = string_arg(&args, "resourceUri")?;
                prompt_result(json!([
                    { "role": "user", "content": { "type": "resource", "resource": {
                        "uri": uri, "mimeType": "text/plain", "text": "Embedded resource content for testing." } } },
                    { "role": "user", "content": { "type": "text", "text": "Please process the embedded resource above." } }
                ]))
            }),
        )
        .prompt(
            prompt(json!({ "name": "test_prompt_with_image", "description": "A prompt with an image" })),
            handler(|_ctx: RequestContext<B>, _args| async {
                prompt_result(json!([
                    { "role": "user", "content": { "type": "image", "data": PNG_BASE64, "mimeType": "image/png" } },
                    { "role": "user", "content": { "type": "text", "text": "Please analyze the image above." } }
                ]))
            }),
        )
        .completion(handler(|_ctx: RequestContext<B>, params| async move {
            let prefix = params.get("argument").and_then(|a| a.get("value")).and_then(Value::as_str).unwrap_or("").to_owned();
            let candidates = ["paris", "park", "party"];
            let values: Vec<&str> = candidates.iter().copied().filter(|c| c.starts_with(&prefix)).collect();
            let completion: CompleteResult = wire(json!({ "completion": { "values": values, "total": values.len(), "hasMore": false } }))?;
            Ok(completion)
        }))
}
