//! The manager API over HTTP (`/mesh/stream`, `/mesh/has`, `/mesh/send`, `/mesh/delete`), behind the
//! admin token, so the end-to-end behavioural suite drives the sharded implementation as the in-memory
//! one is driven natively. Built only with the `test-routes` feature.

use serde::{de::DeserializeOwned, Deserialize};
use worker::{Request, Response};

use super::relay::SseSink;
use super::stubs::platform;
use super::{json, sse_response, DurableMesh};
use crate::error::{MeshError, Result};
use crate::manager::{SessionManager, SessionSink};
use crate::protocol::HasReply;
use crate::sse;

/// Whether `path` is one of these routes.
pub fn serves(path: &str) -> bool {
    matches!(path, "/mesh/stream" | "/mesh/has" | "/mesh/send" | "/mesh/delete")
}

#[derive(Deserialize)]
struct SessionQuery {
    session: String,
}

/// `/mesh/send`'s body: the seed's `send(ids | all, data)`.
#[derive(Deserialize)]
struct SendBody {
    #[serde(default)]
    sessions: Option<Vec<String>>,
    data: String,
}

pub async fn answer(path: &str, request: &mut Request, mesh: DurableMesh) -> Result<Response> {
    match path {
        "/mesh/stream" => {
            let query: SessionQuery = request.query().map_err(|e| MeshError::InvalidRequest(e.to_string()))?;
            let sink = SseSink::new(mesh.config().stream_buffer_bytes);
            sink.write(&sse::encode_comment("connected"));
            let response = sse_response(&sink, None)?;
            mesh.create(&query.session, sink).await?;
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
        "/mesh/delete" => {
            let body: SessionQuery = read_body(request).await?;
            mesh.delete(&body.session).await?;
            json(&serde_json::json!({}))
        }
        _ => Err(MeshError::NotFound),
    }
}

async fn read_body<T: DeserializeOwned>(request: &mut Request) -> Result<T> {
    let text = request.text().await.map_err(platform("request body"))?;
    serde_json::from_str(&text).map_err(|e| MeshError::InvalidRequest(e.to_string()))
}
