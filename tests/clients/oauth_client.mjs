// The mesh as an OAuth 2.1 resource server, against a real authorization server (oauth_server.mjs,
// oidc-provider) started here on <as-port>: discovery from the 401, the TypeScript SDK client getting
// its own token (client credentials) and calling tools, scopes, session binding, every refusal of a
// bad token, a key rotation, and the authorization server going away.
// Usage: node oauth_client.mjs <mcp-url> <as-port> <refetch-ms> [rust|tmcp]. `tmcp` (a tmcp server on
// the mesh with the adapter's `meshOAuth`) runs the steps that do not depend on the Rust server's tools
// and sessions. Exits non-zero on any failure.
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SignJWT, importJWK } from 'jose';
import { startAuthorizationServer } from './oauth_server.mjs';

const [mcpUrl, asPort, refetchMs, mode = 'rust'] = process.argv.slice(2);
if (!mcpUrl || !asPort || !refetchMs) {
  console.error('usage: node oauth_client.mjs <mcp-url> <as-port> <refetch-ms>');
  process.exit(2);
}
const origin = new URL(mcpUrl).origin;
const as = await startAuthorizationServer(Number(asPort));

function check(condition, what) {
  if (!condition) throw new Error(what);
}

const results = [];
const TMCP_STEPS = ['the_resource_metadata_names_the_authorization_server',
  'no_token_is_401_with_a_challenge_pointing_to_the_metadata', 'the_typescript_sdk_discovers_gets_a_token_and_calls_tools',
  'a_token_for_another_resource_is_refused', 'every_forged_or_out_of_date_token_is_refused',
  'an_oversized_authorization_header_is_431'];
async function step(name, body) {
  if (mode === 'tmcp' && !TMCP_STEPS.includes(name)) return;
  try {
    await body();
    results.push([name, null]);
    console.log(`ok   oauth::${name}`);
  } catch (error) {
    results.push([name, error]);
    console.log(`FAIL oauth::${name}: ${error.stack ?? error}`);
  }
}

const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: {
  protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'oauth-e2e', version: '1' } } };

/** A raw POST to the endpoint with `token` (none if null) and extra headers. */
async function post(body, token, headers = {}) {
  const response = await fetch(mcpUrl, {
    method: 'POST',
    headers: {
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
      'mcp-protocol-version': '2025-11-25',
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...headers,
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, challenge: response.headers.get('www-authenticate') ?? '',
           session: response.headers.get('mcp-session-id'), retryAfter: response.headers.get('retry-after'),
           text: await response.text() };
}

/** A token signed with `jwk` (a private JWK) under `header`, with these claims. */
async function mint(jwk, claims, header = {}) {
  const key = await importJWK(jwk, 'RS256');
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'at+jwt', ...header }).sign(key);
}

const now = () => Math.floor(Date.now() / 1000);
const goodClaims = () => ({ iss: as.issuer, aud: mcpUrl, sub: 'forger', exp: now() + 300, iat: now(),
                            scope: 'mcp:call mesh:announce', client_id: 'mesh-client' });
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

await step('the_resource_metadata_names_the_authorization_server', async () => {
  const response = await fetch(`${origin}/.well-known/oauth-protected-resource/mcp`);
  const metadata = await response.json();
  check(response.status === 200, `status ${response.status}`);
  check(response.headers.get('access-control-allow-origin') === '*', 'no CORS for browsers');
  check(metadata.resource === mcpUrl, `resource ${metadata.resource}`);
  check(metadata.authorization_servers?.[0] === as.issuer, JSON.stringify(metadata));
  check(JSON.stringify(metadata.bearer_methods_supported) === '["header"]', JSON.stringify(metadata));
  if (mode === 'rust') check(metadata.scopes_supported?.includes('mesh:announce'), JSON.stringify(metadata));
});

await step('no_token_is_401_with_a_challenge_pointing_to_the_metadata', async () => {
  const reply = await post(initialize, null);
  check(reply.status === 401, `status ${reply.status}`);
  check(reply.challenge.includes(`resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"`), reply.challenge);
  check(!reply.challenge.includes('error='), `a missing token is not an error: ${reply.challenge}`);
});

let meshClient;
await step('the_typescript_sdk_discovers_gets_a_token_and_calls_tools', async () => {
  const provider = new ClientCredentialsProvider({ clientId: 'mesh-client', clientSecret: 'mesh-client-secret',
    scope: 'mcp:call mesh:announce', expectedIssuer: as.issuer });
  meshClient = new Client({ name: 'oauth-e2e', version: '1.0.0' }, { capabilities: {} });
  await meshClient.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
  const tools = (await meshClient.listTools()).tools.map((t) => t.name);
  check(tools.includes('announce') && tools.includes('increment'), `tools: ${tools}`);
  const counted = await meshClient.callTool({ name: 'increment', arguments: {} });
  check(counted.structuredContent?.value >= 1, JSON.stringify(counted));
  const announced = await meshClient.callTool({ name: 'announce', arguments: { text: 'hello from oauth' } });
  check(!announced.isError, JSON.stringify(announced));
});

await step('a_token_without_the_tools_scope_gets_403_naming_it', async () => {
  const token = await as.token('reader', mcpUrl, 'mcp:call');
  const init = await post(initialize, token);
  check(init.status === 200 && init.session, `initialize: ${init.status} ${init.text}`);
  const call = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'announce', arguments: { text: 'x' } } };
  const reply = await post(call, token, { 'mcp-session-id': init.session });
  check(reply.status === 403, `status ${reply.status} ${reply.text}`);
  check(reply.challenge.includes('error="insufficient_scope"') && reply.challenge.includes('scope="mesh:announce"'),
        reply.challenge);
  const allowed = { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'increment', arguments: {} } };
  const ok = await post(allowed, token, { 'mcp-session-id': init.session });
  check(ok.status === 200 && !ok.text.includes('"error"'), `increment: ${ok.status} ${ok.text}`);
});

await step('a_session_belongs_to_its_principal_another_gets_404', async () => {
  const reader = await as.token('reader', mcpUrl, 'mcp:call');
  const init = await post(initialize, reader);
  const other = await as.token('mesh-client', mcpUrl, 'mcp:call mesh:announce');
  const list = { jsonrpc: '2.0', id: 4, method: 'tools/list' };
  const reply = await post(list, other, { 'mcp-session-id': init.session });
  check(reply.status === 404 && reply.text.includes('-32001'), `status ${reply.status} ${reply.text}`);
  const own = await post(list, reader, { 'mcp-session-id': init.session });
  check(own.status === 200, `the owner: ${own.status}`);
});

await step('a_task_belongs_to_its_principal_another_gets_not_found', async () => {
  const owner = await as.token('reader', mcpUrl, 'mcp:call');
  const other = await as.token('mesh-client', mcpUrl, 'mcp:call mesh:announce');
  const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } } };
  const stateless = (method, params, token, name) => post(
    { jsonrpc: '2.0', id: 7, method, params: { ...params, _meta: meta } }, token,
    { 'mcp-protocol-version': '2026-07-28', 'mcp-method': method, ...(name ? { 'mcp-name': name } : {}) });
  const created = JSON.parse((await stateless('tools/call', { name: 'countdown', arguments: { seconds: 30 } }, owner,
    'countdown')).text);
  const taskId = created.result?.taskId;
  check(taskId && created.result.resultType === 'task', `created: ${JSON.stringify(created)}`);
  for (const method of ['tasks/get', 'tasks/cancel', 'tasks/update']) {
    const foreign = JSON.parse((await stateless(method, { taskId }, other, taskId)).text);
    check(foreign.error?.code === -32602, `${method} by another principal: ${JSON.stringify(foreign)}`);
  }
  const own = JSON.parse((await stateless('tasks/get', { taskId }, owner, taskId)).text);
  check(own.result?.status === 'working', `its owner: ${JSON.stringify(own)}`);
  const cancelled = JSON.parse((await stateless('tasks/cancel', { taskId }, owner, taskId)).text);
  check(cancelled.result?.resultType === 'complete', `its owner cancels: ${JSON.stringify(cancelled)}`);
});

await step('a_token_for_another_resource_is_refused', async () => {
  const token = await as.token('mesh-client', 'https://other.example/mcp', 'mcp:call');
  const reply = await post(initialize, token);
  check(reply.status === 401 && reply.challenge.includes('error="invalid_token"'), `${reply.status} ${reply.challenge}`);
});

await step('every_forged_or_out_of_date_token_is_refused', async () => {
  const key = as.keys()[0];
  const { d, p, q, dp, dq, qi, ...publicJwk } = key;
  const cases = [
    ['expired', await mint(key, { ...goodClaims(), exp: now() - 120 })],
    ['not yet valid', await mint(key, { ...goodClaims(), nbf: now() + 120 })],
    ['wrong issuer', await mint(key, { ...goodClaims(), iss: 'http://127.0.0.1:1' })],
    ['wrong audience path', await mint(key, { ...goodClaims(), aud: origin })],
    ['unknown kid', await mint({ ...newSigningKey(), kid: 'nobody' }, goodClaims())],
  ];
  const genuine = await mint(key, goodClaims());
  const [header, , signature] = genuine.split('.');
  cases.push(['tampered', `${header}.${b64({ ...goodClaims(), sub: 'mallory' })}.${signature}`]);
  cases.push(['alg none', `${b64({ alg: 'none', kid: key.kid })}.${b64(goodClaims())}.`]);
  const hmacHeader = b64({ alg: 'HS256', kid: key.kid, typ: 'at+jwt' });
  const hmacPayload = b64(goodClaims());
  const hmac = createHmac('sha256', JSON.stringify(publicJwk)).update(`${hmacHeader}.${hmacPayload}`).digest('base64url');
  cases.push(['HS256 with the public key', `${hmacHeader}.${hmacPayload}.${hmac}`]);
  check((await post(initialize, genuine)).status === 200, 'the genuine token of the same shape is accepted');
  for (const [name, token] of cases) {
    const reply = await post(initialize, token);
    check(reply.status === 401 && reply.challenge.includes('error="invalid_token"'),
          `${name}: ${reply.status} ${reply.challenge} ${reply.text}`);
  }
});

await step('an_oversized_authorization_header_is_431', async () => {
  const reply = await post(initialize, 'a'.repeat(10 * 1024));
  check(reply.status === 431, `status ${reply.status}`);
});

await step('a_rotated_key_is_accepted_after_one_refetch', async () => {
  as.rotate('key-b');
  const token = await as.token('mesh-client', mcpUrl, 'mcp:call');
  check(JSON.parse(Buffer.from(token.split('.')[0], 'base64url')).kid === 'key-b', 'the new token is signed with the new key');
  // The key set was fetched less than AUTH_JWKS_REFETCH_MS ago: an unknown kid waits for the interval.
  await sleep(Number(refetchMs) + 200);
  const reply = await post(initialize, token);
  check(reply.status === 200, `status ${reply.status} ${reply.challenge} ${reply.text}`);
});

await step('the_authorization_server_gone_is_503_never_acceptance', async () => {
  const stranger = { ...newSigningKey(), kid: 'key-c' };
  const token = await mint(stranger, goodClaims());
  await as.stop();
  await sleep(Number(refetchMs) + 200);
  const reply = await post(initialize, token);
  check(reply.status === 503 && reply.retryAfter, `status ${reply.status} retry-after ${reply.retryAfter} ${reply.text}`);
});

function newSigningKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), alg: 'RS256' };
}

await meshClient?.close().catch(() => {});
const failed = results.filter(([, error]) => error).length;
console.log(`oauth: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
