// The operator console (/operator/) end to end, in Chromium, against the REAL allocation
// server (server/, SQLite) and only its documented operator API: sign-in (a wrong token is
// refused with a clear message), the overview's chart and stock bars (screenshots at desktop
// and 360 px wide in $CARGO_TARGET_DIR/e2e-screenshots/), the winners' CSV equal to the API's,
// a draw with a public value and its record (checked by the token tool's verify-draw),
// disqualification and redraw, stock added, a participant erased, the audit log; and the
// operator token never in a URL the browser requested, a cookie, or the server's log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';
import { SignJWT, generateKeyPair, exportSPKI } from 'jose';
import { ROOT } from './serve.mjs';
import { newPage, CHROMIUM_ARGS, WAIT } from './helpers.mjs';

const LIVE = 'console-live';
const DRAW = 'console-ended-draw';
const OPERATOR_ENV = 'CAMPAIGN_TOKEN_E2E_OPERATOR_TOKEN';
const OPERATOR_TOKEN = randomBytes(24).toString('hex');
const PUBLIC_VALUE = 'beacon round 4242: 9f2c61e0a7';
const TARGET = process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target');
const SHOTS = path.join(TARGET, 'e2e-screenshots');
const toml = (v) => JSON.stringify(v);

let env;
before(async () => { env = await start(); });
after(async () => { await env?.teardown(); });

function cargoBuild(pkg) {
  const r = spawnSync('cargo', ['build', '--quiet', '-p', pkg], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`cargo build -p ${pkg} failed`);
}

async function start() {
  cargoBuild('campaign-token-server');
  cargoBuild('campaign-token-cli');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'campaign-token-operator-e2e-'));
  const cleanups = [() => fs.rm(dir, { recursive: true, force: true })];
  const teardown = async () => { for (const c of cleanups.reverse()) await c().catch(() => {}); };
  try {
    // The console as the project's script builds it.
    const consoleDir = path.join(dir, 'operator');
    const built = spawnSync('bash', [path.join(ROOT, 'scripts/build-operator.sh'), consoleDir], { cwd: ROOT, stdio: 'inherit' });
    if (built.status !== 0) throw new Error('scripts/build-operator.sh failed');
    const brand = await generateKeyPair('ES256', { extractable: true });
    await fs.writeFile(path.join(dir, 'public.pem'), await exportSPKI(brand.publicKey));
    const now = Math.floor(Date.now() / 1000);
    const drawEnd = now + 8; // ends a few seconds after the participations below
    const iso = (s) => new Date(s * 1000).toISOString().replace('.000Z', 'Z');
    await fs.writeFile(path.join(dir, 'server.toml'), `
listen = "127.0.0.1:0"
database = ${toml(`sqlite:${path.join(dir, 'campaign-token.db')}`)}
operator_token_env = "${OPERATOR_ENV}"

[site]
operator = ${toml(consoleDir)}

[[campaign]]
id = "${LIVE}"
type = "draw"
start = "2020-01-01T00:00:00Z"
end = "2099-01-01T00:00:00Z"
[[campaign.keys]]
pem_file = ${toml(path.join(dir, 'public.pem'))}
[[campaign.prizes]]
id = "coffee-box"
name = "our winter coffee box"
quantity = 2
[[campaign.prizes]]
id = "mug"
name = "a mug"
quantity = 5

[[campaign]]
id = "${DRAW}"
type = "draw"
start = "2020-01-01T00:00:00Z"
end = "${iso(drawEnd)}"
draw_public_source = "the test beacon, round 4242"
[[campaign.keys]]
pem_file = ${toml(path.join(dir, 'public.pem'))}
[[campaign.prizes]]
id = "voucher"
name = "a voucher"
quantity = 2
`);
    const child = spawn(path.join(TARGET, 'debug', 'campaign-token-server'), ['--config', path.join(dir, 'server.toml')], {
      // debug: the most the server ever logs, all of which must stay free of the token.
      env: { ...process.env, [OPERATOR_ENV]: OPERATOR_TOKEN, RUST_LOG: 'debug' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let logs = '';
    child.stderr.on('data', (d) => { logs += d; });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const backstop = () => child.kill('SIGKILL');
    process.once('exit', backstop);
    cleanups.push(async () => {
      process.off('exit', backstop);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    });
    const lines = readline.createInterface({ input: child.stdout });
    const origin = await new Promise((resolve, reject) => {
      lines.on('line', (line) => { const m = /^listening on (http:\/\/\S+)$/.exec(line); if (m) resolve(m[1]); });
      child.once('exit', (code) => reject(new Error(`campaign-token-server exited (${code}) before listening\n${logs}`)));
    });

    // Participations through the real API, with tokens the brand minted.
    const participate = async (campaignId, sub, gift, answers) => {
      const token = await new SignJWT({ campaignId, ...(gift ? { gift } : {}) })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).setSubject(sub)
        .setIssuedAt(now - 5).setExpirationTime(now + 900).sign(brand.privateKey);
      const res = await fetch(`${origin}/api/campaigns/${campaignId}/participations`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token, answers }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      return res.json();
    };
    const live = {
      winner: await participate(LIVE, 'member-winner-1', { cw: true, label: 'Barista course' }),
      erasable: await participate(LIVE, 'member-erase-me', null, { email: 'erase-me@example.com' }),
    };
    await participate(LIVE, 'member-standard-2', null);
    await participate(LIVE, 'member-standard-3', null);
    await participate(LIVE, 'member-cannot-4', { cw: false });
    for (let i = 1; i <= 4; i++) await participate(DRAW, `draw-entrant-${i}`, null);

    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
    cleanups.push(() => browser.close());
    const { context, page, problems } = await newPage(browser);
    const requested = [];
    page.on('request', (r) => requested.push(r.url()));
    return { origin, live, drawEnd, browser, context, page, problems, requested, logs: () => logs, dir, teardown };
  } catch (err) {
    await teardown();
    throw err;
  }
}

const operatorApi = (p) => fetch(`${env.origin}${p}`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });

async function signIn(page, token) {
  await page.fill('#token', token);
  await page.fill('#by', 'e2e-operator');
  await page.click('#sign-in button[type=submit]');
}

async function openTab(page, tab) {
  await page.click(`[data-tab=${tab}]`);
  await page.waitForSelector(`#tab-${tab}:not([hidden])`, WAIT);
}

async function chooseCampaign(page, id) {
  await page.selectOption('#campaign', id);
  await page.waitForFunction((id) => document.getElementById('window').textContent !== '' && document.getElementById('campaign').value === id, id, WAIT);
}

test('a wrong operator token is refused with a clear message', async () => {
  const { page } = env;
  await page.goto(`${env.origin}/operator/`);
  await signIn(page, 'not-the-operator-token');
  await page.waitForSelector('#sign-in-error:not([hidden])', WAIT);
  assert.match(await page.textContent('#sign-in-error'), /refused this operator token \(401 unauthorized\)/);
  assert.equal(await page.isVisible('#console'), false);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('campaign-token:operator-token')), null, 'a refused token is not kept');
});

test('sign in: the overview shows the chart, outcomes and the stock bars', async () => {
  const { page } = env;
  await signIn(page, OPERATOR_TOKEN);
  await chooseCampaign(page, LIVE);
  await page.waitForSelector('#chart canvas', WAIT);
  await page.waitForSelector('#stock li[data-prize=mug] progress', WAIT);
  const stock = await page.$$eval('#stock li', (lis) => lis.map((li) => ({ id: li.dataset.prize, value: li.querySelector('progress').value, max: li.querySelector('progress').max })));
  assert.deepEqual(stock, [{ id: 'coffee-box', value: 1, max: 2 }, { id: 'mug', value: 5, max: 5 }]);
  const outcomes = Object.fromEntries(await page.$$eval('#outcomes div', (ds) => ds.map((d) => [d.dataset.key, d.querySelector('dd').textContent])));
  assert.deepEqual(outcomes, { participations: '5', participants: '5', won: '1', lost: '0', 'entered-draw': '3', 'not-eligible': '1', winners: '1' });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('campaign-token:operator-token')), OPERATOR_TOKEN);
  // The chart's legend names every outcome series (uPlot), and its data is the API's.
  const legend = await page.$$eval('.u-legend .u-series .u-label', (ls) => ls.map((l) => l.textContent));
  assert.deepEqual(legend.slice(1), ['not-eligible', 'entered-draw', 'lost', 'won']);
  await fs.mkdir(SHOTS, { recursive: true });
  await page.setViewportSize({ width: 1200, height: 1000 });
  await page.click('[data-tab=overview]');
  await page.waitForSelector('#chart canvas', WAIT);
  await page.screenshot({ path: path.join(SHOTS, 'operator-overview.png'), fullPage: true });
  await page.setViewportSize({ width: 360, height: 800 });
  await page.click('[data-tab=overview]');
  await page.waitForSelector('#chart canvas', WAIT);
  // The overview re-renders at the new width (the old chart's canvas may still be there for a
  // moment): wait for the page to fit, or fail with how much it overflows.
  await page.waitForFunction(() => document.documentElement.scrollWidth <= window.innerWidth, null, WAIT).catch(() => {});
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is wider than 360 px by ${overflow} px`);
  await page.screenshot({ path: path.join(SHOTS, 'operator-overview-360.png'), fullPage: true });
  await page.setViewportSize({ width: 1200, height: 1000 });
});

test('winners: the table, search, and the CSV download equal to the API\'s', async () => {
  const { page } = env;
  await openTab(page, 'winners');
  await page.waitForSelector('#winners tbody tr', WAIT);
  assert.equal(await page.$$eval('#winners tbody tr', (rs) => rs.length), 1);
  assert.equal(await page.getAttribute('#winners tbody tr', 'data-participation'), env.live.winner.participationId);
  await page.fill('#winner-search', 'nobody-like-this');
  assert.equal(await page.$$eval('#winners tbody tr', (rs) => rs.length), 0);
  await page.fill('#winner-search', 'member-winner');
  assert.equal(await page.$$eval('#winners tbody tr', (rs) => rs.length), 1);
  await page.fill('#winner-search', '');
  const [download] = await Promise.all([page.waitForEvent('download', WAIT), page.click('#csv')]);
  assert.equal(download.suggestedFilename(), `${LIVE}-winners.csv`);
  const file = path.join(env.dir, 'winners.csv');
  await download.saveAs(file);
  const fromApi = await (await operatorApi(`/api/campaigns/${LIVE}/winners.csv`)).text();
  assert.equal(await fs.readFile(file, 'utf8'), fromApi);
  assert.match(fromApi, /^participation_id,sub,prize_id,prize_label,won_at,how\r?\n/);
  assert.match(fromApi, /member-winner-1/);
});

test('stock: units added to a prize show in its bar', async () => {
  const { page } = env;
  await openTab(page, 'overview');
  await page.selectOption('#stock-prize', 'mug');
  await page.fill('#stock-add', '3');
  await page.click('#add-stock button[type=submit]');
  await page.waitForSelector('#stock-result:not([hidden])', WAIT);
  assert.match(await page.textContent('#stock-result'), /Added 3 to a mug: 8 of 8 left/);
  await page.waitForFunction(() => document.querySelector('#stock li[data-prize=mug] progress')?.max === 8, null, WAIT);
  const stats = await (await operatorApi(`/api/campaigns/${LIVE}/stats`)).json();
  assert.deepEqual(stats.prizes.find((p) => p.id === 'mug'), { id: 'mug', name: 'a mug', quantity: 8, remaining: 8 });
});

test('data: a participant is erased on request', async () => {
  const { page } = env;
  await openTab(page, 'data');
  await page.fill('#erase-sub', 'member-erase-me');
  await page.click('#erase button[type=submit]');
  await page.waitForSelector('#erase-result:not([hidden])', WAIT);
  assert.match(await page.textContent('#erase-result'), /^Erased: 1 participation /);
  const stats = await (await operatorApi(`/api/campaigns/${LIVE}/stats`)).json();
  assert.equal(stats.participations, 5, 'the counts are kept');
  await openTab(page, 'audit');
  await page.waitForSelector('#audit tbody tr', WAIT);
  const audit = await page.textContent('#audit tbody');
  assert.match(audit, /e2e-operator/);
  assert.doesNotMatch(audit, /member-erase-me|erase-me@example/, 'the audit log keeps no erased data');
});

test('draw after the end with a public value: result, record, verification command', async () => {
  const { page } = env;
  // The draw campaign ends a few seconds after its participations were made.
  while ((await (await operatorApi('/api/campaigns')).json()).campaigns.find((c) => c.campaignId === DRAW).status !== 'ended') {
    await new Promise((r) => setTimeout(r, 250));
  }
  await chooseCampaign(page, DRAW);
  await openTab(page, 'draw');
  await page.waitForSelector('#draw-value', { state: 'visible', ...WAIT });
  assert.equal(await page.textContent('#draw-source'), 'the test beacon, round 4242');
  await page.fill('#draw-value', PUBLIC_VALUE);
  await page.click('#draw button[type=submit]');
  await page.waitForSelector('#draw-result:not([hidden])', WAIT);
  const fairness = await (await fetch(`${env.origin}/api/campaigns/${DRAW}/fairness`)).json();
  const record = fairness.draw.record;
  assert.equal(record.publicValue, PUBLIC_VALUE);
  assert.deepEqual(JSON.parse(await page.textContent('#draw-record')), record);
  assert.equal(await page.$$eval('#draw-winners li', (l) => l.length), 2);
  const command = await page.textContent('#draw-verify');
  assert.equal(command, `campaign-token verify-draw ${DRAW}-draw.json --secret-commitment ${fairness.draw.secretCommitment}`);
  // The downloaded record, checked by the command the console prints.
  const [download] = await Promise.all([page.waitForEvent('download', WAIT), page.click('#draw-download')]);
  const file = path.join(env.dir, download.suggestedFilename());
  await download.saveAs(file);
  const cli = path.join(TARGET, 'debug', 'campaign-token');
  const args = command.split(' ').slice(1).map((a) => (a === `${DRAW}-draw.json` ? file : a));
  const verified = spawnSync(cli, args, { encoding: 'utf8' });
  assert.equal(verified.status, 0, verified.stdout + verified.stderr);
  assert.match(verified.stdout, /"ok":\s*true/);
});

test('disqualify a drawn winner with a reason and draw a replacement', async () => {
  const { page } = env;
  await openTab(page, 'winners');
  await page.waitForSelector('#winners tbody tr button.disqualify', WAIT);
  const before = await page.$$eval('#winners tbody tr', (rs) => rs.map((r) => r.dataset.participation));
  assert.equal(before.length, 2);
  const target = before[0];
  await page.click(`#winners tbody tr[data-participation="${target}"] button.disqualify`);
  await page.fill('#disqualify-reason', 'could not be reached');
  await page.click('#disqualify button[type=submit]');
  await page.waitForSelector('#disqualify-result:not([hidden])', WAIT);
  assert.match(await page.textContent('#disqualify-result'), new RegExp(`^Disqualified ${target}; replacement: [0-9a-f]+\\.$`));
  await page.waitForFunction((t) => {
    const ids = [...document.querySelectorAll('#winners tbody tr')].map((r) => r.dataset.participation);
    return ids.length === 2 && !ids.includes(t);
  }, target, WAIT);
  await openTab(page, 'audit');
  await page.waitForFunction(() => /disqualif/.test(document.querySelector('#audit tbody').textContent), null, WAIT);
  assert.match(await page.textContent('#audit tbody'), /could not be reached/);
});

test('the token never appears in a URL, a cookie or the server log; no CSP violation', async () => {
  const { page, context } = env;
  assert.ok(env.requested.length > 10, 'the browser made requests');
  for (const url of env.requested) assert.ok(!url.includes(OPERATOR_TOKEN), `token in a requested URL: ${url}`);
  assert.ok(!page.url().includes(OPERATOR_TOKEN));
  assert.deepEqual(await context.cookies(), []);
  assert.ok(env.logs().length > 0, 'the server logged something');
  assert.ok(!env.logs().includes(OPERATOR_TOKEN), 'the operator token is in the server log');
  assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);
  assert.deepEqual(env.problems.filter((p) => !/401/.test(p)), []);
  // The console's own strict policy: no inline code, no wasm, never framed.
  const res = await fetch(`${env.origin}/operator/`);
  const csp = res.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self';/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe/);
  // Sign out forgets the token.
  await page.click('#sign-out');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('campaign-token:operator-token')), null);
});
