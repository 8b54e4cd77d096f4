// Browser benchmarks in Debian's headless Chromium (playwright-core):
//   verify — tokens/s of our wasm `verifyToken` and of jose/WebCrypto, same page, same tokens;
//   ttp    — time from navigation start to the prize name in the DOM, cold cache, for our
//            demo campaign page and the jose equivalent, on localhost and under emulated
//            mobile conditions (CDP: 9 Mbit/s down, 1.5 up, 150 ms RTT, CPU 4x slower).
//
// node bench/browser.mjs --fixtures F.json --site DIR --pkg PKG_DIR [--pkg-single DIR]
//                        [--reps N] [--parts verify,ttp] --out RESULTS_DIR
// The site is assembled under DIR from www/campaign (ours) and bench/jose-page (jose): the
// jose page is the demo page's own HTML with only the script (and our module's preloads,
// which it has no use for) swapped, so both pages render the same document and CSS.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import * as esbuild from 'esbuild';
import { startBenchServer } from './serve.mjs';
import { buildJosePage } from './build.mjs';
import { summary } from './stats.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const reps = Number(args.reps ?? 15);
const parts = (args.parts ?? 'verify,ttp').split(',');
const fixtures = JSON.parse(await fs.readFile(args.fixtures, 'utf8'));
// Every asymmetric algorithm of the library's table, in its order (bench/native fixtures).
const ALGS = fixtures.algNames;
const MOBILE = { latency: 150, downloadThroughput: (9e6 / 8), uploadThroughput: (1.5e6 / 8), cpu: 4 };

async function writeConfig(dir, values) {
  const lines = Object.entries(values).map(([k, v]) => `export const ${k} = ${JSON.stringify(v)};`);
  await fs.writeFile(path.join(dir, 'config.js'), lines.join('\n') + '\n');
}

/** Assembles DIR: /pkg (the build under test), /ours (demo page), /jose, /verify. */
async function assembleSite(dir, pkgDir, { embeddedKey = false } = {}) {
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  await fs.symlink(path.resolve(pkgDir), path.join(dir, 'pkg'));
  const campaign = path.join(ROOT, 'www/campaign');
  const html = await fs.readFile(path.join(campaign, 'index.html'), 'utf8');
  const es = fixtures.algs.ES256;
  const config = {
    campaignId: fixtures.campaignId,
    keys: embeddedKey ? undefined : { keys: [es.jwk] },
    allowedOrigins: [],
    defaultPrizeLabel: 'a surprise prize',
    endpoint: '/api/campaigns/' + fixtures.campaignId + '/participations',
  };
  if (embeddedKey) delete config.keys;
  const ours = path.join(dir, 'ours');
  await fs.mkdir(ours);
  // Everything the demo page ships (HTML, app.js, CSS, icons), never a generated config.js.
  const assets = (await fs.readdir(campaign, { withFileTypes: true })).filter((e) => e.isFile() && e.name !== 'config.js').map((e) => e.name);
  for (const f of assets) await fs.copyFile(path.join(campaign, f), path.join(ours, f));
  await writeConfig(ours, config);

  const jose = path.join(dir, 'jose');
  await fs.mkdir(jose);
  // Only our module's preloads go; the page's own config.js stays preloaded, as jose's
  // main.js imports it just as app.js does (without it the jose page waited one more round
  // trip: 150 ms on the mobile profile, until 2026-11-29).
  const joseHtml = html
    .replace(/^\s*<link rel="modulepreload" href="\/pkg\/[^>]*>\n/gm, '')
    .replace(/^\s*<link rel="preload"[^>]*wasm[^>]*>\n/m, '')
    .replace(/<script type="module" src="app\.js"><\/script>/, '<script type="module" src="main.js"></script>');
  if (!joseHtml.includes('src="main.js"')) throw new Error('could not swap the script of www/campaign/index.html');
  if (!joseHtml.includes('<link rel="modulepreload" href="config.js">') || joseHtml.includes('/pkg/')) {
    throw new Error('the jose page must preload config.js as ours does, and nothing of our module');
  }
  await fs.writeFile(path.join(jose, 'index.html'), joseHtml);
  for (const f of assets.filter((f) => !['index.html', 'app.js'].includes(f))) await fs.copyFile(path.join(campaign, f), path.join(jose, f));
  await buildJosePage(path.join(jose, 'main.js'));
  await writeConfig(jose, { ...config, keys: { keys: [es.jwk] }, root: '#campaign' });

  const verify = path.join(dir, 'verify');
  await fs.mkdir(verify);
  await fs.copyFile(path.join(HERE, 'verify-page/index.html'), path.join(verify, 'index.html'));
  await esbuild.build({
    entryPoints: [path.join(HERE, 'verify-page/main.js')], bundle: true, minify: true, format: 'esm',
    target: 'es2022', external: ['/pkg/index.js'], outfile: path.join(verify, 'main.js'), logLevel: 'warning',
  });
}

const launch = () => chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--no-first-run', '--disable-sync'],
});

async function verifyBench(browser, origin) {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('verify page error:', e));
  await page.goto(origin + '/verify/');
  await page.waitForFunction(() => window.verifyBenchReady === true);
  const budgetMs = reps >= 10 ? 1000 : 400;
  const raw = await page.evaluate((o) => window.runVerifyBench(o),
    { fixtures, algs: ALGS, reps: Math.max(3, Math.round(reps / 3)), budgetMs });
  await page.close();
  const out = {};
  for (const alg of ALGS) out[alg] = { ours: summary(raw[alg].ours), oursPerCall: summary(raw[alg].oursPerCall), jose: summary(raw[alg].jose) };
  return out;
}

// Set before any page script: records performance.now() (ms since navigation start) when
// the prize label first appears in the document, and the eligibility attribute then.
function markScript(label) {
  const check = () => {
    if (window.__ttp === undefined && document.body && document.body.textContent.includes(label)) {
      window.__ttp = performance.now();
      window.__ttpEligibility = document.documentElement.dataset.tokenEligibility ?? null;
    }
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, characterData: true });
}

async function ttpOnce(browser, url, mobile) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  if (mobile) {
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: MOBILE.latency,
      downloadThroughput: MOBILE.downloadThroughput, uploadThroughput: MOBILE.uploadThroughput,
    });
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: MOBILE.cpu });
  }
  await page.addInitScript(markScript, fixtures.label);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await page.goto(url, { waitUntil: 'commit', timeout: 30000 });
    await page.waitForFunction(() => window.__ttp !== undefined, null, { timeout: 30000 });
    const r = await page.evaluate(() => ({ ttp: window.__ttp, eligibility: window.__ttpEligibility, href: location.href }));
    if (r.href.includes('token=')) errors.push('token left in the URL');
    if (r.eligibility !== 'given-prize') errors.push(`eligibility ${r.eligibility} when the label appeared`);
    return { ...r, errors };
  } catch (e) {
    return { ttp: NaN, errors: [...errors, String(e).split('\n')[0]] };
  } finally {
    await context.close();
  }
}

async function ttpBench(browser, sites) {
  const token = fixtures.algs.ES256.token;
  const out = {};
  for (const profile of ['localhost', 'mobile']) {
    const runs = Object.fromEntries(sites.map((s) => [s.name, []]));
    const problems = [];
    // Warm the server's compression cache and the browser binary once, unmeasured.
    for (const s of sites) await ttpOnce(browser, `${s.url}?token=${token}`, false);
    for (let i = 0; i < reps; i++) {
      for (const s of sites) { // alternate pages so that noise hits all alike
        const r = await ttpOnce(browser, `${s.url}?token=${token}`, profile === 'mobile');
        runs[s.name].push(r.ttp);
        if (r.errors.length) problems.push(`${s.name}: ${r.errors.join('; ')}`);
      }
    }
    out[profile] = Object.fromEntries(sites.map((s) => [s.name, summary(runs[s.name])]));
    if (problems.length) out[profile].problems = [...new Set(problems)];
  }
  return out;
}

const work = path.resolve(args.site);
await assembleSite(path.join(work, 'default'), args.pkg);
const servers = [];
const dflt = await startBenchServer(path.join(work, 'default'));
servers.push(dflt);
const sites = [{ name: 'ours', url: dflt.origin + '/ours/' }, { name: 'jose', url: dflt.origin + '/jose/' }];
if (args['pkg-single']) {
  await assembleSite(path.join(work, 'single'), args['pkg-single'], { embeddedKey: true });
  const single = await startBenchServer(path.join(work, 'single'));
  servers.push(single);
  sites.splice(1, 0, { name: 'ours-es256', url: single.origin + '/ours/' });
}
const browser = await launch();
const results = { chromium: browser.version(), reps };
try {
  if (parts.includes('verify')) results.verify = await verifyBench(browser, dflt.origin);
  if (parts.includes('ttp')) results.ttp = { profile: MOBILE, ...(await ttpBench(browser, sites)) };
} finally {
  await browser.close();
  for (const s of servers) s.close();
}
await fs.mkdir(args.out, { recursive: true });
await fs.writeFile(path.join(args.out, 'browser.json'), JSON.stringify(results, null, 2));
console.log(JSON.stringify(results, (k, v) => (k === 'values' ? undefined : v), 1).slice(0, 3000));
