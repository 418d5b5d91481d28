//! Typed handlers: a tool's (or prompt's, or resource template's) arguments are a type whose JSON
//! Schema is derived (`schemars`) and which is deserialized before the handler runs, a bad field
//! answered with `-32602` naming it; results come from plain values as well as the protocol's types.
//! [`crate::mcp::server::McpServer`] erases handlers into the closures it stores. Must not touch the
//! runtime.

use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use futures::future::LocalBoxFuture;
use rmcp::model::{
    CallToolResult, ContentBlock, GetPromptResult, Prompt, PromptArgument, PromptMessage, ResourceContents, Role, Tool,
    ToolAnnotations,
};
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::backend::McpBackend;
use super::context::RequestContext;
use crate::error::{MeshError, Result};
use crate::tasks::TaskSupport;

/// A JSON object: a request's params, or a tool's or prompt's `arguments`, unparsed.
pub type Params = Map<String, Value>;

/// The arguments of a tool that takes none: `{}` (anything else in the object is ignored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct NoArguments {}

/// A result whose value goes out as the call's structured content (and as text for clients that
/// read only content); its type's schema is advertised as the tool's `outputSchema`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

/// What a tool handler may return.
pub trait IntoToolResult {
    /// The JSON Schema of the structured content, if the result has one.
    fn output_schema() -> Option<Map<String, Value>> {
        None
    }
    /// The `tools/call` result.
    fn into_tool_result(self) -> Result<CallToolResult>;
}

impl IntoToolResult for CallToolResult {
    fn into_tool_result(self) -> Result<CallToolResult> {
        Ok(self)
    }
}

impl IntoToolResult for String {
    fn into_tool_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::success(vec![ContentBlock::text(self)]))
    }
}

impl IntoToolResult for &'static str {
    fn into_tool_result(self) -> Result<CallToolResult> {
        self.to_owned().into_tool_result()
    }
}

impl<T: Serialize + JsonSchema> IntoToolResult for Json<T> {
    fn output_schema() -> Option<Map<String, Value>> {
        Some(output_schema_for::<T>())
    }

    fn into_tool_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::structured(serde_json::to_value(self.0)?))
    }
}

/// What a prompt handler may return.
pub trait IntoPromptResult {
    /// The `prompts/get` result.
    fn into_prompt_result(self) -> Result<GetPromptResult>;
}

impl IntoPromptResult for GetPromptResult {
    fn into_prompt_result(self) -> Result<GetPromptResult> {
        Ok(self)
    }
}

impl IntoPromptResult for Vec<PromptMessage> {
    fn into_prompt_result(self) -> Result<GetPromptResult> {
        Ok(GetPromptResult::new(self))
    }
}

impl IntoPromptResult for String {
    fn into_prompt_result(self) -> Result<GetPromptResult> {
        vec![PromptMessage::new_text(Role::User, self)].into_prompt_result()
    }
}

/// What a resource handler may return; `uri` is the URI that was read.
pub trait IntoResourceContents {
    /// The `resources/read` contents.
    fn into_contents(self, uri: &str) -> Vec<ResourceContents>;
}

impl IntoResourceContents for Vec<ResourceContents> {
    fn into_contents(self, _uri: &str) -> Vec<ResourceContents> {
        self
    }
}

impl IntoResourceContents for ResourceContents {
    fn into_contents(self, _uri: &str) -> Vec<ResourceContents> {
        vec![self]
    }
}

impl IntoResourceContents for String {
    fn into_contents(self, uri: &str) -> Vec<ResourceContents> {
        vec![ResourceContents::text(self, uri).with_mime_type("text/plain")]
    }
}

/// How a tool is advertised: name, description and options. Its input schema comes from the handler's
/// argument type unless given here.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub(crate) tool: Tool,
    pub(crate) explicit_schema: bool,
    pub(crate) scopes: Vec<String>,
    pub(crate) task_support: TaskSupport,
    pub(crate) before_task: Vec<(String, String, Value)>,
}

impl ToolSpec {
    /// A tool called `name`.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        let tool = Tool::new(name.into(), description.into(), Arc::new(Map::new()));
        Self {
            tool,
            explicit_schema: false,
            scopes: Vec::new(),
            task_support: TaskSupport::Forbidden,
            before_task: Vec::new(),
        }
    }

    /// Runs calls as tasks (`Optional`: for clients that use tasks; `Required`: only as a task,
    /// other clients are refused). A task's handler runs on the task's shard, after the call that
    /// started it has been answered with the task's handle; it is the same handler, and what it does
    /// moves the task: [`RequestContext::progress`] sets its status message, asking the client
    /// ([`RequestContext::ask_client`], [`RequestContext::answers`]) makes it `input_required` until
    /// answered (then it runs again from the start, with every answer so far), its result or error
    /// ends it. Cancelling a task stops its handler at its next `await`.
    pub fn task_support(mut self, support: TaskSupport) -> Self {
        self.task_support = support;
        self
    }

    /// A question asked before a task is created (answered in the call, the way any tool asks in the
    /// 2026-07-28 revision): the task starts only once the call carries its answer, which its
    /// handler then finds among its answers under `key`.
    pub fn ask_before_task(mut self, key: &str, method: &str, params: Value) -> Self {
        self.before_task.push((key.to_owned(), method.to_owned(), params));
        self
    }

    /// OAuth scopes a caller's token must grant to call the tool (with an OAuth authorization
    /// server; development tokens are not scoped). A call without them is refused with 403 and the
    /// scopes it needs.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// A human-readable title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.tool.title = Some(title.into());
        self
    }

    /// Hints about the tool's behaviour (read-only, destructive, ...).
    pub fn annotations(mut self, annotations: ToolAnnotations) -> Self {
        self.tool.annotations = Some(annotations);
        self
    }

    /// The input schema as written (a JSON Schema object), instead of the one derived from the
    /// argument type: for schemas no Rust type expresses (`x-mcp-header`, 2020-12 keywords).
    pub fn input_schema(mut self, schema: Value) -> Self {
        let schema = match schema {
            Value::Object(schema) => schema,
            _ => Map::from_iter([("type".to_owned(), Value::from("object"))]),
        };
        self.tool.input_schema = Arc::new(schema);
        self.explicit_schema = true;
        self
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.tool.name
    }
}

/// A handler as the server stores it: context and raw arguments in, the result out.
pub(crate) type ErasedHandler<B, In, Out> = Rc<dyn Fn(RequestContext<B>, In) -> LocalBoxFuture<'static, Result<Out>>>;

/// Wraps a typed handler: parses its arguments (`-32602` naming a bad field) and converts its result.
pub(crate) fn erase<B, A, R, Out, F, Fut>(
    handler: F,
    convert: impl Fn(R) -> Result<Out> + 'static,
) -> ErasedHandler<B, Params, Out>
where
    B: McpBackend,
    A: DeserializeOwned + 'static,
    R: 'static,
    Out: 'static,
    F: Fn(RequestContext<B>, A) -> Fut + 'static,
    Fut: Future<Output = Result<R>> + 'static,
{
    let handler = Rc::new(handler);
    let convert = Rc::new(convert);
    Rc::new(move |ctx, arguments| {
        let (handler, convert) = (handler.clone(), convert.clone());
        Box::pin(async move {
            let arguments = parse_arguments::<A>(arguments)?;
            convert(handler(ctx, arguments).await?)
        })
    })
}

/// Deserializes `arguments` into `A`; a mismatch is invalid params naming the field.
pub fn parse_arguments<A: DeserializeOwned>(arguments: Params) -> Result<A> {
    serde_path_to_error::deserialize(Value::Object(arguments)).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path == "." {
            MeshError::InvalidParams(format!("arguments: {inner}"))
        } else {
            MeshError::InvalidParams(format!("arguments.{path}: {inner}"))
        }
    })
}

/// The JSON Schema (2020-12) of what `T` accepts, as a tool's `inputSchema`.
pub fn input_schema_for<T: JsonSchema>() -> Map<String, Value> {
    schema_object(SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>())
}

/// The JSON Schema (2020-12) of what `T` writes, as a tool's `outputSchema`.
pub fn output_schema_for<T: JsonSchema>() -> Map<String, Value> {
    schema_object(SchemaSettings::draft2020_12().for_serialize().into_generator().into_root_schema_for::<T>())
}

fn schema_object(schema: schemars::Schema) -> Map<String, Value> {
    match schema.to_value() {
        Value::Object(schema) => schema,
        // A type whose schema is `true` accepts anything: advertise an object that allows anything.
        _ => Map::from_iter([("type".to_owned(), Value::from("object"))]),
    }
}

/// A prompt's arguments as the protocol lists them, from the properties of `T`'s schema (every
/// prompt argument is a string on the wire).
pub fn prompt_arguments_for<T: JsonSchema>() -> Vec<PromptArgument> {
    let schema = input_schema_for::<T>();
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return Vec::new() };
    properties
        .iter()
        .map(|(name, property)| {
            let mut argument = PromptArgument::new(name.clone());
            argument.description = property.get("description").and_then(Value::as_str).map(str::to_owned);
            argument.required = Some(required.contains(&name.as_str()));
            argument
        })
        .collect()
}

/// A prompt descriptor with its arguments derived from `A`.
pub(crate) fn prompt_for<A: JsonSchema>(name: &str, description: &str) -> Prompt {
    let arguments = prompt_arguments_for::<A>();
    Prompt::new(name, Some(description), (!arguments.is_empty()).then_some(arguments))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Where to look.
    #[derive(Debug, Deserialize, JsonSchema)]
    struct Forecast {
        /// The city.
        city: String,
        days: Option<u8>,
    }

    #[derive(Serialize, JsonSchema)]
    struct Weather {
        sky: String,
    }

    fn object(value: Value) -> Params {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn arguments_parse_into_their_type_and_a_bad_field_is_named() {
        let forecast: Forecast = parse_arguments(object(json!({"city": "Lisbon", "days": 3}))).unwrap();
        assert_eq!((forecast.city.as_str(), forecast.days), ("Lisbon", Some(3)));
        let missing = parse_arguments::<Forecast>(object(json!({"days": 3}))).unwrap_err();
        assert!(matches!(&missing, MeshError::InvalidParams(m) if m.contains("missing field `city`")), "{missing}");
        assert_eq!(missing.rpc_code(), -32602);
        let wrong = parse_arguments::<Forecast>(object(json!({"city": "Lisbon", "days": "three"}))).unwrap_err();
        assert!(matches!(&wrong, MeshError::InvalidParams(m) if m.starts_with("arguments.days:")), "{wrong}");
        let none: NoArguments = parse_arguments(object(json!({"anything": 1}))).unwrap();
        assert_eq!(none, NoArguments {});
    }

    #[test]
    fn the_input_schema_is_derived_from_the_argument_type() {
        let schema = input_schema_for::<Forecast>();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["properties"]["city"]["type"], "string");
        assert_eq!(schema["properties"]["city"]["description"], "The city.");
        assert_eq!(schema["required"], json!(["city"]));
        assert_eq!(input_schema_for::<NoArguments>()["type"], "object");
    }

    #[test]
    fn results_come_from_plain_values_and_structured_ones_advertise_their_schema() {
        let text = "sunny".to_owned().into_tool_result().unwrap();
        assert_eq!(serde_json::to_value(&text).unwrap()["content"][0]["text"], "sunny");
        assert!(String::output_schema().is_none());
        let structured = Json(Weather { sky: "clear".into() }).into_tool_result().unwrap();
        assert_eq!(structured.structured_content, Some(json!({"sky": "clear"})));
        let schema = <Json<Weather>>::output_schema().unwrap();
        assert_eq!(schema["properties"]["sky"]["type"], "string");
    }

    #[test]
    fn prompt_arguments_come_from_the_schema() {
        let arguments = prompt_arguments_for::<Forecast>();
        let city = arguments.iter().find(|a| a.name == "city").unwrap();
        assert_eq!((city.required, city.description.as_deref()), (Some(true), Some("The city.")));
        let days = arguments.iter().find(|a| a.name == "days").unwrap();
        assert_eq!(days.required, Some(false));
    }
}
