/**
 * --oidc-issuer with a real local issuer: this test serves the discovery document and the JWKS
 * on 127.0.0.1 and signs tokens with jose. A valid token registers under the user's own names;
 * expired, wrong-audience, wrong-key and `alg: none` tokens are refused; a rotated signing key
 * is picked up without restarting the server.
 */

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWK, type KeyLike } from 'jose';
import { httpRequest } from './helpers/http';
import { startServerProcess, type ServerProcess } from './helpers/processes';
import { PROTOCOL_VERSION } from '#shared/protocol/version';

jest.setTimeout(60_000);

const AUDIENCE = 'standin-test';

let issuer: http.Server;
let issuerUrl: string;
let server: ServerProcess;
let published: JWK[] = [];
let jwksFetches = 0;
const keys: Record<string, { privateKey: KeyLike; jwk: JWK }> = {};

async function newKey(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  keys[kid] = { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

function sign(kid: string, claims: { aud?: string; exp?: number; email?: string; signWith?: string } = {}): Promise<string> {
  const jwt = new SignJWT({ email: claims.email ?? 'carol@example.com' })
    .setProtectedHeader({ alg: 'RS256', kid })
    .setIssuer(issuerUrl)
    .setAudience(claims.aud ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 300);
  return jwt.sign(keys[claims.signWith ?? kid].privateKey);
}

beforeAll(async () => {
  await newKey('k1');
  await newKey('k2');
  await newKey('stranger');
  published = [keys.k1.jwk];
  issuer = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration')
      return void res.end(JSON.stringify({ issuer: issuerUrl, jwks_uri: `${issuerUrl}/jwks` }));
    if (req.url === '/jwks') {
      jwksFetches++;
      return void res.end(JSON.stringify({ keys: published }));
    }
    res.statusCode = 404;
    res.end('{}');
  });
  await new Promise<void>((resolve) => issuer.listen(0, '127.0.0.1', resolve));
  issuerUrl = `http://127.0.0.1:${(issuer.address() as AddressInfo).port}`;
  server = await startServerProcess(['--oidc-issuer', issuerUrl, '--oidc-audience', AUDIENCE]);
});

afterAll(async () => {
  await server?.stop();
  await new Promise<void>((resolve) => {
    issuer.close(() => resolve());
    issuer.closeAllConnections();
  });
});

const register = (name: string, token: string) =>
  httpRequest(`${server.url}/_standin/v1/tunnels`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ protocol: PROTOCOL_VERSION, name, target: 'http://localhost:1' }),
  });

test("a valid token registers the user's own names and makes them the owner; other names are refused", async () => {
  const token = await sign('k1');
  expect((await register('carol-shop', token)).status).toBe(201);
  const status = JSON.parse(
    (await httpRequest(`${server.url}/_standin/api/tunnels/carol-shop`, { headers: { authorization: `Bearer ${token}` } })).text,
  );
  expect(status.client.owner).toBe('carol@example.com');
  const other = await register('dave-shop', token);
  expect(other.status).toBe(403);
  expect(JSON.parse(other.text).error).toBe('name_not_allowed');
});

test('expired, wrong-audience, wrong-key and alg:none tokens are refused', async () => {
  const expired = await sign('k1', { exp: Math.floor(Date.now() / 1000) - 60 });
  const wrongAudience = await sign('k1', { aud: 'another-app' });
  const wrongKey = await sign('k1', { signWith: 'stranger' });
  const unsigned = new UnsecuredJWT({ email: 'carol@example.com' })
    .setIssuer(issuerUrl)
    .setAudience(AUDIENCE)
    .setExpirationTime('5m')
    .encode();
  for (const token of [expired, wrongAudience, wrongKey, unsigned]) {
    expect((await register('carol-shop', token)).status).toBe(401);
  }
});

test('a rotated signing key is picked up without a restart', async () => {
  const fetchesBefore = jwksFetches;
  published = [keys.k2.jwk];
  // jose refetches the key set for an unknown kid at most once a second.
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  expect((await register('carol-rotated', await sign('k2'))).status).toBe(201);
  expect(jwksFetches).toBeGreaterThan(fetchesBefore);
});
