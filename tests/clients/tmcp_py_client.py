"""The official Python SDK client (PyPI `mcp` 2.x, pinned) against the tmcp example on the mesh.

Usage: python tmcp_py_client.py <url>

Three sessions: an announcement reaches each exactly once; `resources/updated` for mesh://counter
reaches exactly the one subscriber; after a session ends (the SDK sends DELETE), a request naming it
gets 404 with the JSON-RPC "Session not found" error. Prints one line per check and
`tmcp-py: N passed, M failed`; exits non-zero on any failure.
"""

import asyncio
import sys
import time

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from checks import Checks, wait_for

URL = sys.argv[1]
COUNTER = "mesh://counter"
# After everything expected has arrived, how long to keep listening for a duplicate.
SETTLE_SECONDS = 0.5
checks = Checks("tmcp-py")
step = checks.step


def recorder():
    seen = {"messages": [], "updates": []}

    async def on_message(message):
        if isinstance(message, types.ServerNotification):
            root = getattr(message, "root", message)
            method = getattr(root, "method", "")
            if method == "notifications/message":
                seen["messages"].append((root.params.data or {}).get("text"))
            elif method == "notifications/resources/updated":
                seen["updates"].append(root.params.uri)

    return seen, on_message


async def main():
    seen = [recorder() for _ in range(3)]
    session_ids = []

    def capture(response):
        sid = response.headers.get("mcp-session-id")
        if sid and sid not in session_ids:
            session_ids.append(sid)

    async def hook(response):
        capture(response)

    http = httpx2.AsyncClient(timeout=30, event_hooks={"response": [hook]})
    first = streamable_http_client(URL, http_client=http)
    async with Client(first, mode="legacy", message_handler=seen[0][1]) as a:
        async with Client(URL, mode="legacy", message_handler=seen[1][1]) as b:
            async with Client(URL, mode="legacy", message_handler=seen[2][1]) as c:
                # The GET streams open in the background after `initialized`.
                await asyncio.sleep(1.0)

                async def broadcast():
                    text = f"tmcp-py-{time.time()}"
                    await a.call_tool("announce", {"text": text})
                    count = lambda: [s["messages"].count(text) for s, _ in seen]
                    await wait_for(lambda: all(n >= 1 for n in count()), f"the announcement everywhere ({count()})")
                    await asyncio.sleep(SETTLE_SECONDS)
                    assert count() == [1, 1, 1], f"deliveries per session: {count()}"

                await step("a_broadcast_reaches_every_session_exactly_once", broadcast)

                async def targeted():
                    await b.subscribe_resource(COUNTER)
                    await c.call_tool("increment", {})
                    count = lambda: [s["updates"].count(COUNTER) for s, _ in seen]
                    await wait_for(lambda: count()[1] >= 1, f"the update to the subscriber ({count()})")
                    await asyncio.sleep(SETTLE_SECONDS)
                    assert count() == [0, 1, 0], f"updates per session: {count()}"

                await step("resources_updated_reaches_exactly_the_subscriber", targeted)

    async def gone():
        assert session_ids, "no session id seen"
        async with httpx2.AsyncClient(timeout=30) as raw:
            response = await raw.post(
                URL,
                headers={
                    "content-type": "application/json",
                    "accept": "application/json, text/event-stream",
                    "mcp-session-id": session_ids[0],
                    "mcp-protocol-version": "2025-06-18",
                },
                json={"jsonrpc": "2.0", "id": 7, "method": "tools/list"},
            )
        assert response.status_code == 404, f"after DELETE: {response.status_code} {response.text}"
        assert response.json()["error"]["code"] == -32001, response.text

    await step("delete_then_404", gone)

    return checks.summary()


sys.exit(asyncio.run(main()))
