// Shared set-up for the end-to-end tests: an ES256 key pair and tokens minted with the npm
// `jose` package (an implementation independent of ours), the test servers with generated
// config.js files, one headless Chromium per test file, and small readers of page state.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { SignJWT, generateKeyPair, exportJWK } from 'jose';
import { startServers, writeConfig, PKG_DIR } from './serve.mjs';

export const CAMPAIGN_ID = 'winter-giveaway-2026';
export const KID = 'brand-2026';
export const DEFAULT_PRIZE_LABEL = 'our winter coffee box';
/** The page's own fallbacks (www/campaign/index.html). */
export const FALLBACK = {
  headline: 'Play and win a surprise prize',
  prizeName: 'a year of freshly roasted coffee',
  winnersNote: `Winners of ${DEFAULT_PRIZE_LABEL} receive`,
};
export const LABEL = 'Barista Pro espresso machine';
export const SECRET_LABEL = 'Golden ticket — must never show';
export const HTML_LABEL = '<img src=x onerror=window.__pwned=1>';
export const SCRIPT_LABEL = '<script>window.__pwned=2</script>';

/** Allowed by the campaign page, but no page of it is ever loaded in the tests. */
export const UNUSED_ALLOWED_ORIGIN = 'https://staging.brand.example';

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
  '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];

/** Generous: a cold wasm compile on a loaded 2-core machine can take a while. */
export const WAIT = { timeout: 30_000 };

export async function assertPackageBuilt() {
  for (const f of ['index.js', 'integrator.js', 'campaign_token_bg.wasm']) {
    await fs.access(path.join(PKG_DIR, f)).catch(() => {
      throw new Error(`${path.join(PKG_DIR, f)} is missing: run scripts/build-wasm.sh first`);
    });
  }
}

/** The brand's key pair, another key pair (a forger's, same kid), and every demo token. */
export async function makeTokens() {
  const brand = await generateKeyPair('ES256', { extractable: true });
  const forger = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = { ...(await exportJWK(brand.publicKey)), kid: KID, alg: 'ES256', use: 'sig' };
  const now = Math.floor(Date.now() / 1000);

  const mint = (claims, { key = brand.privateKey, exp = now + 600 } = {}) => {
    const { sub = `member-${Math.random().toString(36).slice(2, 10)}`, campaignId = CAMPAIGN_ID, ...rest } = claims;
    return new SignJWT({ campaignId, ...rest })
      .setProtectedHeader({ alg: 'ES256', kid: KID, typ: 'JWT' })
      .setSubject(sub)
      .setIssuedAt(now - 5)
      .setExpirationTime(exp)
      .sign(key);
  };

  const tokens = {
    'given-prize': await mint({ gift: { cw: true, label: LABEL } }),
    'given-prize-no-cw': await mint({ gift: { label: LABEL } }),
    'any-prize': await mint({ gift: { cw: true } }),
    'cannot-win': await mint({ gift: { cw: false, label: SECRET_LABEL } }),
    standard: await mint({}),
    expired: await mint({ gift: { cw: true, label: LABEL } }, { exp: now - 3600 }),
    forged: await mint({ gift: { cw: true, label: LABEL } }, { key: forger.privateKey }),
    'wrong-campaign': await mint({ campaignId: 'another-campaign', gift: { cw: true, label: LABEL } }),
    'html-label': await mint({ gift: { cw: true, label: HTML_LABEL } }),
    'script-label': await mint({ gift: { cw: true, label: SCRIPT_LABEL } }),
  };
  return { tokens, jwks: { keys: [publicJwk] } };
}

/**
 * Servers with generated configs in a temp dir: the campaign, the integrator (allowed), and
 * a third origin serving the integrator page that the campaign does not allow (it is in
 * frame-ancestors, so only the module's own allowlist stands between it and the page).
 */
export async function setup({ launch = true } = {}) {
  await assertPackageBuilt();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'campaign-token-e2e-'));
  const { tokens, jwks } = await makeTokens();
  // Ports are chosen by the OS; configs are written once the origins are known.
  const servers = await startServers({
    campaignConfigDir: path.join(dir, 'campaign'),
    integratorConfigDir: path.join(dir, 'integrator'),
    otherConfigDir: path.join(dir, 'other'),
  });
  const { campaign, integrator, other } = servers;
  await writeConfig(path.join(dir, 'campaign'), {
    campaignId: CAMPAIGN_ID,
    keys: jwks,
    // A second allowed origin where nothing runs (a staging brand site, say): the page
    // must answer only the origin that is really there, with no console error for the other.
    allowedOrigins: [integrator.origin, UNUSED_ALLOWED_ORIGIN],
    endpoint: `/api/campaigns/${CAMPAIGN_ID}/participations`,
    defaultPrizeLabel: DEFAULT_PRIZE_LABEL,
  });
  await writeConfig(path.join(dir, 'integrator'), { campaignOrigin: campaign.origin, tokens });
  await writeConfig(path.join(dir, 'other'), { campaignOrigin: campaign.origin, tokens });

  // The engine matrix (tests/engines/) drives its own browsers over WebDriver.
  const browser = launch ? await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  }) : null;
  return {
    dir, tokens, jwks, servers, browser, campaign, integrator, other,
    async teardown() {
      await browser?.close().catch(() => {});
      await servers.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A fresh context and page that records CSP violations (from every frame, from the first
 * script on), console errors, security log entries and uncaught exceptions.
 */
export async function newPage(browser) {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample });
    });
  });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console.error: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  // Chromium reports some problems only to DevTools' log, not as console calls: e.g. a
  // postMessage whose targetOrigin does not match the recipient ("security" warning).
  const cdp = await context.newCDPSession(page);
  cdp.on('Log.entryAdded', ({ entry }) => {
    if (entry.source === 'security') problems.push(`${entry.source} ${entry.level}: ${entry.text}`);
  });
  await cdp.send('Log.enable');
  return { context, page, problems };
}

/** In the page: whether it has a verdict (`want`, or any) and app.js has shown it. */
export const verdictShown = (want) => {
  const v = document.documentElement.getAttribute('data-token-eligibility');
  const shown = document.getElementById('status')?.dataset.state;
  return v !== null && !!shown && shown !== 'loading' && (want === undefined || want === null || v === want);
};

/** Waits until the campaign page (in `frame`) has a verdict and app.js has shown it. */
export async function waitForVerdict(frame, expected) {
  await frame.waitForFunction(verdictShown, expected, WAIT);
}

/** In the page: what a visitor (and a test) can observe on the campaign page. */
export const campaignState = () => {
  const text = (id) => document.getElementById(id)?.textContent.trim().replace(/\s+/g, ' ') ?? null;
  const code = document.getElementById('status-code');
  return {
    eligibility: document.documentElement.getAttribute('data-token-eligibility'),
    headline: text('headline'),
    prizeName: text('prize-name'),
    winnersNote: text('winners-note'),
    status: document.getElementById('status')?.dataset.state,
    code: code && !code.hidden ? code.textContent : null,
    // textContent includes hidden banner lines: a label must not be anywhere in the DOM.
    allText: document.body.textContent,
    href: location.href,
    pwned: window.__pwned,
    cspViolations: window.__cspViolations ?? [],
  };
};

/** What a visitor (and a test) can observe on the campaign page. */
export function readCampaign(frame) {
  return frame.evaluate(campaignState);
}

export function campaignUrl(origin, { query, fragment } = {}) {
  if (query !== undefined) return `${origin}/?token=${encodeURIComponent(query)}`;
  if (fragment !== undefined) return `${origin}/#token=${encodeURIComponent(fragment)}`;
  return `${origin}/`;
}
