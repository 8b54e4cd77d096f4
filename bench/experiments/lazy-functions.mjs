// Experiment (not part of scripts/bench.sh): the wasm functions V8 compiled lazily on the
// page's main thread before the prize showed, in order, with compile time (µs), function
// index, body size (bytes) and name; the first line totals them. TRACE is a trace written by
// bench/experiments/wasm-main-thread.mjs; WASM the module that page loaded, which must have a
// name section to show names: a copy of the site whose campaign_token_bg.wasm is the same
// build optimised with `wasm-opt -Oz --converge -g` (scripts/build-wasm.sh's options plus -g
// keep the code section function for function).
//
//   node bench/experiments/lazy-functions.mjs /tmp/trace-ours.json SITE/pkg/campaign_token_bg.wasm
import fs from 'node:fs';
const [tracePath, wasmPath] = process.argv.slice(2);
const b = fs.readFileSync(wasmPath);
let p = 8; const names = new Map(); const sizes = new Map(); let nimports = 0;
const leb = () => { let r = 0, s = 0, x; do { x = b[p++]; r |= (x & 0x7f) << s; s += 7; } while (x & 0x80); return r >>> 0; };
while (p < b.length) {
  const id = b[p++]; const len = leb(); const end = p + len;
  if (id === 2) { const n = leb(); for (let i = 0; i < n; i++) { let l = leb(); p += l; l = leb(); p += l; const k = b[p++]; if (k === 0) { leb(); nimports++; } else if (k === 1) { p++; const f = b[p++]; leb(); if (f & 1) leb(); } else if (k === 2) { const f = b[p++]; leb(); if (f & 1) leb(); } else if (k === 3) { p += 2; } else p++; } }
  if (id === 10) { const n = leb(); for (let i = 0; i < n; i++) { const sz = leb(); sizes.set(nimports + i, sz); p += sz; } }
  if (id === 0) { const nl = leb(); const nm = b.slice(p, p + nl).toString(); p += nl;
    if (nm === 'name') while (p < end) { const sid = b[p++]; const sl = leb(); const se = p + sl; if (sid === 1) { const n = leb(); for (let i = 0; i < n; i++) { const idx = leb(); const l = leb(); names.set(idx, b.slice(p, p + l).toString()); p += l; } } p = se; } }
  p = end;
}
const ev = JSON.parse(fs.readFileSync(tracePath)).traceEvents;
const prize = ev.find((e) => e.name === 'ct:PRIZE');
const lazy = ev.filter((e) => e.name === 'wasm.CompileLazy' && e.pid === prize.pid && e.tid === prize.tid && e.ts <= prize.ts);
let tot = 0, totsz = 0; const rows = [];
for (const e of lazy) { const i = e.args?.func_index ?? e.args?.data?.func_index; tot += e.dur; totsz += sizes.get(i) ?? 0; rows.push([e.dur, i, sizes.get(i), names.get(i)]); }
console.log('imports', nimports, 'lazy', lazy.length, 'ms', (tot / 1000).toFixed(2), 'bytes', totsz, 'args example', JSON.stringify(lazy[0]?.args));
for (const r of rows) console.log(String(r[0]).padStart(6), String(r[1]).padStart(5), String(r[2]).padStart(6), r[3]);
