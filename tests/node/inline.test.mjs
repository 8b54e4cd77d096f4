// The `campaign-token/inline` entry (js/inline.js) in Node, from a copy of pkg/ WITHOUT its
// .wasm files, as a bundler that does not copy them (esbuild, Rollup) leaves a page: both
// modules load from the inlined bytes and the answers are the main entry's.
// (tests/bundlers/ runs it in Chromium after esbuild and Rollup.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as jose from 'jose';

const pkgDir = resolve(process.env.PKG_DIR ?? new URL('../../pkg', import.meta.url).pathname);
const copy = mkdtempSync(join(tmpdir(), 'campaign-token-inline-'));
process.on('exit', () => rmSync(copy, { recursive: true, force: true }));
cpSync(pkgDir, copy, { recursive: true, filter: (src) => !src.endsWith('.wasm') });

const inline = await import(pathToFileURL(join(copy, 'inline.js')));
const { CampaignTokenError } = inline;

const CAMPAIGN = 'summer-2026';
const now = Math.floor(Date.now() / 1000);
const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
const keys = { keys: [{ ...(await jose.exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] };
const token = await new jose.SignJWT({ campaignId: CAMPAIGN, gift: { cw: true, label: 'Spa day' } })
  .setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('user-42')
  .setIssuedAt(now).setExpirationTime(now + 300).sign(privateKey);

test('the inline entry verifies with the default (WebCrypto) module and no .wasm file', async () => {
  const verifier = await inline.createVerifier({ campaignId: CAMPAIGN, keys });
  assert.equal(verifier.backend, 'webcrypto');
  const result = await verifier.verify(token);
  assert.equal(result.eligibility, 'given-prize');
  assert.equal(result.prizeLabel, 'Spa day');
  assert.deepEqual(await inline.verifyToken(token, { campaignId: CAMPAIGN, keys }), result);
});

test('the inline entry loads the pure-Rust fallback from its inlined bytes too', async () => {
  const verifier = await inline.createVerifier({ campaignId: CAMPAIGN, keys, backend: 'pure-rust' });
  assert.equal(verifier.backend, 'pure-rust');
  const viaFallback = await verifier.verify(token);
  const viaDefault = await inline.verifyToken(token, { campaignId: CAMPAIGN, keys });
  assert.deepEqual(viaFallback, viaDefault);
  await assert.rejects(verifier.verify(token.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))),
    (err) => err instanceof CampaignTokenError && ['bad_signature', 'malformed'].includes(err.code));
});

test('the inline entry refuses options that are not an object as the main entry does', async () => {
  for (const options of [undefined, null, 'summer-2026', 42]) {
    await assert.rejects(inline.verifyToken(token, options),
      (err) => err instanceof CampaignTokenError && err.code === 'invalid_config', String(options));
  }
});

test('the inline entry exports what the main entry exports', async () => {
  const main = await import(pathToFileURL(join(copy, 'index.js')));
  assert.deepEqual(Object.keys(inline).sort(), Object.keys(main).sort());
  assert.equal(inline.CampaignTokenError, main.CampaignTokenError);
  // The package's export map names the entry, and its files are in the package.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  assert.equal(pkg.exports['./inline'].import, './pkg/inline.js');
  for (const f of ['pkg/inline.js', 'pkg/inline.d.ts', 'pkg/campaign_token_bg.wasm.base64.js',
    'pkg/campaign_token_fallback_bg.wasm.base64.js']) {
    assert.ok(pkg.files.includes(f), `package.json files lists ${f}`);
  }
});

test("a page's own fallbackWasm option wins over the inlined bytes", () => {
  // In a fresh process (this one has loaded the modules already): bytes that are not a wasm
  // module must fail to load, where the inlined bytes would have verified.
  const script = `
    const { createVerifier } = await import(${JSON.stringify(pathToFileURL(join(copy, 'inline.js')).href)});
    const options = { campaignId: 'c', keys: ${JSON.stringify(JSON.stringify(keys))} };
    await createVerifier(options);
    console.log('inlined: loaded');
    for (const name of ['wasm', 'fallbackWasm']) {
      const own = { ...options, backend: name === 'wasm' ? 'webcrypto' : 'pure-rust', [name]: new Uint8Array([0, 1, 2]) };
      console.log(await createVerifier(own).then(() => name + ': loaded', () => name + ': refused'));
    }`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  // The default module is loaded once per page: a later `wasm` option cannot replace it; the
  // fallback, not loaded yet, comes from the page's (broken) bytes.
  assert.deepEqual(out.trim().split('\n'), ['inlined: loaded', 'wasm: loaded', 'fallbackWasm: refused']);
});
