// The tmcp example on the mesh: loadtest/baseline/src/index.js (the seed's design, every session in
// ONE Durable Object, session info in KV) with its session managers swapped for @mcp-mesh/tmcp.
// Sessions spread over SHARD_COUNT `SyncLayer` shards; session info and resource subscriptions live
// in the shards' SQLite. The lines that differ from the baseline are marked `mesh:`. The tools keep
// the contract of the mesh's reference server: `announce {text}` and `increment {}` on `mesh://counter`.
import { McpServer } from 'tmcp';
import { ValibotJsonSchemaAdapter } from '@tmcp/adapter-valibot';
import { HttpTransport } from '@tmcp/transport-http';
// mesh: the managers (streams, session info, listen subscriptions), the 404/consistency wrapper of
// transport.respond, and the two object classes.
import {
	MeshStreamSessionManager,
	MeshInfoSessionManager,
	MeshSubscriptionManager,
	respond,
	meshOAuth,
} from '@mcp-mesh/tmcp';
export { SyncLayer, Coordinator } from '@mcp-mesh/tmcp';
import { DurableObject, env } from 'cloudflare:workers';
import * as v from 'valibot';

// mesh: the baseline kept its counter in its one SyncLayer; here it has an object of its own.
const COUNTER_BINDING = 'COUNTER';
const COUNTER_NAME = 'counter';
const COUNTER_URI = 'mesh://counter';
const MAX_ANNOUNCE_BYTES = 64 * 1024;

/** The deployment-wide counter behind `increment` and `mesh://counter`. */
export class Counter extends DurableObject {
	async increment() {
		const value = ((await this.ctx.storage.get('counter')) ?? 0) + 1;
		await this.ctx.storage.put('counter', value);
		return value;
	}

	async readCounter() {
		return (await this.ctx.storage.get('counter')) ?? 0;
	}
}

const sessionManager = {
	// mesh: were DurableObjectStreamSessionManager and KVInfoSessionManager.
	streams: new MeshStreamSessionManager(),
	info: new MeshInfoSessionManager(),
};

const counter = () => env[COUNTER_BINDING].getByName(COUNTER_NAME);

/** @param {unknown} message */
const sse = (message) => 'event: message\ndata: ' + JSON.stringify(message) + '\n\n';

const server = new McpServer(
	{
		name: 'mcp-tmcp-mesh',
		version: '0.1.0',
		description: 'tmcp + @mcp-mesh/tmcp (sessions sharded over SyncLayer objects)',
	},
	{
		adapter: new ValibotJsonSchemaAdapter(),
		capabilities: {
			tools: {},
			resources: { subscribe: true },
			logging: {},
		},
		instructions:
			'Call `announce` to broadcast to every session; subscribe to mesh://counter and call `increment`.',
	},
);

server.tool(
	{
		name: 'announce',
		description: 'Broadcasts a notifications/message with the text to every connected session',
		schema: v.object({ text: v.pipe(v.string(), v.description('What to announce')) }),
	},
	async ({ text }) => {
		if (new TextEncoder().encode(text).length > MAX_ANNOUNCE_BYTES) {
			return tool_error(`"text" is longer than ${MAX_ANNOUNCE_BYTES} bytes`);
		}
		const sent_at_ms = Date.now();
		// tmcp's server.log() only writes to the calling request's own POST stream, so the broadcast
		// goes through the stream manager exactly as the transport broadcasts list_changed
		// notifications: streams.send(undefined, ...) -> SyncLayer.broadcast -> every session's socket.
		await sessionManager.streams.send(
			undefined,
			sse({
				jsonrpc: '2.0',
				method: 'notifications/message',
				params: {
					level: 'info',
					logger: 'announce',
					data: { text, sent_at_ms, from: server.ctx.sessionId },
				},
			}),
		);
		return {
			content: [{ type: 'text', text: `announced: ${text}` }],
			structuredContent: { sent_at_ms },
		};
	},
);

server.tool(
	{
		name: 'increment',
		description: 'Increments mesh://counter and notifies its subscribers',
	},
	async () => {
		const value = await counter().increment();
		if (env.INCREMENT_NOTIFY === 'changed') {
			// The seed's own path: tmcp's broadcast listener looks the subscribers up in KV and sends
			// through the Durable Object after this tool has returned, with nothing keeping the
			// invocation alive for it.
			server.changed('resource', COUNTER_URI);
			return {
				content: [{ type: 'text', text: String(value) }],
				structuredContent: { value },
			};
		}
		// Default: the same two steps the transport's broadcast listener does (KV subscriber lookup,
		// one send through the Durable Object), awaited before the tool returns, so the send can't be
		// dropped when the response ends.
		const subscribers = await sessionManager.info.getSubscriptions(COUNTER_URI);
		if (subscribers.length > 0) {
			await sessionManager.streams.send(
				subscribers,
				sse({
					jsonrpc: '2.0',
					method: 'notifications/resources/updated',
					params: { uri: COUNTER_URI, _meta: { sent_at_ms: Date.now(), value } },
				}),
			);
		}
		return {
			content: [{ type: 'text', text: String(value) }],
			structuredContent: { value, subscribers: subscribers.length },
		};
	},
);

server.resource(
	{
		name: 'counter',
		description: 'A deployment-wide counter; subscribe to be told when it changes',
		uri: COUNTER_URI,
		mimeType: 'text/plain',
	},
	async (uri) => ({
		contents: [{ uri, mimeType: 'text/plain', text: String(await counter().readCounter()) }],
	}),
);

/** @param {string} text */
function tool_error(text) {
	return { isError: true, content: [{ type: 'text', text }] };
}

const transport = new HttpTransport(server, {
	path: '/mcp',
	sessionManager,
	// mesh: `subscriptions/listen` streams hear changes made on any isolate (was in-memory, one isolate).
	subscriptionManager: new MeshSubscriptionManager(),
	// No origin or host restrictions: the load generator talks to 127.0.0.1.
	allowedOrigins: true,
	// mesh: with AUTH_ISSUER set, an OAuth 2.1 resource server checked by the mesh's own verifier.
	...(env.AUTH_ISSUER ? { oauth: meshOAuth(env) } : {}),
});

export default {
	/**
	 * @param {Request} request
	 */
	async fetch(request) {
		// mesh: shard occupancy for operators and the tests, behind MESH_ADMIN_TOKEN as in the Rust Worker.
		if (new URL(request.url).pathname === '/mesh/status') return status(request);
		// mesh: was transport.respond(request).
		const response = await respond(transport, request, sessionManager.info, sessionManager.streams);
		return response ?? new Response('Not found', { status: 404 });
	},
};

/** @param {Request} request */
async function status(request) {
	const token = env.MESH_ADMIN_TOKEN;
	if (!token) return new Response('Not found', { status: 404 });
	if (request.headers.get('authorization') !== `Bearer ${token}`) {
		return new Response('Unauthorized', { status: 401 });
	}
	return Response.json({ shards: await sessionManager.streams.status() });
}
