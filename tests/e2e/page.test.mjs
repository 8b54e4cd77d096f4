// The campaign page as deployed: the contract's security headers and MIME types, the module
// working under the strict CSP (and failing without 'wasm-unsafe-eval', which is why the
// CSP needs it), personalised text hidden until the verdict but never for good, the
// participate button talking to the allocation API, and screenshots for a human to look at.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  setup, newPage, waitForVerdict, readCampaign, campaignUrl, WAIT, LABEL, CAMPAIGN_ID,
} from './helpers.mjs';

let env;
before(async () => { env = await setup(); });
after(async () => { await env?.teardown(); });

describe('security headers and the strict CSP', () => {
  test('the campaign page and its module are served with the contract headers and MIME types', async () => {
    const page = await fetch(`${env.campaign.origin}/`);
    assert.equal(page.headers.get('content-security-policy'),
      "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; " +
      `connect-src 'self'; frame-ancestors 'self' ${env.integrator.origin} ${env.other.origin}; base-uri 'none'; ` +
      "form-action 'self'; object-src 'none'");
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.match(page.headers.get('content-type'), /^text\/html/);
    const wasm = await fetch(`${env.campaign.origin}/pkg/campaign_token_bg.wasm`);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    const js = await fetch(`${env.campaign.origin}/pkg/index.js`);
    assert.match(js.headers.get('content-type'), /^text\/javascript/);
    // The generated config is served from the test's directory, never from www/.
    const traversal = await fetch(`${env.campaign.origin}/pkg/..%2f..%2fpackage.json`);
    assert.equal(traversal.status, 404);
  });

  test('under the strict CSP the module runs with no violation and no console error', async () => {
    const { context, page, problems } = await newPage(env.browser);
    try {
      await page.goto(campaignUrl(env.campaign.origin, { query: env.tokens['given-prize'] }));
      await waitForVerdict(page, 'given-prize');
      const state = await readCampaign(page);
      assert.equal(state.prizeName, LABEL);
      assert.deepEqual(state.cspViolations, []);
      assert.deepEqual(problems, []);
    } finally { await context.close(); }
  });

  test("without 'wasm-unsafe-eval' the module cannot compile: a CSP violation, no verdict, standard content shown", async () => {
    env.servers.setCampaignPolicy({ wasmUnsafeEval: false });
    const { context, page } = await newPage(env.browser);
    try {
      const served = (await fetch(`${env.campaign.origin}/`)).headers.get('content-security-policy');
      assert.ok(served.includes("script-src 'self';") && !served.includes('wasm-unsafe-eval'), served);
      await page.goto(campaignUrl(env.campaign.origin, { query: env.tokens['given-prize'] }));
      await page.waitForFunction(() => document.documentElement.dataset.tokenModule === 'failed', null, WAIT);
      const state = await readCampaign(page);
      assert.ok(state.cspViolations.some((v) => v.directive.startsWith('script-src') && v.blocked === 'wasm-eval'),
        JSON.stringify(state.cspViolations));
      assert.equal(state.eligibility, null);
      assert.equal(state.status, 'failed');
      // init rejected with a code, and the token had left the address bar first.
      assert.equal(state.code, 'load_failed');
      assert.equal(state.href, `${env.campaign.origin}/`);
      assert.ok(!state.allText.includes(LABEL));
      // The personalised parts must not stay hidden when the module cannot start.
      assert.equal(await page.evaluate(() => getComputedStyle(document.getElementById('headline')).visibility), 'visible');
    } finally {
      await context.close();
      env.servers.setCampaignPolicy();
    }
  });
});

describe('no flash of the fallback prize', () => {
  test('personalised text is hidden until the verdict, revealed even if the module never arrives, then rendered', async () => {
    const { context, page } = await newPage(env.browser);
    let release;
    const held = new Promise((r) => { release = r; });
    // Hold the module back: the page must keep the personalised parts hidden meanwhile.
    await page.route('**/pkg/index.js', async (route) => { await held; await route.continue(); });
    // Slow the page's CSS animations down tenfold so the check below happens well inside the
    // reveal bound (2.5 s) however loaded the machine is; then back to normal speed.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Animation.enable');
    await cdp.send('Animation.setPlaybackRate', { playbackRate: 0.1 });
    try {
      await page.goto(campaignUrl(env.campaign.origin, { query: env.tokens['given-prize'] }), { waitUntil: 'commit' });
      await page.waitForSelector('#headline', { state: 'attached', ...WAIT });
      // The rule that hides it is in style.css, which blocks rendering but not parsing: a
      // visitor sees nothing before it applies, a test reading styles could (a race on a
      // loaded machine). Read once it has loaded.
      await page.waitForFunction(() => [...document.querySelectorAll('link[rel=stylesheet]')].every((l) => l.sheet), null, WAIT);
      const early = await page.evaluate(() => ({
        visibility: getComputedStyle(document.getElementById('headline')).visibility,
        verdict: document.documentElement.getAttribute('data-token-eligibility'),
      }));
      assert.deepEqual(early, { visibility: 'hidden', verdict: null });
      await cdp.send('Animation.setPlaybackRate', { playbackRate: 1 });
      // Bounded: with no verdict at all the standard content appears on its own.
      await page.waitForFunction(() => getComputedStyle(document.getElementById('headline')).visibility === 'visible', null, WAIT);
      assert.equal(await page.evaluate(() => document.documentElement.getAttribute('data-token-eligibility')), null);
      release();
      await waitForVerdict(page, 'given-prize');
      assert.equal((await readCampaign(page)).headline, `Play and win ${LABEL}`);
    } finally {
      release();
      await context.close();
    }
  });
});

describe('participation', () => {
  test('the button posts the raw token as JSON to the endpoint and shows a win with its prize label', async () => {
    const token = env.tokens['given-prize'];
    env.campaign.apiCalls.length = 0;
    env.campaign.api = async () => ({
      status: 200,
      json: { participationId: 'p-1', outcome: 'won', prize: { id: 'espresso', label: LABEL }, eligibility: 'given-prize', replayed: false },
    });
    const { context, page, problems } = await newPage(env.browser);
    try {
      await page.goto(campaignUrl(env.campaign.origin, { fragment: token }));
      await waitForVerdict(page, 'given-prize');
      await page.click('#participate');
      await page.waitForSelector('#outcome[data-outcome="won"]', WAIT);
      assert.match(await page.textContent('#outcome'), new RegExp(`You won ${LABEL}`));
      // One entry per invitation: the button does not invite a second (replayed) one.
      assert.equal(await page.isDisabled('#participate'), true);
      assert.equal(env.campaign.apiCalls.length, 1);
      const call = env.campaign.apiCalls[0];
      assert.equal(call.method, 'POST');
      assert.equal(call.path, `/api/campaigns/${CAMPAIGN_ID}/participations`);
      assert.match(call.contentType, /^application\/json/);
      assert.equal(JSON.parse(call.body).token, token);
      assert.deepEqual(problems, []);
    } finally {
      env.campaign.api = null;
      await context.close();
    }
  });

  for (const [outcome, text] of [['entered-draw', 'entered in the final draw'], ['not-eligible', 'not eligible'], ['lost', 'Not this time']]) {
    test(`the page shows the server's outcome ${outcome}`, async () => {
      env.campaign.api = async () => ({ json: { participationId: 'p-2', outcome, prize: null, eligibility: 'standard', replayed: false } });
      const { context, page } = await newPage(env.browser);
      try {
        await page.goto(campaignUrl(env.campaign.origin, { query: env.tokens.standard }));
        await waitForVerdict(page, 'standard');
        await page.click('#participate');
        await page.waitForSelector(`#outcome[data-outcome="${outcome}"]`, WAIT);
        assert.ok((await page.textContent('#outcome')).includes(text));
      } finally {
        env.campaign.api = null;
        await context.close();
      }
    });
  }

  test("a server refusal shows the server's error code", async () => {
    env.campaign.api = async () => ({ status: 409, json: { error: { code: 'campaign_ended', message: 'The campaign has ended.' } } });
    const { context, page } = await newPage(env.browser);
    try {
      await page.goto(campaignUrl(env.campaign.origin, { query: env.tokens['any-prize'] }));
      await waitForVerdict(page, 'any-prize');
      await page.click('#participate');
      await page.waitForSelector('#outcome[data-outcome="error"]', WAIT);
      assert.equal(await page.getAttribute('#outcome', 'data-code'), 'campaign_ended');
      assert.ok((await page.textContent('#outcome')).includes('campaign_ended'));
      // A refusal records nothing: the visitor may try again.
      assert.equal(await page.isDisabled('#participate'), false);
    } finally {
      env.campaign.api = null;
      await context.close();
    }
  });
});

describe('screenshots', () => {
  test('the campaign page with a given-prize token and the integrator page render (PNG for review)', async () => {
    const outDir = process.env.E2E_SCREENSHOT_DIR || env.dir;
    await fs.mkdir(outDir, { recursive: true });
    const { context, page } = await newPage(env.browser);
    try {
      await page.setViewportSize({ width: 1000, height: 900 });
      await page.goto(campaignUrl(env.campaign.origin, { query: env.tokens['given-prize'] }));
      await waitForVerdict(page, 'given-prize');
      const campaignPng = path.join(outDir, 'campaign-given-prize.png');
      await page.screenshot({ path: campaignPng, fullPage: true });

      await page.goto(campaignUrl(env.campaign.origin, { query: env.tokens.expired }));
      await waitForVerdict(page, 'invalid');
      const invalidPng = path.join(outDir, 'campaign-expired.png');
      await page.screenshot({ path: invalidPng });

      await page.setViewportSize({ width: 1400, height: 950 });
      await page.goto(`${env.integrator.origin}/`);
      const frame = await (await page.waitForSelector('iframe#campaign', WAIT)).contentFrame();
      await waitForVerdict(frame, 'none');
      await page.click('#cases button[data-case="given-prize"]');
      await page.waitForSelector('#last-result[data-state="ok"]', WAIT);
      await waitForVerdict(frame, 'given-prize');
      const integratorPng = path.join(outDir, 'integrator-given-prize.png');
      await page.screenshot({ path: integratorPng });

      for (const png of [campaignPng, invalidPng, integratorPng]) {
        const head = (await fs.readFile(png)).subarray(0, 8);
        assert.deepEqual([...head], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      }
      if (process.env.E2E_SCREENSHOT_DIR) console.log(`screenshots: ${campaignPng} ${invalidPng} ${integratorPng}`);
    } finally { await context.close(); }
  });
});
