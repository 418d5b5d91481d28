//! Calling shard and coordinator objects: stub lookup by name, JSON control calls and WebSocket
//! upgrades (made in `stubs.js`, beside this file), and the mapping of their error statuses back
//! into `MeshError`.

use serde::{de::DeserializeOwned, Serialize};
use worker::wasm_bindgen::prelude::{wasm_bindgen, JsValue};
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{js_sys, web_sys, Env, Request, Response, WebSocket};

use crate::error::{MeshError, Result};
use crate::protocol::{ErrorBody, COORDINATOR_NAME, STUB_ORIGIN};
use crate::routing::shard_name;

/// Which object a call goes to, for error messages and status mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Shard(u32),
    Coordinator,
}

pub fn platform(what: &'static str) -> impl Fn(worker::Error) -> MeshError {
    move |error| MeshError::Platform { what, detail: error.to_string() }
}

#[wasm_bindgen(module = "/src/worker/stubs.js")]
extern "C" {
    #[wasm_bindgen(js_name = callObject)]
    fn call_object(namespace: &JsValue, name: &str, url: &str, body: String) -> js_sys::Promise;

    #[wasm_bindgen(js_name = upgradeObject)]
    fn upgrade_object(namespace: &JsValue, name: &str, url: &str, header: &str) -> js_sys::Promise;
}

/// One shard or the coordinator, reached through its namespace binding by name.
pub struct ObjectStub {
    namespace: JsValue,
    name: String,
    target: Target,
}

pub fn stub(env: &Env, binding: &str, target: Target) -> Result<ObjectStub> {
    let namespace = js_sys::Reflect::get(env, &JsValue::from_str(binding)).unwrap_or(JsValue::UNDEFINED);
    // A Durable Object namespace is the binding with `getByName`; anything else is a wrong var.
    let has_get_by_name =
        js_sys::Reflect::get(&namespace, &JsValue::from_str("getByName")).is_ok_and(|f| f.is_function());
    if namespace.is_undefined() || !has_get_by_name {
        return Err(MeshError::Config {
            var: match target {
                Target::Shard(_) => "SHARD_BINDING",
                Target::Coordinator => "COORDINATOR_BINDING",
            },
            reason: format!("names {binding:?}, which is not a Durable Object binding of this Worker"),
        });
    }
    let name = match target {
        Target::Shard(shard) => shard_name(shard),
        Target::Coordinator => COORDINATOR_NAME.to_owned(),
    };
    Ok(ObjectStub { namespace, name, target })
}

/// POSTs `body` as JSON to `path` on the object and decodes the JSON answer.
pub async fn call<B: Serialize, T: DeserializeOwned>(stub: &ObjectStub, path: &str, body: &B) -> Result<T> {
    let target = stub.target;
    let text = serde_json::to_string(body)?;
    let url = format!("{STUB_ORIGIN}{path}");
    let answer = JsFuture::from(call_object(&stub.namespace, &stub.name, &url, text))
        .await
        .map_err(|e| upstream(target, js_error(&e)))?;
    let answer: js_sys::Array = answer.unchecked_into();
    let status = answer.get(0).as_f64().unwrap_or(0.0) as u16;
    let text = answer.get(1).as_string().unwrap_or_default();
    if (200..300).contains(&status) {
        serde_json::from_str(&text).map_err(|e| MeshError::Protocol(format!("{target:?} {path}: {e}")))
    } else {
        Err(error_from_status(target, status, &text))
    }
}

/// Opens a WebSocket to `url` (a path and query on [`STUB_ORIGIN`]) on the object; returns it with
/// the value of response header `header`, if any.
pub async fn upgrade(stub: &ObjectStub, url: &str, header: &str) -> Result<(WebSocket, Option<String>)> {
    let target = stub.target;
    let answer = JsFuture::from(upgrade_object(&stub.namespace, &stub.name, url, header))
        .await
        .map_err(|e| upstream(target, js_error(&e)))?;
    let answer: js_sys::Array = answer.unchecked_into();
    let status = answer.get(0).as_f64().unwrap_or(0.0) as u16;
    if status != 101 {
        return Err(error_from_status(target, status, &answer.get(2).as_string().unwrap_or_default()));
    }
    let socket = answer.get(1);
    if !socket.is_object() {
        return Err(MeshError::Protocol(format!("{target:?} answered 101 without a socket")));
    }
    let socket: web_sys::WebSocket = socket.unchecked_into();
    Ok((WebSocket::from(socket), answer.get(2).as_string()))
}

fn js_error(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "a call to an object failed".into())
}

fn upstream(target: Target, detail: String) -> MeshError {
    let what = match target {
        Target::Shard(_) => "shard",
        Target::Coordinator => "coordinator",
    };
    MeshError::Upstream { what, detail }
}

/// Rebuilds the error an object answered with from its status.
pub fn error_from_status(target: Target, status: u16, body: &str) -> MeshError {
    let ours = serde_json::from_str::<ErrorBody>(body).map(|b| b.error).ok();
    // A 503 is "shard full" only when the shard said so: the runtime answers 503 too (an object that
    // cannot be reached), and that must not tell a client to retry a full shard.
    let from_object = ours.is_some();
    let detail = ours.unwrap_or_else(|| body.chars().take(200).collect());
    match (status, target) {
        (404, _) => MeshError::SessionNotFound,
        (409, _) => MeshError::StreamConflict,
        (503, Target::Shard(shard)) if from_object => MeshError::ShardFull { shard },
        (400, _) => MeshError::Protocol(detail),
        _ => upstream(target, format!("status {status}: {detail}")),
    }
}

/// The answer an object gives a failed control call.
pub fn error_response(error: &MeshError) -> worker::Result<Response> {
    let body = serde_json::to_string(&ErrorBody { error: error.to_string() }).unwrap_or_default();
    Ok(Response::ok(body)?.with_status(error.http_status()))
}

/// The answer an object gives a successful control call.
pub fn json_response<T: Serialize>(value: &T) -> worker::Result<Response> {
    Response::from_json(value)
}

/// One dispatch arm of an object's `fetch`: reads the JSON body, runs `handle` on it and encodes its
/// answer.
pub async fn answer<In: DeserializeOwned, Out: Serialize>(
    request: &mut Request,
    handle: impl FnOnce(In) -> Result<Out>,
) -> Result<Response> {
    let input = read_json(request).await?;
    encode(&handle(input)?)
}

/// [`answer`] for a handler that awaits.
pub async fn answer_async<In: DeserializeOwned, Out: Serialize, F: std::future::Future<Output = Result<Out>>>(
    request: &mut Request,
    handle: impl FnOnce(In) -> F,
) -> Result<Response> {
    let input = read_json(request).await?;
    encode(&handle(input).await?)
}

/// A control call's JSON answer.
pub fn encode<T: Serialize>(value: &T) -> Result<Response> {
    json_response(value).map_err(|_| MeshError::Protocol("could not encode a reply".into()))
}

/// The empty JSON object a control call that returns nothing answers with.
pub fn empty() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// The end of an object's `fetch`: the answer, or the error as its status and body.
pub fn reply(result: Result<Response>) -> worker::Result<Response> {
    result.or_else(|error| error_response(&error))
}

/// Reads a JSON control body, mapping a bad one to a 400.
pub async fn read_json<T: DeserializeOwned>(request: &mut Request) -> Result<T> {
    let text = request.text().await.map_err(platform("request body"))?;
    serde_json::from_str(&text).map_err(|e| MeshError::InvalidRequest(e.to_string()))
}
