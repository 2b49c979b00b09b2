// A real OAuth 2.0 authorization server for the tower-shield OAuth tests: node `oidc-provider`
// on 127.0.0.1 at a free port, with
// - discovery (/.well-known/openid-configuration) and a JWKS (an ES256 and an RS256 key made at
//   start),
// - the client credentials grant for `svc` (client_secret_basic) and `svc-post`
//   (client_secret_post), scopes `read` and `write`,
// - resource indicators (RFC 8707): `https://api.example.com/jwt` gets RFC 9068 JWT access
//   tokens (`typ: at+jwt`, ES256, `aud` https://api.example.com), `https://api.example.com/opaque`
//   and no resource at all get opaque tokens,
// - introspection (RFC 7662) and revocation (RFC 7009).
//
// It prints `issuer <url>` on its first line, and exits when its stdin closes (so a test that
// dies does not leave it behind). `GET /__stats` answers how many token, introspection and
// revocation requests it served; `POST /__stats/reset` zeroes them.
import http from 'node:http';
import * as jose from 'jose';
import Provider, { errors } from 'oidc-provider';

const quiet = !process.env.OIDC_DEBUG;
if (quiet) {
  // oidc-provider warns about every development default (cookie keys, TTLs): not our concern.
  console.warn = () => {};
  console.info = () => {};
}

const AUDIENCE = 'https://api.example.com';
const RESOURCES = {
  [`${AUDIENCE}/jwt`]: 'jwt',
  [`${AUDIENCE}/opaque`]: 'opaque',
};
const TOKEN_TTL = Number(process.env.OIDC_TOKEN_TTL || 600);

async function signingKey(alg, kid) {
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, alg, kid, use: 'sig' };
}

const stats = { token: 0, introspection: 0, revocation: 0 };

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'svc',
      client_secret: 'svc-secret-0123456789abcdef',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'read write',
    },
    {
      client_id: 'svc-post',
      client_secret: 'svc-post-secret-0123456789abcdef',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
      scope: 'read write',
    },
  ],
  scopes: ['read', 'write'],
  jwks: { keys: [await signingKey('ES256', 'es-1'), await signingKey('RS256', 'rs-1')] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => undefined,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (_ctx, resource) => {
        const format = RESOURCES[resource];
        if (!format) throw new errors.InvalidTarget();
        return {
          scope: 'read write',
          audience: AUDIENCE,
          accessTokenFormat: format,
          accessTokenTTL: TOKEN_TTL,
          ...(format === 'jwt' ? { jwt: { sign: { alg: 'ES256' } } } : {}),
        };
      },
    },
  },
  ttl: {
    ClientCredentials: () => TOKEN_TTL,
  },
});
// Errors answered to clients are the tests' business; keep the console clean.
provider.on('server_error', (_ctx, err) => process.stderr.write(`oidc-provider: ${err.stack}\n`));

const callback = provider.callback();
server.on('request', (req, res) => {
  const path = req.url.split('?')[0];
  if (path === '/__stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(stats));
    return;
  }
  if (path === '/__stats/reset') {
    for (const k of Object.keys(stats)) stats[k] = 0;
    res.end('{}');
    return;
  }
  if (req.method === 'POST' && path === '/token') stats.token += 1;
  if (req.method === 'POST' && path === '/token/introspection') stats.introspection += 1;
  if (req.method === 'POST' && path === '/token/revocation') stats.revocation += 1;
  callback(req, res);
});

process.stdout.write(`issuer ${issuer}\n`);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
