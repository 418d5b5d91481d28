// A real authorization server for the end-to-end OAuth tests: oidc-provider (a certified OpenID
// provider) with resource indicators (RFC 8707) issuing JWT access tokens (RFC 9068) by the client
// credentials grant, and introspection. Two pre-registered clients: `mesh-client` (mcp:call and
// mesh:announce) and `reader` (mcp:call only). Its signing key can be rotated, and it can be stopped.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

export const SCOPES = ['mcp:call', 'mesh:announce'];

/** A fresh RSA signing key as a private JWK, with `kid`. */
export function newKey(kid) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}

function provider(issuer, keys) {
  const client = (client_id, scope) => ({
    client_id,
    client_secret: `${client_id}-secret`,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope,
  });
  return new Provider(issuer, {
    clients: [client('mesh-client', SCOPES.join(' ')), client('reader', 'mcp:call')],
    jwks: { keys },
    scopes: SCOPES,
    features: {
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // The resource a client names is the audience of its token, with the scopes it asked for.
        getResourceServerInfo: (_ctx, resource) => ({
          scope: SCOPES.join(' '),
          audience: resource,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
        useGrantedResource: () => true,
      },
    },
  });
}

/** Starts the server on `port` (127.0.0.1) with one signing key; resolves to its handle. */
export async function startAuthorizationServer(port) {
  const issuer = `http://127.0.0.1:${port}`;
  const keys = [newKey('key-a')];
  let current = provider(issuer, keys);
  const server = http.createServer((req, res) => current.callback()(req, res));
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    issuer,
    /** The private signing keys, newest first (the tests sign their forgeries with them). */
    keys: () => keys,
    /** Signs with a new key from now on, still publishing the old one. */
    rotate(kid) {
      keys.unshift(newKey(kid));
      current = provider(issuer, keys);
    },
    /** A token by the client credentials grant. */
    async token(client, resource, scope) {
      const body = new URLSearchParams({ grant_type: 'client_credentials', resource, scope });
      const response = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${client}:${client}-secret`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body,
      });
      const answer = await response.json();
      if (!response.ok) throw new Error(`token for ${client}: ${response.status} ${JSON.stringify(answer)}`);
      return answer.access_token;
    },
    stop: () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  };
}
