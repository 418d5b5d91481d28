//! The server-author API: register tools, resources, resource templates, prompts and a completion
//! handler, each with an async handler; and the method dispatch shared by both protocol eras.
//!
//! Handlers get a [`RequestContext`] (backend, session, the request's own stream) and return
//! `rmcp::model` result types; the transports (`legacy`, `stateless`) decide how results and errors
//! travel. Must not touch the runtime.

use std::rc::Rc;

use futures::future::LocalBoxFuture;
use rmcp::model::{
    CallToolResult, CompleteResult, GetPromptResult, Implementation, Prompt, Resource, ResourceContents,
    ResourceTemplate, Tool,
};
use serde_json::{json, Map, Value};

use super::backend::McpBackend;
use super::context::RequestContext;
use crate::error::{MeshError, Result};
use crate::protocol::UpdateSession;

/// A JSON-RPC params object (or a tool's or prompt's `arguments`), unparsed.
pub type Params = Map<String, Value>;
/// An async handler returning `T`: gets the request's context and its arguments (a tool's or prompt's
/// `arguments`, or the whole params of `completion/complete`). Make one with [`handler`].
pub type Handler<B, T> = Rc<dyn Fn(RequestContext<B>, Params) -> LocalBoxFuture<'static, Result<T>>>;
/// Reads a resource: gets the URI and the variables a template matched (empty for static ones).
pub type ResourceHandler<B> =
    Rc<dyn Fn(RequestContext<B>, String, Map<String, Value>) -> LocalBoxFuture<'static, Result<Vec<ResourceContents>>>>;

struct Entry<D, H> {
    descriptor: D,
    handler: H,
}

/// An MCP server: what it offers (tools, resources, templates, prompts, completion) and its handlers,
/// built once per isolate and shared by every request. Built with the `with_*` and registration
/// methods, each taking and returning `self`.
pub struct McpServer<B: McpBackend> {
    pub(crate) info: Implementation,
    pub(crate) instructions: Option<String>,
    tools: Vec<Entry<Tool, Handler<B, CallToolResult>>>,
    resources: Vec<Entry<Resource, ResourceHandler<B>>>,
    templates: Vec<Entry<ResourceTemplate, ResourceHandler<B>>>,
    prompts: Vec<Entry<Prompt, Handler<B, GetPromptResult>>>,
    completion: Option<Handler<B, CompleteResult>>,
}

/// Makes a handler from an async closure: `handler(|ctx, params| async move { ... })`.
pub fn handler<B, T, F, Fut>(f: F) -> Handler<B, T>
where
    B: McpBackend,
    F: Fn(RequestContext<B>, Params) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<T>> + 'static,
{
    Rc::new(move |ctx, params| Box::pin(f(ctx, params)))
}

/// Makes a resource handler from an async closure: `resource_handler(|ctx, uri, vars| async move { ... })`.
pub fn resource_handler<B, F, Fut>(f: F) -> ResourceHandler<B>
where
    B: McpBackend,
    F: Fn(RequestContext<B>, String, Map<String, Value>) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<Vec<ResourceContents>>> + 'static,
{
    Rc::new(move |ctx, uri, vars| Box::pin(f(ctx, uri, vars)))
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

    /// Registers a tool. Names should be unique: `tools/call` runs the first one registered.
    pub fn tool(mut self, tool: Tool, handler: Handler<B, CallToolResult>) -> Self {
        self.tools.push(Entry { descriptor: tool, handler });
        self
    }

    /// Registers a static resource, read by its exact URI.
    pub fn resource(mut self, resource: Resource, handler: ResourceHandler<B>) -> Self {
        self.resources.push(Entry { descriptor: resource, handler });
        self
    }

    /// Registers a resource template; a read whose URI no static resource has is tried against
    /// templates in registration order (see [`match_uri_template`]).
    pub fn resource_template(mut self, template: ResourceTemplate, handler: ResourceHandler<B>) -> Self {
        self.templates.push(Entry { descriptor: template, handler });
        self
    }

    /// Registers a prompt. Names should be unique: `prompts/get` runs the first one registered.
    pub fn prompt(mut self, prompt: Prompt, handler: Handler<B, GetPromptResult>) -> Self {
        self.prompts.push(Entry { descriptor: prompt, handler });
        self
    }

    /// Sets the `completion/complete` handler; without one the method is not found (-32601).
    pub fn completion(mut self, handler: Handler<B, CompleteResult>) -> Self {
        self.completion = Some(handler);
        self
    }

    /// The capabilities this server has, as sent in `initialize` and `server/discover`.
    pub fn capabilities(&self, era: super::context::Era) -> Value {
        match era {
            super::context::Era::Session => json!({
                "tools": { "listChanged": true },
                "resources": { "subscribe": true, "listChanged": true },
                "prompts": { "listChanged": true },
                "completions": {},
                "logging": {},
            }),
            // Change notifications reach stateless clients through `subscriptions/listen`.
            super::context::Era::Stateless => json!({
                "tools": { "listChanged": true },
                "resources": { "subscribe": true, "listChanged": true },
                "prompts": { "listChanged": true },
                "completions": {},
            }),
        }
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
            "tools/list" => Ok(json!({ "tools": self.tools.iter().map(|t| &t.descriptor).collect::<Vec<_>>() })),
            "tools/call" => {
                let name = required_str(&params, "name")?.to_owned();
                let entry = self
                    .tools
                    .iter()
                    .find(|t| t.descriptor.name == name)
                    .ok_or_else(|| MeshError::InvalidParams(format!("Unknown tool: {name}")))?;
                let arguments = match params.get("arguments") {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(arguments)) => arguments.clone(),
                    Some(_) => return Err(MeshError::InvalidParams("\"arguments\" must be an object".into())),
                };
                let result = (entry.handler)(ctx, arguments).await?;
                Ok(serde_json::to_value(result)?)
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
                let uri = required_str(&params, "uri")?.to_owned();
                let session = ctx.session.clone().ok_or(MeshError::MethodNotFound(method.to_owned()))?;
                let subscribe = method == "resources/subscribe";
                if subscribe {
                    ctx.backend.subscribe(&uri, &session).await?;
                } else {
                    ctx.backend.unsubscribe(&uri, &session).await?;
                }
                let mut update = UpdateSession { session, ..Default::default() };
                if subscribe {
                    update.add_subscription = Some(uri);
                } else {
                    update.remove_subscription = Some(uri);
                }
                ctx.backend.update_session(update).await?;
                Ok(json!({}))
            }
            "logging/setLevel" => {
                let session = ctx.session.clone().ok_or(MeshError::MethodNotFound(method.to_owned()))?;
                let level = required_str(&params, "level")?;
                if !super::LOG_LEVELS.contains(&level) {
                    return Err(MeshError::InvalidParams(format!("unknown log level {level:?}")));
                }
                let update = UpdateSession { session, log_level: Some(level.to_owned()), ..Default::default() };
                ctx.backend.update_session(update).await?;
                Ok(json!({}))
            }
            "prompts/list" => Ok(json!({ "prompts": self.prompts.iter().map(|p| &p.descriptor).collect::<Vec<_>>() })),
            "prompts/get" => {
                let name = required_str(&params, "name")?.to_owned();
                let entry = self
                    .prompts
                    .iter()
                    .find(|p| p.descriptor.name == name)
                    .ok_or_else(|| MeshError::InvalidParams(format!("Unknown prompt: {name}")))?;
                let arguments = params.get("arguments").and_then(Value::as_object).cloned().unwrap_or_default();
                Ok(serde_json::to_value((entry.handler)(ctx, arguments).await?)?)
            }
            "completion/complete" => match &self.completion {
                Some(complete) => Ok(serde_json::to_value(complete(ctx, params).await?)?),
                None => Err(MeshError::MethodNotFound(method.to_owned())),
            },
            _ => Err(MeshError::MethodNotFound(method.chars().take(128).collect())),
        }
    }

    async fn read_resource(&self, ctx: RequestContext<B>, uri: &str) -> Result<Vec<ResourceContents>> {
        if let Some(entry) = self.resources.iter().find(|r| r.descriptor.uri == uri) {
            return (entry.handler)(ctx, uri.to_owned(), Map::new()).await;
        }
        for entry in &self.templates {
            if let Some(vars) = match_uri_template(&entry.descriptor.uri_template, uri) {
                let vars = vars.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
                return (entry.handler)(ctx, uri.to_owned(), vars).await;
            }
        }
        Err(MeshError::ResourceNotFound(uri.chars().take(512).collect()))
    }
}

/// Matches a URI against a level-1 RFC 6570 template (`test://template/{id}/data`); each variable
/// matches one or more characters other than `/`.
pub fn match_uri_template(template: &str, uri: &str) -> Option<Vec<(String, String)>> {
    let mut vars = Vec::new();
    let mut rest = uri;
    let mut pattern = template;
    while !pattern.is_empty() {
        match pattern.find('{') {
            None => return (rest == pattern).then_some(vars),
            Some(open) => {
                let literal = &pattern[..open];
                rest = rest.strip_prefix(literal)?;
                let close = pattern[open..].find('}')? + open;
                let name = &pattern[open + 1..close];
                pattern = &pattern[close + 1..];
                // The variable ends where the next literal starts (or at the next '/').
                let next_literal = pattern.split('{').next().unwrap_or("");
                let end = if next_literal.is_empty() {
                    rest.find('/').unwrap_or(rest.len())
                } else {
                    rest.find(next_literal)?
                };
                let value = &rest[..end];
                if value.is_empty() || value.contains('/') {
                    return None;
                }
                vars.push((name.to_owned(), value.to_owned()));
                rest = &rest[end..];
            }
        }
    }
    rest.is_empty().then_some(vars)
}

/// The string param `key`; [`MeshError::InvalidParams`] (-32602) if it is absent or not a string.
pub fn required_str<'a>(params: &'a Params, key: &str) -> Result<&'a str> {
    params
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| MeshError::InvalidParams(format!("\"{key}\" must be a string")))
}

#[cfg(test)]
mod tests {
    use super::match_uri_template;

    #[test]
    fn uri_templates_match_single_segments() {
        let vars = match_uri_template("test://template/{id}/data", "test://template/123/data").unwrap();
        assert_eq!(vars, vec![("id".to_owned(), "123".to_owned())]);
        assert!(match_uri_template("test://template/{id}/data", "test://template/1/2/data").is_none());
        assert!(match_uri_template("test://template/{id}/data", "test://template//data").is_none());
        assert!(match_uri_template("test://template/{id}/data", "test://other/1/data").is_none());
        let vars = match_uri_template("a://{x}/{y}", "a://1/2").unwrap();
        assert_eq!(vars.len(), 2);
        assert_eq!(match_uri_template("a://static", "a://static"), Some(vec![]));
    }
}
