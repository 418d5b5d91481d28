// The public API of @mcp-mesh/tmcp (src/index.js): tmcp's two session managers on the sharded mesh,
// `respond` around tmcp's transport, the OAuth option, and the two Durable Object classes a Worker
// must export.

/** What a send reached: streams written, sockets that failed, targeted sessions with no stream. */
export interface SendReport {
  delivered: number;
  failed: number;
  missing: number;
}

/** One shard's live view of itself. */
export interface ShardStatus {
  shard: number;
  sessions: number;
  registered: number;
  instance: string;
}

/** A failed call to a shard or the coordinator: `status` is the object's HTTP status. */
export class MeshCallError extends Error {
  constructor(status: number, message: string);
  readonly status: number;
}

/**
 * tmcp's `StreamSessionManager`: each session's GET stream is a hibernatable WebSocket into the
 * `SyncLayer` shard its id hashes to.
 */
export class MeshStreamSessionManager {
  /** @param binding the `SyncLayer` binding; defaults to `SHARD_BINDING` ("TMCP_DURABLE_OBJECT"). */
  constructor(binding?: string);
  /** Opens `id`'s stream on its shard and relays it into `controller` (409 if one is open, 503 when full). */
  create(id: string, controller: ReadableStreamDefaultController): Promise<void>;
  /** A GET resumed after `lastEventId`: the shard replays what the client missed. */
  resume(id: string, lastEventId: string): Promise<Response>;
  /** Closes `id`'s stream. */
  delete(id: string): Promise<void>;
  /** Whether `id` has a live stream. */
  has(id: string): Promise<boolean>;
  /** Sends a framed SSE event to `sessions`, or to every session when `undefined`. */
  send(sessions: string[] | undefined, data: string): Promise<SendReport>;
  /** Every shard's status. */
  status(): Promise<ShardStatus[]>;
}

/**
 * The stream manager for `@tmcp/transport-sse`: its GET stream opens the session (no record needed
 * yet), and responses reach it through the session's shard from any isolate.
 */
export class MeshSseStreamSessionManager extends MeshStreamSessionManager {}

/** tmcp's `InfoSessionManager`: session info in the session's shard, subscriptions in the topic's. */
export class MeshInfoSessionManager {
  /** @param binding the `SyncLayer` binding, as for `MeshStreamSessionManager`. */
  constructor(binding?: string);
  getClientInfo(id: string): Promise<unknown>;
  getClientCapabilities(id: string): Promise<unknown>;
  getLogLevel(id: string): Promise<string | undefined>;
  setClientInfo(id: string, clientInfo: unknown): void;
  setClientCapabilities(id: string, capabilities: unknown): void;
  setLogLevel(id: string, level: string): void;
  getSubscriptions(uri: string): Promise<string[]>;
  addSubscription(id: string, uri: string): void;
  removeSubscription(id: string, uri: string): void;
  delete(id: string): void;
  /** Whether a session with this id exists. */
  exists(id: string): Promise<boolean>;
}

/**
 * tmcp's `SubscriptionManager` (the HTTP transport's `subscriptionManager` option): a
 * `subscriptions/listen` stream served by one isolate hears the `changed()` notifications of every
 * isolate, through the shards.
 */
export class MeshSubscriptionManager {
  /** @param binding the `SyncLayer` binding, as for `MeshStreamSessionManager`. */
  constructor(binding?: string);
  create(
    subscription: { id: string | number; origin: string; filters: Record<string, unknown> },
    callbacks: {
      acknowledge(): void | Promise<void>;
      send(notification: unknown): void | Promise<void>;
      close(reason: "closed" | "cancelled"): void | Promise<void>;
    },
  ): Promise<boolean>;
  send(notification: unknown): Promise<void>;
  close(id: string | number, origin: string, reason: "closed" | "cancelled"): Promise<boolean>;
  closeAll(origin?: string, reason?: "closed" | "cancelled"): Promise<void>;
}

/** What `respond` needs of tmcp's transport. */
export interface Respondable {
  respond(request: Request): Promise<Response | null>;
}

/**
 * `transport.respond(request)` plus 404 for an unknown session, responses held until the session
 * writes they caused have landed, and (given `streams`) a GET with `Last-Event-ID` resumed.
 */
export function respond(
  transport: Respondable,
  request: Request,
  info: MeshInfoSessionManager,
  streams?: MeshStreamSessionManager,
): Promise<Response | null>;

/** The 404 with JSON-RPC error -32001 MCP clients expect for an unknown session. */
export function sessionNotFound(): Response;

/** tmcp's `oauth` option: the endpoint as an OAuth 2.1 resource server with the mesh's verifier. */
export function meshOAuth(
  env?: Record<string, unknown>,
  options?: { path?: string },
): {
  respond(request: Request): Promise<Response | null>;
  verify(request: Request): Promise<{ token: string; clientId: string; scopes: string[] } | null>;
};

/** The shard Durable Object class; export it from your Worker and bind it (`TMCP_DURABLE_OBJECT`). */
export class SyncLayer {}
/** The coordinator Durable Object class; export it and bind it (`MESH_COORDINATOR`). */
export class Coordinator {}
