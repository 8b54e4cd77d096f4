// The browser build's signature step in Chromium's own WebCrypto (BoringSSL): the hostile
// keys and signatures of tests/node/webcrypto-cases.mjs, verified in the campaign page with
// the package's `verifyToken`, must get the same codes as natively (and as in Node).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, newPage, campaignUrl } from './helpers.mjs';
import { makeCases } from '../node/webcrypto-cases.mjs';

let env;
before(async () => { env = await setup(); });
after(async () => { await env?.teardown(); });

test('hostile keys and signatures get the same code in Chromium as natively', async () => {
  const cases = await makeCases();
  const { context, page, problems } = await newPage(env.browser);
  try {
    await page.goto(campaignUrl(env.campaign.origin));
    const results = await page.evaluate(async (cases) => {
      const { verifyToken } = await import('/pkg/index.js');
      const out = [];
      for (const c of cases) {
        let got;
        try {
          const r = await verifyToken(c.token, c.options);
          got = r?.prizeLabel === 'Espresso machine' ? 'ok' : `accepted with ${JSON.stringify(r)}`;
        } catch (err) {
          got = err?.code ?? `threw ${err}`;
        }
        out.push({ name: c.name, expect: c.expect, got });
      }
      return out;
    }, cases);
    assert.equal(results.length, cases.length);
    assert.deepEqual(results.filter((r) => r.got !== r.expect), []);
    assert.deepEqual(problems, []);
  } finally { await context.close(); }
});
