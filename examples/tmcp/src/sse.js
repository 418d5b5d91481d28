// The tmcp example's tools on tmcp's SSE transport (@tmcp/transport-sse: the 2024-11-05 HTTP+SSE
// protocol: GET /sse opens the session's stream, the client POSTs to /message?session_id=..., and
// every response travels over the stream). On the mesh, the stream is a socket into the session's
// shard, so a POST received by any isolate answers through that shard. The lines that make it run on
// the mesh are marked `mesh:`, as in src/index.js.
import { McpServer } from 'tmcp';
import { ValibotJsonSchemaAdapter } from '@tmcp/adapter-valibot';
import { SseTransport } from '@tmcp/transport-sse';
// mesh: the SSE stream manager (its stream opens the session), the info manager and the wrapper.
import { MeshSseStreamSessionManager, MeshInfoSessionManager, respond } from '@mcp-mesh/tmcp';
export { SyncLayer, Coordinator } from '@mcp-mesh/tmcp';
export { Counter } from './index.js';
import { env } from 'cloudflare:workers';
import * as v from 'valibot';

const COUNTER_URI = 'mesh://counter';

const streams = new MeshSseStreamSessionManager();
const info = new MeshInfoSessionManager();

const server = new McpServer(
	{ name: 'mcp-tmcp-mesh-sse', version: '0.1.0', description: 'tmcp on the SSE transport, sessions on the mesh' },
	{
		adapter: new ValibotJsonSchemaAdapter(),
		capabilities: { tools: {}, resources: { subscribe: true }, logging: {} },
	},
);

/** @param {unknown} message */
const sse = (message) => 'event: message\ndata: ' + JSON.stringify(message) + '\n\n';

server.tool(
	{
		name: 'announce',
		description: 'Broadcasts a notifications/message with the text to every connected session',
		schema: v.object({ text: v.string() }),
	},
	async ({ text }) => {
		const message = { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: { text } } };
		const report = await streams.send(undefined, sse(message));
		return { content: [{ type: 'text', text: `announced to ${report.delivered}` }] };
	},
);

server.tool(
	{ name: 'increment', description: 'Increments mesh://counter and notifies its subscribers' },
	async () => {
		const value = await env.COUNTER.getByName('counter').increment();
		const subscribers = await info.getSubscriptions(COUNTER_URI);
		if (subscribers.length > 0) {
			const update = { jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: COUNTER_URI } };
			await streams.send(subscribers, sse(update));
		}
		return { content: [{ type: 'text', text: String(value) }], structuredContent: { value } };
	},
);

server.resource(
	{ name: 'counter', description: 'A deployment-wide counter', uri: COUNTER_URI, mimeType: 'text/plain' },
	async (uri) => ({
		contents: [{ uri, mimeType: 'text/plain', text: String(await env.COUNTER.getByName('counter').readCounter()) }],
	}),
);

const transport = new SseTransport(server, {
	path: '/sse',
	endpoint: '/message',
	sessionManager: { streams, info },
});

export default {
	/** @param {Request} request */
	async fetch(request) {
		// mesh: was transport.respond(request).
		const response = await respond(transport, request, info, streams);
		return response ?? new Response('Not found', { status: 404 });
	},
};
