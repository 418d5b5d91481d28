"""The Python SDK's own OAuth client against the mesh as an OAuth 2.1 resource server: the
client-credentials provider discovers the resource metadata from the 401, gets a token for the
resource from the authorization server (oidc-provider, started by the harness) and calls tools,
in the session era (`legacy`) and the 2026-07-28 era (`auto`).

Usage: python py_oauth_client.py <mcp-url> <issuer> <mode>. Exits non-zero on any failure.
"""

import asyncio
import sys

import httpx2
from mcp import Client
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client

from checks import Checks

URL, ISSUER, MODE = sys.argv[1:4]


class MemoryStorage:
    """Tokens and client information kept for the run."""

    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


async def main():
    checks = Checks(f"py-oauth-{MODE}")
    storage = MemoryStorage()
    provider = ClientCredentialsOAuthProvider(
        server_url=URL,
        storage=storage,
        client_id="mesh-client",
        client_secret="mesh-client-secret",
        scope="mcp:call mesh:announce",
        issuer=ISSUER,
    )
    transport = streamable_http_client(URL, http_client=httpx2.AsyncClient(auth=provider, timeout=30))
    async with Client(transport, mode=MODE) as client:

        async def tools():
            names = [tool.name for tool in (await client.list_tools()).tools]
            assert "announce" in names and "increment" in names, names
            assert storage.tokens is not None, "the provider holds no token"

        async def call():
            result = await client.call_tool("increment", {})
            assert not result.is_error and result.structured_content["value"] >= 1, result
            announced = await client.call_tool("announce", {"text": f"py oauth {MODE}"})
            assert not announced.is_error, announced

        await checks.step("the_sdk_gets_a_token_and_lists_tools", tools)
        await checks.step("calls_tools_with_it", call)
    return checks.summary()


sys.exit(asyncio.run(main()))
