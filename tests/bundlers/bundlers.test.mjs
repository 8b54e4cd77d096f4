// The packed package (`npm pack`) in a fresh consumer project, built into a page by each
// common bundler with its plainest command, each page loaded in headless Chromium: the URL's
// token is verified, its label rendered and the token removed from the address bar; loaded
// again with ?fallback, the pure-Rust fallback module verifies a second token (so the bundle
// finds both wasm modules), and, where the bundler splits code, only that load fetches it.
//
//   Vite, webpack 5, Next.js (static export)   the main entry, no configuration
//   esbuild --bundle (also with --splitting),  `campaign-token/inline` (they do not copy the
//   Rollup + node-resolve                      .wasm files that `new URL(…, import.meta.url)` names)
//
// Run by scripts/test-bundlers.sh, which installs the bundlers (tests/bundlers/package.json,
// pinned with its package-lock.json) and the tarball into CONSUMER_DIR. Prints each page's
// bytes (raw and gzip -9 of every file the browser fetched, with and without the fallback) as
// test diagnostics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { SignJWT, generateKeyPair, exportJWK, exportSPKI } from 'jose';

const run = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const CONSUMER = process.env.CONSUMER_DIR;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
  '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];
const CAMPAIGN_ID = 'bundled-campaign';
const LABEL = 'Barista Pro espresso machine';
const FALLBACK_LABEL = 'A year of coffee';
// Generous: a cold wasm compile on a loaded 2-core machine can take a while.
const WAIT = { timeout: 60_000 };

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json',
  '.txt': 'text/plain', '.ico': 'image/x-icon', '.svg': 'image/svg+xml',
};

let browser;
let tokens;

before(async () => {
  assert.ok(CONSUMER, 'CONSUMER_DIR is not set: run scripts/test-bundlers.sh');
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'brand-1', alg: 'ES256', use: 'sig' }] };
  const now = Math.floor(Date.now() / 1000);
  // An hour: every bundler builds between minting and loading (Next.js takes minutes).
  const mint = (label) => new SignJWT({ campaignId: CAMPAIGN_ID, gift: { cw: true, label } })
    .setProtectedHeader({ alg: 'ES256', kid: 'brand-1', typ: 'JWT' })
    .setSubject(`member-${label.length}`).setIssuedAt(now).setExpirationTime(now + 3600)
    .sign(privateKey);
  tokens = { url: await mint(LABEL), fallback: await mint(FALLBACK_LABEL) };
  const pem = await exportSPKI(publicKey);
  const config = `export const CONFIG = ${JSON.stringify({
    campaignId: CAMPAIGN_ID, jwks, pem, fallbackToken: tokens.fallback })};\n`;

  // The page's sources: app/ for the plain bundlers, next-app/ (with page.js beside it) for Next.
  const src = path.join(CONSUMER, 'src');
  const next = path.join(CONSUMER, 'next-app');
  await fs.rm(src, { recursive: true, force: true });
  await fs.cp(path.join(HERE, 'app'), src, { recursive: true });
  await fs.writeFile(path.join(src, 'config.js'), config);
  await fs.rm(path.join(next, 'app'), { recursive: true, force: true });
  await fs.rm(path.join(next, 'out'), { recursive: true, force: true });
  await fs.cp(path.join(HERE, 'next-app'), next, { recursive: true });
  await fs.copyFile(path.join(src, 'page.js'), path.join(next, 'page.js'));
  await fs.writeFile(path.join(next, 'config.js'), config);
  await fs.rm(path.join(CONSUMER, 'dist'), { recursive: true, force: true });

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
});

const bin = (name) => path.join(CONSUMER, 'node_modules', '.bin', name);

async function build(cmd, args, cwd = CONSUMER) {
  try {
    await run(bin(cmd), args, {
      cwd,
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NO_COLOR: '1' },
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${err.stdout}\n${err.stderr}`);
  }
}

/** The page's HTML for bundlers that build only the script: the test's page with it. */
async function writeHtml(dir, script, { module }) {
  const html = await fs.readFile(path.join(HERE, 'app', 'index.html'), 'utf8');
  const tag = `<script${module ? ' type="module"' : ''} src="./${script}"></script>`;
  await fs.writeFile(path.join(dir, 'index.html'),
    html.replace('<script type="module" src="./main.js"></script>', tag));
}

/** Serves `dir` on a loopback port; records every request's path and status. */
async function serve(dir) {
  const requests = [];
  const root = path.resolve(dir);
  const server = http.createServer(async (req, res) => {
    let rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (rel.endsWith('/')) rel += 'index.html';
    const file = path.resolve(root, '.' + rel);
    const body = file.startsWith(root + path.sep) ? await fs.readFile(file).catch(() => null) : null;
    requests.push({ path: rel, status: body ? 200 : 404, bytes: body?.length ?? 0,
      gzip: body ? gzipSync(body, { level: 9 }).length : 0 });
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream' });
    res.end(body);
  });
  server.keepAliveTimeout = 1000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, requests,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }) };
}

/** Loads the built page with the token in the URL; what it verified, rendered and fetched. */
async function load(site, name, { fallback }) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  const from = site.requests.length;
  try {
    await page.goto(`${site.origin}/?${fallback ? 'fallback&' : ''}token=${tokens.url}`);
    await page.waitForFunction(() => document.getElementById('result')?.textContent
      && document.getElementById('fallback')?.textContent, null, WAIT);
    const result = JSON.parse(await page.textContent('#result'));
    assert.deepEqual(result, { eligibility: 'given-prize', prizeLabel: LABEL, error: null, backend: 'webcrypto' },
      `${name}: the URL's token`);
    assert.equal(await page.textContent('#label'), LABEL, `${name}: the label is rendered`);
    assert.ok(!page.url().includes('token='), `${name}: the token left the address bar`);
    const fallbackResult = JSON.parse(await page.textContent('#fallback'));
    assert.deepEqual(fallbackResult,
      fallback ? { eligibility: 'given-prize', prizeLabel: FALLBACK_LABEL, pem: FALLBACK_LABEL } : 'not asked',
      `${name}: the pure-Rust fallback and the PEM module`);
    assert.deepEqual(errors, [], `${name}: no uncaught error`);
    const requests = site.requests.slice(from).filter((r) => r.path !== '/favicon.ico');
    assert.deepEqual(requests.filter((r) => r.status !== 200), [], `${name}: every file the page asked for was built`);
    return requests;
  } finally {
    await page.close();
  }
}

/**
 * The page without and with the fallback. With `split`, the fallback is in files of its own
 * that only the second load fetches (a page that does not need it never downloads it).
 */
async function checkPage(t, dir, name, { split = true } = {}) {
  const site = await serve(dir);
  try {
    const plain = await load(site, name, { fallback: false });
    const withFallback = await load(site, name, { fallback: true });
    const plainPaths = new Set(plain.map((r) => r.path));
    const extra = withFallback.filter((r) => !plainPaths.has(r.path));
    if (split) {
      assert.ok(extra.some((r) => r.bytes > 150_000),
        `${name}: the fallback module is fetched only when needed (extra: ${extra.map((r) => r.path)})`);
    } else {
      assert.deepEqual(extra, [], `${name}: one file holds everything`);
    }
    const sum = (list, key) => list.reduce((n, r) => n + r[key], 0);
    t.diagnostic(`${name}: without the fallback ${plain.length} files, ${sum(plain, 'bytes')} B raw, `
      + `${sum(plain, 'gzip')} B gzip -9; the fallback adds ${extra.length} files, `
      + `${sum(extra, 'bytes')} B raw, ${sum(extra, 'gzip')} B gzip -9`);
  } finally {
    await site.close();
  }
}

test('Vite: the main entry, no configuration', async (t) => {
  const out = path.join(CONSUMER, 'dist', 'vite');
  await build('vite', ['build', 'src', '--outDir', out, '--emptyOutDir', '--logLevel', 'warn']);
  await checkPage(t, out, 'vite');
});

test('webpack 5: the main entry, no configuration', async (t) => {
  const out = path.join(CONSUMER, 'dist', 'webpack');
  await build('webpack', ['--mode', 'production', '--entry', './src/main.js', '--output-path', out]);
  await writeHtml(out, 'main.js', { module: false });
  await checkPage(t, out, 'webpack');
});

test('esbuild --bundle: the inline entry', async (t) => {
  const out = path.join(CONSUMER, 'dist', 'esbuild');
  await build('esbuild', ['src/main-inline.js', '--bundle', '--minify', `--outfile=${out}/main.js`, '--log-level=warning']);
  await writeHtml(out, 'main.js', { module: false });
  await checkPage(t, out, 'esbuild', { split: false });
});

test('esbuild --bundle --splitting --format=esm: the inline entry, fallback in its own chunk', async (t) => {
  const out = path.join(CONSUMER, 'dist', 'esbuild-split');
  await build('esbuild', ['src/main-inline.js', '--bundle', '--minify', '--splitting', '--format=esm',
    `--outdir=${out}`, '--log-level=warning']);
  await writeHtml(out, 'main-inline.js', { module: true });
  await checkPage(t, out, 'esbuild --splitting');
});

test('Rollup with @rollup/plugin-node-resolve: the inline entry', async (t) => {
  const out = path.join(CONSUMER, 'dist', 'rollup');
  await build('rollup', ['src/main-inline.js', '-p', 'node-resolve', '-d', out, '--silent']);
  await writeHtml(out, 'main-inline.js', { module: true });
  await checkPage(t, out, 'rollup');
});

test('Next.js client page (static export): the main entry, no configuration', async (t) => {
  const app = path.join(CONSUMER, 'next-app');
  await build('next', ['build'], app);
  await checkPage(t, path.join(app, 'out'), 'next');
});
