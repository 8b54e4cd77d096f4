// The participation end to end against the REAL allocation server (server/, SQLite): the
// server serves the campaign page with its own headers, the visitor opens it with a token
// in the URL and clicks "Take part", and the page shows what the server decided. Also a
// token handed over by postMessage from the integrator page on the server's second
// listener. The operator's stats must never show more winners than prizes.
//
// The server and its campaign: tests/e2e/real-server.mjs.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  newPage, waitForVerdict, readCampaign, campaignUrl, WAIT, LABEL,
} from './helpers.mjs';
import { startRealServer, CAMPAIGN_ID, PRIZE } from './real-server.mjs';

let env;
before(async () => { env = await startRealServer(); });
after(async () => { await env?.teardown(); });

/** Opens the campaign page (served by the server) with `token` in the URL, clicks
 * "Take part" and returns what the page shows. */
async function participate(token, eligibility) {
  const { context, page, problems } = await newPage(env.browser);
  try {
    await page.goto(campaignUrl(env.origin, { query: token }));
    await waitForVerdict(page, eligibility);
    return await clickTakePart(page, problems);
  } finally { await context.close(); }
}

async function clickTakePart(frame, problems = []) {
  await frame.waitForSelector('#participate:not([disabled])', WAIT);
  await frame.click('#participate');
  await frame.waitForFunction(() => document.getElementById('outcome').dataset.outcome !== undefined, null, WAIT);
  return frame.evaluate((problems) => {
    const el = document.getElementById('outcome');
    return {
      outcome: el.dataset.outcome, text: el.textContent, code: el.dataset.code ?? null,
      participationId: el.dataset.participationId ?? null,
      button: document.getElementById('participate').textContent, problems,
    };
  }, problems);
}

const stats = () => env.stats();

describe('participation against the real allocation server (draw campaign, 1 prize)', () => {
  let first;

  test('the operator endpoints need the bearer token', async () => {
    const r = await fetch(`${env.origin}/api/campaigns/${CAMPAIGN_ID}/stats`);
    assert.equal(r.status, 401);
  });

  test('given-prize: won, with the token\'s label', async () => {
    first = await participate(env.tokens['given-prize'], 'given-prize');
    assert.equal(first.outcome, 'won', first.text);
    assert.equal(first.text, `You won ${LABEL}!`);
    assert.equal(first.button, 'Entry recorded');
    assert.match(first.participationId, /^[0-9a-f]{32}$/);
    assert.deepEqual(first.problems, []);
  });

  test('the same token again: the recorded win, replayed, not a second prize', async () => {
    const again = await participate(env.tokens['given-prize'], 'given-prize');
    assert.equal(again.outcome, 'won');
    assert.equal(again.text, `You won ${LABEL}! (already recorded)`);
    assert.equal(again.participationId, first.participationId);
  });

  test('another given-prize token once the stock is gone: lost', async () => {
    const r = await participate(env.tokens['given-prize-2'], 'given-prize');
    assert.equal(r.outcome, 'lost', r.text);
  });

  test('standard: entered in the draw', async () => {
    const r = await participate(env.tokens.standard, 'standard');
    assert.equal(r.outcome, 'entered-draw', r.text);
  });

  test('cannot-win: recorded, not eligible', async () => {
    const r = await participate(env.tokens['cannot-win'], 'cannot-win');
    assert.equal(r.outcome, 'not-eligible', r.text);
    assert.ok(!r.text.includes('never shown'));
  });

  test('a token sent by postMessage from the integrator page (second listener), then Take part', async () => {
    const { context, page, problems } = await newPage(env.browser);
    try {
      await page.goto(`${env.integratorOrigin}/`);
      await page.waitForFunction(() => document.querySelectorAll('#cases button').length > 0, null, WAIT);
      const frame = await (await page.waitForSelector('iframe#campaign', WAIT)).contentFrame();
      await frame.waitForURL((u) => u.origin === env.origin, WAIT);
      await waitForVerdict(frame, 'none');
      await page.click('#cases button[data-case="any-prize"]');
      await page.waitForFunction(() => {
        const el = document.getElementById('last-result');
        return el.dataset.case === 'any-prize' && el.dataset.state !== 'pending';
      }, null, WAIT);
      assert.equal(await page.evaluate(() => document.getElementById('last-result').dataset.result), 'any-prize');
      await waitForVerdict(frame, 'any-prize');
      const r = await clickTakePart(frame);
      assert.equal(r.outcome, 'lost', r.text); // the only prize is gone
      assert.deepEqual((await readCampaign(frame)).cspViolations, []);
      assert.deepEqual(problems, []);
    } finally { await context.close(); }
  });

  test('the page greets from form and prefills the entry form, as text, leaving what the visitor typed', async () => {
    const { context, page, problems } = await newPage(env.browser);
    try {
      await page.goto(campaignUrl(env.origin, { query: env.tokens.personal }));
      await waitForVerdict(page, 'given-prize');
      const read = () => page.evaluate(() => ({
        greeting: document.getElementById('greeting').textContent,
        bold: document.querySelectorAll('#greeting b').length,
        email: document.getElementById('entry-email').value,
        newsletter: document.getElementById('entry-newsletter').checked,
        access: document.documentElement.dataset.tokenAccess,
      }));
      assert.deepEqual(await read(), {
        greeting: 'Hello <b>Sam</b>, your details for the draw:', bold: 0,
        email: 'sam@example.com', newsletter: true, access: 'allowed',
      });
      await page.fill('#entry-email', 'me@example.org');
      await page.uncheck('#entry-newsletter');
      // The same token again (from page code): the visitor's entries stay.
      await page.evaluate((t) => window.campaignSession.setToken(t), env.tokens.personal);
      const after = await read();
      assert.equal(after.email, 'me@example.org');
      assert.equal(after.newsletter, false);
      assert.deepEqual(problems, []);
    } finally { await context.close(); }
  });

  test('limit.canPlay false: data-token-access="denied", and participate() refuses without a request', async () => {
    const { context, page, problems } = await newPage(env.browser);
    try {
      const posts = [];
      page.on('request', (r) => { if (r.method() === 'POST') posts.push(r.url()); });
      await page.goto(campaignUrl(env.origin, { query: env.tokens.denied }));
      await waitForVerdict(page, 'given-prize');
      assert.equal(await page.evaluate(() => document.documentElement.dataset.tokenAccess), 'denied');
      const r = await clickTakePart(page, problems);
      assert.equal(r.outcome, 'error', r.text);
      assert.equal(r.code, 'not_allowed');
      assert.deepEqual(posts, []);
    } finally { await context.close(); }
  });

  test('operator stats: one winner for one prize, every outcome counted once', async () => {
    const s = await stats();
    assert.ok(s.winners <= PRIZE.quantity, JSON.stringify(s));
    assert.equal(s.winners, 1);
    assert.deepEqual(s.outcomes, { won: 1, lost: 2, 'entered-draw': 1, 'not-eligible': 1 });
    assert.equal(s.participations, 5);
    assert.deepEqual(s.prizes.map((p) => [p.id, p.quantity, p.remaining]), [[PRIZE.id, PRIZE.quantity, 0]]);
  });
});

describe('the server process', () => {
  test('stops on SIGTERM, leaving nothing behind', async () => {
    const { child } = env;
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.kill('SIGTERM');
    assert.deepEqual(await exited, { code: 0, signal: null });
  });
});
