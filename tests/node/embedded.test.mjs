// A brand's own module: built with one key family (features alg-es256) and its public key
// embedded (CAMPAIGN_TOKEN_EMBED_KEYS). scripts/test-package.sh builds it and sets:
//   EMBEDDED_PKG_DIR      the build's pkg directory
//   EMBEDDED_PRIVATE_JWK  the embedded key's private JWK (to mint tokens)
// Without them (a plain `node --test`), these tests are skipped, and say so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import * as jose from 'jose';

const dir = process.env.EMBEDDED_PKG_DIR;
const skip = dir ? false : 'set EMBEDDED_PKG_DIR (scripts/test-package.sh does)';
const CAMPAIGN = 'summer-2026';
const NOW = Math.floor(Date.now() / 1000);

async function setup() {
  const pkg = await import(pathToFileURL(`${dir}/index.js`));
  const jwk = JSON.parse(readFileSync(process.env.EMBEDDED_PRIVATE_JWK, 'utf8'));
  const key = await jose.importJWK(jwk, 'ES256');
  const mint = (alg = 'ES256', signingKey = key) =>
    new jose.SignJWT({ campaignId: CAMPAIGN, gift: { label: 'Bike' } })
      .setProtectedHeader({ alg, kid: jwk.kid })
      .setSubject('s').setExpirationTime(NOW + 300).sign(signingKey);
  return { ...pkg, mint };
}

async function code(promise) {
  return promise.then(() => 'ok', (e) => e.code);
}

test('the embedded key is trusted without a keys option', { skip }, async () => {
  const { verifyToken, mint } = await setup();
  const r = await verifyToken(await mint(), { campaignId: CAMPAIGN });
  assert.equal(r.prizeLabel, 'Bike');
  const stranger = await jose.generateKeyPair('ES256');
  assert.equal(await code(verifyToken(await mint('ES256', stranger.privateKey), { campaignId: CAMPAIGN })), 'bad_signature');
});

test('passing keys to a module with an embedded key is invalid_config', { skip }, async () => {
  const { verifyToken, mint } = await setup();
  const other = await jose.generateKeyPair('ES256', { extractable: true });
  const keys = await jose.exportSPKI(other.publicKey);
  assert.equal(await code(verifyToken(await mint(), { campaignId: CAMPAIGN, keys })), 'invalid_config');
});

test('a jwksUrl given to a module with an embedded key is invalid_config: the embedded key pins the trust', { skip }, async () => {
  const { verifyToken, mint } = await setup();
  assert.equal(await code(verifyToken(await mint(), { campaignId: CAMPAIGN, jwksUrl: 'https://keys.brand.example/jwks.json' })),
    'invalid_config');
});

test('an ES256-only build refuses other algorithms', { skip }, async () => {
  const { verifyToken } = await setup();
  const ed = await jose.generateKeyPair('EdDSA');
  const token = await new jose.SignJWT({ campaignId: CAMPAIGN }).setProtectedHeader({ alg: 'EdDSA' })
    .setSubject('s').setExpirationTime(NOW + 300).sign(ed.privateKey);
  assert.equal(await code(verifyToken(token, { campaignId: CAMPAIGN })), 'unsupported_algorithm');
});
