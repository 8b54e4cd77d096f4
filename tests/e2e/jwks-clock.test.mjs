// Keys from the brand's JWKS URL and the page's honest clock, in Chromium.
//
// - A JWKS server on another loopback origin (CORS, every request counted) rotates its keys:
//   a token with the new kid verifies once the page may refetch; unknown kids, however many,
//   cost one refetch a minute; a failing JWKS keeps the last good set. Time is moved with
//   Playwright's clock (it drives the page's Date.now and performance.now).
// - With the browser's clock 3 hours ahead or 2 hours behind, a fresh token verifies because the
//   page corrects its clock from the Date header of its own module's download (or a timeUrl),
//   and the session reports the offset; without any Date header the visitor's clock is used
//   and the same token shows as expired.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { SignJWT, generateKeyPair, exportJWK } from 'jose';
import { setup, newPage, waitForVerdict, readCampaign, campaignUrl, WAIT, CAMPAIGN_ID, DEFAULT_PRIZE_LABEL } from './helpers.mjs';
import { campaignCsp, writeConfig } from './serve.mjs';

const HOUR = 3_600_000;
const OLD_KID = 'brand-2026';
const NEW_KID = 'brand-2027';

let env;
/** The brand's JWKS server: what it serves now, and every request it got. */
const brand = { keys: [], status: 200, cacheControl: 'max-age=300', requests: [], origin: '', server: null };
const pairs = {};

before(async () => {
  env = await setup();
  for (const kid of [OLD_KID, NEW_KID]) {
    const pair = await generateKeyPair('ES256', { extractable: true });
    pairs[kid] = { ...pair, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' } };
  }
  // The campaign page trusts this file's first key (its own tokens are minted here).
  await writeConfig(path.join(env.dir, 'campaign'), {
    campaignId: CAMPAIGN_ID,
    keys: { keys: [pairs[OLD_KID].jwk] },
    allowedOrigins: [env.integrator.origin],
    endpoint: `/api/campaigns/${CAMPAIGN_ID}/participations`,
    defaultPrizeLabel: DEFAULT_PRIZE_LABEL,
  });
  brand.server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    brand.requests.push({ method: req.method, path: url.pathname, origin: req.headers.origin ?? null,
      cookie: req.headers.cookie ?? null, referer: req.headers.referer ?? null });
    const cors = {
      'Access-Control-Allow-Origin': env.campaign.origin,
      'Access-Control-Expose-Headers': 'Date',
      Vary: 'Origin',
    };
    if (url.pathname === '/time') {
      res.writeHead(204, { ...cors, 'Cache-Control': 'no-store' });
      return res.end();
    }
    if (brand.status !== 200) {
      res.writeHead(brand.status, { ...cors, 'Content-Type': 'text/plain' });
      return res.end('unavailable\n');
    }
    res.writeHead(200, { ...cors, 'Content-Type': 'application/json', 'Cache-Control': brand.cacheControl });
    res.end(JSON.stringify({ keys: brand.keys }));
  });
  brand.server.keepAliveTimeout = 1000;
  await new Promise((resolve) => brand.server.listen(0, '127.0.0.1', resolve));
  brand.origin = `http://127.0.0.1:${brand.server.address().port}`;
  // The campaign page may fetch from the brand's origin (connect-src), nothing else changes.
  env.campaign.headers = {
    ...env.campaign.headers,
    'Content-Security-Policy': campaignCsp([env.integrator.origin, env.other.origin])
      .replace("connect-src 'self'", `connect-src 'self' ${brand.origin}`),
  };
});

after(async () => {
  await new Promise((resolve) => { brand.server?.close(() => resolve()); brand.server?.closeAllConnections(); });
  await env?.teardown();
});

/** A token signed with `kid`'s key (or `signer`'s under another kid), on the real clock; valid `ttl` s
 * (an hour by default: the JWKS test moves the page's clock minutes ahead). */
function mint({ kid = OLD_KID, signer = kid, iatShift = 0, ttl = 3600 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ campaignId: CAMPAIGN_ID, gift: { cw: true, label: `prize for ${kid}` } })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
    .setSubject(`member-${Math.random().toString(36).slice(2, 10)}`)
    .setIssuedAt(now + iatShift)
    .setExpirationTime(now + ttl)
    .sign(pairs[signer].privateKey);
}

/** The campaign page (its own module, keys from its config), with a second session in it. */
async function openSession(page, options) {
  await page.goto(campaignUrl(env.campaign.origin));
  await page.waitForFunction(() => document.documentElement.dataset.tokenModule === 'ready', null, WAIT);
  await page.evaluate(async ([campaignId, extra]) => {
    const { init } = await import('/pkg/index.js');
    window.__session = await init({ campaignId, root: document.createElement('div'), ...extra });
  }, [CAMPAIGN_ID, options]);
}

/** `{ok, kid}` or `{ok: false, code}` for each token, all sent at once. */
function setTokens(page, tokens) {
  return page.evaluate((list) => Promise.all(list.map((t) => window.__session.setToken(t).then(
    ({ result, error }) => (result ? { ok: true, kid: result.kid } : { ok: false, code: error.code })))), tokens);
}

const jwksFetches = () => brand.requests.filter((r) => r.path === '/jwks.json').length;

describe('keys from the brand\'s JWKS URL', () => {
  test('rotation is seen, unknown kids cost one refetch a minute, a failing JWKS keeps the last good set', async () => {
    brand.keys = [pairs[OLD_KID].jwk];
    brand.status = 200;
    brand.requests.length = 0;
    const { context, page, problems } = await newPage(env.browser);
    try {
      await page.clock.install();
      await openSession(page, { jwksUrl: `${brand.origin}/jwks.json` });
      assert.equal(jwksFetches(), 0, 'nothing is fetched before a token needs keys');

      // First token: one fetch, then the fresh set serves every token.
      assert.deepEqual(await setTokens(page, [await mint()]), [{ ok: true, kid: OLD_KID }]);
      assert.deepEqual(await setTokens(page, [await mint(), await mint(), await mint()]),
        Array(3).fill({ ok: true, kid: OLD_KID }));
      assert.equal(jwksFetches(), 1);
      const first = brand.requests[0];
      assert.equal(first.origin, env.campaign.origin, 'a CORS request');
      assert.equal(first.cookie, null);
      assert.equal(first.referer, null, 'no Referer');

      // The brand rotates. Within a minute of the last fetch the new kid is not asked for.
      brand.keys = [pairs[NEW_KID].jwk];
      assert.deepEqual(await setTokens(page, [await mint({ kid: NEW_KID })]), [{ ok: false, code: 'unknown_key' }]);
      assert.equal(jwksFetches(), 1);
      // A minute later, one refetch for the unknown kid: the new key verifies.
      await page.clock.fastForward('01:01');
      const rotated = await Promise.all(Array.from({ length: 5 }, () => mint({ kid: NEW_KID })));
      assert.deepEqual(await setTokens(page, rotated), Array(5).fill({ ok: true, kid: NEW_KID }));
      assert.equal(jwksFetches(), 2, 'five tokens with the new kid, one refetch');
      // The retired key is gone from the page too.
      assert.deepEqual(await setTokens(page, [await mint()]), [{ ok: false, code: 'unknown_key' }]);

      // A flood of made-up kids: no request within the minute, then exactly one.
      const madeUp = () => Promise.all(Array.from({ length: 20 },
        (_, i) => mint({ kid: `made-up-${i}-${Math.random()}`, signer: NEW_KID })));
      assert.deepEqual(await setTokens(page, await madeUp()), Array(20).fill({ ok: false, code: 'unknown_key' }));
      assert.equal(jwksFetches(), 2);
      await page.clock.fastForward('01:01');
      assert.deepEqual(await setTokens(page, await madeUp()), Array(20).fill({ ok: false, code: 'unknown_key' }));
      assert.equal(jwksFetches(), 3, 'twenty unknown kids at once, one refetch');
      for (let round = 0; round < 3; round++) {
        assert.deepEqual(await setTokens(page, await madeUp()), Array(20).fill({ ok: false, code: 'unknown_key' }));
      }
      assert.equal(jwksFetches(), 3);

      // The JWKS fails once the set is stale (max-age 300): the last good set still verifies.
      brand.status = 503;
      await page.clock.fastForward('05:30');
      assert.deepEqual(await setTokens(page, [await mint({ kid: NEW_KID })]), [{ ok: true, kid: NEW_KID }]);
      assert.equal(jwksFetches(), 4, 'the stale set was asked for again');
      assert.deepEqual(await setTokens(page, [await mint({ kid: NEW_KID }), await mint({ kid: NEW_KID })]),
        Array(2).fill({ ok: true, kid: NEW_KID }));
      assert.equal(jwksFetches(), 4, 'a failed fetch is retried no sooner than a minute');
      assert.deepEqual(problems.filter((p) => !p.includes('503')), []);
    } finally {
      await context.close();
      brand.status = 200;
    }
  });

  test('with no set ever fetched, a token is unknown_key (and the page does not retry within the minute)', async () => {
    brand.status = 500;
    brand.requests.length = 0;
    const { context, page } = await newPage(env.browser);
    try {
      await openSession(page, { jwksUrl: `${brand.origin}/jwks.json` });
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(await setTokens(page, [await mint()]), [{ ok: false, code: 'unknown_key' }]);
      }
      assert.equal(jwksFetches(), 1);
    } finally {
      await context.close();
      brand.status = 200;
    }
  });
});

describe('the honest clock', () => {
  for (const [name, shift] of [['3 hours ahead', 3 * HOUR], ['2 hours behind', -2 * HOUR]]) {
    test(`with the visitor's clock ${name}, a fresh token verifies and the session reports the offset`, async () => {
      const { context, page, problems } = await newPage(env.browser);
      try {
        await page.clock.install({ time: Date.now() + shift });
        // Issued now on the server's clock, valid five minutes: on the visitor's clock alone it
        // is expired (ahead) or issued in the future (behind).
        const token = await mint({ iatShift: 0, ttl: 300 });
        await page.goto(campaignUrl(env.campaign.origin, { query: token }));
        await waitForVerdict(page, 'given-prize');
        const state = await readCampaign(page);
        assert.equal(state.eligibility, 'given-prize');
        assert.equal(state.code, null);
        const offset = await page.evaluate(async (campaignId) => {
          const { init } = await import('/pkg/index.js');
          const s = await init({ campaignId, keys: (await import('/config.js')).keys, root: document.createElement('div') });
          return s.clockOffsetMs;
        }, CAMPAIGN_ID);
        assert.equal(typeof offset, 'number');
        // Date has a 1-second resolution: the estimate is within a second and a round trip.
        assert.ok(Math.abs(offset + shift) < 5_000, `offset ${offset} ms for a visitor ${shift} ms off`);
        assert.deepEqual(problems, []);
      } finally { await context.close(); }
    });
  }

  test('without any Date header the visitor\'s clock is used: the same fresh token shows as expired', async () => {
    env.campaign.sendDate = false;
    const { context, page } = await newPage(env.browser);
    try {
      await page.clock.install({ time: Date.now() + 3 * HOUR });
      const token = await mint({ ttl: 300 });
      await page.goto(campaignUrl(env.campaign.origin, { query: token }));
      await waitForVerdict(page, 'invalid');
      assert.equal((await readCampaign(page)).code, 'expired');
      const offset = await page.evaluate(async (campaignId) => {
        const { init } = await import('/pkg/index.js');
        const s = await init({ campaignId, keys: (await import('/config.js')).keys, root: document.createElement('div') });
        return s.clockOffsetMs;
      }, CAMPAIGN_ID);
      assert.equal(offset, null);

      // A timeUrl (here on the brand's origin, which exposes Date) gives the estimate instead.
      await openSession(page, { keys: { keys: [pairs[OLD_KID].jwk] }, timeUrl: `${brand.origin}/time` });
      const estimate = await page.evaluate(() => window.__session.clockOffsetMs);
      assert.ok(Math.abs(estimate + 3 * HOUR) < 5_000, `offset ${estimate}`);
      assert.deepEqual(await setTokens(page, [await mint()]), [{ ok: true, kid: OLD_KID }]);
    } finally {
      await context.close();
      env.campaign.sendDate = true;
    }
  });
});
