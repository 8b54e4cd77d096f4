// The integrator's exact-origin rule (js/integrator.js) against the vectors the Rust rule
// (core/src/origin.rs, used by the page and the server) is tested against: tests/origins.json.
// Every accepted origin is also what Node's WHATWG URL reports as that site's origin.
//
//   node --test tests/node/origin.test.mjs        (PKG_DIR=other/dir to test another build)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const pkgDir = resolve(process.env.PKG_DIR ?? new URL('../../pkg', import.meta.url).pathname);
const { sendToken } = await import(pathToFileURL(`${pkgDir}/integrator.js`));
const vectors = JSON.parse(readFileSync(new URL('../origins.json', import.meta.url), 'utf8'));

// sendToken only needs a window to listen on and a frame to post to.
globalThis.window ??= { addEventListener() {}, removeEventListener() {} };
const iframe = { contentWindow: { postMessage() {} } };

test('sendToken accepts every origin of tests/origins.json\'s accepted list', async () => {
  for (const origin of vectors.accepted) {
    assert.equal(new URL(origin).origin, origin, `${origin} is a browser's serialisation`);
    const result = await sendToken(iframe, 'token', { targetOrigin: origin, timeoutMs: 0 });
    assert.deepEqual(result, { ok: false, code: 'timeout' }, origin);
  }
});

test('sendToken refuses every origin of tests/origins.json\'s refused list with invalid_config', async () => {
  for (const origin of vectors.refused) {
    await assert.rejects(
      sendToken(iframe, 'token', { targetOrigin: origin, timeoutMs: 0 }),
      (err) => err.code === 'invalid_config' && err.name === 'CampaignTokenError',
      JSON.stringify(origin),
    );
  }
});
