// The tmcp adapter's `oauth` option (js/tmcp-mesh/src/auth.js) against a stand-in for the wasm build's
// caller check: node --test. The check itself is the Rust verifier, tested natively and end to end
// (src/auth, tests/clients/oauth_client.mjs); here: what tmcp gets from it, and one check per request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meshOAuthWith } from '../../js/tmcp-mesh/src/auth.js';

function fakeWasm(answer) {
  const calls = [];
  return {
    calls,
    checkCaller: async (env, method, path, host, authorization) => {
      calls.push({ env, method, path, host, authorization });
      return JSON.stringify(answer({ path, authorization }));
    },
  };
}

const request = (path, authorization) =>
  new Request(`http://mcp.example${path}`, {
    method: 'POST',
    headers: authorization ? { authorization, host: 'mcp.example' } : { host: 'mcp.example' },
  });

test('a refused request is answered with the check\'s reply, and tmcp gets no caller', async () => {
  const challenge = 'Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp"';
  const wasm = fakeWasm(() => ({ reply: { status: 401, headers: [['www-authenticate', challenge]], body: '{"error":1}' } }));
  const oauth = meshOAuthWith({ AUTH_ISSUER: 'https://as' }, wasm);
  const refused = request('/mcp');
  const response = await oauth.respond(refused);
  assert.equal(response.status, 401);
  assert.equal(response.headers.get('www-authenticate'), challenge);
  assert.equal(await response.text(), '{"error":1}');
  assert.equal(await oauth.verify(refused), null);
  assert.equal(wasm.calls.length, 1, 'respond and verify share one check');
  assert.deepEqual(wasm.calls[0].env, { AUTH_ISSUER: 'https://as' });
  assert.equal(wasm.calls[0].host, 'mcp.example');
});

test('an accepted caller passes, and tmcp gets it as AuthInfo', async () => {
  const wasm = fakeWasm(() => ({ principal: { id: 'https://as#alice', scopes: ['mcp:call'] } }));
  const oauth = meshOAuthWith({}, wasm);
  const accepted = request('/mcp', 'Bearer abc.def.ghi');
  assert.equal(await oauth.respond(accepted), null);
  assert.deepEqual(await oauth.verify(accepted), { token: 'abc.def.ghi', clientId: 'https://as#alice', scopes: ['mcp:call'] });
  assert.equal(wasm.calls[0].authorization, 'Bearer abc.def.ghi');
});

test('the metadata paths are answered; other paths are not the endpoint\'s', async () => {
  const wasm = fakeWasm(({ path }) => ({ reply: { status: 200, headers: [['content-type', 'application/json']], body: `{"path":"${path}"}` } }));
  const oauth = meshOAuthWith({}, wasm);
  const metadata = await oauth.respond(request('/.well-known/oauth-protected-resource/mcp'));
  assert.deepEqual(await metadata.json(), { path: '/.well-known/oauth-protected-resource/mcp' });
  assert.equal(await oauth.respond(request('/')), null);
  assert.equal(await oauth.verify(request('/health')), null);
  assert.equal(wasm.calls.length, 1);
});
