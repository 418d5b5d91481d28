// The worker <-> object protocol as the adapter speaks it. Generated from the Rust definitions
// (src/js_constants.rs); do not edit. Rewrite it with `MESH_UPDATE_GOLDEN=1 cargo test --test js_protocol`.

/** The protocol version every path carries. */
export const PROTOCOL_VERSION = 3;

/** Any host works for a stub URL; it only has to be absolute. */
export const STUB_ORIGIN = "https://mesh";

/** Every call names its object, so a shard reached without its id's name learns its number. */
export const HEADER_OBJECT_NAME = "x-mesh-object";

/** A shard object's name is this prefix and its number. */
export const SHARD_NAME_PREFIX = "shard-";

/** A relay of the fan-out is an object of the shard class named with this prefix and its index. */
export const RELAY_NAME_PREFIX = "relay-";

/** The one coordinator object's name. */
export const COORDINATOR_NAME = "coordinator";

/** Paths of the calls a `SyncLayer` answers (POST, JSON; SEND and RELAY_SEND headers first, their report as the body). */
export const SHARD_PATH = Object.freeze({
  SEND: "/v3/send",
  RELAY_SEND: "/v3/relay-send",
  HAS_STREAM: "/v3/stream/has",
  CLOSE_STREAM: "/v3/stream/close",
  REGISTER_SESSION: "/v3/session/register",
  GET_SESSION: "/v3/session/get",
  UPDATE_SESSION: "/v3/session/update",
  END_SESSION: "/v3/session/end",
  SUBSCRIBE: "/v3/topic/subscribe",
  UNSUBSCRIBE: "/v3/topic/unsubscribe",
  LIST_SUBSCRIBERS: "/v3/topic/subscribers",
  GET_STATUS: "/v3/status",
  GET_METRICS: "/v3/metrics",
  DELIVER_REPLY: "/v3/reply",
  CREATE_TASK: "/v3/task/create",
  GET_TASK: "/v3/task/get",
  ANSWER_TASK: "/v3/task/answer",
  CANCEL_TASK: "/v3/task/cancel",
});

/** Paths of the calls the coordinator answers (POST, JSON). */
export const COORDINATOR_PATH = Object.freeze({
  REPORT: "/v3/report",
  LIST_MEMBERS: "/v3/members",
  ADD_TO_COUNTER: "/v3/counter/add",
  READ_COUNTER: "/v3/counter/get",
  ADD_WORKER_METRICS: "/v3/worker-metrics/add",
  READ_WORKER_METRICS: "/v3/worker-metrics/get",
});

/** A session's stream: a WebSocket upgrade on its shard. */
export const CONNECT_PATH = "/v3/connect";

/** The query keys of a stream's upgrade. */
export const CONNECT_QUERY = Object.freeze({
  SESSION: "session",
  REQUIRE_SESSION: "require_session",
  OWNER: "owner",
  LAST_EVENT_ID: "last_event_id",
  LISTENER: "listener",
  TOPIC: "topic",
  AWAIT_RECORD_MS: "await_record_ms",
});

/** The log levels of `logging/setLevel`, least severe first. */
export const LOG_LEVELS = Object.freeze(["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]);

/** Calls waiting for their headers at once from one invocation (the runtime's limit is 6). */
export const MAX_CONCURRENT_CALLS = 6;

/** The SSE comment a stream is kept alive with. */
export const KEEPALIVE_EVENT = ": keepalive\n\n";

/** The prefix of a JavaScript server's listen stream ids (crate::listen_index). */
export const LISTENER_ID_PREFIX = "listen-";

/** What completes a shard's listen-stream frame into an event whose subscription id is null. */
export const LISTENER_EVENT_NULL_TAIL = "null}}}\n\n";

/** How long a shard waits for a GET's session record that tmcp is still writing (ms). */
export const AWAIT_RECORD_MS = 5000;

