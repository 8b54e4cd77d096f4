// Experiment (not part of scripts/bench.sh): the wasm's time on the campaign page's main
// thread. Loads the bench site's pages (cold cache) with a Chromium trace, REPS times each,
// and prints per load and as medians: the functions V8 compiled lazily before the prize showed
// (`wasm.CompileLazy` events on the page's main thread: count, ms), the intervals
// instantiateStreaming -> importKey -> verify -> prize (from performance.marks left by wrapped
// calls; lzA/lzB/lzC: compile ms within each), and the main thread's busy time from the first
// script evaluation. The first load's trace is written to OUTPREFIX-NAME.json, for
// bench/experiments/lazy-functions.mjs. docs/browser.md ("The wasm's time on the page's main
// thread") has what it measured.
//
//   ./scripts/bench.sh --quick --no-docs --only size,browser   # builds bench/.work/site, fixtures
//   node bench/experiments/wasm-main-thread.mjs bench/.work/site/default ours,jose 5 /tmp/trace
//   CHROME_FLAGS="--js-flags=--wasm-compilation-hints" node bench/experiments/wasm-main-thread.mjs …
import fs from 'node:fs/promises';
import { chromium } from 'playwright-core';
import { startBenchServer } from '../serve.mjs';
const here = new URL('.', import.meta.url).pathname;
const fixtures = JSON.parse(await fs.readFile(process.env.FIXTURES || here + '../.work/fixtures.json', 'utf8'));
const token = fixtures.algs.ES256.token;
const site = process.argv[2] || here + '../.work/site/default';
const names = (process.argv[3] || 'ours').split(',');
const reps = Number(process.argv[4] || 5);
const prefix = process.argv[5] || '/tmp/campaign-token-trace';
const server = await startBenchServer(site);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox','--disable-gpu','--disable-background-networking','--disable-component-update','--no-first-run', ...(process.env.CHROME_FLAGS ? process.env.CHROME_FLAGS.split(' ') : [])] });
function instrument(label) {
  const mark = (w) => { performance.mark('ct:' + w); };
  const wrap = (obj, name) => { const f = obj[name].bind(obj); obj[name] = (...a) => { mark(name + '>'); const p = f(...a); p.then(() => mark(name + '<'), () => mark(name + '!')); return p; }; };
  for (const n of ['instantiateStreaming', 'instantiate']) wrap(WebAssembly, n);
  for (const n of ['importKey', 'verify']) wrap(crypto.subtle, n);
  new MutationObserver(() => { if (window.__ttp === undefined && document.body?.textContent.includes(label)) { window.__ttp = performance.now(); mark('PRIZE'); } }).observe(document, { subtree: true, childList: true, characterData: true });
}
const agg = {};
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
for (let r = 0; r < reps; r++) for (const name of names) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable'); await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  await page.addInitScript(instrument, fixtures.label);
  await browser.startTracing(page, { categories: ['devtools.timeline','v8','v8.execute','disabled-by-default-devtools.timeline','blink','loading','v8.wasm','blink.user_timing'] });
  await page.goto(`${server.origin}/${name}/?token=${token}`, { waitUntil: 'commit' });
  await page.waitForFunction(() => window.__ttp !== undefined);
  const ttp = await page.evaluate(() => window.__ttp);
  const buf = await browser.stopTracing();
  if (r === 0) await fs.writeFile(`${prefix}-${name}.json`, buf);
  const ev = JSON.parse(buf).traceEvents;
  const tn = {}; for (const e of ev) if (e.name === 'thread_name') tn[e.pid + ':' + e.tid] = e.args.name;
  const marks = {};
  for (const e of ev) if (e.name?.startsWith('ct:') && !(e.name in marks)) marks[e.name.slice(3)] = e.ts;
  const prize = marks.PRIZE;
  // main thread = the one where the marks were made
  const markEv = ev.find((e) => e.name === 'ct:PRIZE');
  const mainKey = markEv ? markEv.pid + ':' + markEv.tid : Object.keys(tn).find((k) => tn[k] === 'CrRendererMain');
  const main = ev.filter((e) => e.pid + ':' + e.tid === mainKey && e.ph === 'X');
  // start: first EvaluateScript/v8.evaluateModule of the page
  const starts = main.filter((e) => ['v8.evaluateModule', 'EvaluateScript'].includes(e.name)).map((e) => e.ts).sort((a, b) => a - b);
  const t0 = starts[0];
  const lazy = ev.filter((e) => e.name === 'wasm.CompileLazy');
  const lazyMain = lazy.filter((e) => e.pid + ':' + e.tid === mainKey && e.ts <= prize);
  const tasks = main.filter((e) => e.name === 'RunTask' && e.ts + e.dur >= t0 && e.ts <= prize);
  let busy = 0; for (const t of tasks) busy += Math.min(t.ts + t.dur, prize) - Math.max(t.ts, t0);
  const m = (k) => (marks[k] === undefined ? NaN : (marks[k] - t0) / 1000);
  const row = { ttp, busy: busy / 1000, lazyN: lazyMain.length, lazyMs: lazyMain.reduce((s, e) => s + (e.dur || 0), 0) / 1000,
    inst0: m('instantiateStreaming>'), inst1: m('instantiateStreaming<'), imp0: m('importKey>'), imp1: m('importKey<'), ver0: m('verify>'), ver1: m('verify<'), prize: m('PRIZE') };
  const lz = (a, b) => lazyMain.filter((e) => e.ts >= marks[a] && e.ts <= marks[b]).reduce((s, e) => s + e.dur, 0) / 1000;
  row.lzA = lz('instantiateStreaming<', 'importKey>'); row.lzB = lz('importKey<', 'verify>'); row.lzC = lz('verify<', 'PRIZE');
  row['inst1->imp0'] = row.imp0 - row.inst1; row['imp1->ver0'] = row.ver0 - row.imp1; row['ver1->prize'] = row.prize - row.ver1;
  (agg[name] ??= []).push(row);
  console.log(name, Object.entries(row).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toFixed(1) : v}`).join(' '));
  await context.close();
}
for (const [name, rows] of Object.entries(agg)) {
  console.log(`MEDIAN ${name} (n=${rows.length}):`, Object.keys(rows[0]).map((k) => `${k}=${med(rows.map((r) => r[k])).toFixed(1)}`).join(' '));
}
await browser.close(); server.close();
