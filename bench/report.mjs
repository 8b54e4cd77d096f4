// Merges the parts' results (RESULTS_DIR/parts/*.json) into RESULTS_DIR/latest.json, prints
// the tables, judges the targets (issues 5 and 15), and (with --doc) replaces the benchmarks page's
// generated part — only the text between its two markers — with the same tables and
// bench/analysis.md. The page's title and introduction, outside the markers, are written by hand.
// node bench/report.mjs RESULTS_DIR [--doc docs/benchmarks.md] [--command "..."]
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const [resultsDir, ...rest] = process.argv.slice(2);
const opt = (name) => { const i = rest.indexOf(name); return i >= 0 ? rest[i + 1] : undefined; };
const parts = path.join(resultsDir, 'parts');
const read = async (f) => JSON.parse(await fs.readFile(path.join(parts, f), 'utf8').catch(() => 'null'));
const [native, size, browser, load, meta, backends] = await Promise.all(
  ['native.json', 'size.json', 'browser.json', 'load.json', 'meta.json', 'native-backends.json'].map(read));

const loadavg = (await fs.readFile(path.join(parts, 'loadavg.txt'), 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
const cpu = (await fs.readFile('/proc/cpuinfo', 'utf8')).match(/model name\s*:\s*(.*)/)?.[1] ?? os.cpus()[0]?.model;
const machine = {
  nproc: os.cpus().length, cpu, memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
  kernel: os.release(), node: process.version, date: new Date().toISOString(),
  ...(meta ?? {}), loadavg,
};

// The algorithms the parts measured (the library's table, in its order: bench/native fixtures).
const ALGS = [...new Set([...Object.keys(native ?? {}), ...Object.keys(browser?.verify ?? {})])];
const fmt = (x, d = 0) => (x == null || !Number.isFinite(x) ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const mm = (s, d = 0) => (s && s.n ? `${fmt(s.median, d)} (${fmt(s.min, d)}–${fmt(s.max, d)})` : '–');
const kb = (b) => (b == null ? '–' : `${(b / 1000).toFixed(1)} KB`);
const ratio = (a, b, d = 2) => (a && b ? `${(a / b).toFixed(d)}×` : '–');
const table = (head, rows) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

const md = [];
const targets = [];
const target = (what, met, value, note = '') => targets.push({ what, met, value, note });

if (size) {
  const rows = [];
  for (const [name, b] of Object.entries(size.builds)) {
    rows.push([`ours: ${name}`, Object.keys(b.files).join(', '), kb(b.total.raw), kb(b.total.gzip), kb(b.total.brotli)]);
  }
  if (size.jose) rows.push(['jose page (esbuild, minified)', path.basename(size.jose.file), kb(size.jose.total.raw), kb(size.jose.total.gzip), kb(size.jose.total.brotli)]);
  md.push('## Size: what a page downloads from us\n', table(['build', 'files', 'raw', 'gzip -9', 'brotli q11'], rows),
    '\n1 KB = 1000 bytes. Ours: the JS entry, every module it imports, and the wasm (what `pkg/` serves to the page); jose: the whole page script, minified (jose + glue doing the same work).');
  const d = size.builds.default?.total.gzip, s = size.builds['single-key ES256']?.total.gzip;
  if (d != null) target('default build ≤ 40 KB gzip, everything the page downloads from us (issue 15)', d <= 40000, kb(d));
  if (s != null) target('single-key ES256 build ≤ 30 KB gzip (issue 15)', s <= 30000, kb(s));
  for (const [name, b] of Object.entries(size.builds)) {
    const t = b.twiggy;
    if (!t || t.error || !t.crates) continue;
    md.push(`\n### Where the bytes go (${name}, twiggy on the same optimised code built with \`wasm-opt -Oz -g\` to keep names, ${kb(t.total)})\n`,
      table(['crate / section', 'bytes', 'share'], t.crates.slice(0, 10).map((c) => [c.crate, fmt(c.bytes), `${(100 * c.bytes / t.total).toFixed(1)} %`])),
      '\n', table(['largest items', 'bytes'], t.top.slice(0, 10).map((x) => ['`' + x.name.replace(/\|/g, '\\|') + '`', fmt(x.bytes)])));
  }
}

if (native || browser?.verify) {
  const v = browser?.verify ?? {};
  const rows = ALGS.map((alg) => {
    const n = native?.[alg], o = v[alg]?.ours, pc = v[alg]?.oursPerCall, j = v[alg]?.jose;
    return [alg, mm(n), mm(o), mm(pc), mm(j), ratio(n?.median, o?.median), ratio(o?.median, j?.median)];
  });
  md.push('\n## Verify speed (tokens/s, median (min–max))\n',
    table(['alg', 'native (criterion, opt-level 3)', 'Chromium: ours (`verifier.verify`)', 'Chromium: ours (`verifyToken` per call)', 'Chromium: jose (WebCrypto)', 'native / ours', 'ours / jose'], rows),
    '\nOurs in Chromium: `createVerifier(options)` once, then `verifier.verify(token)` per token (the ratios use this one), and the one-call `verifyToken(token, options)`, which finds its cached verifier by comparing the options by value on every call; jose is `jwtVerify` with a pre-imported `CryptoKey` and the same claim options. All three alternate in each repetition. `ours / jose` above 1 means ours is faster. Native and Chromium run one after the other, not interleaved: on a busy machine the native min–max shows how much the ratio can move.');
  for (const alg of ['EdDSA', 'ES256']) {
    const n = native?.[alg]?.median, o = v[alg]?.ours?.median;
    if (n && o) target(`Chromium ${alg} within 1.5× of native`, n / o <= 1.5, n > o ? `${(n / o).toFixed(2)}× slower` : `${(o / n).toFixed(2)}× faster`);
  }
  for (const alg of ALGS) {
    const o = v[alg]?.ours?.median, j = v[alg]?.jose?.median;
    if (o && j) target(`Chromium ${alg}: ours ≥ 0.9× jose (issue 15)`, o / j >= 0.9, `${(o / j).toFixed(2)}×`);
  }
}

if (backends) {
  const names = ['rustcrypto', 'ring', 'aws-lc-rs'];
  const rows = Object.entries(backends).map(([alg, r]) => [alg, ...names.map((b) => mm(r[b])),
    ratio(r['aws-lc-rs']?.median, r.rustcrypto?.median), ratio(r.ring?.median, r.rustcrypto?.median)]);
  md.push('\n## Native signature backends (tokens/s through the whole pipeline, median (min–max))\n',
    table(['alg', 'RustCrypto / jwt-simple (the core\'s own)', 'ring 0.17', 'aws-lc-rs 1', 'aws-lc-rs / RustCrypto', 'ring / RustCrypto'], rows),
    '\nEach is `Verifier::begin` → the backend\'s signature check → `PendingCheck::finish` on the same token (bench/native/src/backends.rs); each backend first accepts the token and refuses it tampered. ring has no P-521. criterion, opt-level 3.');
}

if (browser?.ttp) {
  const t = browser.ttp;
  const names = Object.keys(t.localhost ?? {}).filter((k) => k !== 'problems');
  const rows = ['localhost', 'mobile'].map((p) => [p, ...names.map((n) => mm(t[p]?.[n], 0)),
    ratio(t[p]?.ours?.median, t[p]?.jose?.median), t[p]?.ours?.median != null ? `${fmt(t[p].ours.median - t[p].jose.median)} ms` : '–']);
  md.push(`\n## Time to personalised page (ms from navigation start to the prize name in the DOM; cold cache, new context per run, ${browser.reps} runs per page)\n`,
    table(['profile', ...names.map((n) => (n === 'ours' ? 'ours (default build)' : n === 'ours-es256' ? 'ours (single-key ES256 build)' : 'jose page')), 'ours / jose', 'ours − jose'], rows),
    `\nMobile: CDP \`Network.emulateNetworkConditions\` ${t.profile.downloadThroughput * 8 / 1e6} Mbit/s down, ${t.profile.uploadThroughput * 8 / 1e6} up, ${t.profile.latency} ms RTT, \`Emulation.setCPUThrottlingRate\` ${t.profile.cpu}. Both pages served by \`bench/serve.mjs\` with the same headers (the contract's CSP) and brotli. Chromium ${browser.chromium}.`);
  for (const p of ['localhost', 'mobile']) for (const pr of t[p]?.problems ?? []) md.push(`\n- problem (${p}): ${pr}`);
  const mo = t.mobile?.ours?.median, mj = t.mobile?.jose?.median, lo = t.localhost?.ours?.median, lj = t.localhost?.jose?.median;
  if (mo && mj) target('mobile: ours ≤ 0.9× jose (issue 15)', mo / mj <= 0.9, `${(mo / mj).toFixed(2)}×`);
  if (lo && lj) target('localhost: ours within 15 ms of jose (issue 15)', lo - lj <= 15, `${fmt(lo - lj)} ms`);
}

if (load?.runs) {
  const rows = load.runs.map((r) => [r.storage, r.processes, r.concurrency, mm(r.perSecond), mm(r.p50Ms, 1), mm(r.p99Ms, 1),
    mm(r.cpuUsPerParticipation), r.dbCpuUsPerParticipation?.n ? mm(r.dbCpuUsPerParticipation) : (r.storage.startsWith('SQLite') ? 'in the server' : '–'), r.kbReadPerParticipation ? `${mm(r.kbReadPerParticipation, 1)} / ${mm(r.kbWrittenPerParticipation, 1)}` : '–', r.responses, r.nonOk ? `${r.nonOk} non-200` : '0', r.check ?? '–']);
  md.push('\n## Server load (participations/s and latency in ms, median (min–max) over repetitions)\n',
    table(['storage', 'server processes', 'clients', 'participations/s', 'p50', 'p99', 'server CPU µs per participation', 'database CPU µs per participation (PostgreSQL\'s processes)', 'server KB read / written per participation (system calls)', 'responses (all reps)', 'errors', 'winners ≤ prizes'], rows),
    `\n${load.note ?? ''}`);
  const s64 = load.runs.find((r) => r.storage === 'SQLite' && r.concurrency === 64);
  if (s64) {
    target('SQLite, 64 clients: ≥ 8,000 participations/s (issue 15)', s64.perSecond.median >= 8000, fmt(s64.perSecond.median));
    target('SQLite, 64 clients: p99 ≤ 20 ms (issue 15)', s64.p99Ms.median <= 20, `${fmt(s64.p99Ms.median, 1)} ms`);
  }
  const s512 = load.runs.find((r) => r.storage === 'SQLite' && r.concurrency === 512);
  if (s512) target('SQLite, 512 clients: p99 ≤ 150 ms (issue 15)', s512.p99Ms.median <= 150, `${fmt(s512.p99Ms.median, 1)} ms`);
  const p64 = load.runs.find((r) => r.storage === 'PostgreSQL' && r.concurrency === 64);
  if (s64 && p64) {
    target('PostgreSQL (2 processes), 64 clients: ≥ 0.8× SQLite (issue 15)', p64.perSecond.median >= 0.8 * s64.perSecond.median, `${(p64.perSecond.median / s64.perSecond.median).toFixed(2)}×`);
    target('PostgreSQL (2 processes), 64 clients: p99 ≤ 50 ms (issue 15)', p64.p99Ms.median <= 50, `${fmt(p64.p99Ms.median, 1)} ms`);
  }
  const full = load.runs.find((r) => r.prefilled > 0 && r.concurrency === 64);
  if (s64 && full && s64.cpuUsPerParticipation && full.cpuUsPerParticipation) {
    const ratio = full.cpuUsPerParticipation.median / s64.cpuUsPerParticipation.median;
    target(`SQLite, 64 clients: server CPU per participation flat (within 20 %) between an empty campaign and one holding ${full.prefilled.toLocaleString('en')} participations (issue 15)`,
      ratio <= 1.2, `${fmt(s64.cpuUsPerParticipation.median)} → ${fmt(full.cpuUsPerParticipation.median)} µs (${ratio.toFixed(2)}×)`);
  }
  target('no over-allocation (winners ≤ prizes) in every run', load.runs.every((r) => r.checkOk), load.runs.map((r) => r.check).join('; '));
}

md.push('\n## Targets (issues 5 and 15)\n', table(['target', 'result', 'measured'], targets.map((t) => [t.what, t.met ? 'met' : '**missed**', t.value])));
const command = opt('--command') ?? './scripts/bench.sh';
const header = `Measured with \`${command}\` on ${machine.nproc} vCPU (${machine.cpu}), ${machine.memoryGiB} GiB RAM, Linux ${machine.kernel}, node ${machine.node}, ${machine.date.slice(0, 16).replace('T', ' ')} UTC${machine.quick ? ', `--quick` (fewer repetitions)' : ''}. ${machine.noise ?? ''}`;
const loadNote = loadavg.length ? `\n\n1-minute load average when each part started: ${loadavg.map((l) => { const [k, a] = l.split(' '); return `${k.replace(':start', '')} ${a}`; }).join(', ')} (${machine.nproc} cores; other work on the machine makes every absolute number lower, while ours-vs-alternative pairs are interleaved in the same run).` : '';
const analysis = (await fs.readFile(new URL('./analysis.md', import.meta.url), 'utf8').catch(() => '')).trim();
const text = [header + loadNote, '', ...md, ...(analysis ? ['', analysis] : [])].join('\n');
const latest = { machine, command, targets, native, backends, size, browser, load };
await fs.writeFile(path.join(resultsDir, 'latest.json'), JSON.stringify(latest, null, 2));
await fs.writeFile(path.join(resultsDir, 'latest.md'), text + '\n');
console.log(text);

const doc = opt('--doc');
if (doc) {
  const body = await fs.readFile(doc, 'utf8');
  const start = '<!-- section:bench -->', end = '<!-- /section:bench -->';
  const a = body.indexOf(start), b = body.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${doc}: no bench section markers`);
  await fs.writeFile(doc, `${body.slice(0, a)}${start}\n${text}\n${end}${body.slice(b + end.length)}`);
}
