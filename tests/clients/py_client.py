"""The official Python SDK client (PyPI `mcp` 2.x, pinned) against the mesh, in one mode.

Usage: python py_client.py <url> <peer-url> legacy|auto

- legacy: the initialize handshake; list and call tools; subscribe to mesh://counter and receive the
  update on the GET stream; answer an elicitation whose reply is POSTed to the *peer* worker process
  (another isolate) than the one running the tool.
- auto: the client probes server/discover and speaks 2026-07-28; list and call tools; a
  `subscriptions/listen` stream receives the counter update through the mesh; an elicitation is
  answered through an input-required round trip.

Prints one line per check and `py-<mode>: N passed, M failed`; exits non-zero on any failure.
"""

import asyncio
import json
import sys

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from checks import Checks, wait_for

URL, PEER_URL, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
checks = Checks(f"py-{MODE}")
step = checks.step


class ToPeerForReplies(httpx2.AsyncBaseTransport):
    """Sends the client's answers to server requests (JSON-RPC responses) to the peer worker."""

    def __init__(self):
        self.inner = httpx2.AsyncHTTPTransport()
        self.rerouted = 0

    async def handle_async_request(self, request):
        if request.method == "POST":
            body = await request.aread()
            try:
                message = json.loads(body)
            except ValueError:
                message = {}
            if isinstance(message, dict) and "id" in message and "method" not in message:
                self.rerouted += 1
                request = httpx2.Request("POST", PEER_URL, headers=request.headers, content=body)
        return await self.inner.handle_async_request(request)


async def answer_elicitation(context, params):
    return types.ElicitResult(action="accept",
                              content={"username": "grace", "email": "grace@example.com", "name": "Grace"})


async def main():
    updates = []

    async def on_message(message):
        if isinstance(message, types.ServerNotification):
            root = getattr(message, "root", message)
            if getattr(root, "method", "") == "notifications/resources/updated":
                updates.append(root.params.uri)

    reroute = ToPeerForReplies()
    if MODE == "legacy":
        server = streamable_http_client(URL, http_client=httpx2.AsyncClient(transport=reroute, timeout=30))
    else:
        server = URL
    async with Client(server, mode=MODE, elicitation_callback=answer_elicitation, message_handler=on_message) as client:
        async with Client(URL, mode=MODE) as other:

            async def tools():
                listed = await client.list_tools()
                names = [t.name for t in listed.tools]
                assert "increment" in names and "test_simple_text" in names, names
                result = await client.call_tool("test_simple_text", {})
                assert result.content[0].text == "This is a simple text response for testing.", result

            await step("list_and_call_tools", tools)

            async def subscribe():
                if MODE == "legacy":
                    await client.subscribe_resource("mesh://counter")
                    await other.call_tool("increment", {})
                    await wait_for(lambda: "mesh://counter" in updates, "notifications/resources/updated")
                else:
                    async with client.listen(resource_subscriptions=["mesh://counter"]) as subscription:
                        await other.call_tool("increment", {})
                        event = await asyncio.wait_for(subscription.__anext__(), 15)
                        assert "mesh://counter" in repr(event), event

            await step("subscribe_and_receive_update", subscribe)

            async def elicitation():
                tool = "test_elicitation" if MODE == "legacy" else "test_input_required_result_elicitation"
                result = await client.call_tool(tool, {"message": "Who are you?"})
                text = result.content[0].text
                expected = "grace@example.com" if MODE == "legacy" else "Hello, Grace!"
                assert expected in text, text
                if MODE == "legacy":
                    assert reroute.rerouted >= 1, "the elicitation answer did not go through the peer"

            await step("elicitation" + ("_answered_through_another_isolate" if MODE == "legacy"
                                        else "_by_input_required_round_trip"), elicitation)

    return checks.summary()


sys.exit(asyncio.run(main()))
