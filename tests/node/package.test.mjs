// The npm package in Node (>= 20), against the built, optimised pkg/ (scripts/build-wasm.sh):
// tokens minted by an independent implementation (the npm `jose` package) verify, and every
// rejection is a CampaignTokenError with the documented `.code` (and `.claim`).
//
//   node --test tests/node/*.test.mjs        (PKG_DIR=other/dir to test another build)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as jose from 'jose';

const pkgDir = resolve(process.env.PKG_DIR ?? new URL('../../pkg', import.meta.url).pathname);
const { verifyToken, createVerifier, init, CampaignTokenError } = await import(pathToFileURL(`${pkgDir}/index.js`));
const { sendToken } = await import(pathToFileURL(`${pkgDir}/integrator.js`));

const CAMPAIGN = 'summer-2026';
const NOW = Math.floor(Date.now() / 1000);

async function keyPair(alg) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  return { alg, privateKey, pem: await jose.exportSPKI(publicKey), jwk: await jose.exportJWK(publicKey) };
}

function mint(key, claims = {}, { header = {}, exp = NOW + 300, sub = 'participant-1' } = {}) {
  const jwt = new jose.SignJWT({ campaignId: CAMPAIGN, ...claims })
    .setProtectedHeader({ alg: key.alg, ...header });
  if (claims.iat === undefined) jwt.setIssuedAt(NOW);
  if (sub !== null) jwt.setSubject(sub);
  if (exp !== null) jwt.setExpirationTime(exp);
  return jwt.sign(key.privateKey);
}

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** Signs an arbitrary header and payload with ES256 (for what jose refuses to produce). */
function rawEs256(privateKey, header, payload) {
  const input = `${b64(header)}.${b64(payload)}`;
  const sig = cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof CampaignTokenError, `a CampaignTokenError, got ${err}`);
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'CampaignTokenError');
    assert.equal(typeof err.message, 'string');
    assert.ok(err.message.length > 0);
    return err;
  }
  assert.fail('expected a rejection');
}

const es256 = await keyPair('ES256');
const seen = new Set(); // every code this file produces, checked against the .d.ts below

async function expectCode(promise, code, claim) {
  const err = await rejection(promise);
  assert.equal(err.code, code, err.message);
  assert.equal(err.claim, claim);
  seen.add(code);
  return err;
}

test('tokens from jose verify: ES256, ES384, ES512, EdDSA, RS256, PS256', async () => {
  for (const alg of ['ES256', 'ES384', 'ES512', 'EdDSA', 'RS256', 'PS256']) {
    const key = alg === 'ES256' ? es256 : await keyPair(alg);
    const token = await mint(key, { gift: { cw: true, label: 'a spa day', colour: 'red' } }, { exp: NOW + 600 });
    const r = await verifyToken(token, { campaignId: CAMPAIGN, keys: key.pem });
    assert.deepEqual(r, {
      sub: 'participant-1', campaignId: CAMPAIGN, exp: NOW + 600, iat: NOW, nbf: null, iss: null,
      gift: { cw: true, label: 'a spa day', colour: 'red' },
      eligibility: 'given-prize', prizeLabel: 'a spa day', access: 'allowed',
      limit: null, form: null, optin: null, custom: null, alg, kid: null,
    }, alg);
  }
});

test('the gift claim crosses into JS as sent (nested members); an integer JS cannot hold is invalid_claim naming its path', async () => {
  const options = { campaignId: CAMPAIGN, keys: es256.pem };
  const gift = { label: 'a spa day', sku: 42, price: -3.5, tags: ['a', null, true], meta: { n: { deep: 'x' } } };
  const r = await verifyToken(await mint(es256, { gift }), options);
  assert.deepEqual(r.gift, gift);
  assert.equal(Object.getPrototypeOf(r.gift.meta), Object.prototype, 'plain objects, not Maps');
  // 2**60 is written as an exact integer in the JSON; JS would round it: refused, not rounded.
  const err = await expectCode(verifyToken(await mint(es256, { gift: { label: 'x', sku: 2 ** 60 } }), options),
    'invalid_claim', 'gift.sku');
  assert.match(err.message, /JavaScript/);
});

test('each eligibility of the table', async () => {
  const options = { campaignId: CAMPAIGN, keys: es256.pem };
  const cases = [
    [{ gift: { cw: true, label: 'Bike' } }, 'given-prize', 'Bike'],
    [{ gift: { cw: true } }, 'any-prize', null],
    [{ gift: { cw: false, label: 'Car' } }, 'cannot-win', null],
    [{ gift: { label: 'Bike' } }, 'given-prize', 'Bike'],
    [{ gift: {} }, 'standard', null],
    [{}, 'standard', null],
  ];
  for (const [claims, eligibility, prizeLabel] of cases) {
    const r = await verifyToken(await mint(es256, claims), options);
    assert.equal(r.eligibility, eligibility, JSON.stringify(claims));
    assert.equal(r.prizeLabel, prizeLabel, JSON.stringify(claims));
  }
});

test('a JWKS (object or text) selects the key by kid; an unknown kid is unknown_key', async () => {
  const a = await keyPair('ES256');
  const b = await keyPair('EdDSA');
  const jwks = { keys: [{ ...a.jwk, kid: 'a' }, { ...b.jwk, kid: 'b' }] };
  for (const keys of [jwks, JSON.stringify(jwks)]) {
    const r = await verifyToken(await mint(b, {}, { header: { kid: 'b' } }), { campaignId: CAMPAIGN, keys });
    assert.equal(r.kid, 'b');
    assert.equal(r.alg, 'EdDSA');
  }
  await expectCode(verifyToken(await mint(a, {}, { header: { kid: 'c' } }), { campaignId: CAMPAIGN, keys: jwks }), 'unknown_key');
  await expectCode(verifyToken(await mint(a), { campaignId: CAMPAIGN, keys: jwks }), 'unknown_key');
});

test('token rejections carry their code and claim', async () => {
  const options = { campaignId: CAMPAIGN, keys: es256.pem };
  const other = await keyPair('ES256');
  await expectCode(verifyToken(await mint(es256, {}, { exp: NOW - 120 }), options), 'expired', 'exp');
  await expectCode(verifyToken(await mint(other), options), 'bad_signature');
  await expectCode(verifyToken(await mint(es256, { campaignId: 'winter' }), options), 'wrong_campaign', 'campaignId');
  await expectCode(verifyToken('not-a-token', options), 'malformed');
  await expectCode(verifyToken((await mint(es256)) + '=', options), 'malformed');
  await expectCode(verifyToken('', options), 'no_token');
  await expectCode(verifyToken(undefined, options), 'no_token');
  await expectCode(verifyToken(await mint(es256, { gift: { label: 'x'.repeat(9000) } }), options), 'too_large');
  const midsize = await mint(es256, { gift: { label: 'x'.repeat(300) } });
  assert.equal((await verifyToken(midsize, options)).prizeLabel.length, 300);
  await expectCode(verifyToken(midsize, { ...options, maxTokenBytes: 256 }), 'too_large');
  await expectCode(verifyToken(await mint(es256, {}, { sub: null }), options), 'missing_claim', 'sub');
  await expectCode(verifyToken(await mint(es256, {}, { exp: null }), options), 'missing_claim', 'exp');
  await expectCode(verifyToken(await mint(es256, { gift: 'yes' }), options), 'invalid_claim', 'gift');
  await expectCode(verifyToken(await mint(es256, { nbf: NOW + 3600 }), options), 'not_yet_valid', 'nbf');
  await expectCode(verifyToken(await mint(es256, { iat: NOW + 3600 }), options), 'issued_in_future', 'iat');
  await expectCode(verifyToken(await mint(es256, { iss: 'https://other' }), { ...options, issuers: ['https://brand'] }),
    'wrong_issuer', 'iss');

  // HMAC is never accepted against public keys, whatever the secret.
  const secret = new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes!!');
  const hs = await new jose.SignJWT({ campaignId: CAMPAIGN }).setProtectedHeader({ alg: 'HS256' })
    .setSubject('s').setExpirationTime(NOW + 300).sign(secret);
  await expectCode(verifyToken(hs, options), 'unsupported_algorithm');

  // jose will not sign these; node:crypto will.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' });
  const payload = { sub: 's', exp: NOW + 300, campaignId: CAMPAIGN };
  assert.equal((await verifyToken(rawEs256(privateKey, { alg: 'ES256' }, payload), { campaignId: CAMPAIGN, keys: pem })).sub, 's');
  await expectCode(verifyToken(rawEs256(privateKey, { alg: 'ES256', crit: ['exp'], exp: 1 }, payload),
    { campaignId: CAMPAIGN, keys: pem }), 'unsupported_critical_header');
  await expectCode(verifyToken(rawEs256(privateKey, { alg: 'none' }, payload), { campaignId: CAMPAIGN, keys: pem }),
    'unsupported_algorithm');
});

test('the clock: `now` and the 60 s default tolerance', async () => {
  const options = { campaignId: CAMPAIGN, keys: es256.pem };
  const token = await mint(es256, {}, { exp: NOW + 100 });
  assert.equal((await verifyToken(token, { ...options, now: NOW + 159 })).exp, NOW + 100);
  await expectCode(verifyToken(token, { ...options, now: NOW + 160 }), 'expired', 'exp');
  assert.equal((await verifyToken(token, { ...options, now: NOW + 200, clockToleranceSeconds: 101 })).exp, NOW + 100);
});

test('configuration errors: bad keys are invalid_key, bad options invalid_config', async () => {
  const token = await mint(es256);
  await expectCode(verifyToken(token, { campaignId: CAMPAIGN, keys: 'not a key' }), 'invalid_key');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  await expectCode(verifyToken(token, { campaignId: CAMPAIGN, keys: privatePem }), 'invalid_key');
  const privateJwk = { keys: [await jose.exportJWK(es256.privateKey)] };
  await expectCode(verifyToken(token, { campaignId: CAMPAIGN, keys: privateJwk }), 'invalid_key');
  await expectCode(verifyToken(token, { campaignId: CAMPAIGN }), 'invalid_config');
  await expectCode(verifyToken(token, { keys: es256.pem }), 'invalid_config');
  await expectCode(verifyToken(token, { campaignId: CAMPAIGN, keys: es256.pem, clockToleranceSeconds: 601 }), 'invalid_config');
  await expectCode(verifyToken(token, { campaignId: CAMPAIGN, keys: es256.pem, maxTokenBytes: 1e6 }), 'invalid_config');
  await expectCode(verifyToken(token, undefined), 'invalid_config');

  // A wildcard postMessage origin is refused before anything else (here, before init finds
  // out that Node has no page).
  const wildcard = await expectCode(init({ campaignId: CAMPAIGN, keys: es256.pem, allowedOrigins: ['*'] }), 'invalid_config');
  assert.match(wildcard.message, /"\*"/);
  const noPage = await expectCode(init({ campaignId: CAMPAIGN, keys: es256.pem }), 'invalid_config');
  assert.match(noPage.message, /browser page/);
});

test('the verifier cache follows the options: another key, another verdict', async () => {
  const other = await keyPair('ES256');
  const token = await mint(es256);
  assert.equal((await verifyToken(token, { campaignId: CAMPAIGN, keys: es256.pem })).sub, 'participant-1');
  await expectCode(verifyToken(token, { campaignId: CAMPAIGN, keys: other.pem }), 'bad_signature');
  assert.equal((await verifyToken(token, { campaignId: CAMPAIGN, keys: es256.pem })).sub, 'participant-1');
  await expectCode(verifyToken(token, { campaignId: 'winter', keys: es256.pem }), 'wrong_campaign', 'campaignId');
});

test('a verification under way finishes when another configuration replaces the cached verifier', async () => {
  // The cache drops the previous verifier when the options change; tokens it is still
  // verifying (their WebCrypto step in flight) must get their own verdict, not a freed object.
  const other = await keyPair('ES256');
  const token = await mint(es256);
  const a = { campaignId: CAMPAIGN, keys: es256.jwk, clockToleranceSeconds: 1 };
  const b = { campaignId: CAMPAIGN, keys: other.jwk, clockToleranceSeconds: 2 };
  await verifyToken(token, a);
  const inFlight = Array.from({ length: 20 }, () => verifyToken(token, a));
  // Its rejection is handled from the start: it may come before the in-flight ones resolve.
  const replaced = expectCode(verifyToken(token, b), 'bad_signature');
  assert.deepEqual((await Promise.all(inFlight)).map((r) => r.sub), Array(20).fill('participant-1'));
  await replaced;
});

test('the verifier cache is keyed on the whole options object: a new or changed option builds a new verifier', async () => {
  const token = await mint(es256);
  // Building a verifier reads `campaignId`; so does computing the cache key. Counting reads
  // tells a reused verifier (key only) from a new one (key and verifier).
  let reads = 0;
  const options = (extra = {}) => ({
    get campaignId() { reads += 1; return CAMPAIGN; },
    keys: { keys: [es256.jwk] },
    ...extra,
  });
  const readsFor = async (opts) => {
    const before = reads;
    assert.equal((await verifyToken(token, opts)).sub, 'participant-1');
    return reads - before;
  };
  const built = await readsFor(options({ someFutureOption: 1 }));
  const reused = await readsFor(options({ someFutureOption: 1 }));
  assert.ok(reused < built, `same options reuse the verifier (${reused} < ${built} reads)`);
  assert.equal(await readsFor(options({ someFutureOption: 2 })), built, 'a changed option builds anew');
  assert.equal(await readsFor(options({ someFutureOption: 2, anotherOne: [true] })), built, 'a new option builds anew');
  assert.equal(await readsFor(options({ anotherOne: [true], someFutureOption: 2 })), reused, 'property order does not matter');
  // A nested change (an issuer added inside an array) is a new configuration with its verdict.
  await expectCode(verifyToken(token, { ...options(), issuers: ['https://brand.example'] }), 'wrong_issuer', 'iss');
});

test('createVerifier: keys imported once, then any number of tokens; configuration errors at creation', async () => {
  const verifier = await createVerifier({ campaignId: CAMPAIGN, keys: { keys: [es256.jwk] } });
  assert.ok(Object.isFrozen(verifier));
  const [a, b] = await Promise.all([mint(es256, { gift: { cw: true, label: 'A' } }), mint(es256, { gift: { cw: false } })]);
  const [ra, rb] = await Promise.all([verifier.verify(a), verifier.verify(b)]);
  assert.equal(ra.prizeLabel, 'A');
  assert.equal(rb.eligibility, 'cannot-win');
  await expectCode(verifier.verify(await mint(await keyPair('ES256'))), 'bad_signature');
  await expectCode(verifier.verify(await mint(es256, { campaignId: 'winter' })), 'wrong_campaign', 'campaignId');
  await expectCode(verifier.verify(42), 'malformed');
  await expectCode(createVerifier({ campaignId: CAMPAIGN, keys: { keys: [{ ...es256.jwk, y: es256.jwk.x }] } }), 'invalid_key');
  await expectCode(createVerifier({ campaignId: CAMPAIGN }), 'invalid_config');
});

test('integrator: sendToken refuses a wildcard or inexact target origin', async () => {
  for (const targetOrigin of ['*', 'https://campaign.example/', 'campaign.example', undefined]) {
    const err = await sendToken({}, 'a.b.c', { targetOrigin }).then(() => null, (e) => e);
    assert.equal(err?.code, 'invalid_config', String(targetOrigin));
    assert.equal(err.name, 'CampaignTokenError');
  }
  seen.add('invalid_config');
});

test('every code produced here is declared in index.d.ts', () => {
  const dts = readFileSync(`${pkgDir}/index.d.ts`, 'utf8');
  const union = dts.slice(dts.indexOf('export type ErrorCode'), dts.indexOf(';', dts.indexOf('export type ErrorCode')));
  assert.ok(seen.size >= 15, `only ${seen.size} codes exercised`);
  for (const code of seen) assert.ok(union.includes(`"${code}"`), code);
});
