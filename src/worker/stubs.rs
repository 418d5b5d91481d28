//! Calling shard and coordinator objects: stub lookup by name, JSON control calls, and the mapping of
//! their error statuses back into `MeshError`.

use serde::{de::DeserializeOwned, Serialize};
use worker::{Env, Headers, Method, Request, RequestInit, Response, Stub};

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

pub fn stub(env: &Env, binding: &str, target: Target) -> Result<Stub> {
    let namespace = env.durable_object(binding).map_err(|e| MeshError::Config {
        var: match target {
            Target::Shard(_) => "SHARD_BINDING",
            Target::Coordinator => "COORDINATOR_BINDING",
        },
        reason: format!("names {binding:?}, which is not a Durable Object binding of this Worker: {e}"),
    })?;
    let name = match target {
        Target::Shard(shard) => shard_name(shard),
        Target::Coordinator => COORDINATOR_NAME.to_owned(),
    };
    namespace.get_by_name(&name).map_err(platform("get_by_name"))
}

/// POSTs `body` as JSON to `path` on the stub and decodes the JSON answer.
pub async fn call<B: Serialize, T: DeserializeOwned>(stub: &Stub, target: Target, path: &str, body: &B) -> Result<T> {
    let text = serde_json::to_string(body)?;
    let headers = Headers::new();
    headers.set("content-type", "application/json").map_err(platform("headers"))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(text.into()));
    let request = Request::new_with_init(&format!("{STUB_ORIGIN}{path}"), &init).map_err(platform("Request::new"))?;
    let mut response = stub.fetch_with_request(request).await.map_err(|e| upstream(target, e.to_string()))?;
    let status = response.status_code();
    let text = response.text().await.map_err(|e| upstream(target, e.to_string()))?;
    if (200..300).contains(&status) {
        serde_json::from_str(&text).map_err(|e| MeshError::Protocol(format!("{target:?} {path}: {e}")))
    } else {
        Err(error_from_status(target, status, &text))
    }
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
    let detail = serde_json::from_str::<ErrorBody>(body).map(|b| b.error).unwrap_or_else(|_| body.chars().take(200).collect());
    match (status, target) {
        (404, _) => MeshError::SessionNotFound,
        (409, _) => MeshError::StreamConflict,
        (503, Target::Shard(shard)) => MeshError::ShardFull { shard },
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

/// Reads a JSON control body, mapping a bad one to a 400.
pub async fn read_json<T: DeserializeOwned>(request: &mut Request) -> Result<T> {
    let text = request.text().await.map_err(platform("request body"))?;
    serde_json::from_str(&text).map_err(|e| MeshError::InvalidRequest(e.to_string()))
}
