// The worker <-> object protocol, as the adapter speaks it: the paths and header of src/protocol.rs
// (protocol version 2). tests/js_protocol.rs checks these strings against the Rust constants, so a
// change on either side fails `make test` instead of a deployment.

/** Any host works for a stub URL; it only has to be absolute. */
export const STUB_ORIGIN = "https://mesh";

/** Every call names its object, so a shard reached without its id's name learns its number. */
export const HEADER_OBJECT_NAME = "x-mesh-object";

/** The name a shard object is addressed by: `shard-<n>`. */
export const SHARD_NAME_PREFIX = "shard-";

/** The one coordinator object's name. */
export const COORDINATOR_NAME = "coordinator";

/** Paths served by a `SyncLayer` shard. */
export const SHARD_PATH = Object.freeze({
  CONNECT: "/v2/connect",
  SEND: "/v1/send",
  HAS: "/v1/has",
  DELETE: "/v1/delete",
  SESSION_REGISTER: "/v1/session/register",
  SESSION_GET: "/v1/session/get",
  SESSION_UPDATE: "/v1/session/update",
  SESSION_END: "/v1/session/end",
  TOPIC_SUBSCRIBE: "/v1/topic/subscribe",
  TOPIC_UNSUBSCRIBE: "/v1/topic/unsubscribe",
  TOPIC_SUBSCRIBERS: "/v1/topic/subscribers",
  STATUS: "/v1/status",
});

/** Paths served by the coordinator. */
export const COORDINATOR_PATH = Object.freeze({
  MEMBERS: "/v1/members",
});

/** Calls in flight at once from one invocation (the runtime allows 6 open connections). */
export const MAX_CONCURRENT_CALLS = 6;
