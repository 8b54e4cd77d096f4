// Hostile cases aimed at the browser build's signature step (WebCrypto, src/crypto.rs):
// keys WebCrypto must refuse or that we refuse before it, and signatures that are malformed,
// malleated or made for another algorithm. Each case names the code the native verifier
// gives for the same input (tests/hostile.rs), so both paths must agree.
//
// Shared by tests/node/webcrypto.test.mjs (Node's WebCrypto, OpenSSL) and
// tests/e2e/webcrypto.test.mjs (Chromium's WebCrypto, BoringSSL): cases are plain data
// (tokens, options, expected code), made in Node with `jose` and node:crypto.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import * as jose from 'jose';

export const CAMPAIGN = 'webcrypto-cases';
const NOW = 1_700_000_000;
const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const claims = { sub: 'member-1', campaignId: CAMPAIGN, iat: NOW, exp: NOW + 600, gift: { cw: true, label: 'Espresso machine' } };
// Ed25519's group order L, little-endian as in a signature's S half.
const L = (1n << 252n) + 27742317777372353535851937790883648493n;

function leBytes(n, len) {
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i++) { out[i] = Number(n & 0xffn); n >>= 8n; }
  return out;
}
function fromLe(buf) {
  let n = 0n;
  for (let i = buf.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(buf[i]);
  return n;
}

async function pair(alg, options) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true, ...options });
  return { alg, publicKey, privateKey, jwk: await jose.exportJWK(publicKey), pem: await jose.exportSPKI(publicKey) };
}

function raw(input, sig) {
  return `${input}.${Buffer.from(sig).toString('base64url')}`;
}

/** The cases: `{ name, token, options, expect }`, where `expect` is an error code or 'ok'. */
export async function makeCases() {
  const es256 = await pair('ES256');
  const es384 = await pair('ES384');
  const es512 = await pair('ES512');
  const ed = await pair('EdDSA');
  const rsa = await pair('RS256', { modulusLength: 2048 });
  const options = (keys) => ({ campaignId: CAMPAIGN, keys, now: NOW });
  const sign = (k, header = {}) => new jose.SignJWT(claims).setProtectedHeader({ alg: k.alg, ...header }).sign(k.privateKey);
  const cases = [];
  const add = (name, token, opts, expect) => cases.push({ name, token, options: opts, expect });

  // Baselines: each family verifies, with PEM and with JWK keys.
  for (const k of [es256, es384, es512, ed, rsa]) {
    add(`${k.alg} token, PEM key`, await sign(k), options(k.pem), 'ok');
    add(`${k.alg} token, JWK key`, await sign(k), options({ keys: [k.jwk] }), 'ok');
  }
  const rsaPrivate = createPrivateKey({ key: await jose.exportPKCS8(rsa.privateKey), format: 'pem' });
  add('PS256 token, RSA key (PSS, salt = hash length)',
    await new jose.SignJWT(claims).setProtectedHeader({ alg: 'PS256' }).sign(rsaPrivate), options(rsa.pem), 'ok');
  const pkcs1 = createPublicKey(rsa.pem).export({ type: 'pkcs1', format: 'pem' });
  add('RS256 token, PKCS#1 "RSA PUBLIC KEY" PEM', await sign(rsa), options(pkcs1), 'ok');

  // Signatures.
  const good = await sign(es256);
  const [h, p, s] = good.split('.');
  const input = `${h}.${p}`;
  add('ES256: another key signed it', await sign(await pair('ES256')), options(es256.pem), 'bad_signature');
  add('ES256: r = 0 and s = 0', raw(input, new Uint8Array(64)), options(es256.pem), 'bad_signature');
  const der = nodeSign('sha256', Buffer.from(input), createPrivateKey({ key: await jose.exportPKCS8(es256.privateKey), format: 'pem' }));
  add('ES256: DER signature instead of r || s', raw(input, der), options(es256.pem), 'bad_signature');
  add('ES256: signature truncated to 63 bytes', raw(input, Buffer.from(s, 'base64url').subarray(0, 63)), options(es256.pem), 'bad_signature');
  const flipped = Buffer.from(s, 'base64url'); flipped[10] ^= 1;
  add('ES256: one bit of the signature flipped', raw(input, flipped), options(es256.pem), 'bad_signature');
  add('ES256: payload changed after signing', `${h}.${b64({ ...claims, gift: { cw: true, label: 'Car' } })}.${s}`, options(es256.pem), 'bad_signature');

  // ES512: 132-byte r || s (66-byte scalars, the top 7 bits of each always 0).
  const good512 = await sign(es512);
  const [h5, p5, s5] = good512.split('.');
  const input512 = `${h5}.${p5}`;
  const sig512 = Buffer.from(s5, 'base64url');
  add('ES512: another key signed it', await sign(await pair('ES512')), options(es512.pem), 'bad_signature');
  add('ES512: r = 0 and s = 0', raw(input512, new Uint8Array(132)), options(es512.pem), 'bad_signature');
  add('ES512: r and s above the group order (all ones)', raw(input512, Buffer.alloc(132, 0xff)), options(es512.pem), 'bad_signature');
  const der512 = nodeSign('sha512', Buffer.from(input512), createPrivateKey({ key: await jose.exportPKCS8(es512.privateKey), format: 'pem' }));
  add('ES512: DER signature instead of r || s', raw(input512, der512), options(es512.pem), 'bad_signature');
  add('ES512: signature truncated to 131 bytes', raw(input512, sig512.subarray(0, 131)), options(es512.pem), 'bad_signature');
  add('ES512: scalars without their leading zero bytes (130 bytes)', raw(input512, Buffer.concat([sig512.subarray(1, 66), sig512.subarray(67)])), options(es512.pem), 'bad_signature');
  const flipped512 = Buffer.from(sig512); flipped512[100] ^= 1;
  add('ES512: one bit of the signature flipped', raw(input512, flipped512), options(es512.pem), 'bad_signature');
  const sha256Sig = nodeSign('sha256', Buffer.from(input512), { key: createPrivateKey({ key: await jose.exportPKCS8(es512.privateKey), format: 'pem' }), dsaEncoding: 'ieee-p1363' });
  add('ES512: P-521 signature over SHA-256 instead of SHA-512', raw(input512, sha256Sig), options(es512.pem), 'bad_signature');

  const edGood = await sign(ed);
  const [eh, ep, es] = edGood.split('.');
  const edSig = Buffer.from(es, 'base64url');
  const bigS = Buffer.concat([edSig.subarray(0, 32), leBytes(fromLe(edSig.subarray(32)) + L, 32)]);
  add('EdDSA: S + L (non-canonical S, same value mod L)', raw(`${eh}.${ep}`, bigS), options(ed.pem), 'bad_signature');
  add('EdDSA: R = identity, S = 0', raw(`${eh}.${ep}`, Buffer.concat([leBytes(1n, 32), Buffer.alloc(32)])), options(ed.pem), 'bad_signature');

  // Algorithm confusion.
  add('RS256 signature relabelled PS256', (() => { const [, rp, rs] = cases.find((c) => c.name === 'RS256 token, PEM key').token.split('.'); return `${b64({ alg: 'PS256' })}.${rp}.${rs}`; })(), options(rsa.pem), 'bad_signature');
  add('ES256 header with the P-384 key', await sign(es256), options(es384.pem), 'unsupported_algorithm');
  add('ES512 header with the P-384 key', good512, options(es384.pem), 'unsupported_algorithm');
  add('ES384 header with the P-521 key', await sign(es384), options(es512.pem), 'unsupported_algorithm');
  add('ES512 token, JWK pinned to ES256', good512, options({ keys: [{ ...es512.jwk, alg: 'ES256' }] }), 'invalid_key');
  const hs = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(es256.pem));
  add('HS256 signed with the public key PEM as secret', hs, options(es256.pem), 'unsupported_algorithm');
  add('alg none', `${b64({ alg: 'none' })}.${b64(claims)}.`, options(es256.pem), 'unsupported_algorithm');
  add('RS256 token, JWK pinned to PS256', await sign(rsa), options({ keys: [{ ...rsa.jwk, alg: 'PS256' }] }), 'unsupported_algorithm');

  // Keys.
  const offCurve = { ...es256.jwk, y: es256.jwk.x };
  add('EC JWK whose point is not on P-256', good, options({ keys: [offCurve] }), 'invalid_key');
  add('EC JWK with a 31-byte x', good, options({ keys: [{ ...es256.jwk, x: Buffer.alloc(31, 1).toString('base64url') }] }), 'invalid_key');
  add('EC JWK whose point is not on P-521', good512, options({ keys: [{ ...es512.jwk, y: es512.jwk.x }] }), 'invalid_key');
  // RFC 7518 §6.2.1.2: a P-521 coordinate is 66 bytes, leading zeros included.
  const x512 = Buffer.from(es512.jwk.x, 'base64url');
  add('P-521 JWK with a 65-byte x', good512, options({ keys: [{ ...es512.jwk, x: x512.subarray(1).toString('base64url') }] }), 'invalid_key');
  add('P-521 coordinates named P-384', good512, options({ keys: [{ ...es512.jwk, crv: 'P-384' }] }), 'invalid_key');
  const one = Buffer.alloc(32); one[0] = 1;
  add('Ed25519 JWK of small order (the identity)', edGood, options({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: one.toString('base64url') }] }), 'invalid_key');
  add('Ed25519 JWK of 31 bytes', edGood, options({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: Buffer.alloc(31, 9).toString('base64url') }] }), 'invalid_key');
  // jose refuses to make or use RSA keys under 2048 bits: node:crypto does both.
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const weakInput = `${b64({ alg: 'RS256' })}.${b64(claims)}`;
  const weakToken = raw(weakInput, nodeSign('sha256', Buffer.from(weakInput), weak.privateKey));
  add('RSA key of 1024 bits (PEM)', weakToken, options(weak.publicKey.export({ type: 'spki', format: 'pem' })), 'invalid_key');
  add('RSA key of 1024 bits (JWK)', weakToken, options({ keys: [weak.publicKey.export({ format: 'jwk' })] }), 'invalid_key');
  add('RSA JWK with exponent 1', await sign(rsa), options({ keys: [{ ...rsa.jwk, e: 'AQ' }] }), 'invalid_key');
  add('RSA JWK with an even exponent', await sign(rsa), options({ keys: [{ ...rsa.jwk, e: 'AQAA' }] }), 'invalid_key');
  add('EC private key given as the key', good, options(await jose.exportPKCS8(es256.privateKey)), 'invalid_key');
  add('PEM that is not a key', good, options('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'), 'invalid_key');
  return cases;
}

/** Runs every case through `verifyToken`; returns `{ name, expect, got }` per case. */
export async function runCases(verifyToken, cases) {
  const out = [];
  for (const c of cases) {
    let got;
    try {
      const r = await verifyToken(c.token, c.options);
      got = r?.prizeLabel === claims.gift.label ? 'ok' : `accepted with ${JSON.stringify(r)}`;
    } catch (err) {
      got = err?.code ?? `threw ${err}`;
    }
    out.push({ name: c.name, expect: c.expect, got });
  }
  return out;
}
