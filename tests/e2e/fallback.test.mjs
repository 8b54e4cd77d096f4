// The pure-Rust fallback module in Chromium: a campaign page served over plain http: from a
// name that is not localhost is not a secure context and has no WebCrypto, so the JS entry
// loads the fallback build and the page verifies and renders as it does over https. A page in
// a secure context never downloads the fallback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { setup, waitForVerdict, readCampaign, campaignUrl, CHROMIUM_ARGS, LABEL } from './helpers.mjs';

let env;
let insecureBrowser;
before(async () => {
  env = await setup();
  // campaign.test resolves to the loopback campaign server, but is not a "potentially
  // trustworthy" origin: no secure context, no crypto.subtle.
  insecureBrowser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP campaign.test 127.0.0.1'],
  });
});
after(async () => {
  await insecureBrowser?.close();
  await env?.teardown();
});

const fallbackRequests = () => env.campaign.requests.filter((r) => r.path.includes('campaign_token_fallback'));

test('a secure page verifies with WebCrypto and never downloads the fallback', async () => {
  env.servers.clearRequests();
  const context = await env.browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(campaignUrl(env.campaign.origin, { query: env.tokens['given-prize'] }));
    await waitForVerdict(page, 'given-prize');
    assert.equal(await page.evaluate(() => window.campaignSession.backend), 'webcrypto');
    assert.deepEqual(fallbackRequests(), []);
  } finally { await context.close(); }
});

test('a page on plain http: (no WebCrypto) verifies with the fallback module', async () => {
  env.servers.clearRequests();
  const port = new URL(env.campaign.origin).port;
  const context = await insecureBrowser.newContext();
  try {
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (err) => problems.push(err.message));
    await page.goto(`http://campaign.test:${port}/?token=${encodeURIComponent(env.tokens['given-prize'])}`);
    await waitForVerdict(page, 'given-prize');
    const state = await readCampaign(page);
    assert.equal(state.prizeName, LABEL);
    assert.equal(state.headline, `Play and win ${LABEL}`);
    assert.ok(!state.href.includes('token'), state.href);
    assert.deepEqual(await page.evaluate(() => ({
      secure: window.isSecureContext, subtle: typeof globalThis.crypto?.subtle, backend: window.campaignSession.backend,
    })), { secure: false, subtle: 'undefined', backend: 'pure-rust' });
    assert.ok(fallbackRequests().some((r) => r.path.endsWith('campaign_token_fallback_bg.wasm')));

    // The same verdicts as WebCrypto's for a forged and an expired token.
    for (const [name, code] of [['forged', 'bad_signature'], ['expired', 'expired']]) {
      await page.goto(`http://campaign.test:${port}/?case=${name}#token=${encodeURIComponent(env.tokens[name])}`);
      await waitForVerdict(page, 'invalid');
      assert.equal((await readCampaign(page)).code, code);
    }
    assert.deepEqual(problems, []);
  } finally { await context.close(); }
});
