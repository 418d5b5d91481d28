// tmcp's `oauth` option on the mesh: the MCP endpoint as an OAuth 2.1 resource server, checked by the
// Rust server's own verifier (the wasm build's `meshCheckCaller`: the same AUTH_* vars, the same rules,
// the same per-isolate caches), so a tmcp server writes no audience or signature check of its own.
//
//   const transport = new HttpTransport(server, { oauth: meshOAuth(env), ... });
//
// `respond(request)` answers the protected-resource metadata (RFC 9728) and refuses a request to the
// MCP path without a valid token (401/403 with the challenge, 431, 503); `verify(request)` gives tmcp
// the caller as its `AuthInfo`. With no AUTH_* var set, every request passes.

/**
 * @param {Record<string, unknown>} env the Worker's env (its AUTH_* vars and secrets)
 * @param {{ checkCaller(env: unknown, method: string, path: string, host?: string, authorization?: string): Promise<string> }} wasm
 * @param {{ path?: string }} [options] the MCP endpoint's path (default `/mcp`)
 */
export function meshOAuthWith(env, wasm, { path = '/mcp' } = {}) {
  /** One check per request, shared by `respond` and `verify`. */
  const checked = new WeakMap();
  const check = (request) => {
    let answer = checked.get(request);
    if (!answer) {
      const url = new URL(request.url);
      const header = (name) => request.headers.get(name) ?? undefined;
      answer = wasm
        .checkCaller(env, request.method, url.pathname, header('host') ?? url.host, header('authorization'))
        .then((json) => JSON.parse(json));
      checked.set(request, answer);
    }
    return answer;
  };
  const concerns = (request) => {
    const pathname = new URL(request.url).pathname;
    return pathname === path || pathname.startsWith('/.well-known/oauth-protected-resource');
  };
  return {
    /** A response for tmcp to send instead of handling the request, or null. */
    async respond(request) {
      if (!concerns(request)) return null;
      const { reply } = await check(request);
      if (!reply) return null;
      return new Response(reply.body || null, { status: reply.status, headers: reply.headers });
    },
    /** tmcp's `AuthInfo` of the caller, or null when authentication is off. */
    async verify(request) {
      if (!concerns(request)) return null;
      const { principal } = await check(request);
      if (!principal) return null;
      const token = (request.headers.get('authorization') ?? '').replace(/^bearer\s+/i, '');
      return { token, clientId: principal.id, scopes: principal.scopes ?? [] };
    },
  };
}
