// The floor: just enough MCP for examples/probe (initialize, notifications, GET stream, announce,
// resources/subscribe, increment, DELETE), every stream in ONE object, nothing checked or stored.
import { DurableObject } from 'cloudflare:workers';

const COUNTER_URI = 'mesh://counter';
const sse = (message) => 'event: message\ndata: ' + JSON.stringify(message) + '\n\n';
const json = (body, headers = {}) =>
	new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json', ...headers } });
const result = (id, value) => json({ jsonrpc: '2.0', id, result: value });
const floor = (env) => env.FLOOR.getByName('floor');

export class Floor extends DurableObject {
	constructor(ctx, env) {
		super(ctx, env);
		this.subscribers = new Set();
		this.counter = 0;
	}

	async fetch(request) {
		const url = new URL(request.url);
		const session = url.searchParams.get('session');
		switch (url.pathname) {
			case '/connect': {
				const pair = new WebSocketPair();
				this.ctx.acceptWebSocket(pair[1], [session]);
				return new Response(null, { status: 101, webSocket: pair[0] });
			}
			case '/broadcast': {
				const frame = await request.text();
				let delivered = 0;
				for (const ws of this.ctx.getWebSockets()) {
					try {
						ws.send(frame);
						delivered++;
					} catch {}
				}
				return json({ delivered });
			}
			case '/subscribe':
				this.subscribers.add(session);
				return json({});
			case '/increment': {
				const value = ++this.counter;
				const frame = sse({
					jsonrpc: '2.0',
					method: 'notifications/resources/updated',
					params: { uri: COUNTER_URI, _meta: { sent_at_ms: Date.now(), value } },
				});
				for (const id of this.subscribers) for (const ws of this.ctx.getWebSockets(id)) ws.send(frame);
				return json({ value });
			}
			case '/delete':
				this.subscribers.delete(session);
				for (const ws of this.ctx.getWebSockets(session)) ws.close(1000, 'deleted');
				return json({});
		}
		return new Response('not found', { status: 404 });
	}

	webSocketMessage() {}

	webSocketClose(ws) {
		try {
			ws.close(1000, 'closed');
		} catch {}
	}
}

async function post(request, env) {
	const message = await request.json();
	const session = request.headers.get('mcp-session-id');
	if (message.id === undefined) return new Response(null, { status: 202 });
	switch (message.method) {
		case 'initialize': {
			const response = result(message.id, {
				protocolVersion: '2025-11-25',
				capabilities: { tools: {}, resources: { subscribe: true } },
				serverInfo: { name: 'mcp-floor', version: '0.1.0' },
			});
			response.headers.set('mcp-session-id', crypto.randomUUID());
			return response;
		}
		case 'resources/subscribe':
			await floor(env).fetch(`https://floor/subscribe?session=${session}`);
			return result(message.id, {});
		case 'tools/call': {
			if (message.params.name === 'announce') {
				const sent_at_ms = Date.now();
				const frame = sse({
					jsonrpc: '2.0',
					method: 'notifications/message',
					params: {
						level: 'info',
						logger: 'announce',
						data: { text: message.params.arguments.text, sent_at_ms, from: session },
					},
				});
				await floor(env).fetch('https://floor/broadcast', { method: 'POST', body: frame });
				return result(message.id, { content: [{ type: 'text', text: 'announced' }], structuredContent: { sent_at_ms } });
			}
			const { value } = await (await floor(env).fetch('https://floor/increment')).json();
			return result(message.id, { content: [{ type: 'text', text: String(value) }], structuredContent: { value } });
		}
	}
	return result(message.id, {});
}

async function get(request, env) {
	const session = request.headers.get('mcp-session-id');
	const upstream = await floor(env).fetch(`https://floor/connect?session=${session}`, {
		headers: { upgrade: 'websocket' },
	});
	const ws = upstream.webSocket;
	const encoder = new TextEncoder();
	let controller;
	const body = new ReadableStream({
		start(c) {
			controller = c;
		},
		cancel() {
			ws.close(1000, 'sse closed');
		},
	});
	ws.addEventListener('message', (event) => controller.enqueue(encoder.encode(event.data)));
	ws.addEventListener('close', () => {
		try {
			controller.close();
		} catch {}
	});
	ws.accept();
	return new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } });
}

export default {
	async fetch(request, env) {
		if (new URL(request.url).pathname !== '/mcp') return new Response('mcp-floor: /mcp\n');
		switch (request.method) {
			case 'POST':
				return post(request, env);
			case 'GET':
				return get(request, env);
			case 'DELETE':
				await floor(env).fetch(`https://floor/delete?session=${request.headers.get('mcp-session-id')}`);
				return new Response(null, { status: 200 });
		}
		return new Response(null, { status: 405 });
	},
};
