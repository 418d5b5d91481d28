//! Calling shard and coordinator objects: stub lookup by name, typed control calls (answered whole or
//! headers first) and WebSocket upgrades (made in `stubs.js`, beside this file), the mapping of their
//! error statuses back into `MeshError`, and the object side's answer to a call.

use std::future::Future;

use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::prelude::{wasm_bindgen, JsValue};
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::{future_to_promise, JsFuture};
use worker::{js_sys, web_sys, Env, Method, Request, Response, ResponseBody, WebSocket};

use crate::error::{MeshError, Result};
use crate::fanout::relay_name;
use crate::protocol::{
    decode_call, decode_reply, encode_reply, ErrorBody, ObjectCall, ObjectUpgrade, COORDINATOR_NAME,
    HEADER_OBJECT_NAME, STUB_ORIGIN,
};
use crate::routing::shard_name;

/// Which object a call goes to, for error messages and status mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Shard(u32),
    Coordinator,
    /// A relay of the fan-out: an object of the shard class that holds no streams.
    Relay(usize),
}

pub fn platform(what: &'static str) -> impl Fn(worker::Error) -> MeshError {
    move |error| MeshError::Platform { what, detail: error.to_string() }
}

#[wasm_bindgen(module = "/src/cloudflare/stubs.js")]
extern "C" {
    #[wasm_bindgen(js_name = callObject)]
    fn call_object(namespace: &JsValue, name: &str, name_header: &str, url: &str, body: String) -> js_sys::Promise;

    #[wasm_bindgen(js_name = callObjectHeadersFirst)]
    fn call_object_headers_first(
        namespace: &JsValue,
        name: &str,
        name_header: &str,
        url: &str,
        body: String,
    ) -> js_sys::Promise;

    #[wasm_bindgen(js_name = readBody)]
    fn read_body(response: &JsValue) -> js_sys::Promise;

    #[wasm_bindgen(js_name = bodyOnRead)]
    fn body_on_read(produce: JsValue) -> web_sys::ReadableStream;

    #[wasm_bindgen(js_name = upgradeObject)]
    fn upgrade_object(namespace: &JsValue, name: &str, name_header: &str, url: &str, header: &str) -> js_sys::Promise;
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
                Target::Shard(_) | Target::Relay(_) => "SHARD_BINDING",
                Target::Coordinator => "COORDINATOR_BINDING",
            },
            reason: format!("names {binding:?}, which is not a Durable Object binding of this Worker"),
        });
    }
    let name = match target {
        Target::Shard(shard) => shard_name(shard),
        Target::Coordinator => COORDINATOR_NAME.to_owned(),
        Target::Relay(index) => relay_name(index),
    };
    Ok(ObjectStub { namespace, name, target })
}

/// Makes `call` on the object and decodes its answer as the call's reply type.
pub async fn call<C: ObjectCall>(stub: &ObjectStub, call: &C) -> Result<C::Reply> {
    let (status, answer) = send_call(stub, call, call_object).await?;
    let text = answer.as_string().unwrap_or_default();
    if (200..300).contains(&status) {
        decode_reply::<C>(&text)
    } else {
        Err(error_from_status(stub.target, status, &text))
    }
}

/// Posts `call` to the object through `js_call` (one of stubs.js's call functions): the answer's
/// status and its second part (the body's text, or the response itself for a headers-first call).
async fn send_call<C: ObjectCall>(
    stub: &ObjectStub,
    call: &C,
    js_call: fn(&JsValue, &str, &str, &str, String) -> js_sys::Promise,
) -> Result<(u16, JsValue)> {
    let body = serde_json::to_string(call)?;
    let url = format!("{STUB_ORIGIN}{}", C::PATH);
    let answer = JsFuture::from(js_call(&stub.namespace, &stub.name, HEADER_OBJECT_NAME, &url, body))
        .await
        .map_err(|e| upstream(stub.target, js_error(&e)))?;
    let answer: js_sys::Array = answer.unchecked_into();
    Ok((answer.get(0).as_f64().unwrap_or(0.0) as u16, answer.get(1)))
}

/// Makes `call` on an object that answers it headers first (see `crate::headers_first`): resolves once
/// the headers came, to the future of the reply the body ends with. A body that fails, or ends
/// without a reply, is the call's error: whatever the object did is not known to have happened.
pub async fn call_headers_first<C: ObjectCall>(
    stub: &ObjectStub,
    call: &C,
) -> Result<impl Future<Output = Result<C::Reply>> + 'static> {
    let target = stub.target;
    let (status, answer) = send_call(stub, call, call_object_headers_first).await?;
    if !(200..300).contains(&status) {
        return Err(error_from_status(target, status, &answer.as_string().unwrap_or_default()));
    }
    let reading = JsFuture::from(read_body(&answer));
    Ok(async move {
        let text =
            reading.await.map_err(|e| upstream(target, format!("failed after its headers: {}", js_error(&e))))?;
        let text = text.as_string().unwrap_or_default();
        if text.is_empty() {
            return Err(upstream(target, "ended its answer without a reply".into()));
        }
        decode_reply::<C>(&text)
    })
}

/// Opens the WebSocket `upgrade` asks for on the object; returns it with the value of response header
/// `header`, if any.
pub async fn upgrade<U: ObjectUpgrade>(
    stub: &ObjectStub,
    upgrade: &U,
    header: &str,
) -> Result<(WebSocket, Option<String>)> {
    let target = stub.target;
    let url = format!("{STUB_ORIGIN}{}?{}", U::PATH, upgrade.to_query());
    let answer = JsFuture::from(upgrade_object(&stub.namespace, &stub.name, HEADER_OBJECT_NAME, &url, header))
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
        Target::Relay(_) => "relay",
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

/// The answer an object gives a failed call.
pub fn error_response(error: &MeshError) -> worker::Result<Response> {
    let body = serde_json::to_string(&ErrorBody { error: error.to_string() }).unwrap_or_default();
    Ok(Response::ok(body)?.with_status(error.http_status()))
}

/// A control call's POSTed body.
async fn call_body(request: &mut Request) -> Result<String> {
    if request.method() != Method::Post {
        return Err(MeshError::MethodNotAllowed);
    }
    request.text().await.map_err(platform("request body"))
}

/// An object's answer to a control call: reads the POSTed body, runs `dispatch(path, body)` (the
/// object's `dispatch_*_call`), and answers its JSON or the error as a status and body.
pub async fn answer_call<F, Fut>(request: &mut Request, dispatch: F) -> worker::Result<Response>
where
    F: FnOnce(String, String) -> Fut,
    Fut: Future<Output = Result<String>>,
{
    let answer = match call_body(request).await {
        Ok(body) => dispatch(request.path(), body).await,
        Err(error) => Err(error),
    };
    match answer {
        Ok(json) => {
            let headers = worker::Headers::new();
            headers.set("content-type", "application/json")?;
            Ok(Response::ok(json)?.with_headers(headers))
        }
        Err(error) => error_response(&error),
    }
}

/// An object's headers-first answer to call `C`: reads it (a bad call is answered whole, as an error
/// status), then answers `200` with a body whose first read runs `work` (see `bodyOnRead`): the
/// headers go out first, and the body ends with `work`'s reply or fails with its error, so the caller
/// never takes a failure for a success.
pub async fn answer_headers_first<C, F, Fut>(request: &mut Request, work: F) -> worker::Result<Response>
where
    C: ObjectCall,
    F: FnOnce(C) -> Fut,
    Fut: Future<Output = Result<C::Reply>> + 'static,
{
    let call = match call_body(request).await.and_then(|body| decode_call::<C>(&body)) {
        Ok(call) => call,
        Err(error) => return error_response(&error),
    };
    let work = work(call);
    let produce = Closure::once_into_js(move || {
        future_to_promise(async move {
            match work.await.and_then(|reply| encode_reply(&reply)) {
                Ok(text) => Ok(JsValue::from_str(&text)),
                Err(error) => Err(js_sys::Error::new(&error.to_string()).into()),
            }
        })
    });
    let headers = worker::Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(Response::from_body(ResponseBody::Stream(body_on_read(produce)))?.with_headers(headers))
}

/// An upgrade's answer: the 101 with the socket, or the error as a status and body.
pub fn answer_upgrade(result: Result<Response>) -> worker::Result<Response> {
    result.or_else(|error| error_response(&error))
}

/// Reads an upgrade's typed query from the request URL.
pub fn upgrade_request<U: ObjectUpgrade>(request: &Request) -> Result<U> {
    let url = request.url().map_err(platform("url"))?;
    if request.headers().get("upgrade").ok().flatten().as_deref() != Some("websocket") {
        return Err(MeshError::InvalidRequest(format!("{} needs Upgrade: websocket", U::PATH)));
    }
    U::from_query(url.query().unwrap_or_default())
}
