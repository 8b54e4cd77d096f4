// The campaign page opened directly with a token in its URL (an invitation link): the prize
// variables, the eligibility attribute, error codes, the token leaving the address bar, and
// labels that contain markup showing as text.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  setup, newPage, waitForVerdict, readCampaign, campaignUrl,
  FALLBACK, LABEL, SECRET_LABEL, HTML_LABEL, SCRIPT_LABEL, DEFAULT_PRIZE_LABEL,
} from './helpers.mjs';

let env;
before(async () => { env = await setup(); });
after(async () => { await env?.teardown(); });

async function open(url, expected) {
  const opened = await newPage(env.browser);
  await opened.page.goto(url);
  await waitForVerdict(opened.page, expected);
  return { ...opened, state: await readCampaign(opened.page) };
}

function assertLabelEverywhere(state, label) {
  assert.ok(!state.allText.includes('{{'), 'a raw placeholder is left in the page');
  assert.equal(state.headline, `Play and win ${label}`);
  assert.equal(state.prizeName, label);
  assert.equal(state.winnersNote, `Winners of ${label} receive an email within three working days.`);
}

function assertFallbacks(state) {
  assert.ok(!state.allText.includes('{{'), 'a raw placeholder is left in the page');
  assert.equal(state.headline, FALLBACK.headline);
  assert.equal(state.prizeName, FALLBACK.prizeName);
  assert.ok(state.winnersNote.startsWith(FALLBACK.winnersNote), state.winnersNote);
}

describe('token in the URL', () => {
  for (const where of ['query', 'fragment']) {
    test(`a given-prize token in the ${where} shows its label in all three variable forms and leaves the URL`, async () => {
      const { context, page, problems, state } = await open(campaignUrl(env.campaign.origin, { [where]: env.tokens['given-prize'] }), 'given-prize');
      try {
        assertLabelEverywhere(state, LABEL);
        assert.equal(state.status, 'valid');
        assert.equal(state.code, null);
        assert.ok(!state.href.includes('token'), `token still in ${state.href}`);
        assert.ok(!state.href.includes(env.tokens['given-prize'].split('.')[2]), state.href);
        assert.deepEqual(state.cspViolations, []);
        assert.deepEqual(problems, []);
      } finally { await context.close(); }
    });
  }

  test('subscribe hears the URL token at once (applied before init resolved), then every later token', async () => {
    const { context, page } = await open(campaignUrl(env.campaign.origin, { query: env.tokens['given-prize'] }), 'given-prize');
    try {
      const heard = await page.evaluate(async (later) => {
        const { campaignSession: session } = window;
        const seen = [];
        const unsubscribe = session.subscribe((s) => seen.push(s.result?.eligibility ?? s.error?.code));
        const atOnce = [...seen];
        const stateIsCurrent = seen.length === 1 && session.result?.eligibility === seen[0];
        await session.setToken(later);
        unsubscribe();
        await session.setToken(later);
        return { atOnce, stateIsCurrent, seen };
      }, env.tokens.expired);
      assert.deepEqual(heard, { atOnce: ['given-prize'], stateIsCurrent: true, seen: ['given-prize', 'expired'] });
    } finally { await context.close(); }
  });

  test('only the token leaves the URL: other query parameters and the fragment stay', async () => {
    const token = env.tokens['given-prize'];
    const { context, page, state } = await open(`${env.campaign.origin}/?utm_source=mail&token=${token}&lang=en#how`, 'given-prize');
    try {
      assert.equal(state.href, `${env.campaign.origin}/?utm_source=mail&lang=en#how`);
      const fromFragment = await open(`${env.campaign.origin}/?utm_source=app#section=rules&token=${token}`, 'given-prize');
      assert.equal(fromFragment.state.href, `${env.campaign.origin}/?utm_source=app#section=rules`);
      await fromFragment.context.close();
    } finally { await context.close(); }
  });

  test('the token is not left in history: replaced, not pushed, and going back/forward never restores it', async () => {
    const { context, page } = await newPage(env.browser);
    try {
      const token = env.tokens['given-prize'];
      await page.goto(`${env.campaign.origin}/`);
      await waitForVerdict(page, 'none');
      const before = await page.evaluate(() => history.length);
      await page.goto(campaignUrl(env.campaign.origin, { query: token }));
      await waitForVerdict(page, 'given-prize');
      // The invitation navigation adds one entry; removing the token must not add another.
      assert.equal(await page.evaluate(() => history.length), before + 1);
      assert.ok(!page.url().includes(token));
      await page.goBack();
      await waitForVerdict(page, 'none');
      assert.ok(!page.url().includes('token'), page.url());
      await page.goForward();
      await page.waitForLoadState();
      assert.ok(!page.url().includes('token'), `forward restored the token: ${page.url()}`);
      // The forward page may come from the back/forward cache (its memory, not its URL);
      // reloading it shows what the entry itself holds: no token.
      await page.reload();
      await waitForVerdict(page, 'none');
      assert.ok(!(await readCampaign(page)).allText.includes(LABEL));
    } finally { await context.close(); }
  });

  test('no request after the page itself carries the token, in its URL or its Referer', async () => {
    env.servers.clearRequests();
    const token = env.tokens['given-prize'];
    const { context } = await open(campaignUrl(env.campaign.origin, { query: token }), 'given-prize');
    try {
      const reqs = env.campaign.requests;
      assert.ok(reqs.length > 1, 'the page loaded its assets');
      const [first, ...later] = reqs;
      assert.equal(first.path, '/');
      assert.ok(first.search.includes(token), 'the invitation request carried the token');
      for (const r of later) {
        assert.ok(!r.search.includes(token), `${r.path}${r.search} carries the token`);
        assert.equal(r.referer, null, `${r.path} sent a Referer`);
      }
    } finally { await context.close(); }
  });

  test('the wasm is fetched once (the preload is reused, not downloaded twice)', async () => {
    env.servers.clearRequests();
    const { context, page } = await open(campaignUrl(env.campaign.origin, { query: env.tokens.standard }), 'standard');
    try {
      const wasm = env.campaign.requests.filter((r) => r.path.endsWith('.wasm'));
      assert.equal(wasm.length, 1, JSON.stringify(wasm));
      const js = env.campaign.requests.filter((r) => r.path === '/pkg/index.js');
      assert.equal(js.length, 1, JSON.stringify(js));
      // Chromium reports a preload that went unused; a reused one is in the resource timing.
      const entries = await page.evaluate(() => performance.getEntriesByType('resource')
        .filter((e) => e.name.endsWith('.wasm')).map((e) => e.initiatorType));
      assert.equal(entries.length, 1, JSON.stringify(entries));
    } finally { await context.close(); }
  });
});

describe('eligibility cases', () => {
  test('given-prize without cw shows the label too', async () => {
    const { context, state } = await open(campaignUrl(env.campaign.origin, { query: env.tokens['given-prize-no-cw'] }), 'given-prize');
    try { assertLabelEverywhere(state, LABEL); } finally { await context.close(); }
  });

  for (const kind of ['any-prize', 'standard']) {
    test(`${kind} shows the fallbacks and the default prize label`, async () => {
      const { context, state } = await open(campaignUrl(env.campaign.origin, { query: env.tokens[kind] }), kind);
      try {
        assertFallbacks(state);
        assert.ok(state.winnersNote.includes(DEFAULT_PRIZE_LABEL));
        assert.equal(state.status, 'valid');
        assert.ok(!state.allText.includes(LABEL));
      } finally { await context.close(); }
    });
  }

  test('cannot-win shows the fallbacks and never the label the token carries', async () => {
    const { context, page, state } = await open(campaignUrl(env.campaign.origin, { query: env.tokens['cannot-win'] }), 'cannot-win');
    try {
      assertFallbacks(state);
      assert.ok(!state.allText.includes(SECRET_LABEL), 'the ignored label is in the DOM');
      assert.ok(!(await page.content()).includes(SECRET_LABEL));
      assert.equal(await page.evaluate(() => window.campaignSession.result.prizeLabel), null);
    } finally { await context.close(); }
  });

  test('no token: eligibility none, fallbacks, participation disabled', async () => {
    const { context, page, state } = await open(campaignUrl(env.campaign.origin), 'none');
    try {
      assertFallbacks(state);
      assert.equal(state.status, 'none');
      assert.equal(state.code, null);
      assert.equal(await page.isDisabled('#participate'), true);
    } finally { await context.close(); }
  });

  const rejected = { expired: 'expired', forged: 'bad_signature', 'wrong-campaign': 'wrong_campaign' };
  for (const [kind, code] of Object.entries(rejected)) {
    test(`${kind} token: invalid, fallbacks, and the error code ${code} visible`, async () => {
      const { context, page, state } = await open(campaignUrl(env.campaign.origin, { fragment: env.tokens[kind] }), 'invalid');
      try {
        assertFallbacks(state);
        assert.ok(!state.allText.includes(LABEL), 'a rejected token\'s label is shown');
        assert.equal(state.status, 'invalid');
        assert.equal(state.code, code);
        assert.equal(await page.isVisible('#status-code'), true);
        assert.equal(await page.isDisabled('#participate'), true);
        assert.ok(!state.href.includes('token'), 'a rejected token is removed from the URL too');
      } finally { await context.close(); }
    });
  }
});

describe('labels containing markup', () => {
  for (const [kind, label] of [['html-label', HTML_LABEL], ['script-label', SCRIPT_LABEL]]) {
    test(`${kind}: shown as literal text, no element created, nothing runs`, async () => {
      const { context, page, problems, state } = await open(campaignUrl(env.campaign.origin, { query: env.tokens[kind] }), 'given-prize');
      try {
        assertLabelEverywhere(state, label);
        const counts = await page.evaluate(() => ({
          img: document.querySelectorAll('#campaign img').length,
          script: document.querySelectorAll('#campaign script').length,
          prizeChildren: document.getElementById('prize-name').children.length,
        }));
        assert.deepEqual(counts, { img: 0, script: 0, prizeChildren: 0 });
        // Give an injected handler every chance to fire before checking it did not.
        await page.evaluate(() => new Promise((r) => setTimeout(r, 300)));
        assert.equal(await page.evaluate(() => window.__pwned), undefined);
        assert.equal((await page.innerText('#prize-name')).trim(), label);
        assert.deepEqual(problems, []);
      } finally { await context.close(); }
    });
  }
});
