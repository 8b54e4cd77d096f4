// Writes the seed corpora of the fuzz targets (fuzz/seeds/<target>/): the shapes of the hostile
// tests (tests/hostile.rs: alg none, HS256 with a public key as secret, mismatched alg, kid
// tricks, crit, typ, embedded jwk, duplicate members, padded and non-canonical base64url, wrong
// dot counts, claims of the wrong type, expired, future nbf/iat, gifts; hostile keys: private,
// oct, enc, key_ops, off-curve, wrong pin, RSA-1024, small-order Ed25519, private PEM) and
// interop tokens signed by jose (tests/interop). Run: `node fuzz/seeds.mjs` (scripts/fuzz.sh
// does, before each run; deterministic apart from the freshly generated keys and signatures).
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { generateKeyPairSync, createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';

const root = join(dirname(fileURLToPath(import.meta.url)), 'seeds');
const NOW = 1_800_000_000;
const seeds = { verify: [], differential: [], keys: [], participation_body: [] };
const add = (target, bytes) => seeds[target].push(Buffer.from(bytes));
const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

// The differential target's keys: index = position in fuzz_targets/differential.rs ALGS;
// 6 = the set of all of them. Byte 0 = key + 7 * mode.
const ALGS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'RS256', 'PS384'];
const SIG_LEN = { ES256: 64, ES384: 96, ES512: 132, EdDSA: 64, RS256: 256, PS384: 256 };

const claims = { sub: 'user-42', campaignId: 'fuzz', iat: NOW, exp: NOW + 600 };
const headers = (alg, i) => [
  { alg, typ: 'JWT', kid: `k${i}` },
  { alg, kid: `k${i}` },
  { alg },
  { alg, typ: 'at+jwt', kid: `k${i}` },
  { alg, typ: 'JWS', kid: `k${i}` },
  { alg, kid: `k${i}`, crit: ['exp'] },
  { alg, kid: 7 },
  { alg, kid: 'unknown' },
  { alg: 'none' },
  { alg: 'HS256', kid: `k${i}` },
  { alg: 'RS256', kid: `k${i}` },
  { alg: 'ES512', kid: `k${i}` },
  { alg: 'Ed25519', kid: `k${i}` },
  { alg: 'ES256K' },
  { alg: 5 },
  { alg, kid: `k${i}`, jwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } },
];
const payloads = [
  claims,
  { ...claims, exp: NOW - 1000 },
  { ...claims, exp: String(NOW + 600) },
  { ...claims, exp: 1e300 },
  { ...claims, exp: -1 },
  { ...claims, nbf: NOW + 10_000 },
  { ...claims, iat: NOW + 10_000 },
  { ...claims, campaignId: 'other' },
  { ...claims, iss: 'https://issuer.example' },
  { sub: 'user-42', campaignId: 'fuzz' },
  { ...claims, sub: 42 },
  { ...claims, gift: { cw: true, label: '<b>TV</b>' } },
  { ...claims, gift: { cw: false, label: 'x' } },
  { ...claims, gift: { label: 'Bike' } },
  { ...claims, gift: { cw: 'yes' } },
  { ...claims, gift: [] },
];
const rawJson = [
  '{"alg":"ES256","alg":"ES256"}',
  '{"sub":"a","sub":"b","campaignId":"fuzz","exp":1800000600}',
  '[]',
  '"x"',
  '{"sub":"\\ud800","campaignId":"fuzz","exp":1800000600}',
  '{"exp":1800000600.5,"sub":"s","campaignId":"fuzz"}',
];

// Raw tokens: every header × payload with a signature of the right length (zeros; a bad
// signature reaches the crypto), and the structural hostilities.
const raw = [];
ALGS.forEach((alg, i) => {
  for (const h of headers(alg, i)) {
    for (const p of payloads.slice(0, 4)) {
      raw.push(`${b64(h)}.${b64(p)}.${Buffer.alloc(SIG_LEN[alg]).toString('base64url')}`);
    }
  }
  for (const p of payloads) raw.push(`${b64({ alg, kid: `k${i}` })}.${b64(p)}.${Buffer.alloc(SIG_LEN[alg], 0xff).toString('base64url')}`);
});
const t = raw[0];
raw.push('', '.', '..', '...', `${t}.`, t.replace(/\./, '..'), `${b64({ alg: 'none' })}.${b64(claims)}.`);
raw.push(`${Buffer.from(JSON.stringify({ alg: 'ES256' })).toString('base64')}.${b64(claims)}.AAAA==`);
raw.push(t.slice(0, -1) + 'B', t.slice(0, -2), `${t}AA`, 'a'.repeat(9000), '\u00e9.\u00e9.\u00e9');
for (const j of rawJson) raw.push(`${b64(j)}.${b64(claims)}.${Buffer.alloc(64).toString('base64url')}`);

// Interop tokens: jose signs them (tests/interop's library), with its own keys.
for (const alg of ALGS) {
  const opts = alg.startsWith('RS') || alg.startsWith('PS') ? { modulusLength: 2048 } : alg === 'EdDSA' ? { crv: 'Ed25519' } : {};
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { ...opts, extractable: true });
  const token = await new jose.SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT', kid: 'jose' }).sign(privateKey);
  raw.push(token);
  seeds.keys.push(Buffer.from(JSON.stringify({ keys: [{ ...(await jose.exportJWK(publicKey)), kid: 'jose', alg }] })));
  seeds.keys.push(Buffer.from(await jose.exportSPKI(publicKey)));
}
for (const r of raw) add('verify', r);

raw.forEach((r, n) => add('differential', Buffer.concat([Buffer.from([n % 7]), Buffer.from(r)])));
ALGS.forEach((alg, i) => {
  headers(alg, i).forEach((h, hn) => {
    payloads.forEach((p, pn) => {
      const pick = (hn + pn) % 2 === 0 ? i : 6;
      add('differential', Buffer.concat([Buffer.from([pick + 7]), Buffer.from(JSON.stringify(h)), Buffer.from([0]), Buffer.from(JSON.stringify(p))]));
    });
    add('differential', Buffer.concat([Buffer.from([i + 14, hn * 7, 1 << (hn % 8)]), Buffer.from(JSON.stringify(h)), Buffer.from([0]), Buffer.from(JSON.stringify(claims))]));
  });
  for (const j of rawJson) add('differential', Buffer.concat([Buffer.from([i + 7]), Buffer.from(j), Buffer.from([0]), Buffer.from(JSON.stringify(claims))]));
});

// Key texts: good keys of every family as JWKS, JWK and PEM (SPKI, PKCS#1), then the hostile ones.
const families = [
  ['ec', { namedCurve: 'P-256' }, 'ES256'],
  ['ec', { namedCurve: 'P-384' }, 'ES384'],
  ['ec', { namedCurve: 'P-521' }, 'ES512'],
  ['ed25519', {}, 'EdDSA'],
  ['rsa', { modulusLength: 2048 }, 'RS256'],
];
for (const [type, opts, alg] of families) {
  const { publicKey, privateKey } = generateKeyPairSync(type, opts);
  const jwk = publicKey.export({ format: 'jwk' });
  const set = (...keys) => JSON.stringify({ keys });
  add('keys', set({ ...jwk, kid: 'a', alg, use: 'sig' }));
  add('keys', JSON.stringify(jwk));
  add('keys', set({ ...jwk, kid: 'a' }, { ...jwk, kid: 'b', alg }));
  add('keys', publicKey.export({ format: 'pem', type: 'spki' }));
  if (type === 'rsa') add('keys', publicKey.export({ format: 'pem', type: 'pkcs1' }));
  add('keys', privateKey.export({ format: 'pem', type: 'pkcs8' }));
  add('keys', set(privateKey.export({ format: 'jwk' })));
  add('keys', set({ ...jwk, use: 'enc' }));
  add('keys', set({ ...jwk, key_ops: ['sign'] }));
  add('keys', set({ ...jwk, alg: type === 'rsa' ? 'ES256' : 'RS256' }));
  if (jwk.y) {
    const y = Buffer.from(jwk.y, 'base64url');
    y[y.length - 1] ^= 1;
    add('keys', set({ ...jwk, y: y.toString('base64url') }));
    add('keys', set({ ...jwk, y: jwk.y.slice(2) }));
  }
}
add('keys', JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }));
add('keys', JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]).toString('base64url') }] }));
add('keys', generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }));
add('keys', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n');
add('keys', 'not a key');
add('keys', '{"keys":[]}');
add('keys', '{"keys":{}}');

// Participation bodies.
const bodies = [
  { token: t }, { token: t, answers: { q1: 'a', q2: [1, 2] } }, { token: t, answers: null },
  {}, { token: null }, { token: 5 }, { token: '' }, { token: t, answers: 'x'.repeat(100) },
  { token: t, extra: true }, [], { answers: {} },
];
for (const b of bodies) add('participation_body', JSON.stringify(b));
for (const b of ['', 'null', '{', '{"token":"a","token":"b"}', '{"token":"\\ud800"}', '{"answers":1e999}', '"token"', '{"token":"a"}garbage']) add('participation_body', b);

rmSync(root, { recursive: true, force: true });
for (const [target, list] of Object.entries(seeds)) {
  mkdirSync(join(root, target), { recursive: true });
  for (const bytes of list) {
    writeFileSync(join(root, target, createHash('sha1').update(bytes).digest('hex')), bytes);
  }
}
console.log(Object.entries(seeds).map(([k, v]) => `${k}: ${v.length}`).join(', '));
