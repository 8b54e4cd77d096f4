// The participation end to end against the REAL allocation server (server/, SQLite): the
// server serves the campaign page with its own headers, the visitor opens it with a token
// in the URL and clicks "Take part", and the page shows what the server decided. Also a
// token handed over by postMessage from the integrator page on the server's second
// listener. The operator's stats must never show more winners than prizes.
//
// The binary is $CARGO_TARGET_DIR/debug/campaign-token-server (built with
// `cargo build -p campaign-token-server` if missing); it is stopped at the end.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';
import { SignJWT, generateKeyPair, exportSPKI } from 'jose';
import { ROOT, PKG_DIR, WWW_DIR, writeConfig } from './serve.mjs';
import {
  assertPackageBuilt, newPage, waitForVerdict, readCampaign, campaignUrl, CHROMIUM_ARGS, WAIT, LABEL,
} from './helpers.mjs';

const CAMPAIGN_ID = 'server-e2e-2026';
const PRIZE = { id: 'coffee-box', name: 'our winter coffee box', quantity: 1 };
const OPERATOR_ENV = 'CAMPAIGN_TOKEN_E2E_OPERATOR_TOKEN';
const OPERATOR_TOKEN = randomBytes(24).toString('hex');

let env;
before(async () => { env = await start(); });
after(async () => { await env?.teardown(); });

function serverBinary() {
  const targetDir = process.env.CARGO_TARGET_DIR
    ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target');
  const bin = path.join(targetDir, 'debug', 'campaign-token-server');
  if (!existsSync(bin)) {
    const built = spawnSync('cargo', ['build', '-p', 'campaign-token-server'], { cwd: ROOT, stdio: 'inherit' });
    if (built.status !== 0) throw new Error('cargo build -p campaign-token-server failed');
  }
  return bin;
}

/** A loopback port that was free a moment ago (the server's second listener must be known
 * before it starts: the campaign page's frame-ancestors and allowlist name it). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

const toml = (v) => JSON.stringify(v); // TOML basic strings and arrays of them read like JSON

async function start() {
  await assertPackageBuilt();
  const bin = serverBinary();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'campaign-token-server-e2e-'));
  const cleanups = [() => fs.rm(dir, { recursive: true, force: true })];
  const teardown = async () => { for (const c of cleanups.reverse()) await c().catch(() => {}); };
  try {
    const brand = await generateKeyPair('ES256', { extractable: true });
    const publicPem = await exportSPKI(brand.publicKey);
    await fs.writeFile(path.join(dir, 'public.pem'), publicPem);
    const now = Math.floor(Date.now() / 1000);
    const mint = (gift, sub = `member-${randomBytes(6).toString('hex')}`) => new SignJWT({ campaignId: CAMPAIGN_ID, ...(gift ? { gift } : {}) })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .setSubject(sub).setIssuedAt(now - 5).setExpirationTime(now + 900)
      .sign(brand.privateKey);
    const tokens = {
      'given-prize': await mint({ cw: true, label: LABEL }),
      'given-prize-2': await mint({ cw: true, label: 'A second espresso machine' }),
      standard: await mint(null),
      'cannot-win': await mint({ cw: false, label: 'never shown' }),
      'any-prize': await mint({ cw: true }),
    };

    const integratorPort = await freePort();
    const integratorOrigin = `http://127.0.0.1:${integratorPort}`;
    const config = `
listen = "127.0.0.1:0"
database = ${toml(`sqlite:${path.join(dir, 'campaign-token.db')}`)}
operator_token_env = "${OPERATOR_ENV}"

[site]
dirs = ${toml([path.join(dir, 'campaign'), path.join(WWW_DIR, 'campaign')])}
pkg = ${toml(PKG_DIR)}
integrator_origins = ${toml([integratorOrigin])}

[integrator]
listen = "127.0.0.1:${integratorPort}"
dirs = ${toml([path.join(dir, 'integrator'), path.join(WWW_DIR, 'integrator')])}
pkg = ${toml(PKG_DIR)}

[[campaign]]
id = "${CAMPAIGN_ID}"
type = "draw"
start = "2020-01-01T00:00:00Z"
end = "2099-01-01T00:00:00Z"
participation_limit = 1

[[campaign.keys]]
pem_file = ${toml(path.join(dir, 'public.pem'))}

[[campaign.prizes]]
id = "${PRIZE.id}"
name = "${PRIZE.name}"
quantity = ${PRIZE.quantity}
`;
    await fs.writeFile(path.join(dir, 'server.toml'), config);
    await fs.mkdir(path.join(dir, 'campaign'));
    await fs.mkdir(path.join(dir, 'integrator'));

    const child = spawn(bin, ['--config', path.join(dir, 'server.toml')], {
      env: { ...process.env, [OPERATOR_ENV]: OPERATOR_TOKEN, RUST_LOG: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const backstop = () => child.kill('SIGKILL');
    process.once('exit', backstop);
    cleanups.push(async () => {
      process.off('exit', backstop);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    });
    // The server prints its address once it listens (port 0: chosen by the OS).
    const lines = readline.createInterface({ input: child.stdout });
    const origin = await new Promise((resolve, reject) => {
      lines.on('line', (line) => {
        const m = /^listening on (http:\/\/\S+)$/.exec(line);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`campaign-token-server exited (${code}) before listening`)));
    });

    // The pages' generated settings, served from the temp dir before www/ (read per request).
    await writeConfig(path.join(dir, 'campaign'), {
      campaignId: CAMPAIGN_ID,
      keys: publicPem,
      allowedOrigins: [integratorOrigin],
      endpoint: `/api/campaigns/${CAMPAIGN_ID}/participations`,
      defaultPrizeLabel: PRIZE.name,
    });
    await writeConfig(path.join(dir, 'integrator'), { campaignOrigin: origin, tokens });

    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
    cleanups.push(() => browser.close());
    return { origin, integratorOrigin, tokens, browser, child, teardown };
  } catch (err) {
    await teardown();
    throw err;
  }
}

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

async function stats() {
  const r = await fetch(`${env.origin}/api/campaigns/${CAMPAIGN_ID}/stats`,
    { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
  assert.equal(r.status, 200);
  return r.json();
}

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
