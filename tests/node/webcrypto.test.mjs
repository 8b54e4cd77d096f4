// The browser build's signature step (WebCrypto) against hostile keys and signatures, in Node
// (OpenSSL's WebCrypto); tests/e2e/webcrypto.test.mjs runs the same cases in Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeCases, runCases } from './webcrypto-cases.mjs';

const pkgDir = resolve(process.env.PKG_DIR ?? new URL('../../pkg', import.meta.url).pathname);
const { verifyToken } = await import(pathToFileURL(`${pkgDir}/index.js`));

test('hostile keys and signatures get the same code as natively', async () => {
  const cases = await makeCases();
  assert.ok(cases.length >= 30);
  const wrong = (await runCases(verifyToken, cases)).filter((r) => r.got !== r.expect);
  assert.deepEqual(wrong, []);
});
