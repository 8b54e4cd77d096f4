// The REAL allocation server (server/, SQLite) for end-to-end tests: a draw campaign with one
// prize, an ES256 brand key, tokens minted with jose, the campaign page and the integrator page
// (on the server's second listener) served by the server itself. Used by
// tests/e2e/participate-server.test.mjs (Chromium, Playwright) and tests/engines/ (every engine).
//
// The binary is $CARGO_TARGET_DIR/debug/campaign-token-server (built with
// `cargo build -p campaign-token-server` if missing); it is stopped by teardown().
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
import { assertPackageBuilt, CHROMIUM_ARGS, LABEL } from './helpers.mjs';

export const CAMPAIGN_ID = 'server-e2e-2026';
export const PRIZE = { id: 'coffee-box', name: 'our winter coffee box', quantity: 1 };
const OPERATOR_ENV = 'CAMPAIGN_TOKEN_E2E_OPERATOR_TOKEN';
export const OPERATOR_TOKEN = randomBytes(24).toString('hex');

/** The operator's view of the campaign (GET …/stats with the bearer token). */
async function stats(origin) {
  const r = await fetch(`${origin}/api/campaigns/${CAMPAIGN_ID}/stats`,
    { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
  if (r.status !== 200) throw new Error(`stats answered ${r.status}`);
  return r.json();
}

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

export async function startRealServer({ launch = true } = {}) {
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
    const mint = (gift, sub = `member-${randomBytes(6).toString('hex')}`, extra = {}) => new SignJWT({ campaignId: CAMPAIGN_ID, ...(gift ? { gift } : {}), ...extra })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .setSubject(sub).setIssuedAt(now - 5).setExpirationTime(now + 900)
      .sign(brand.privateKey);
    const tokens = {
      'given-prize': await mint({ cw: true, label: LABEL }),
      'given-prize-2': await mint({ cw: true, label: 'A second espresso machine' }),
      standard: await mint(null),
      'cannot-win': await mint({ cw: false, label: 'never shown' }),
      'any-prize': await mint({ cw: true }),
      personal: await mint({ cw: true, label: LABEL }, undefined, {
        form: { firstName: '<b>Sam</b>', email: 'sam@example.com' }, optin: { newsletter: true },
      }),
      denied: await mint({ cw: true, label: LABEL }, undefined, { limit: { canPlay: false } }),
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

    // The engine matrix (tests/engines/) drives its own browsers over WebDriver.
    const browser = launch
      ? await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS })
      : null;
    if (browser) cleanups.push(() => browser.close());
    return { origin, integratorOrigin, tokens, browser, child, teardown, stats: () => stats(origin) };
  } catch (err) {
    await teardown();
    throw err;
  }
}

