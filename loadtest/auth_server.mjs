// The authorization server `make bench` measures the OAuth cost against: the end-to-end tests' real
// one (tests/clients/oauth_server.mjs, oidc-provider) on <port>, which writes an access token for
// <resource> (client credentials, `mesh-client`) to <token-file> and serves until it is killed.
// Usage: node loadtest/auth_server.mjs <port> <resource> <token-file>
import { writeFileSync } from 'node:fs';
import { startAuthorizationServer } from '../tests/clients/oauth_server.mjs';

const [port, resource, tokenFile] = process.argv.slice(2);
if (!port || !resource || !tokenFile) {
  console.error('usage: node loadtest/auth_server.mjs <port> <resource> <token-file>');
  process.exit(2);
}
const server = await startAuthorizationServer(Number(port));
writeFileSync(tokenFile, await server.token('mesh-client', resource, 'mcp:call mesh:announce'));
console.log(`auth server ${server.issuer}: token for ${resource} in ${tokenFile}`);
