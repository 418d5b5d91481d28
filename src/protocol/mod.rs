//! The versioned wire protocol between the Worker, the `SyncLayer` shards and the coordinator, as types.
//!
//! Every control call is a type implementing [`ObjectCall`]: it names its path and its reply type, and
//! is POSTed as JSON to a stub (`https://mesh/v3/...`: ids and URIs travel in the body, unescaped). Each
//! object's calls are listed once ([`shard::ShardCalls`], [`coordinator::CoordinatorCalls`]); that list
//! gives the handler trait the object implements, the dispatch from a path to its handler, and the
//! paths the JavaScript side is generated with (`crate::js_constants`), so a call and its handler
//! cannot disagree. The
//! two WebSocket upgrades (a session's stream, a reply waiter) carry typed queries ([`stream`]).
//!
//! Pushes from a shard to the Worker holding a stream are binary WebSocket messages holding the
//! stream's SSE bytes; replies to waiter sockets are JSON [`stream::ShardFrame`]s. Every path and frame
//! carries the protocol version, because during a rollout a new Worker can reach an old object and
//! vice versa: an unknown version is refused (404 on a path, an error on a frame) instead of being
//! misread. Must not touch the runtime.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{MeshError, Result};

pub mod coordinator;
pub mod session;
pub mod shard;
pub mod stream;
pub mod task;

pub use coordinator::*;
pub use session::*;
pub use shard::*;
pub use stream::*;
pub use task::*;

/// The worker↔shard↔coordinator protocol version, carried by every path (`/v3/...`), attachment and
/// waiter frame. Bump it on any incompatible change (3: sends carry JSON-RPC messages that the shard
/// frames, and stream sockets carry their delivery class).
pub const PROTOCOL_VERSION: u32 = 3;

/// Any host works for a stub URL; it only has to be absolute.
pub const STUB_ORIGIN: &str = "https://mesh";

/// The object's name (`shard-N`) on every Worker → object call. A shard knows its number from its id's
/// name; where the runtime does not carry the name (the local dev registry's cross-process proxy
/// addresses objects by id alone), the shard learns it from this header and keeps it.
pub const HEADER_OBJECT_NAME: &str = "x-mesh-object";

/// The name the single coordinator object is addressed by.
pub const COORDINATOR_NAME: &str = "coordinator";

/// WebSocket close code for a normal closure (RFC 6455 §7.4.1): a session's stream ended on purpose.
pub const CLOSE_NORMAL: u16 = 1000;

/// WebSocket close code for "the server hit an error" (RFC 6455 §7.4.1), sent by an object closing a
/// socket whose handler failed.
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;

/// A Worker → object control call: the JSON body POSTed to [`ObjectCall::PATH`], answered with
/// [`ObjectCall::Reply`] (or an [`ErrorBody`] with an error status).
pub trait ObjectCall: Serialize + DeserializeOwned {
    /// The path on the object, versioned.
    const PATH: &'static str;
    /// What the object answers.
    type Reply: Serialize + DeserializeOwned;
}

/// The answer of a call that returns nothing but success: `{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {}

/// An error body any object answers a failed control call with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A human-readable description of the failure.
    pub error: String,
}

/// Reads a call's body; malformed input is the caller's error (400).
pub fn decode_call<C: ObjectCall>(body: &str) -> Result<C> {
    serde_json::from_str(body).map_err(|e| MeshError::InvalidRequest(format!("{}: {e}", C::PATH)))
}

/// Reads an object's answer to call `C`; one this version cannot read is a protocol error.
pub fn decode_reply<C: ObjectCall>(body: &str) -> Result<C::Reply> {
    serde_json::from_str(body).map_err(|e| MeshError::Protocol(format!("{}: {e}", C::PATH)))
}

/// Encodes a handler's answer.
pub fn encode_reply<T: Serialize>(reply: &T) -> Result<String> {
    serde_json::to_string(reply).map_err(|_| MeshError::Protocol("could not encode a reply".into()))
}

/// Declares one object's calls, each once: its type, its reply type and its path. Expands to the
/// [`ObjectCall`] impls, the handler trait the object implements (one method per call), a dispatch
/// function from a path and a body to the handler's encoded answer, and the list of (name, path) the
/// JavaScript constants are generated from.
macro_rules! object_calls {
    (
        $(#[$trait_doc:meta])*
        trait $handler:ident;
        $(#[$dispatch_doc:meta])*
        fn $dispatch:ident;
        $(#[$list_doc:meta])*
        const $list:ident;
        $(
            $(#[$call_doc:meta])*
            $method:ident($call:ty) -> $reply:ty = $path:literal;
        )*
    ) => {
        $(
            impl $crate::protocol::ObjectCall for $call {
                const PATH: &'static str = $path;
                type Reply = $reply;
            }
        )*

        $(#[$trait_doc])*
        #[allow(async_fn_in_trait)]
        pub trait $handler {
            $(
                $(#[$call_doc])*
                async fn $method(&self, call: $call) -> $crate::error::Result<$reply>;
            )*
        }

        $(#[$dispatch_doc])*
        pub async fn $dispatch<H: $handler>(handler: &H, path: &str, body: &str) -> $crate::error::Result<String> {
            $(
                if path == $path {
                    let call: $call = $crate::protocol::decode_call(body)?;
                    return $crate::protocol::encode_reply(&handler.$method(call).await?);
                }
            )*
            Err($crate::error::MeshError::NotFound)
        }

        $(#[$list_doc])*
        pub const $list: &[(&str, &str)] = &[$((stringify!($method), $path)),*];
    };
}
pub(crate) use object_calls;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_unique_and_carries_the_version() {
        let calls = SHARD_CALLS.iter().chain(HEADERS_FIRST_SHARD_CALLS).chain(COORDINATOR_CALLS);
        let mut paths: Vec<&str> = calls.map(|(_, path)| *path).collect();
        paths.extend([OpenStream::PATH, OpenWaiter::PATH]);
        let count = paths.len();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), count, "two calls share a path");
        let prefix = format!("/v{PROTOCOL_VERSION}/");
        for path in paths {
            assert!(path.starts_with(&prefix), "{path} is not under {prefix}");
        }
    }

    #[test]
    fn an_ack_is_an_empty_object() {
        assert_eq!(serde_json::to_string(&Ack {}).unwrap(), "{}");
        assert_eq!(serde_json::from_str::<Ack>(r#"{"ignored":1}"#).unwrap(), Ack {});
    }
}
