// The campaign embedded in the brand's page on another origin: tokens sent with the
// package's `sendToken`, the `ready`/`result` protocol, late tokens re-rendering, and
// messages from origins or of shapes the campaign does not accept changing nothing.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, newPage, waitForVerdict, readCampaign, WAIT, FALLBACK, LABEL } from './helpers.mjs';

let env;
before(async () => { env = await setup(); });
after(async () => { await env?.teardown(); });

/** Opens the integrator page served from `site` and returns it with its campaign frame. */
async function openIntegrator(site) {
  const opened = await newPage(env.browser);
  await opened.page.goto(`${site.origin}/`);
  await opened.page.waitForFunction(() => document.querySelectorAll('#cases button').length > 0, null, WAIT);
  const frame = await frameOf(opened.page, env.campaign.origin);
  await waitForVerdict(frame, 'none');
  return { ...opened, frame };
}

async function frameOf(page, origin) {
  const handle = await page.waitForSelector('iframe#campaign', WAIT);
  const frame = await handle.contentFrame();
  await frame.waitForURL((u) => u.origin === origin, WAIT);
  await frame.waitForLoadState('load', WAIT);
  return frame;
}

/** Clicks a case button on the integrator page and waits for the result it shows. */
async function send(page, name) {
  await page.click(`#cases button[data-case="${name}"]`);
  await page.waitForFunction(
    (n) => { const el = document.getElementById('last-result'); return el.dataset.case === n && el.dataset.state !== 'pending'; },
    name, WAIT);
  return page.evaluate(() => {
    const el = document.getElementById('last-result');
    return { state: el.dataset.state, result: el.dataset.result, text: el.textContent };
  });
}

/** Every campaign-token message the integrator page received, in order. */
function received(page) {
  return page.evaluate(() => [...document.querySelectorAll('#log li')].map((li) => li.textContent).reverse()
    .filter((t) => t.includes('← ')).map((t) => JSON.parse(t.slice(t.indexOf('← ') + 2))));
}

/** Counts every change the campaign page makes, from now on, for "changes nothing" checks. */
function watchChanges(frame) {
  return frame.evaluate(() => {
    window.__changes = { attr: 0, events: 0, text: 0, messagesSeen: 0 };
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.type === 'attributes') window.__changes.attr++; else window.__changes.text++;
      }
    }).observe(document.documentElement, { attributes: true, attributeFilter: ['data-token-eligibility'] });
    new MutationObserver(() => { window.__changes.text++; })
      .observe(document.getElementById('campaign'), { characterData: true, childList: true, subtree: true });
    document.addEventListener('campaign-token:change', () => { window.__changes.events++; });
    // Registered after the module's listener, so it runs after it for the same message.
    window.addEventListener('message', () => { window.__changes.messagesSeen++; });
  });
}

async function settledAfterMessages(frame, count) {
  await frame.waitForFunction((n) => window.__changes.messagesSeen >= n, count, WAIT);
  // The module may verify asynchronously: leave it ample time to (wrongly) react.
  await frame.evaluate(() => new Promise((r) => setTimeout(r, 1000)));
  return frame.evaluate(() => window.__changes);
}

describe('postMessage from the allowed integrator origin', () => {
  test('ready reaches the integrator; sendToken gets ok + eligibility and the label renders', async () => {
    const { context, page, frame, problems } = await openIntegrator(env.integrator);
    try {
      const r = await send(page, 'given-prize');
      assert.deepEqual({ state: r.state, result: r.result }, { state: 'ok', result: 'given-prize' });
      await waitForVerdict(frame, 'given-prize');
      const state = await readCampaign(frame);
      assert.equal(state.prizeName, LABEL);
      assert.equal(state.headline, `Play and win ${LABEL}`);
      assert.ok(state.winnersNote.includes(LABEL));
      const msgs = await received(page);
      assert.deepEqual(msgs[0], { type: 'campaign-token:ready' });
      const { id, ...reply } = msgs.at(-1);
      assert.deepEqual(reply, { type: 'campaign-token:result', ok: true, eligibility: 'given-prize' });
      assert.match(id, /^[0-9a-f]{32}$/, 'the reply echoes the request id sendToken generated');
      // The campaign allows a second origin that is not the parent: its replies go to the
      // parent's origin only, so Chromium logs no "target origin does not match" error.
      assert.deepEqual(state.cspViolations, []);
      assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);
      assert.deepEqual(problems, []);
    } finally { await context.close(); }
  });

  test('a late token re-renders, and an invalid late token restores the fallbacks and answers ok:false + code', async () => {
    const { context, page, frame } = await openIntegrator(env.integrator);
    try {
      assert.equal((await send(page, 'given-prize')).result, 'given-prize');
      await waitForVerdict(frame, 'given-prize');
      assert.equal((await readCampaign(frame)).prizeName, LABEL);
      await frame.evaluate(() => {
        window.__events = [];
        document.addEventListener('campaign-token:change', (e) => {
          window.__events.push(e.detail.result?.eligibility ?? e.detail.error?.code);
        });
      });

      assert.equal((await send(page, 'any-prize')).result, 'any-prize');
      await waitForVerdict(frame, 'any-prize');
      let state = await readCampaign(frame);
      assert.equal(state.prizeName, FALLBACK.prizeName);
      assert.equal(state.headline, FALLBACK.headline);

      assert.equal((await send(page, 'given-prize')).result, 'given-prize');
      await waitForVerdict(frame, 'given-prize');

      const bad = await send(page, 'forged');
      assert.deepEqual({ state: bad.state, result: bad.result }, { state: 'error', result: 'bad_signature' });
      await waitForVerdict(frame, 'invalid');
      state = await readCampaign(frame);
      assert.equal(state.prizeName, FALLBACK.prizeName);
      assert.equal(state.headline, FALLBACK.headline);
      assert.ok(!state.allText.includes(LABEL));
      assert.equal(state.code, 'bad_signature');
      const msgs = await received(page);
      assert.deepEqual({ ...msgs.at(-1), id: undefined },
        { type: 'campaign-token:result', ok: false, code: 'bad_signature', id: undefined });
      assert.equal(msgs.filter((m) => m.type === 'campaign-token:ready').length, 1);
      // Page code can follow every change through the DOM event, whose detail is the state.
      assert.deepEqual(await frame.evaluate(() => window.__events), ['any-prize', 'given-prize', 'bad_signature']);
    } finally { await context.close(); }
  });

  test('expired token by postMessage: ok:false with code expired', async () => {
    const { context, page, frame } = await openIntegrator(env.integrator);
    try {
      const r = await send(page, 'expired');
      assert.deepEqual({ state: r.state, result: r.result }, { state: 'error', result: 'expired' });
      await waitForVerdict(frame, 'invalid');
      assert.equal((await readCampaign(frame)).code, 'expired');
    } finally { await context.close(); }
  });

  test('messages of other shapes from the allowed origin change nothing', async () => {
    const { context, page, frame } = await openIntegrator(env.integrator);
    try {
      await watchChanges(frame);
      const token = env.tokens['given-prize'];
      await page.evaluate(({ token, origin }) => {
        const w = document.getElementById('campaign').contentWindow;
        w.postMessage({ type: 'campaign-token', token: 42 }, origin);
        w.postMessage({ type: 'campaign-token', jwt: token }, origin);
        w.postMessage({ type: 'campaign-token', token: { toString: null } }, origin);
        // A request id that is not a string of at most 64 characters makes the message malformed.
        w.postMessage({ type: 'campaign-token', token, id: 42 }, origin);
        w.postMessage({ type: 'campaign-token', token, id: null }, origin);
        w.postMessage({ type: 'campaign-token', token, id: 'x'.repeat(65) }, origin);
        w.postMessage({ type: 'campaign-token', token, id: ['a'] }, origin);
      }, { token, origin: env.campaign.origin });
      await page.evaluate(({ token, origin }) => {
        document.getElementById('campaign').contentWindow.postMessage({ type: 'token', token }, origin);
        document.getElementById('campaign').contentWindow.postMessage(token, origin);
      }, { token, origin: env.campaign.origin });
      const changes = await settledAfterMessages(frame, 9);
      assert.deepEqual({ attr: changes.attr, events: changes.events, text: changes.text }, { attr: 0, events: 0, text: 0 });
      const state = await readCampaign(frame);
      assert.equal(state.eligibility, 'none');
      assert.ok(!state.allText.includes(LABEL));
      assert.deepEqual((await received(page)).filter((m) => m.type !== 'campaign-token:ready'), []);
    } finally { await context.close(); }
  });

  test('a message event made by a script on the campaign page, claiming the allowed origin, changes nothing', async () => {
    // `new MessageEvent` can claim any origin and source; only the browser's events are taken
    // (isTrusted). The same token from the integrator, posted for real, is then accepted.
    const { context, page, frame } = await openIntegrator(env.integrator);
    try {
      await watchChanges(frame);
      await frame.evaluate(({ token, origin }) => {
        window.dispatchEvent(new MessageEvent('message', {
          origin, source: window.parent, data: { type: 'campaign-token', token, id: 'synthetic' },
        }));
      }, { token: env.tokens['given-prize'], origin: env.integrator.origin });
      const changes = await settledAfterMessages(frame, 1);
      assert.deepEqual({ attr: changes.attr, events: changes.events, text: changes.text }, { attr: 0, events: 0, text: 0 });
      assert.equal((await readCampaign(frame)).eligibility, 'none');
      assert.deepEqual((await received(page)).filter((m) => m.type !== 'campaign-token:ready'), []);
      const r = await send(page, 'given-prize');
      assert.deepEqual({ state: r.state, result: r.result }, { state: 'ok', result: 'given-prize' });
      await waitForVerdict(frame, 'given-prize');
    } finally { await context.close(); }
  });
});

/** Runs sendToken in the integrator page, as the brand's own code would. */
function sendTokens(page, requests) {
  return page.evaluate(async ({ requests, origin }) => {
    const { sendToken } = await import('/pkg/integrator.js');
    return Promise.all(requests.map(({ token, frameSrc, timeoutMs }) => {
      let iframe = document.getElementById('campaign');
      if (frameSrc) {
        iframe = document.createElement('iframe');
        iframe.src = frameSrc;
        document.body.append(iframe);
      }
      return sendToken(iframe, token, { targetOrigin: origin, timeoutMs });
    }));
  }, { requests, origin: env.campaign.origin });
}

describe('each sendToken gets the answer to its own token (request ids)', () => {
  test('two overlapping sendToken calls each resolve with their own verdict', async () => {
    const { context, page, frame } = await openIntegrator(env.integrator);
    try {
      const results = await sendTokens(page, [
        { token: env.tokens['given-prize'] }, { token: env.tokens.expired }, { token: env.tokens.standard },
      ]);
      assert.deepEqual(results, [
        { ok: true, eligibility: 'given-prize' }, { ok: false, code: 'expired' }, { ok: true, eligibility: 'standard' },
      ]);
      await waitForVerdict(frame, 'standard');
    } finally { await context.close(); }
  });

  test('the verdict on the token in the campaign URL is not taken as the answer to sendToken', async () => {
    const { context, page } = await openIntegrator(env.integrator);
    try {
      // A second frame whose URL carries a cannot-win token: at load it announces that
      // verdict (a result without id) before it answers the token sendToken sends on ready.
      const frameSrc = `${env.campaign.origin}/?token=${encodeURIComponent(env.tokens['cannot-win'])}`;
      const [result] = await sendTokens(page, [{ token: env.tokens['given-prize'], frameSrc }]);
      assert.deepEqual(result, { ok: true, eligibility: 'given-prize' });
      const frame = await (await page.$('iframe:not(#campaign)')).contentFrame();
      await waitForVerdict(frame, 'given-prize');
    } finally { await context.close(); }
  });

  test('no answer within timeoutMs resolves (does not reject) { ok: false, code: "timeout" }', async () => {
    // The campaign does not allow the third origin, so it never answers it.
    const { context, page } = await openIntegrator(env.other);
    try {
      const [result] = await sendTokens(page, [{ token: env.tokens['given-prize'], timeoutMs: 300 }]);
      assert.deepEqual(result, { ok: false, code: 'timeout' });
    } finally { await context.close(); }
  });
});

describe('postMessage from an origin that is not allowed', () => {
  test('the integrator page on a third origin gets no ready, and its token changes nothing', async () => {
    const { context, page, frame } = await openIntegrator(env.other);
    try {
      await watchChanges(frame);
      // The third origin posts a valid token straight to the campaign frame.
      await page.evaluate(({ token, origin }) => {
        document.getElementById('campaign').contentWindow.postMessage({ type: 'campaign-token', token }, origin);
      }, { token: env.tokens['given-prize'], origin: env.campaign.origin });
      const changes = await settledAfterMessages(frame, 1);
      assert.deepEqual({ attr: changes.attr, events: changes.events, text: changes.text }, { attr: 0, events: 0, text: 0 });
      const state = await readCampaign(frame);
      assert.equal(state.eligibility, 'none');
      assert.ok(!state.allText.includes(LABEL));
      // Replies go to the allowed origin only: this page heard nothing, not even `ready`.
      assert.deepEqual(await received(page), []);
    } finally { await context.close(); }
  });

  test('a message from another origin does not replace a token the allowed origin sent', async () => {
    // A visitor whose invitation link (given-prize) opened the campaign inside a page of an
    // origin the campaign does not trust: that page's token must not replace it.
    const { context, page, frame } = await openIntegrator(env.other);
    try {
      await frame.goto(`${env.campaign.origin}/?token=${encodeURIComponent(env.tokens['given-prize'])}`);
      await waitForVerdict(frame, 'given-prize');
      await watchChanges(frame);
      await page.evaluate(({ token, origin }) => {
        document.getElementById('campaign').contentWindow.postMessage({ type: 'campaign-token', token }, origin);
      }, { token: env.tokens.forged, origin: env.campaign.origin });
      const changes = await settledAfterMessages(frame, 1);
      assert.deepEqual({ attr: changes.attr, events: changes.events, text: changes.text }, { attr: 0, events: 0, text: 0 });
      const state = await readCampaign(frame);
      assert.equal(state.eligibility, 'given-prize');
      assert.equal(state.prizeName, LABEL);
    } finally { await context.close(); }
  });
});
