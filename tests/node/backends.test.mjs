// The two signature backends of the package give identical answers: the default module
// (WebCrypto; here Node's, OpenSSL) and the pure-Rust fallback module (the core's native
// backend: jwt-simple and RustCrypto), on the hostile keys and signatures of
// webcrypto-cases.mjs and on tokens of every algorithm minted with jose (an implementation
// independent of ours), untouched and tampered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as jose from 'jose';
import { makeCases, runCases, CAMPAIGN } from './webcrypto-cases.mjs';

const pkgDir = resolve(process.env.PKG_DIR ?? new URL('../../pkg', import.meta.url).pathname);
const { verifyToken, createVerifier } = await import(pathToFileURL(`${pkgDir}/index.js`));
const BACKENDS = ['webcrypto', 'pure-rust'];

test('auto picks WebCrypto where it has every algorithm, and either can be forced', async () => {
  const { publicKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const keys = { keys: [await jose.exportJWK(publicKey)] };
  assert.equal((await createVerifier({ campaignId: CAMPAIGN, keys })).backend, 'webcrypto');
  for (const backend of BACKENDS) {
    assert.equal((await createVerifier({ campaignId: CAMPAIGN, keys, backend })).backend, backend);
  }
  await assert.rejects(createVerifier({ campaignId: CAMPAIGN, keys, backend: 'openssl' }), { code: 'invalid_config' });
});

test('hostile keys and signatures get the native codes from both backends', async () => {
  const cases = await makeCases();
  for (const backend of BACKENDS) {
    const withBackend = cases.map((c) => ({ ...c, options: { ...c.options, backend } }));
    const wrong = (await runCases(verifyToken, withBackend)).filter((r) => r.got !== r.expect);
    assert.deepEqual(wrong, [], backend);
  }
});

test('jose tokens of every algorithm: identical verdicts and claims from both backends', async () => {
  const now = 1_700_000_000;
  const claims = { sub: 'member-7', campaignId: CAMPAIGN, iat: now, exp: now + 600, gift: { cw: true, label: 'Espresso machine', order: 12345678901 } };
  const algs = ['ES256', 'ES384', 'ES512', 'EdDSA', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
  for (const alg of algs) {
    // jose binds an RSA CryptoKey to one hash and padding: a pair per algorithm.
    const pair = await jose.generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
    const pem = await jose.exportSPKI(pair.publicKey);
    const jwk = { ...(await jose.exportJWK(pair.publicKey)), kid: 'k1' };
    const token = await new jose.SignJWT(claims).setProtectedHeader({ alg, kid: 'k1' }).sign(pair.privateKey);
    const [h, p, sig] = token.split('.');
    const flipped = Buffer.from(sig, 'base64url');
    flipped[flipped.length >> 1] ^= 1;
    const variants = {
      token,
      'tampered signature': `${h}.${p}.${flipped.toString('base64url')}`,
      'tampered payload': `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url')}.${sig}`,
      expired: token,
    };
    for (const keys of [pem, { keys: [jwk] }]) {
      const answers = {};
      for (const backend of BACKENDS) {
        for (const [name, t] of Object.entries(variants)) {
          const at = name === 'expired' ? now + 3600 : now;
          answers[`${backend} ${name}`] = await verifyToken(t, { campaignId: CAMPAIGN, keys, now: at, backend })
            .then((v) => v, (e) => e.code ?? String(e));
        }
      }
      for (const name of Object.keys(variants)) {
        assert.deepEqual(answers[`pure-rust ${name}`], answers[`webcrypto ${name}`], `${alg} ${name} (${typeof keys === 'string' ? 'PEM' : 'JWK'})`);
      }
      assert.equal(answers['webcrypto token'].alg, alg === 'EdDSA' ? 'EdDSA' : alg);
      assert.equal(answers['webcrypto token'].prizeLabel, 'Espresso machine');
      assert.equal(answers['webcrypto tampered signature'], 'bad_signature', alg);
      assert.equal(answers['webcrypto tampered payload'], 'bad_signature', alg);
      assert.equal(answers['webcrypto expired'], 'expired', alg);
    }
  }
});
