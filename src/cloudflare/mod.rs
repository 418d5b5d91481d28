//! The Cloudflare Workers glue, and the only code that touches the runtime (wasm32 only): the fetch entry, the
//! `SyncLayer` shard and `Coordinator` objects, the Durable Object implementation of the manager,
//! and the SSE relay.
//!
//! Routes:
//! - `/mcp`: the MCP Streamable HTTP endpoint (POST, GET, DELETE).
//! - `/mesh/status`: shard occupancy and the settings in force (bearer `MESH_ADMIN_TOKEN`; 404 when the
//!   secret is not set).
//! - `/mesh/metrics`: Prometheus text exposition of the mesh's metrics (same token).
//! - `/mesh/`: the operators' dashboard page (no token to load it; it asks for one).
//! - With the `test-routes` feature only: `/mesh/stream`, `/mesh/has`, `/mesh/send`, `/mesh/delete`,
//!   the manager API over HTTP behind the same token, so the behavioural suite drives the sharded
//!   implementation end to end; and `/mesh/register`, `/mesh/hold-sends`, `/mesh/analytics-written`
//!   (see `test_routes`).

// `#[durable_object]` adds the runtime's entry points (`new`, `fetch`, `alarm`, `websocket_*`) as
// undocumented pub methods in an expansion no attribute of ours reaches; the structs, the only other
// pub items of these modules, are documented.
mod auth;
#[allow(missing_docs)]
mod coordinator;
mod exports;
mod fanout_calls;
mod log;
mod mesh;
mod metrics;
mod relay;
mod settings;
#[allow(missing_docs)]
mod shard;
mod sql;
mod stubs;
#[cfg(feature = "test-routes")]
mod test_routes;
mod timer;

use std::rc::Rc;

use futures::StreamExt;
use serde::Serialize;
#[cfg(feature = "reference-server")]
use worker::{event, Context};
use worker::{js_sys, Env, Headers, Method, Request, Response};

use crate::auth::PROTECTED_RESOURCE_PATH;
use crate::config::MeshConfig;
use crate::error::{MeshError, Result};
use crate::log_event::{Level, LogEvent};
use crate::manager::SessionSink;
use crate::mcp::backend::Broker;
use crate::mcp::endpoint::{handle, protected_resource};
use crate::mcp::http::{HttpReply, HttpRequest, Outcome, HEADER_SESSION_ID};
use crate::mcp::server::McpServer;
use crate::metrics::analytics::DataPoint;
use crate::metrics::exposition::{self, MeshSnapshot};
use crate::metrics::route_label;
use crate::sse;
use relay::SseSink;
use stubs::platform;

pub use coordinator::Coordinator;
pub use mesh::DurableMesh;
pub use shard::SyncLayer;

/// The reference server's Worker entry (with the `conformance` feature, the server the conformance
/// suites need). Without the `reference-server` feature there is no entry: write yours around [`serve`].
#[cfg(feature = "reference-server")]
#[event(fetch)]
async fn fetch(request: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    serve(request, env, REFERENCE_BUILD).await
}

/// How the reference Worker builds its server (the shards use it too, see [`task_server`]).
#[cfg(all(feature = "reference-server", feature = "conformance"))]
const REFERENCE_BUILD: BuildServer = crate::mcp::reference::conformance_server::<DurableMesh>;
#[cfg(all(feature = "reference-server", not(feature = "conformance")))]
const REFERENCE_BUILD: BuildServer = crate::mcp::reference::reference_server::<DurableMesh>;

/// Serves the mesh's routes (`/mcp`, `/mesh/*`) with the MCP server `build` makes. `build` runs once
/// per isolate: the server and its tool registry are kept for the isolate's later requests, as is
/// the configuration (vars do not change while an isolate lives), so pass the same `build` always.
pub async fn serve(request: Request, env: Env, build: impl Fn() -> McpServer<DurableMesh>) -> worker::Result<Response> {
    let started = js_sys::Date::now();
    let label = route_label(request.method().as_ref(), &request.path());
    let response = match route(request, env.clone(), &build).await {
        Ok(response) => Ok(response),
        Err(error) => {
            if error.http_status() >= 500 {
                let failed = LogEvent::new(Level::Error, "request_failed", error.to_string()).kind(label);
                log::emit(&failed.duration_ms(js_sys::Date::now() - started));
            }
            to_response(HttpReply::error(&error, None))
        }
    };
    let now = js_sys::Date::now();
    let status = response.as_ref().map_or(500, Response::status_code);
    metrics::count(|counters| counters.count_request(label, status, now - started));
    metrics::write_point(&env, DataPoint::request(label, status, now - started));
    if let Ok(config) = settings::load(&env) {
        metrics::flush_if_due(&DurableMesh::new(env, config), now).await;
    }
    response
}

thread_local! {
    /// Per isolate: the built server (see [`serve`]).
    static SERVER: std::cell::RefCell<Option<Rc<McpServer<DurableMesh>>>> = const { std::cell::RefCell::new(None) };
}

fn server(build: &dyn Fn() -> McpServer<DurableMesh>) -> Rc<McpServer<DurableMesh>> {
    SERVER.with(|cached| cached.borrow_mut().get_or_insert_with(|| Rc::new(build())).clone())
}

/// How a server is built (see [`register_server`]).
pub type BuildServer = fn() -> McpServer<DurableMesh>;

thread_local! {
    /// Per isolate: how to build the server where no request built it yet (see [`register_server`]).
    static REGISTERED: std::cell::Cell<Option<BuildServer>> = const { std::cell::Cell::new(None) };
}

/// Registers how to build the MCP server, for the shards: a task's handler runs in the shard object
/// that keeps the task, in an isolate that may never have served a request. Call it from your
/// `#[event(start)]` with the `build` you pass to [`serve`] when any tool runs as a task (the
/// reference server needs none).
pub fn register_server(build: BuildServer) {
    REGISTERED.with(|registered| registered.set(Some(build)));
}

/// The server a shard runs tasks with: the one this isolate built, else a registered build.
pub(crate) fn task_server() -> Option<Rc<McpServer<DurableMesh>>> {
    if let Some(built) = SERVER.with(|cached| cached.borrow().clone()) {
        return Some(built);
    }
    #[cfg(feature = "reference-server")]
    let fallback = Some(REFERENCE_BUILD);
    #[cfg(not(feature = "reference-server"))]
    let fallback: Option<BuildServer> = None;
    let build = REGISTERED.with(std::cell::Cell::get).or(fallback)?;
    Some(server(&build))
}

async fn route(mut request: Request, env: Env, build: &dyn Fn() -> McpServer<DurableMesh>) -> Result<Response> {
    let path = request.path();
    let config = settings::load(&env)?;
    match path.as_str() {
        "/mcp" => mcp(&mut request, DurableMesh::new(env, config), server(build)).await,
        "/" => Response::ok("mcp-mesh: the MCP endpoint is /mcp\n").map_err(platform("response")),
        _ if path.starts_with(PROTECTED_RESOURCE_PATH) => {
            let server = server(build);
            let endpoint = auth::endpoint_config(&config, || server.scopes());
            let core_request = to_core_request(&mut request, 0).await?;
            to_response(protected_resource(&core_request, &endpoint)).map_err(platform("response"))
        }
        "/mesh/" if config.admin_token.is_some() => dashboard(&request),
        _ if path.starts_with("/mesh/") => {
            check_admin(&request, &config)?;
            admin(&path, &mut request, DurableMesh::new(env, config)).await
        }
        _ => Err(MeshError::NotFound),
    }
}

async fn mcp(request: &mut Request, mesh: DurableMesh, server: Rc<McpServer<DurableMesh>>) -> Result<Response> {
    let endpoint = auth::endpoint_config(mesh.config(), || server.scopes());
    let core_request = to_core_request(request, endpoint.max_body_bytes).await?;
    let mesh = Rc::new(mesh);
    match handle(server, mesh.clone(), &core_request, &endpoint).await {
        Outcome::Reply(reply) => to_response(reply).map_err(platform("response")),
        Outcome::OpenStream { session, last_event_id, owner } => {
            let sink = SseSink::new(mesh.config().stream_buffer_bytes);
            // The retry hint goes first so a client reconnects at the pace we choose.
            sink.write(&sse::encode_retry(u64::from(mesh.config().sse_retry_ms)));
            mesh.connect(&session, Some(owner.as_deref()), last_event_id.as_deref(), &sink).await?;
            sse_response(&sink, Some(&session))
        }
        Outcome::Listen { listener, subscription_id, filter, resource_uris, first_event } => {
            // Resource subscriptions go into the topic index before the stream opens, so an update
            // sent after the acknowledgement cannot miss it.
            for uri in &resource_uris {
                mesh.subscribe(uri, &listener).await?;
            }
            let sink = SseSink::new(mesh.config().stream_buffer_bytes);
            sink.write(&first_event);
            mesh.connect_listener(&listener, filter, subscription_id, &resource_uris, &sink).await?;
            sse_response(&sink, None)
        }
        Outcome::Stream { headers, body } => {
            let response = Response::from_stream(body.map(|chunk| Ok::<Vec<u8>, worker::Error>(chunk.into_bytes())))
                .map_err(platform("from_stream"))?;
            Ok(response.with_headers(headers_from(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())))?))
        }
    }
}

/// Reads a runtime request into the core's plain form, refusing oversized bodies before reading
/// them when `Content-Length` says so.
async fn to_core_request(request: &mut Request, limit: u32) -> Result<HttpRequest> {
    let mut core = HttpRequest::new(request.method().as_ref(), &request.path());
    for (name, value) in request.headers().entries() {
        core.headers.push((name.to_ascii_lowercase(), value));
    }
    crate::mcp::http::check_declared_length(&core, limit)?;
    if request.method() == Method::Post {
        core.body = request.bytes().await.map_err(platform("request body"))?;
        crate::mcp::http::check_body_length(&core.body, limit)?;
    }
    Ok(core)
}

fn headers_from<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Headers> {
    let headers = Headers::new();
    for (name, value) in pairs {
        headers.set(name, value).map_err(platform("headers"))?;
    }
    Ok(headers)
}

fn to_response(reply: HttpReply) -> worker::Result<Response> {
    let headers = headers_from(reply.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    let response = if reply.body.is_empty() { Response::empty()? } else { Response::ok(reply.body)? };
    Ok(response.with_status(reply.status).with_headers(headers))
}

/// A GET or listen stream's response: the core's SSE headers, plus the session id on GET streams.
fn sse_response(sink: &SseSink, session: Option<&str>) -> Result<Response> {
    let mut pairs = crate::mcp::http::sse_headers();
    if let Some(session) = session {
        pairs.push((HEADER_SESSION_ID.to_owned(), session.to_owned()));
    }
    let headers = headers_from(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))?;
    Ok(worker::ResponseBuilder::new().with_headers(headers).stream(sink.readable()))
}

fn check_admin(request: &Request, config: &MeshConfig) -> Result<()> {
    config.authorize_admin(request.headers().get("authorization").ok().flatten().as_deref())
}

#[derive(Serialize)]
struct StatusShard {
    shard: u32,
    sessions: u64,
    registered: u64,
    reported: u64,
    instance: String,
    tasks_running: u64,
}

#[derive(Serialize)]
struct Status {
    shard_count: u32,
    sessions: u64,
    /// The settings in force, secrets left out.
    config: std::collections::BTreeMap<&'static str, String>,
    shards: Vec<StatusShard>,
}

async fn admin(path: &str, request: &mut Request, mesh: DurableMesh) -> Result<Response> {
    match (path, request.method()) {
        ("/mesh/status", Method::Get) => json(&status(&mesh).await?),
        ("/mesh/metrics", Method::Get) => prometheus(&mesh).await,
        #[cfg(feature = "test-routes")]
        (_, Method::Get | Method::Post) if test_routes::serves(path) => test_routes::answer(path, request, mesh).await,
        (_, Method::Get | Method::Post) => Err(MeshError::NotFound),
        _ => Err(MeshError::MethodNotAllowed),
    }
}

/// Membership from the coordinator, live counts from each member shard.
async fn status(mesh: &DurableMesh) -> Result<Status> {
    let members = mesh.members().await?.members;
    let mut shards = Vec::with_capacity(members.len());
    for member in members {
        let live = mesh.shard_status(member.shard).await?;
        shards.push(StatusShard {
            shard: member.shard,
            sessions: live.sessions,
            registered: live.registered,
            reported: member.sessions,
            instance: live.instance,
            tasks_running: live.tasks_running,
        });
    }
    Ok(Status {
        shard_count: mesh.config().shard_count,
        sessions: shards.iter().map(|s| s.sessions).sum(),
        config: mesh.config().public_settings(),
        shards,
    })
}

/// `/mesh/metrics`: this isolate's counts flushed first so they show, then everything aggregated.
async fn prometheus(mesh: &DurableMesh) -> Result<Response> {
    metrics::flush(mesh, js_sys::Date::now()).await?;
    let (worker, shards) = mesh.metrics_snapshot().await?;
    let text =
        exposition::render(&MeshSnapshot { shard_count: mesh.config().shard_count, shards: &shards, worker: &worker });
    let response = Response::ok(text).map_err(platform("response"))?;
    Ok(response
        .with_headers(headers_from([("content-type", exposition::CONTENT_TYPE), ("cache-control", "no-store")])?))
}

/// The operators' page (`dashboard.html`, every byte served from here). It needs no token to load:
/// it asks for the admin token and sends it on its own calls. Only served when the admin routes are on.
fn dashboard(request: &Request) -> Result<Response> {
    if request.method() != Method::Get {
        return Err(MeshError::MethodNotAllowed);
    }
    let headers = headers_from([
        ("content-type", "text/html; charset=utf-8"),
        ("cache-control", "no-store"),
        (
            "content-security-policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; \
             img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ])?;
    let response = Response::ok(include_str!("dashboard.html")).map_err(platform("response"))?;
    Ok(response.with_headers(headers))
}

fn json<T: Serialize>(value: &T) -> Result<Response> {
    Response::from_json(value).map_err(platform("from_json"))
}
