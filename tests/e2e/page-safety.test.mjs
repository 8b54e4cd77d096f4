// A campaign page's safety in Chromium (issue 14): a wasm that cannot load rejects with a
// CampaignTokenError `load_failed`; the token leaves the address bar first, even when init
// then fails, and only the token (every other byte of the query and fragment stays); marked
// script/style elements are never filled; `gift` numbers and `__proto__` members read as the
// server reads them and as JSON.parse builds them.
//
// Each test page is a small fixture served on the campaign's origin through Playwright's
// routing (`/safety/…`), loading the real module from `/pkg/`; tokens are signed with the npm
// `jose` package, some from raw JSON text (a 64-bit integer or a `__proto__` member cannot be
// written as a JS object literal).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CompactSign, SignJWT, generateKeyPair, exportJWK } from 'jose';
import { setup, newPage, WAIT } from './helpers.mjs';

const CAMPAIGN = 'page-safety';
let env;
let keys;
let privateKey;
let exp;

before(async () => {
  env = await setup();
  const pair = await generateKeyPair('ES256', { extractable: true });
  privateKey = pair.privateKey;
  keys = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'safety', alg: 'ES256', use: 'sig' }] };
  exp = Math.floor(Date.now() / 1000) + 600;
});
after(async () => { await env?.teardown(); });

const HEADER = { alg: 'ES256', kid: 'safety', typ: 'JWT' };

/** A token of `claims` (merged over valid ones). */
const mint = (claims) => new SignJWT({ campaignId: CAMPAIGN, sub: 'visitor-1', exp, ...claims })
  .setProtectedHeader(HEADER).sign(privateKey);

/** A token whose payload is exactly `json` (its `EXP` is replaced by a valid expiry). */
const mintRaw = (json) => new CompactSign(new TextEncoder().encode(json.replace('EXP', String(exp))))
  .setProtectedHeader(HEADER).sign(privateKey);

const BASE = `"sub":"visitor-1","campaignId":"${CAMPAIGN}","exp":EXP`;

/**
 * Opens `/safety/page.html<suffix>` in a fresh context: `body` is the page's markup, and its
 * script calls `init(options)` (unless `call` says otherwise) and records the outcome in
 * `window.__outcome`, with the address bar as it was right after the call returned (before
 * any await) in `hrefAtCall`. `headers` are the page's response headers (a CSP, say); `routes`
 * more Playwright routes for the context.
 */
async function openFixture({ suffix = '', body = '', options = {}, call = 'init', headers = {}, routes = {} }) {
  const opened = await newPage(env.browser);
  const origin = env.campaign.origin;
  const script = `
    import * as api from '/pkg/index.js';
    const options = ${JSON.stringify({ campaignId: CAMPAIGN, keys, ...options })};
    const describe = (e) => ({ ok: false, code: e?.code, claim: e?.claim, name: e?.name,
      isClass: e instanceof api.CampaignTokenError, hasCause: e?.cause !== undefined, message: String(e?.message) });
    window.__api = api;
    window.__options = options;
    const pending = ${call === 'init' ? 'api.init(options)' : 'Promise.resolve(null)'};
    const hrefAtCall = location.href;
    window.__outcome = pending.then(
      (session) => { window.__session = session; return { ok: true, hrefAtCall, href: location.href }; },
      (e) => ({ ...describe(e), hrefAtCall, href: location.href }));
  `;
  await opened.context.route(`${origin}/safety/page.js`, (route) => route.fulfill({
    status: 200, contentType: 'text/javascript; charset=utf-8', body: script,
  }));
  await opened.context.route(`${origin}/safety/page.html*`, (route) => route.fulfill({
    status: 200, contentType: 'text/html; charset=utf-8', headers,
    body: `<!doctype html><html><head><meta charset="utf-8"><title>safety</title></head>
<body>${body}<script type="module" src="/safety/page.js"></script></body></html>`,
  }));
  for (const [pattern, handler] of Object.entries(routes)) await opened.context.route(pattern, handler);
  await opened.page.goto(`${origin}/safety/page.html${suffix}`);
  await opened.page.waitForFunction(() => window.__outcome !== undefined, null, WAIT);
  const outcome = await opened.page.evaluate(() => window.__outcome);
  return { ...opened, outcome, origin };
}

const BROKEN = 'http://127.0.0.1:9/never/campaign_token_bg.wasm';

describe('a wasm that cannot load', () => {
  const cases = {
    'not found (404)': { options: { wasm: '/pkg/no-such-module.wasm' } },
    'a network error': {
      routes: { '**/pkg/campaign_token_bg.wasm': (route) => route.abort('failed') },
    },
    'bytes that are not the module': {
      routes: {
        '**/pkg/campaign_token_bg.wasm': (route) => route.fulfill({
          status: 200, contentType: 'application/wasm', body: Buffer.from('<!doctype html>not wasm'),
        }),
      },
    },
    "a Content-Security-Policy without 'wasm-unsafe-eval'": {
      headers: { 'Content-Security-Policy': "default-src 'self'; script-src 'self'" },
    },
    'an unreachable host': { options: { wasm: BROKEN } },
  };
  for (const [name, fixture] of Object.entries(cases)) {
    test(`${name}: init rejects with a CampaignTokenError load_failed`, async () => {
      const { context, outcome } = await openFixture(fixture);
      try {
        assert.equal(outcome.ok, false, JSON.stringify(outcome));
        assert.deepEqual(
          { code: outcome.code, name: outcome.name, isClass: outcome.isClass, hasCause: outcome.hasCause },
          { code: 'load_failed', name: 'CampaignTokenError', isClass: true, hasCause: true },
          outcome.message,
        );
      } finally { await context.close(); }
    });
  }

  test('verifyToken and createVerifier reject load_failed too, and a later call with the module retries', async () => {
    const token = await mint({ gift: { cw: true, label: 'a bike' } });
    const { context, page } = await openFixture({ call: 'none' });
    try {
      const answers = await page.evaluate(async (t) => {
        const { verifyToken, createVerifier } = window.__api;
        const bad = { ...window.__options, wasm: '/pkg/no-such-module.wasm' };
        const code = (p) => p.then(() => 'resolved', (e) => e.code);
        return {
          verify: await code(verifyToken(t, bad)),
          create: await code(createVerifier(bad)),
          retry: (await verifyToken(t, window.__options)).eligibility,
        };
      }, token);
      assert.deepEqual(answers, { verify: 'load_failed', create: 'load_failed', retry: 'given-prize' });
    } finally { await context.close(); }
  });
});

describe('the token leaves the URL first', () => {
  test('init refused as invalid_config: no token in the address bar, the fragment kept byte for byte', async () => {
    const token = await mint({ gift: { label: 'a bike' } });
    const { context, outcome, origin } = await openFixture({
      suffix: `?token=${token}#section&x=1`,
      options: { clockToleranceSeconds: 'sixty' },
    });
    try {
      assert.equal(outcome.code, 'invalid_config', outcome.message);
      const expected = `${origin}/safety/page.html#section&x=1`;
      assert.equal(outcome.hrefAtCall, expected, 'removed synchronously, when init was called');
      assert.equal(outcome.href, expected);
    } finally { await context.close(); }
  });

  test('the wasm 404s: no token in the address bar, the rest of the query byte for byte', async () => {
    const token = await mint({ gift: { label: 'a bike' } });
    const { context, outcome, origin } = await openFixture({
      suffix: `?a=1&token=${token}&b=%20&c=%zz&d=a+b#`,
      options: { wasm: '/pkg/no-such-module.wasm' },
    });
    try {
      assert.equal(outcome.code, 'load_failed', outcome.message);
      const expected = `${origin}/safety/page.html?a=1&b=%20&c=%zz&d=a+b#`;
      assert.equal(outcome.hrefAtCall, expected);
      assert.equal(outcome.href, expected);
    } finally { await context.close(); }
  });

  test('a token in the fragment leaves it, the rest stays; the session verifies it', async () => {
    const token = await mint({ gift: { cw: true, label: 'a bike' } });
    const { context, page, outcome, origin } = await openFixture({
      suffix: `?q=%2F#x=%2F&token=${token}&y`,
    });
    try {
      assert.equal(outcome.ok, true, outcome.message);
      assert.equal(outcome.hrefAtCall, `${origin}/safety/page.html?q=%2F#x=%2F&y`);
      assert.equal(await page.evaluate(() => window.__session.result.eligibility), 'given-prize');
    } finally { await context.close(); }
  });

  test('only the configured tokenParam is removed; an emptied query loses its ?; a tokenParam naming nothing is invalid_config', async () => {
    const token = await mint({ gift: { cw: true, label: 'a bike' } });
    const { context, page, outcome, origin } = await openFixture({
      suffix: `?t=${token}#token=not-ours`,
      options: { tokenParam: 't' },
    });
    try {
      assert.equal(outcome.ok, true, outcome.message);
      assert.equal(outcome.href, `${origin}/safety/page.html#token=not-ours`);
      assert.equal(await page.evaluate(() => window.__session.result.eligibility), 'given-prize');
      // A tokenParam that names no parameter is invalid_config, and takes nothing.
      const refused = await page.evaluate(async () => {
        window.__session.destroy();
        const codes = [];
        for (const tokenParam of ['', 5, ['token']]) {
          codes.push(await window.__api.init({ ...window.__options, tokenParam }).then(() => 'resolved', (e) => e.code));
        }
        return { codes, href: location.href };
      });
      assert.deepEqual(refused, {
        codes: ['invalid_config', 'invalid_config', 'invalid_config'],
        href: `${origin}/safety/page.html#token=not-ours`,
      });
    } finally { await context.close(); }
  });

  test('after a failed init, the next init (the page retrying) still gets the token it took', async () => {
    const token = await mint({ gift: { cw: true, label: 'a bike' } });
    const { context, page, outcome, origin } = await openFixture({
      suffix: `?token=${token}`,
      options: { wasm: '/pkg/no-such-module.wasm' },
    });
    try {
      assert.equal(outcome.code, 'load_failed');
      assert.equal(outcome.href, `${origin}/safety/page.html`);
      const retried = await page.evaluate(async () => {
        const { wasm, ...options } = window.__options;
        const session = await window.__api.init(options);
        return { eligibility: session.result?.eligibility, href: location.href };
      });
      assert.deepEqual(retried, { eligibility: 'given-prize', href: `${origin}/safety/page.html` });
    } finally { await context.close(); }
  });
});

describe('marked script and style elements', () => {
  test('a label in a marked <script> never runs, a CSS label never applies, one console warning', async () => {
    const token = await mint({
      gift: { cw: true, label: 'window.__ran = (window.__ran || 0) + 1;' },
      custom: { css: 'body { background-color: rgb(1, 2, 3) !important; }' },
    });
    const { context, page, problems, outcome } = await openFixture({
      suffix: `?token=${token}`,
      body: `
        <script data-token-var="gift.label" id="js"></script>
        <svg><script data-token-var="gift.label" id="svg-js"></script></svg>
        <style data-token-var="custom.css" id="css"></style>
        <style id="css-text">{{custom.css}}</style>
        <p id="shown" data-token-var="gift.label">fallback</p>
        <p id="css-shown" data-token-var="custom.css">fallback</p>`,
    });
    try {
      assert.equal(outcome.ok, true, outcome.message);
      // Let anything that was going to run, run.
      await page.evaluate(() => new Promise((r) => setTimeout(r, 200)));
      const seen = await page.evaluate(() => ({
        ran: window.__ran,
        background: getComputedStyle(document.body).backgroundColor,
        js: document.getElementById('js').textContent,
        svgJs: document.getElementById('svg-js').textContent,
        css: document.getElementById('css').textContent,
        cssText: document.getElementById('css-text').textContent,
        shown: document.getElementById('shown').textContent,
        cssShown: document.getElementById('css-shown').textContent,
      }));
      assert.deepEqual(seen, {
        ran: undefined,
        background: 'rgba(0, 0, 0, 0)',
        js: '',
        svgJs: '',
        css: '',
        cssText: '{{custom.css}}',
        shown: 'window.__ran = (window.__ran || 0) + 1;',
        // The same values do show as text elsewhere: the elements above were refused.
        cssShown: 'body { background-color: rgb(1, 2, 3) !important; }',
      });
      assert.deepEqual(problems, []);
    } finally { await context.close(); }
  });

  test('the page logs one warning for the elements it left alone', async () => {
    // (Which elements, and the whole list, are checked in the wasm-bindgen test, src/tests.rs:
    // script_style_and_other_raw_text_elements_are_never_filled_and_warned_about_once.)
    const token = await mint({ gift: { cw: true, label: 'x' } });
    const again = await newPage(env.browser);
    try {
      const logged = [];
      again.page.on('console', (msg) => { if (msg.type() === 'warning') logged.push(msg.text()); });
      const { origin } = env.campaign;
      await again.context.route(`${origin}/safety/once.html*`, (route) => route.fulfill({
        status: 200, contentType: 'text/html; charset=utf-8',
        body: `<!doctype html><html><head><meta charset="utf-8"><title>t</title></head><body>
          <script data-token-var="gift.label"></script><style>{{gift.label}}</style>
          <script type="module">
            import { init } from '/pkg/index.js';
            window.__done = init(${JSON.stringify({ campaignId: CAMPAIGN, keys })}).then(() => true, (e) => e.code);
          </script></body></html>`,
      }));
      await again.page.goto(`${origin}/safety/once.html?token=${token}`);
      await again.page.waitForFunction(() => window.__done !== undefined, null, WAIT);
      assert.equal(await again.page.evaluate(() => window.__done), true);
      const ours = logged.filter((m) => m.startsWith('campaign-token:'));
      assert.equal(ours.length, 1, JSON.stringify(logged));
      assert.match(ours[0], /2 marked elements left alone/);
    } finally { await again.context.close(); }
  });
});

describe('gift numbers and own properties', () => {
  test('a gift number beyond 2^53 is invalid_claim naming its path, as the server answers', async () => {
    const tokens = await Promise.all([
      mintRaw(`{${BASE},"gift":{"cw":true,"label":"a bike","orderId":18446744073709551615}}`),
      mintRaw(`{${BASE},"gift":{"orderId":9007199254740993}}`),
      mintRaw(`{${BASE},"gift":{"lines":[{"id":-9007199254740993}]}}`),
      mintRaw(`{${BASE},"gift":{"cw":true,"orderId":"18446744073709551615","n":9007199254740991}}`),
    ]);
    const { context, page } = await openFixture({ call: 'none' });
    try {
      const answers = await page.evaluate(async (list) => Promise.all(list.map((t) =>
        window.__api.verifyToken(t, window.__options).then(
          (r) => ({ ok: true, orderId: r.gift.orderId, n: r.gift.n }),
          (e) => ({ code: e.code, claim: e.claim })))), tokens);
      assert.deepEqual(answers, [
        { code: 'invalid_claim', claim: 'gift.orderId' },
        { code: 'invalid_claim', claim: 'gift.orderId' },
        { code: 'invalid_claim', claim: 'gift.lines[0].id' },
        { ok: true, orderId: '18446744073709551615', n: 9007199254740991 },
      ]);
    } finally { await context.close(); }
  });

  test('a __proto__ member is an own property (JSON.parse semantics), in verifyToken and in the session', async () => {
    // (Members in name order: the core's JSON objects are sorted maps, so the page's objects
    // list members in that order rather than the token's.)
    const payload = `{${BASE},"gift":{"__proto__":{"polluted":true},"label":"a bike","list":[{"__proto__":1}]},`
      + `"form":{"__proto__":"form data"},"custom":{"__proto__":"custom data"}}`;
    const token = await mintRaw(payload);
    const { context, page, outcome } = await openFixture({ suffix: `?token=${token}` });
    try {
      assert.equal(outcome.ok, true, outcome.message);
      const seen = await page.evaluate(async ({ t, raw }) => {
        const expected = JSON.parse(raw.replace('EXP', '0'));
        const describe = (r) => ({
          json: JSON.stringify([r.gift, r.form, r.custom]),
          ownProto: ['gift', 'form', 'custom'].map((k) => Object.hasOwn(r[k], '__proto__')),
          plain: ['gift', 'form', 'custom'].map((k) => Object.getPrototypeOf(r[k]) === Object.prototype),
          polluted: r.gift.polluted,
          listOwn: Object.hasOwn(r.gift.list[0], '__proto__'),
        });
        return {
          expected: JSON.stringify([expected.gift, expected.form, expected.custom]),
          verify: describe(await window.__api.verifyToken(t, window.__options)),
          session: describe(window.__session.result),
        };
      }, { t: token, raw: payload });
      for (const r of [seen.verify, seen.session]) {
        assert.deepEqual(r, {
          json: seen.expected,
          ownProto: [true, true, true],
          plain: [true, true, true],
          polluted: undefined,
          listOwn: true,
        });
      }
    } finally { await context.close(); }
  });
});
