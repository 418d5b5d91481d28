//! The server-author API: register tools, resources, resource templates, prompts and a completion
//! handler, each an async closure with typed arguments; and the method dispatch shared by both
//! protocol eras.
//!
//! ```ignore
//! #[derive(Deserialize, JsonSchema)]
//! struct Report { city: String }
//!
//! McpServer::new("weather", "1.0.0").tool("report", "Tells every session", |ctx, Report { city }| async move {
//!     let sent = ctx.broadcast(LogMessage::info(format!("sunny in {city}"))).await?;
//!     Ok(format!("told {} sessions", sent.delivered))
//! })
//! ```
//!
//! Handlers get a [`RequestContext`] and their arguments already parsed (see [`super::handlers`]); the
//! transports (`legacy`, `stateless`) decide how results and errors travel. What the server advertises
//! in `initialize` and `server/discover` is what was registered. Must not touch the runtime.

use std::future::Future;
use std::rc::Rc;

use rmcp::model::{
    CallToolResult, CompleteRequestParams, CompleteResult, GetPromptResult, Implementation, Prompt, Resource,
    ResourceContents, ResourceTemplate, Tool,
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use super::backend::McpBackend;
use super::context::{Era, RequestContext};
use super::handlers::{
    erase, input_schema_for, parse_arguments, prompt_for, ErasedHandler, IntoPromptResult, IntoResourceContents,
    IntoToolResult, Params, ToolSpec,
};
use super::uri_template::match_uri_template;
use crate::delivery::LogLevel;
use crate::error::{MeshError, Result};
use crate::metrics::ToolOutcome;
use crate::protocol::{UpdateSession, MAX_TOPIC_BYTES};
use crate::tasks::{CallMode, TaskSupport, TASKS_EXTENSION};

struct Entry<D, H> {
    descriptor: D,
    handler: H,
}

pub(super) struct ToolEntry<B: McpBackend> {
    pub(super) descriptor: Tool,
    /// The OAuth scopes a call needs.
    scopes: Vec<String>,
    /// Whether calls run as tasks.
    pub(super) task_support: TaskSupport,
    /// Questions answered in the call before a task starts.
    pub(super) before_task: Vec<(String, String, Value)>,
    /// Parses arguments as the handler will, so a task is not created for arguments it would refuse.
    pub(super) check_arguments: Rc<dyn Fn(Params) -> Result<()>>,
    handler: ErasedHandler<B, Params, CallToolResult>,
}

type ResourceHandler<B> = ErasedHandler<B, (String, Params), Vec<ResourceContents>>;

/// An MCP server: what it offers (tools, resources, templates, prompts, completion) and its handlers,
/// built once per isolate and shared by every request. Built with the registration methods, each
/// taking and returning `self`.
pub struct McpServer<B: McpBackend> {
    pub(crate) info: Implementation,
    pub(crate) instructions: Option<String>,
    tools: Vec<ToolEntry<B>>,
    resources: Vec<Entry<Resource, ResourceHandler<B>>>,
    templates: Vec<Entry<ResourceTemplate, ResourceHandler<B>>>,
    prompts: Vec<Entry<Prompt, ErasedHandler<B, Params, GetPromptResult>>>,
    completion: Option<ErasedHandler<B, Params, CompleteResult>>,
}

impl<B: McpBackend> McpServer<B> {
    /// A server offering nothing yet; `name` and `version` go out as its `serverInfo`.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            info: Implementation::new(name, version),
            instructions: None,
            tools: Vec::new(),
            resources: Vec::new(),
            templates: Vec::new(),
            prompts: Vec::new(),
            completion: None,
        }
    }

    /// The `instructions` sent to clients in `initialize` and `server/discover`.
    pub fn with_instructions(mut self, text: &str) -> Self {
        self.instructions = Some(text.to_owned());
        self
    }

    /// Registers a tool whose input schema is derived from its argument type `A` (use
    /// [`super::handlers::NoArguments`] for none). The handler returns a `String`, a
    /// [`super::handlers::Json`] value (structured content, with its schema advertised) or a
    /// `CallToolResult`. Names should be unique: `tools/call` runs the first one registered.
    pub fn tool<A, R, F, Fut>(self, name: &str, description: &str, handler: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + 'static,
        R: IntoToolResult + 'static,
        F: Fn(RequestContext<B>, A) -> Fut + 'static,
        Fut: Future<Output = Result<R>> + 'static,
    {
        self.tool_with(ToolSpec::new(name, description), handler)
    }

    /// [`Self::tool`] with options: a title, annotations, or an input schema as written.
    pub fn tool_with<A, R, F, Fut>(mut self, spec: ToolSpec, handler: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + 'static,
        R: IntoToolResult + 'static,
        F: Fn(RequestContext<B>, A) -> Fut + 'static,
        Fut: Future<Output = Result<R>> + 'static,
    {
        let mut tool = spec.tool;
        if !spec.explicit_schema {
            tool.input_schema = std::sync::Arc::new(input_schema_for::<A>());
        }
        tool.output_schema = R::output_schema().map(std::sync::Arc::new);
        let handler = erase(handler, R::into_tool_result);
        self.tools.push(ToolEntry {
            descriptor: tool,
            scopes: spec.scopes,
            task_support: spec.task_support,
            before_task: spec.before_task,
            check_arguments: Rc::new(|arguments| parse_arguments::<A>(arguments).map(|_| ())),
            handler,
        });
        self
    }

    /// Registers a static resource, read by its exact URI; the handler gets the URI.
    pub fn resource<R, F, Fut>(mut self, resource: Resource, handler: F) -> Self
    where
        R: IntoResourceContents + 'static,
        F: Fn(RequestContext<B>, String) -> Fut + 'static,
        Fut: Future<Output = Result<R>> + 'static,
    {
        let handler = Rc::new(handler);
        let erased: ResourceHandler<B> = Rc::new(move |ctx, (uri, _vars)| {
            let handler = handler.clone();
            Box::pin(async move {
                let contents = handler(ctx, uri.clone()).await?;
                Ok(contents.into_contents(&uri))
            })
        });
        self.resources.push(Entry { descriptor: resource, handler: erased });
        self
    }

    /// Registers a resource template; a read whose URI no static resource has is tried against
    /// templates in registration order, and the variables it matched are parsed into `A` (a struct
    /// with a `String` field per variable, or [`Params`]).
    pub fn resource_template<A, R, F, Fut>(mut self, template: ResourceTemplate, handler: F) -> Self
    where
        A: DeserializeOwned + 'static,
        R: IntoResourceContents + 'static,
        F: Fn(RequestContext<B>, String, A) -> Fut + 'static,
        Fut: Future<Output = Result<R>> + 'static,
    {
        let handler = Rc::new(handler);
        let erased: ResourceHandler<B> = Rc::new(move |ctx, (uri, vars)| {
            let handler = handler.clone();
            Box::pin(async move {
                let vars = parse_arguments::<A>(vars)?;
                Ok(handler(ctx, uri.clone(), vars).await?.into_contents(&uri))
            })
        });
        self.templates.push(Entry { descriptor: template, handler: erased });
        self
    }

    /// Registers a prompt whose arguments are derived from `A` (every prompt argument is a string on
    /// the wire). The handler returns a `String` (one user message), messages, or a `GetPromptResult`.
    pub fn prompt<A, R, F, Fut>(self, name: &str, description: &str, handler: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + 'static,
        R: IntoPromptResult + 'static,
        F: Fn(RequestContext<B>, A) -> Fut + 'static,
        Fut: Future<Output = Result<R>> + 'static,
    {
        self.prompt_with(prompt_for::<A>(name, description), handler)
    }

    /// [`Self::prompt`] with the descriptor as written (a title, argument descriptions).
    pub fn prompt_with<A, R, F, Fut>(mut self, prompt: Prompt, handler: F) -> Self
    where
        A: DeserializeOwned + 'static,
        R: IntoPromptResult + 'static,
        F: Fn(RequestContext<B>, A) -> Fut + 'static,
        Fut: Future<Output = Result<R>> + 'static,
    {
        self.prompts.push(Entry { descriptor: prompt, handler: erase(handler, R::into_prompt_result) });
        self
    }

    /// Sets the `completion/complete` handler; without one the method is not found (-32601).
    pub fn completion<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(RequestContext<B>, CompleteRequestParams) -> Fut + 'static,
        Fut: Future<Output = Result<CompleteResult>> + 'static,
    {
        self.completion = Some(erase(handler, Ok));
        self
    }

    /// The capabilities this server has, as sent in `initialize` and `server/discover`: what was
    /// registered, and logging (any handler may log) in the session era.
    pub fn capabilities(&self, era: Era) -> Value {
        let mut capabilities = Map::new();
        if !self.tools.is_empty() {
            capabilities.insert("tools".into(), json!({ "listChanged": true }));
        }
        if !self.resources.is_empty() || !self.templates.is_empty() {
            capabilities.insert("resources".into(), json!({ "subscribe": true, "listChanged": true }));
        }
        if !self.prompts.is_empty() {
            capabilities.insert("prompts".into(), json!({ "listChanged": true }));
        }
        if self.completion.is_some() {
            capabilities.insert("completions".into(), json!({}));
        }
        // Stateless clients ask for logs per request (`_meta` logLevel); there is no capability.
        if era == Era::Session {
            capabilities.insert("logging".into(), json!({}));
        }
        if self.tools.iter().any(|t| t.task_support != TaskSupport::Forbidden) {
            match era {
                Era::Stateless => {
                    capabilities.insert("extensions".into(), json!({ TASKS_EXTENSION: {} }));
                }
                Era::Session => {
                    capabilities
                        .insert("tasks".into(), json!({ "cancel": {}, "requests": { "tools": { "call": {} } } }));
                }
            }
        }
        Value::Object(capabilities)
    }

    /// The OAuth scopes a call of the tool called `name` needs, if one is registered.
    pub fn tool_scopes(&self, name: &str) -> Option<&[String]> {
        self.tools.iter().find(|t| t.descriptor.name == name).map(|t| t.scopes.as_slice())
    }

    /// Every scope a tool declares, each once.
    pub fn scopes(&self) -> Vec<String> {
        let mut scopes: Vec<String> = self.tools.iter().flat_map(|t| t.scopes.iter().cloned()).collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }

    /// The input schema of the tool called `name`, if one is registered.
    pub fn tool_input_schema(&self, name: &str) -> Option<&Map<String, Value>> {
        self.tools.iter().find(|t| t.descriptor.name == name).map(|t| t.descriptor.input_schema.as_ref())
    }

    /// Runs one request method. Session-only methods (`resources/subscribe`, `logging/setLevel`) need
    /// `ctx.session`.
    pub async fn dispatch(self: Rc<Self>, ctx: RequestContext<B>, method: &str, params: Params) -> Result<Value> {
        match method {
            "ping" => Ok(json!({})),
            "tools/list" => Ok(json!({ "tools": self.tools.iter().map(listed_tool).collect::<Vec<_>>() })),
            "tools/call" => {
                let name = required_str(&params, "name")?;
                let entry = self.tool_entry(name)?;
                if self.call_mode(&ctx, entry, &params)? == CallMode::Task {
                    return self.start_task(ctx, entry, &params).await;
                }
                let result = match arguments(&params) {
                    Ok(arguments) => self.call_tool(ctx, entry, arguments).await,
                    Err(error) => {
                        ctx.backend.tool_called(name, ToolOutcome::Error, 0.0);
                        Err(error)
                    }
                };
                Ok(serde_json::to_value(result?)?)
            }
            "tasks/get" | "tasks/update" | "tasks/cancel" | "tasks/result" => {
                self.task_request(ctx, method, &params).await
            }
            "resources/list" => {
                Ok(json!({ "resources": self.resources.iter().map(|r| &r.descriptor).collect::<Vec<_>>() }))
            }
            "resources/templates/list" => {
                Ok(json!({ "resourceTemplates": self.templates.iter().map(|t| &t.descriptor).collect::<Vec<_>>() }))
            }
            "resources/read" => {
                let uri = required_str(&params, "uri")?.to_owned();
                let contents = self.read_resource(ctx, &uri).await?;
                Ok(json!({ "contents": contents }))
            }
            "resources/subscribe" | "resources/unsubscribe" => {
                let session = ctx.session.clone().ok_or(MeshError::MethodNotFound(method.to_owned()))?;
                let uri = topic_param(&params, "uri")?.to_owned();
                let mut update = UpdateSession { session: session.clone(), ..Default::default() };
                if method == "resources/subscribe" {
                    ctx.backend.subscribe(&uri, &session).await?;
                    update.add_subscription = Some(uri);
                } else {
                    ctx.backend.unsubscribe(&uri, &session).await?;
                    update.remove_subscription = Some(uri);
                }
                ctx.backend.update_session(update).await?;
                Ok(json!({}))
            }
            "logging/setLevel" => {
                let session = ctx.session.clone().ok_or(MeshError::MethodNotFound(method.to_owned()))?;
                let level = required_str(&params, "level")?;
                let level = LogLevel::parse(level)
                    .ok_or_else(|| MeshError::InvalidParams(format!("unknown log level {level:?}")))?;
                let update =
                    UpdateSession { session, log_level: Some(level.as_str().to_owned()), ..Default::default() };
                ctx.backend.update_session(update).await?;
                Ok(json!({}))
            }
            "prompts/list" => Ok(json!({ "prompts": self.prompts.iter().map(|p| &p.descriptor).collect::<Vec<_>>() })),
            "prompts/get" => {
                let name = required_str(&params, "name")?;
                let entry = self
                    .prompts
                    .iter()
                    .find(|p| p.descriptor.name == name)
                    .ok_or_else(|| MeshError::InvalidParams(format!("Unknown prompt: {name}")))?;
                Ok(serde_json::to_value((entry.handler)(ctx, arguments(&params)?).await?)?)
            }
            "completion/complete" => match &self.completion {
                Some(complete) => Ok(serde_json::to_value(complete(ctx, params).await?)?),
                None => Err(MeshError::MethodNotFound(method.to_owned())),
            },
            _ => Err(MeshError::MethodNotFound(method.chars().take(128).collect())),
        }
    }

    /// The registered tool called `name`; -32602 for an unknown one.
    pub(super) fn tool_entry(&self, name: &str) -> Result<&ToolEntry<B>> {
        self.tools
            .iter()
            .find(|t| t.descriptor.name == name)
            .ok_or_else(|| MeshError::InvalidParams(format!("Unknown tool: {name}")))
    }

    /// Runs a tool's handler on parsed-later `arguments`, telling the observer how it ended.
    pub(super) async fn call_tool(
        &self,
        ctx: RequestContext<B>,
        entry: &ToolEntry<B>,
        arguments: Params,
    ) -> Result<CallToolResult> {
        let backend = ctx.backend.clone();
        let started = backend.now_ms();
        let result = (entry.handler)(ctx, arguments).await;
        let outcome = match &result {
            Ok(result) if result.is_error == Some(true) => ToolOutcome::ToolError,
            Ok(_) => ToolOutcome::Ok,
            Err(_) => ToolOutcome::Error,
        };
        backend.tool_called(&entry.descriptor.name, outcome, backend.now_ms().saturating_sub(started) as f64);
        result
    }

    async fn read_resource(&self, ctx: RequestContext<B>, uri: &str) -> Result<Vec<ResourceContents>> {
        if let Some(entry) = self.resources.iter().find(|r| r.descriptor.uri == uri) {
            return (entry.handler)(ctx, (uri.to_owned(), Map::new())).await;
        }
        for entry in &self.templates {
            if let Some(vars) = match_uri_template(&entry.descriptor.uri_template, uri) {
                let vars = vars.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
                return (entry.handler)(ctx, (uri.to_owned(), vars)).await;
            }
        }
        Err(MeshError::ResourceNotFound(uri.chars().take(512).collect()))
    }
}

/// A tool as `tools/list` shows it: its descriptor, and `execution.taskSupport` unless it never runs
/// as a task.
fn listed_tool<B: McpBackend>(entry: &ToolEntry<B>) -> Value {
    let mut tool = serde_json::to_value(&entry.descriptor).unwrap_or_else(|_| json!({}));
    if let (Value::Object(fields), TaskSupport::Optional | TaskSupport::Required) = (&mut tool, entry.task_support) {
        fields.insert("execution".into(), json!({ "taskSupport": entry.task_support }));
    }
    tool
}

/// The string param `key`; [`MeshError::InvalidParams`] (-32602) if it is absent or not a string.
pub fn required_str<'a>(params: &'a Params, key: &str) -> Result<&'a str> {
    params
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| MeshError::InvalidParams(format!("\"{key}\" must be a string")))
}

/// A resource URI the topic index will hold: 1 to [`MAX_TOPIC_BYTES`] bytes, checked here so that a
/// client's bad input is the client's error (-32602), not a refusal from the shard.
pub fn topic_param<'a>(params: &'a Params, key: &str) -> Result<&'a str> {
    let uri = required_str(params, key)?;
    check_topic(uri)?;
    Ok(uri)
}

/// Checks a resource URI against the topic index's limits.
pub fn check_topic(uri: &str) -> Result<()> {
    if uri.is_empty() || uri.len() > MAX_TOPIC_BYTES {
        return Err(MeshError::InvalidParams(format!("a subscribed URI is 1 to {MAX_TOPIC_BYTES} bytes")));
    }
    Ok(())
}

/// A tool's or prompt's `arguments`: an object, or nothing.
pub(super) fn arguments(params: &Params) -> Result<Params> {
    match params.get("arguments") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(arguments)) => Ok(arguments.clone()),
        Some(_) => Err(MeshError::InvalidParams("\"arguments\" must be an object".into())),
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use serde::Serialize;
    use serde_json::json;

    use super::*;
    use crate::mcp::backend::InMemoryBackend;
    use crate::mcp::handlers::{Json, NoArguments};

    #[derive(serde::Deserialize, JsonSchema)]
    struct Add {
        a: i64,
        b: i64,
    }

    #[derive(Serialize, JsonSchema)]
    struct Sum {
        sum: i64,
    }

    fn context(backend: Rc<InMemoryBackend>) -> RequestContext<InMemoryBackend> {
        RequestContext {
            backend,
            era: Era::Stateless,
            session: None,
            client_capabilities: json!({}),
            log_level: None,
            progress_token: None,
            outbox: None,
            input_responses: Map::new(),
            request_state: None,
            owner: None,
        }
    }

    fn call(server: &Rc<McpServer<InMemoryBackend>>, method: &str, params: Value) -> Result<Value> {
        let ctx = context(Rc::new(InMemoryBackend::new()));
        block_on(server.clone().dispatch(ctx, method, params.as_object().cloned().unwrap_or_default()))
    }

    #[test]
    fn only_what_was_registered_is_advertised() {
        let tools_only =
            McpServer::<InMemoryBackend>::new("t", "1")
                .tool("ping", "answers", |_ctx, _: NoArguments| async { Ok("pong") });
        assert_eq!(tools_only.capabilities(Era::Session), json!({ "tools": { "listChanged": true }, "logging": {} }));
        assert_eq!(tools_only.capabilities(Era::Stateless), json!({ "tools": { "listChanged": true } }));
        let resources_only = McpServer::<InMemoryBackend>::new("r", "1")
            .resource(Resource::new("x://a", "a"), |_ctx, _uri| async { Ok("a".to_owned()) });
        let capabilities = resources_only.capabilities(Era::Stateless);
        assert_eq!(capabilities, json!({ "resources": { "subscribe": true, "listChanged": true } }));
    }

    #[test]
    fn a_typed_tool_advertises_its_schemas_and_runs_on_parsed_arguments() {
        let server = Rc::new(McpServer::<InMemoryBackend>::new("t", "1").tool(
            "add",
            "adds",
            |_ctx, Add { a, b }| async move { Ok(Json(Sum { sum: a + b })) },
        ));
        let listed = call(&server, "tools/list", json!({})).unwrap();
        let tool = &listed["tools"][0];
        assert_eq!(tool["inputSchema"]["required"], json!(["a", "b"]));
        assert_eq!(tool["outputSchema"]["properties"]["sum"]["type"], "integer");
        let result = call(&server, "tools/call", json!({"name": "add", "arguments": {"a": 2, "b": 3}})).unwrap();
        assert_eq!(result["structuredContent"], json!({"sum": 5}));
        let bad = call(&server, "tools/call", json!({"name": "add", "arguments": {"a": 2, "b": "three"}}));
        assert!(matches!(&bad, Err(MeshError::InvalidParams(m)) if m.starts_with("arguments.b:")), "{bad:?}");
    }

    #[test]
    fn each_tool_call_is_observed_with_its_outcome_and_unknown_tools_are_not() {
        let server = Rc::new(McpServer::<InMemoryBackend>::new("t", "1").tool(
            "add",
            "adds",
            |_ctx, Add { a, b }| async move { Ok(Json(Sum { sum: a + b })) },
        ));
        let backend = Rc::new(InMemoryBackend::new());
        let run = |params: Value| {
            let params = params.as_object().cloned().unwrap_or_default();
            block_on(server.clone().dispatch(context(backend.clone()), "tools/call", params))
        };
        assert!(run(json!({"name": "add", "arguments": {"a": 1, "b": 2}})).is_ok());
        assert!(run(json!({"name": "add", "arguments": {"a": 1}})).is_err());
        assert!(run(json!({"name": "nope", "arguments": {}})).is_err());
        let observed = backend.observed.borrow();
        assert_eq!(observed.tool_calls["add"]["ok"], 1);
        assert_eq!(observed.tool_calls["add"]["error"], 1);
        assert_eq!(observed.tool_calls.len(), 1, "an unknown name is not a label");
    }

    #[test]
    fn a_typed_prompt_lists_its_arguments_and_a_template_parses_its_variables() {
        #[derive(serde::Deserialize, JsonSchema)]
        struct Topic {
            /// What to write about.
            topic: String,
        }
        #[derive(serde::Deserialize)]
        struct Vars {
            id: String,
        }
        let template = ResourceTemplate::new("x://item/{id}", "item");
        let server = Rc::new(
            McpServer::<InMemoryBackend>::new("p", "1")
                .prompt("essay", "writes", |_ctx, Topic { topic }| async move { Ok(format!("Write about {topic}")) })
                .resource_template(template, |_ctx, _uri, Vars { id }| async move { Ok(format!("item {id}")) }),
        );
        let listed = call(&server, "prompts/list", json!({})).unwrap();
        assert_eq!(
            listed["prompts"][0]["arguments"],
            json!([{"name": "topic", "description": "What to write about.", "required": true}])
        );
        let got = call(&server, "prompts/get", json!({"name": "essay", "arguments": {"topic": "rust"}})).unwrap();
        assert_eq!(got["messages"][0]["content"]["text"], "Write about rust");
        let read = call(&server, "resources/read", json!({"uri": "x://item/7"})).unwrap();
        assert_eq!(read["contents"][0]["text"], "item 7");
    }
}
