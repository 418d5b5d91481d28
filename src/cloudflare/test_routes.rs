//! The manager API over HTTP (`/mesh/stream`, `/mesh/has`, `/mesh/send`, `/mesh/delete`; and
//! `/mesh/register`, a bare session record, for streams that require one), behind the admin token,
//! so the end-to-end behavioural suite drives the sharded implementation as the in-memory one is
//! driven natively; `/mesh/hold-sends`, which holds or fails the shards' send reports (see
//! `shard::held_sends`); and `/mesh/analytics-written`, the Analytics Engine data points this isolate
//! wrote (the local binding keeps none); `/mesh/tasks-running`, the task handlers running on every
//! shard (members or not). Built only with the `test-routes` feature.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use worker::{Request, Response};

use super::relay::SseSink;
use super::shard::held_sends::{HeldSends, HoldMode, HoldSends};
use super::stubs::platform;
use super::{json, sse_response, DurableMesh};
use crate::error::{MeshError, Result};
use crate::manager::{SessionManager, SessionSink};
use crate::mcp::backend::SessionStore;
use crate::protocol::{HasReply, OpenStream, SessionRecord};
use crate::sse;

/// Whether `path` is one of these routes.
pub fn serves(path: &str) -> bool {
    matches!(
        path,
        "/mesh/stream"
            | "/mesh/has"
            | "/mesh/send"
            | "/mesh/delete"
            | "/mesh/register"
            | "/mesh/hold-sends"
            | "/mesh/analytics-written"
            | "/mesh/tasks-running"
    )
}

#[derive(Deserialize)]
struct SessionQuery {
    session: String,
}

/// `/mesh/stream`'s query: with `await_record_ms`, the stream requires the session's record and
/// waits that long for it (as the tmcp adapter's GET does).
#[derive(Deserialize)]
struct StreamQuery {
    session: String,
    #[serde(default)]
    await_record_ms: Option<u32>,
}

/// `/mesh/send`'s body: the seed's `send(ids | all, data)`.
#[derive(Deserialize)]
struct SendBody {
    #[serde(default)]
    sessions: Option<Vec<String>>,
    data: String,
}

/// `/mesh/hold-sends`'s body: the mode for the listed shards (every shard when absent); with
/// `relays`, the answer also counts what relays 0 to `relays` - 1 relayed.
#[derive(Deserialize)]
struct HoldBody {
    mode: HoldMode,
    #[serde(default)]
    shards: Option<Vec<u32>>,
    #[serde(default)]
    relays: u32,
}

/// `/mesh/hold-sends`'s answer: the shards' counts, and the relays' sends relayed.
#[derive(Serialize, Default)]
struct HoldCounts {
    #[serde(flatten)]
    shards: HeldSends,
    relayed: u64,
}

pub async fn answer(path: &str, request: &mut Request, mesh: DurableMesh) -> Result<Response> {
    match path {
        "/mesh/stream" => {
            let query: StreamQuery = request.query().map_err(|e| MeshError::InvalidRequest(e.to_string()))?;
            let sink = SseSink::new(mesh.config().stream_buffer_bytes);
            sink.write(&sse::encode_comment("connected"));
            let response = sse_response(&sink, None)?;
            match query.await_record_ms {
                None => mesh.create(&query.session, sink).await?,
                Some(await_record_ms) => {
                    let open = OpenStream {
                        session: query.session,
                        require_session: true,
                        await_record_ms,
                        ..Default::default()
                    };
                    mesh.open_stream(open, &sink).await?;
                }
            }
            Ok(response)
        }
        "/mesh/has" => {
            let body: SessionQuery = read_body(request).await?;
            json(&HasReply { has: mesh.has(&body.session).await? })
        }
        "/mesh/send" => {
            let body: SendBody = read_body(request).await?;
            json(&mesh.send(body.sessions.as_deref(), &body.data).await?)
        }
        "/mesh/hold-sends" => {
            let body: HoldBody = read_body(request).await?;
            let shards = body.shards.unwrap_or_else(|| (0..mesh.config().shard_count).collect());
            let mut total = HoldCounts::default();
            for shard in shards {
                let held = mesh.call_shard(shard, &HoldSends { mode: body.mode }).await?;
                total.shards.started += held.started;
                total.shards.held += held.held;
            }
            for relay in 0..body.relays as usize {
                total.relayed += mesh.call_relay(relay, &HoldSends { mode: HoldMode::Release }).await?.started;
            }
            json(&total)
        }
        "/mesh/register" => {
            let body: SessionQuery = read_body(request).await?;
            let record = SessionRecord { protocol_version: "test".into(), ..Default::default() };
            mesh.register_session(&body.session, record).await?;
            json(&serde_json::json!({}))
        }
        "/mesh/delete" => {
            let body: SessionQuery = read_body(request).await?;
            mesh.delete(&body.session).await?;
            json(&serde_json::json!({}))
        }
        "/mesh/analytics-written" => {
            let points: Vec<_> = super::metrics::written_points()
                .into_iter()
                .map(
                    |point| serde_json::json!({ "index": point.index, "blobs": point.blobs, "doubles": point.doubles }),
                )
                .collect();
            json(&points)
        }
        "/mesh/tasks-running" => {
            let mut running = 0;
            for shard in 0..mesh.config().shard_count {
                running += mesh.shard_status(shard).await?.tasks_running;
            }
            json(&serde_json::json!({ "running": running }))
        }
        _ => Err(MeshError::NotFound),
    }
}

async fn read_body<T: DeserializeOwned>(request: &mut Request) -> Result<T> {
    let text = request.text().await.map_err(platform("request body"))?;
    serde_json::from_str(&text).map_err(|e| MeshError::InvalidRequest(e.to_string()))
}
