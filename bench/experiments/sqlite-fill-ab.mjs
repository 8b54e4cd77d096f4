// Experiment (not part of scripts/bench.sh): CPU per participation of several server builds
// on SQLite, each on an empty database and on a copy of one database filled once with N
// participations (by the first build: a later build migrates its copy at start-up, and
// `startMs` shows how long that took), in interleaved repetitions, so that a schema or
// storage change is compared with its predecessor on the same rows and the same load. One
// server, 64 clients, the same pre-minted tokens for every run; CPU from /proc/PID/stat,
// bytes read/written from /proc/PID/io. Prints one JSON line per run.
//
//   B=target/bench-native/release   # built by scripts/bench.sh (fixtures, loadgen)
//   node bench/experiments/sqlite-fill-ab.mjs --fixtures $B/fixtures --loadgen $B/loadgen \
//     --work bench/.work/ab --fill 1000000 --reps 3 --requests 40000 \
//     before=/path/to/old/campaign-token-server after=target/native/campaign-token-server
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
const argv = process.argv.slice(2);
const opt = {}; const bins = [];
for (let i = 0; i < argv.length; i++) { if (argv[i].startsWith('--')) opt[argv[i].slice(2)] = argv[++i]; else bins.push(argv[i].split('=')); }
const work = path.resolve(opt.work); const fill = Number(opt.fill); const reps = Number(opt.reps ?? 2); const requests = Number(opt.requests ?? 40000);
const CLK = 100;
const ticks = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8'); const x = f.slice(f.lastIndexOf(')') + 2).split(' '); return Number(x[11]) + Number(x[12]); };
const io = (pid) => Object.fromEntries(readFileSync(`/proc/${pid}/io`, 'utf8').trim().split('\n').map((l) => l.split(': ')).map(([k, v]) => [k, Number(v)]));
const freePort = () => new Promise((r) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
const ID = 'abcamp';
const cfg = (db) => `listen = "127.0.0.1:0"\ndatabase = ${JSON.stringify('sqlite:' + db)}\noperator_token_env = "OT"\n[[campaign]]\nid = "${ID}"\ntype = "draw"\nstart = "2020-01-01T00:00:00Z"\nend = "2035-01-01T00:00:00Z"\n[[campaign.keys]]\npem_file = "key.pem"\n[[campaign.prizes]]\nid = "prize"\nname = "P"\nquantity = 100\n[[campaign.prizes]]\nid = "fill"\nname = "F"\nquantity = ${fill}\n`;
async function start(bin, dir) {
  const port = await freePort();
  const fh = await fs.open(path.join(dir, 'log'), 'a');
  const t0 = Date.now();
  const proc = spawn(bin, ['--config', path.join(dir, 'server.toml'), '--listen', `127.0.0.1:${port}`], { env: { ...process.env, OT: 'operator-token-0123456789-0123456789', RUST_LOG: 'warn' }, stdio: ['ignore', fh.fd, fh.fd] });
  for (let i = 0; i < 3000; i++) { if (proc.exitCode !== null) throw new Error('exited ' + await fs.readFile(path.join(dir, 'log'), 'utf8')); try { if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break; } catch {} await new Promise((r) => setTimeout(r, 100)); }
  return { port, proc, fh, startMs: Date.now() - t0 };
}
async function stop(s) { s.proc.kill('SIGTERM'); await new Promise((r) => (s.proc.exitCode !== null ? r() : s.proc.once('exit', r))); await s.fh.close(); }
const loadgen = (port, tokens, n) => JSON.parse(execFileSync(opt.loadgen, ['--targets', `127.0.0.1:${port}`, '--path', `/api/campaigns/${ID}/participations`, '--tokens', tokens, '--concurrency', '64', '--max-requests', String(n), '--max-seconds', '600'], { env: { ...process.env, LOADGEN_THREADS: '1' }, maxBuffer: 64 << 20 }));
// The filled database, made once by the first binary.
const base = path.join(work, 'base');
if (!(await fs.stat(path.join(base, 'filled.sqlite')).catch(() => null))) {
  await fs.mkdir(base, { recursive: true });
  execFileSync(opt.fixtures, ['load', base, String(requests), ID, String(fill)]);
  await fs.writeFile(path.join(base, 'server.toml'), cfg(path.join(base, 'db.sqlite')));
  const s = await start(bins[0][1], base);
  const t0 = Date.now(); const f = loadgen(s.port, path.join(base, 'fill.txt'), fill);
  console.error(`filled ${f.ok} in ${(Date.now() - t0) / 1000} s`);
  await stop(s);
  await fs.rename(path.join(base, 'db.sqlite'), path.join(base, 'filled.sqlite'));
}
const out = [];
for (let rep = 0; rep < reps; rep++) for (const [name, bin] of bins) for (const filled of [false, true]) {
  const dir = path.join(work, `${name}-${rep}-${filled ? 'f' : 'e'}`);
  await fs.rm(dir, { recursive: true, force: true }); await fs.mkdir(dir, { recursive: true });
  await fs.copyFile(path.join(base, 'key.pem'), path.join(dir, 'key.pem'));
  if (filled) await fs.copyFile(path.join(base, 'filled.sqlite'), path.join(dir, 'db.sqlite'));
  await fs.writeFile(path.join(dir, 'server.toml'), cfg(path.join(dir, 'db.sqlite')));
  const s = await start(bin, dir);
  const c0 = ticks(s.proc.pid), i0 = io(s.proc.pid);
  const r = loadgen(s.port, path.join(base, 'tokens.txt'), requests);
  const cpu = (ticks(s.proc.pid) - c0) / CLK * 1e6 / r.ok, i1 = io(s.proc.pid);
  await stop(s);
  const row = { name, rep, filled, ok: r.ok, perSecond: Math.round(r.perSecond), p99: r.p99Ms, cpuUs: Math.round(cpu), kbR: +((i1.rchar - i0.rchar) / 1024 / r.ok).toFixed(1), kbW: +((i1.wchar - i0.wchar) / 1024 / r.ok).toFixed(1), startMs: s.startMs };
  console.log(JSON.stringify(row)); out.push(row);
  await fs.rm(dir, { recursive: true, force: true });
}
