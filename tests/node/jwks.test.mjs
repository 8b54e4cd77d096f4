// `jwksUrl` and `timeUrl` in Node (>= 20), against the built pkg/: the module fetches with
// Node's own fetch, and the same schedule as in the browser holds (the browser tests, which
// move the clock, are in tests/e2e/jwks-clock.test.mjs).
//
//   node --test tests/node/jwks.test.mjs        (PKG_DIR=other/dir to test another build)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as jose from 'jose';

const pkgDir = resolve(process.env.PKG_DIR ?? new URL('../../pkg', import.meta.url).pathname);
const { createVerifier } = await import(pathToFileURL(`${pkgDir}/index.js`));

const CAMPAIGN = 'summer-2026';
const brand = { body: '', status: 200, requests: [], origin: '', server: null };
let key;

before(async () => {
  const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
  key = { privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid: 'node-1', alg: 'ES256' } };
  brand.server = http.createServer((req, res) => {
    brand.requests.push({ path: req.url, cookie: req.headers.cookie ?? null });
    if (req.url.startsWith('/stream')) {
      // A body without Content-Length (chunked): the key set, or, for /stream-endless, JSON
      // whitespace sent until the reader stops (up to 8 MiB).
      res.writeHead(200, { 'Content-Type': 'application/json' });
      if (!req.url.startsWith('/stream-endless')) return res.end(brand.body);
      const chunk = ' '.repeat(16 * 1024);
      brand.streamed = 0;
      const more = () => {
        while (brand.streamed < 8 * 1024 * 1024 && !res.destroyed) {
          brand.streamed += chunk.length;
          if (!res.write(chunk)) return res.once('drain', more);
        }
        res.end();
      };
      res.on('close', () => { brand.closedAt = brand.streamed; });
      return more();
    }
    if (req.url === '/moved') {
      res.writeHead(302, { Location: '/jwks.json' });
      return res.end();
    }
    if (req.url === '/time') {
      // The server's clock is three hours ahead of this process's.
      res.sendDate = false;
      res.writeHead(204, { Date: new Date(Date.now() + 3 * 3_600_000).toUTCString() });
      return res.end();
    }
    res.writeHead(brand.status, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=600' });
    res.end(brand.body);
  });
  await new Promise((r) => brand.server.listen(0, '127.0.0.1', r));
  brand.origin = `http://127.0.0.1:${brand.server.address().port}`;
});

after(() => new Promise((r) => { brand.server.close(() => r()); brand.server.closeAllConnections(); }));

const mint = (kid, { iat = Math.floor(Date.now() / 1000), ttl = 300 } = {}) => new jose.SignJWT({ campaignId: CAMPAIGN })
  .setProtectedHeader({ alg: 'ES256', kid })
  .setSubject('participant-1')
  .setIssuedAt(iat)
  .setExpirationTime(iat + ttl)
  .sign(key.privateKey);

const code = (promise) => promise.then(() => 'ok', (e) => e.code);

test('keys from a JWKS URL: one fetch serves many tokens, unknown kids do not refetch within the minute', async () => {
  brand.body = JSON.stringify({ keys: [key.jwk] });
  brand.requests.length = 0;
  const verifier = await createVerifier({ campaignId: CAMPAIGN, jwksUrl: `${brand.origin}/jwks.json` });
  assert.equal(brand.requests.length, 0, 'nothing fetched before a token');
  for (let i = 0; i < 5; i++) assert.equal((await verifier.verify(await mint('node-1'))).kid, 'node-1');
  const unknown = await Promise.all(Array.from({ length: 10 }, (_, i) => mint(`other-${i}`)));
  assert.deepEqual(await Promise.all(unknown.map((t) => code(verifier.verify(t)))), Array(10).fill('unknown_key'));
  assert.deepEqual(brand.requests.map((r) => r.path), ['/jwks.json']);
  assert.equal(brand.requests[0].cookie, null);
});

test('a JWKS URL that answers garbage or an error gives unknown_key, asked once', async () => {
  for (const [status, body] of [[200, 'not json'], [200, '{"keys":[{"kty":"EC"}]}'], [500, ''], [200, 'x'.repeat(70_000)]]) {
    brand.status = status;
    brand.body = body;
    brand.requests.length = 0;
    const verifier = await createVerifier({ campaignId: CAMPAIGN, jwksUrl: `${brand.origin}/jwks.json?${status}-${body.length}` });
    assert.equal(await code(verifier.verify(await mint('node-1'))), 'unknown_key', `${status} ${body.slice(0, 20)}`);
    assert.equal(await code(verifier.verify(await mint('node-1'))), 'unknown_key');
    assert.equal(brand.requests.length, 1);
  }
  brand.status = 200;
});

test("timeUrl: a token issued on the server's clock, hours ahead, verifies", async () => {
  brand.body = JSON.stringify({ keys: [key.jwk] });
  const serverNow = Math.floor(Date.now() / 1000) + 3 * 3600;
  const token = await mint('node-1', { iat: serverNow });
  const plain = await createVerifier({ campaignId: CAMPAIGN, keys: { keys: [key.jwk] } });
  assert.equal(await code(plain.verify(token)), 'issued_in_future', "on this process's clock");
  const timed = await createVerifier({ campaignId: CAMPAIGN, keys: { keys: [key.jwk] }, timeUrl: `${brand.origin}/time` });
  assert.equal(await code(timed.verify(token)), 'ok');
});

test('a JWKS body is read up to 64 KiB even without Content-Length, and a redirect is not followed', async () => {
  // Valid on this process's clock and on the timeUrl's (three hours ahead) seen above.
  const long = { ttl: 6 * 3600 };
  brand.status = 200;
  brand.body = JSON.stringify({ keys: [key.jwk] });
  const chunked = await createVerifier({ campaignId: CAMPAIGN, jwksUrl: `${brand.origin}/stream` });
  assert.equal((await chunked.verify(await mint('node-1', long))).kid, 'node-1', 'a chunked key set under the cap is used');

  brand.closedAt = undefined;
  const endless = await createVerifier({ campaignId: CAMPAIGN, jwksUrl: `${brand.origin}/stream-endless` });
  assert.equal(await code(endless.verify(await mint('node-1', long))), 'unknown_key');
  // The reader gave up past the cap: the server saw the connection close long before 8 MiB.
  await new Promise((r) => (brand.closedAt === undefined ? setImmediate(r) : r()));
  for (let i = 0; i < 100 && brand.closedAt === undefined; i++) await new Promise((r) => setImmediate(r));
  assert.ok(brand.closedAt !== undefined && brand.closedAt < 8 * 1024 * 1024, `stopped after ${brand.closedAt} bytes`);

  brand.requests.length = 0;
  const moved = await createVerifier({ campaignId: CAMPAIGN, jwksUrl: `${brand.origin}/moved` });
  assert.equal(await code(moved.verify(await mint('node-1', long))), 'unknown_key', 'the redirect is refused');
  assert.deepEqual(brand.requests.map((r) => r.path), ['/moved']);
});
