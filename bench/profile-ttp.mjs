// Where the time to personalised page goes, on localhost: loads our campaign page and the jose
// page a few times each (cold cache, as bench/browser.mjs does) and prints, per load, the
// resource timings and a timeline of DOMContentLoaded, wasm instantiation, WebCrypto calls,
// history.replaceState, and the moment the prize name appears. A diagnostic, not a benchmark:
// the numbers of record come from scripts/bench.sh.
//
//   ./scripts/bench.sh --only browser          # assembles bench/.work/site and the fixtures
//   node bench/profile-ttp.mjs [--runs 3] [--site bench/.work/site/default] [--fixtures bench/.work/fixtures.json]
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startBenchServer } from './serve.mjs';

const here = path.dirname(new URL(import.meta.url).pathname);
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    site: { type: 'string', default: path.join(here, '.work/site/default') },
    fixtures: { type: 'string', default: path.join(here, '.work/fixtures.json') },
  },
});
const fixtures = JSON.parse(await fs.readFile(args.fixtures, 'utf8'));
const token = fixtures.algs.ES256.token;
const server = await startBenchServer(args.site);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});

/** Runs in the page before its scripts: wraps the calls of interest to log their timing. */
function instrument(label) {
  window.__log = [];
  const at = (what) => window.__log.push(`${what}@${Math.round(performance.now())}`);
  const wrapAsync = (obj, name) => {
    const f = obj[name].bind(obj);
    obj[name] = (...a) => { at(`${name}>`); const p = f(...a); p.then(() => at(`${name}<`), () => at(`${name}!`)); return p; };
  };
  for (const n of ['instantiateStreaming', 'instantiate']) wrapAsync(WebAssembly, n);
  for (const n of ['importKey', 'verify']) wrapAsync(crypto.subtle, n);
  const replace = History.prototype.replaceState;
  History.prototype.replaceState = function (...a) { at('replaceState>'); const r = replace.apply(this, a); at('replaceState<'); return r; };
  document.addEventListener('DOMContentLoaded', () => at('DOMContentLoaded'));
  new MutationObserver(() => {
    if (window.__ttp === undefined && document.body?.textContent.includes(label)) {
      window.__ttp = performance.now();
      at('PRIZE');
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
}

try {
  for (let i = 0; i < Number(args.runs); i++) {
    for (const name of ['ours', 'jose']) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
      await page.addInitScript(instrument, fixtures.label);
      await page.goto(`${server.origin}/${name}/?token=${token}`, { waitUntil: 'commit' });
      await page.waitForFunction(() => window.__ttp !== undefined, null, { timeout: 30_000 });
      const r = await page.evaluate(() => ({
        ttp: window.__ttp,
        log: window.__log,
        resources: performance.getEntriesByType('resource')
          .map((e) => `${e.name.split('/').pop()} ${Math.round(e.startTime)}–${Math.round(e.responseEnd)}`),
      }));
      console.log(`${name.padEnd(4)} ${Math.round(r.ttp)} ms | ${r.resources.join(', ')}\n     ${r.log.join(' ')}`);
      await context.close();
    }
  }
} finally {
  await browser.close();
  server.close();
}
