// Interoperability with an independent JOSE implementation, the npm `jose` package:
// tokens jose signs (every algorithm we accept) pass our token tool's `verify` — which is
// the core's Verifier::verify, the browser's code path — with the right result, and fail it
// with the right code when expired or for another campaign; tokens our `keygen` + `mint`
// produce pass jose's `jwtVerify`, with the SPKI PEM and with the JWKS.
//
// Run by scripts/test-interop.sh, which builds the binary first. CAMPAIGN_TOKEN_BIN names
// the binary; without it, the debug build in $CARGO_TARGET_DIR (or ./target) is used.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.CAMPAIGN_TOKEN_BIN
  ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'debug', 'campaign-token');

const ALGS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const CAMPAIGN = 'summer-2026';
const NOW = 1_700_000_000; // fixed clock, seconds
const ISSUER = 'https://brand.example';

let dir;
before(() => {
  assert.ok(fs.existsSync(BIN), `token tool not built: ${BIN} (run scripts/test-interop.sh)`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'campaign-token-interop-'));
});
after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

/** Runs the token tool; returns { code, stdout, stderr, json }. */
function cli(args, input) {
  const r = spawnSync(BIN, args, { input: input ?? '', encoding: 'utf8' });
  if (r.error) throw r.error;
  let json = null;
  try { json = JSON.parse(r.stdout); } catch { /* not JSON: left null */ }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

function write(name, text) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function verify(keyFile, token, { now = NOW + 5, campaign = CAMPAIGN, extra = [] } = {}) {
  return cli(['verify', '--key', keyFile, '--campaign', campaign, '--now', String(now), ...extra, token]);
}

/** A jose key pair for `alg` with its public key as SPKI PEM and as a JWK (kid, alg, use). */
async function joseKey(alg) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(jwk);
  return {
    alg,
    kid,
    privateKey,
    spki: await jose.exportSPKI(publicKey),
    jwk: { ...jwk, kid, alg, use: 'sig' },
  };
}

async function joseSign(key, claims, header = {}) {
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, typ: 'JWT', kid: key.kid, ...header })
    .sign(key.privateKey);
}

function claims(extra = {}) {
  return {
    sub: 'user-42', campaignId: CAMPAIGN, iat: NOW, exp: NOW + 600,
    gift: { cw: true, label: 'Spa day' }, ...extra,
  };
}

test("these are every algorithm the token tool lists (the library's table)", () => {
  const help = cli(['keygen', '--help']);
  assert.equal(help.code, 0, help.stderr);
  const listed = help.stdout.match(/\[possible values: ([^\]]*)\]/)?.[1].split(', ');
  assert.deepEqual(listed, ALGS);
});

describe('tokens signed by jose pass our verify', () => {
  const keys = {};
  let allJwks;
  before(async () => {
    for (const alg of ALGS) keys[alg] = await joseKey(alg);
    // One JWKS with every key, as a brand rotating keys would publish.
    allJwks = write('jose-all.jwks.json', JSON.stringify({ keys: ALGS.map((a) => keys[a].jwk) }));
  });

  for (const alg of ALGS) {
    test(`${alg}: accepted with the SPKI PEM, the single-key JWKS and the ${ALGS.length}-key JWKS`, async () => {
      const key = keys[alg];
      const token = await joseSign(key, claims({ iss: ISSUER }));
      const pem = write(`jose-${alg}.pem`, key.spki);
      const jwks = write(`jose-${alg}.jwks.json`, JSON.stringify({ keys: [key.jwk] }));
      for (const file of [pem, jwks, allJwks]) {
        const r = verify(file, token, { extra: ['--issuer', ISSUER] });
        assert.equal(r.code, 0, `${alg} ${path.basename(file)}: ${r.stdout}${r.stderr}`);
        assert.deepEqual(r.json, {
          sub: 'user-42', campaignId: CAMPAIGN, exp: NOW + 600, iat: NOW, nbf: null,
          iss: ISSUER, gift: { cw: true, label: 'Spa day' }, eligibility: 'given-prize',
          prizeLabel: 'Spa day', limit: null, form: null, optin: null, custom: null, alg, kid: key.kid,
        });
      }
    });

    test(`${alg}: expired and wrong-campaign jose tokens are rejected with their codes`, async () => {
      const key = keys[alg];
      const pem = write(`jose-${alg}-neg.pem`, key.spki);
      const token = await joseSign(key, claims());
      const expired = verify(pem, token, { now: NOW + 600 + 60 });
      assert.equal(expired.code, 1, expired.stderr);
      assert.equal(expired.json.error.code, 'expired');
      assert.equal(expired.json.error.claim, 'exp');
      // One second earlier it is still inside the 60 s tolerance.
      assert.equal(verify(pem, token, { now: NOW + 600 + 59 }).code, 0);

      const other = await joseSign(key, claims({ campaignId: 'winter-2026' }));
      const wrong = verify(pem, other);
      assert.equal(wrong.code, 1, wrong.stderr);
      assert.equal(wrong.json.error.code, 'wrong_campaign');
      assert.equal(wrong.json.error.claim, 'campaignId');
    });
  }

  test('every eligibility row survives a jose-signed round trip', async () => {
    const key = keys.ES256;
    const pem = write('jose-rows.pem', key.spki);
    const rows = [
      [{ cw: true, label: 'Spa' }, 'given-prize', 'Spa'],
      [{ cw: true }, 'any-prize', null],
      [{ cw: false, label: 'Spa' }, 'cannot-win', null],
      [{ cw: false }, 'cannot-win', null],
      [{ label: 'Spa' }, 'given-prize', 'Spa'],
      [{}, 'standard', null],
      [undefined, 'standard', null],
    ];
    for (const [gift, eligibility, prizeLabel] of rows) {
      const token = await joseSign(key, claims({ gift }));
      const r = verify(pem, token);
      assert.equal(r.code, 0, r.stdout);
      assert.equal(r.json.eligibility, eligibility, JSON.stringify(gift));
      assert.equal(r.json.prizeLabel, prizeLabel, JSON.stringify(gift));
      assert.deepEqual(r.json.gift, gift ?? null);
    }
  });

  test('a jose token carrying the whole contract (limit, form, optin, custom) verifies with every member', async () => {
    const key = keys.ES256;
    const pem = write('jose-contract.pem', key.spki);
    const contract = {
      limit: { nb: 4, canPlay: true },
      form: null,
      optin: { newsletter: true, sms: false },
      custom: { tier: 'gold', points: 1.5 },
    };
    // As a brand's backend sends it: __proto__ an own member (JSON.parse), not the prototype.
    contract.form = JSON.parse('{"firstName":"Ada","email":"ada@example.com","age":36,"vip":true,"__proto__":"data"}');
    const payload = { ...claims(), ...contract };
    const token = await joseSign(key, payload);
    const r = verify(pem, token);
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(r.json.limit, contract.limit);
    assert.equal(r.json.form.firstName, 'Ada');
    assert.equal(r.json.form.age, 36);
    assert.equal(Object.getOwnPropertyDescriptor(r.json.form, '__proto__')?.value, 'data');
    assert.deepEqual(r.json.optin, contract.optin);
    assert.deepEqual(r.json.custom, contract.custom);
    // Each wrong type is invalid_claim naming its path.
    for (const [extra, claim] of [
      [{ limit: { nb: 0 } }, 'limit.nb'], [{ limit: { canPlay: 'no' } }, 'limit.canPlay'],
      [{ form: { email: null } }, 'form.email'], [{ optin: { newsletter: 'yes' } }, 'optin.newsletter'],
      [{ custom: { order: 2 ** 60 } }, 'custom.order'], [{ form: ['x'] }, 'form'],
    ]) {
      const bad = verify(pem, await joseSign(key, claims(extra)));
      assert.equal(bad.code, 1, JSON.stringify(extra));
      assert.deepEqual([bad.json.error.code, bad.json.error.claim], ['invalid_claim', claim]);
    }
  });

  test('a jose token read from stdin with a trailing newline is accepted', async () => {
    const key = keys.EdDSA;
    const pem = write('jose-stdin.pem', key.spki);
    const token = await joseSign(key, claims());
    const r = cli(['verify', '--key', pem, '--campaign', CAMPAIGN, '--now', String(NOW), '-'], `${token}\n`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.json.sub, 'user-42');
  });

  test('jose HS256 with the public PEM as secret is refused as unsupported_algorithm', async () => {
    const key = keys.ES256;
    const pem = write('jose-hs.pem', key.spki);
    const secret = new TextEncoder().encode(key.spki);
    const token = await new jose.SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(secret);
    const r = verify(pem, token);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.json.error.code, 'unsupported_algorithm');
  });

  test('a jose token signed by a key the brand does not trust is bad_signature', async () => {
    const attacker = await joseKey('ES256');
    const { kid, alg, use, ...bareJwk } = attacker.jwk;
    const token = await joseSign(attacker, claims(), { jwk: bareJwk });
    const pem = write('jose-brand.pem', keys.ES256.spki);
    const r = verify(pem, token);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.json.error.code, 'bad_signature');
  });
});

describe('tokens our tool mints pass jose jwtVerify', () => {
  for (const alg of ALGS) {
    test(`${alg}: keygen + mint, verified by jose with the PEM and with the JWKS`, async () => {
      const out = path.join(dir, `ours-${alg}`);
      const kg = cli(['keygen', '--alg', alg, '--out-dir', out]);
      assert.equal(kg.code, 0, kg.stderr);
      const mintArgs = [
        'mint', '--key', path.join(out, 'private.pem'), '--campaign', CAMPAIGN, '--sub', 'user-42',
        '--cw', 'true', '--label', 'Spa day', '--iss', ISSUER, '--ttl', '10m', '--now', String(NOW),
      ];
      if (alg.startsWith('RS') || alg.startsWith('PS')) mintArgs.push('--alg', alg);
      const minted = cli(mintArgs);
      assert.equal(minted.code, 0, minted.stderr);
      const token = minted.stdout.trim();

      const jwks = JSON.parse(fs.readFileSync(path.join(out, 'jwks.json'), 'utf8'));
      assert.equal(jwks.keys.length, 1);
      const kid = jwks.keys[0].kid;
      // Our kid is the RFC 7638 thumbprint, computed independently by jose.
      assert.equal(kid, await jose.calculateJwkThumbprint(jwks.keys[0]));

      const options = {
        algorithms: [alg], issuer: ISSUER, currentDate: new Date((NOW + 5) * 1000),
        requiredClaims: ['sub', 'exp', 'campaignId'],
      };
      const spki = await jose.importSPKI(fs.readFileSync(path.join(out, 'public.pem'), 'utf8'), alg);
      for (const key of [spki, jose.createLocalJWKSet(jwks)]) {
        const { payload, protectedHeader } = await jose.jwtVerify(token, key, options);
        assert.deepEqual(protectedHeader, { alg, typ: 'JWT', kid });
        assert.deepEqual(payload, {
          sub: 'user-42', iss: ISSUER, iat: NOW, exp: NOW + 600, campaignId: CAMPAIGN,
          gift: { cw: true, label: 'Spa day' },
        });
      }
      // jose applies the same expiry: a minute past exp (no tolerance) it refuses.
      await assert.rejects(
        jose.jwtVerify(token, spki, { ...options, currentDate: new Date((NOW + 660) * 1000) }),
        { code: 'ERR_JWT_EXPIRED' },
      );
      // And it refuses our token once tampered with.
      const [h, , s] = token.split('.');
      const forged = jose.base64url.encode(JSON.stringify({ sub: 'admin', campaignId: CAMPAIGN, exp: NOW + 600 }));
      await assert.rejects(jose.jwtVerify(`${h}.${forged}.${s}`, spki, options),
        { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    });
  }
});
