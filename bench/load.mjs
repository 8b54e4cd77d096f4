// Server load: the allocation server under bench/native's load generator, on loopback.
// For each storage (SQLite in one process; PostgreSQL shared by two processes, the load
// generator spreading its connections over both ports) and each client count, every
// repetition gets a fresh campaign (100 prizes) and fresh unique ES256 tokens that may all
// win, so every request is a real participation racing for stock. After each run the
// operator stats endpoint must show winners ≤ prizes, no negative stock, and exactly as many
// winners as `won` answers: that is the correctness check, in the same run.
//
// node bench/load.mjs --server BIN --fixtures BIN --loadgen BIN --work DIR --out DIR
//                     [--pg-url URL] [--reps N] [--max-requests N] [--max-seconds S]
//                     [--pg-pid PID]      (the cluster's postmaster: its CPU and its children's
//                                          per participation, beside the servers')
//                     [--server-o3 BIN]   (the same server built at opt-level 3: one extra
//                                          SQLite row, to show what the build profile costs)
//                     [--fill N]          (one more SQLite row at 64 clients: the campaign
//                                          first receives N participations of other subs, all
//                                          winning, through the same API; then --reps
//                                          measured runs in a row on that database, each with
//                                          fresh tokens, whose CPU per participation must stay
//                                          flat)
//                     [--storages LIST]   (comma-separated, of sqlite,postgres: only those
//                                          rows, for quick A/B pairs of one storage)
//                     [--clients LIST]    (comma-separated client counts; default 64,512)
//                     [--prizes N]        (units of the campaign's prize, default 100; with
//                                          more than the requests, every participation takes
//                                          stock: the stock row's contention, measured)
//                     [--pg-settings TOML] (top-level server settings for the PostgreSQL
//                                          runs only, e.g. 'database_writers = 1': A/B pairs)
//                     [--instant-win 1]   (an instant-win campaign instead of a draw: one
//                                          winning moment per prize unit, all already due,
//                                          so every participation claims a moment (the
//                                          first PRIZES win); for the cost of claiming them,
//                                          e.g. PostgreSQL's one statement per batch)
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { summary } from './stats.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const reps = Number(args.reps ?? 3);
const maxRequests = Number(args['max-requests'] ?? 40000);
const maxSeconds = Number(args['max-seconds'] ?? 10);
const PRIZES = Number(args.prizes ?? 100);
const fill = Number(args.fill ?? 0);
const INSTANT_WIN = args['instant-win'] === '1';
if (INSTANT_WIN && fill > 0) throw new Error('--instant-win and --fill do not go together');
// One moment per unit, a second apart from the campaign's start: all due during the run.
const MOMENTS = INSTANT_WIN ? `
[campaign.calendar]
moments = [
${Array.from({ length: PRIZES }, (_, i) =>
    `  { at = "${new Date(Date.UTC(2020, 0, 1) + i * 1000).toISOString().replace('.000Z', 'Z')}", prize = "prize" },`).join('\n')}
]
` : '';
const OPERATOR = 'bench-operator-token-' + process.pid + '-0123456789';
const work = path.resolve(args.work);
await fs.mkdir(work, { recursive: true });

const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});

async function waitHealthy(port, proc, log) {
  for (let i = 0; i < 300; i++) {
    if (proc.exitCode !== null) throw new Error(`server exited: ${await fs.readFile(log, 'utf8')}`);
    try { if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return; } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not become healthy');
}

// A GET's JSON, tried again on a network error: fetch reuses the keep-alive connection of
// the health checks, which the server closes once it has been idle past its
// header_read_timeout (10 s, about a run's length), and a request racing that close fails
// with "other side closed" (seen in A/B runs). The GET changes nothing: safe to repeat.
async function getJson(url, init) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await (await fetch(url, init)).json();
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }
}

// utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15).
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

// CPU of a PostgreSQL cluster, in clock ticks: the postmaster's own and its reaped children's
// (fields 14-17), plus every live child's (backends, WAL writer, checkpointer...). Its
// change over a run is the database's CPU for that run, backends that came and went included.
function clusterTicks(postmaster) {
  const fields = (pid) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  };
  let pm;
  try { pm = fields(postmaster); } catch { return null; } // not readable here: not measured
  let ticks = Number(pm[11]) + Number(pm[12]) + Number(pm[13]) + Number(pm[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const f = fields(entry);
      if (Number(f[1]) === postmaster) ticks += Number(f[11]) + Number(f[12]);
    } catch { /* it exited meanwhile */ }
  }
  return ticks;
}
const pgPostmaster = args['pg-pid'] ? Number(args['pg-pid']) : null;

// Bytes a process passed to read and write system calls (/proc/PID/io rchar, wchar): for
// SQLite nearly all of it is database and WAL pages (from the OS page cache or to it), so
// "KB per participation" shows how many pages a participation touches. Unlike CPU time it
// does not depend on what else the machine runs.
function ioBytes(pid) {
  const io = Object.fromEntries(readFileSync(`/proc/${pid}/io`, 'utf8').trim().split('\n')
    .map((l) => l.split(': ')).map(([k, v]) => [k, Number(v)]));
  return { read: io.rchar, written: io.wchar };
}

/**
 * One campaign on fresh server processes: the fill (if any), then `measures` measured runs of
 * fresh tokens, one after the other on the same database. Returns one result per measured run.
 */
async function run(storage, processes, concurrency, rep, server = args.server, prefill = 0, measures = 1) {
  const id = `bench-${storage}-${concurrency}-${rep}-${Date.now()}`.toLowerCase();
  const dir = path.join(work, id);
  await fs.mkdir(dir, { recursive: true });
  execFileSync(args.fixtures, ['load', dir, String(maxRequests * measures), id, String(prefill)]);
  // Each measured run gets tokens of its own (a token used twice would be a replay).
  const tokenLines = readFileSync(path.join(dir, 'tokens.txt'), 'utf8').split('\n').filter(Boolean);
  for (let k = 0; k < measures; k++) {
    await fs.writeFile(path.join(dir, `tokens-${k}.txt`), tokenLines.slice(k * maxRequests, (k + 1) * maxRequests).join('\n') + '\n');
  }
  const database = storage === 'sqlite' ? `sqlite:${path.join(dir, 'db.sqlite')}` : args['pg-url'];
  await fs.writeFile(path.join(dir, 'server.toml'), `
listen = "127.0.0.1:0"
database = ${JSON.stringify(database)}
operator_token_env = "BENCH_OPERATOR_TOKEN"
${storage === 'postgres' && args['pg-settings'] ? args['pg-settings'].replaceAll('\\n', '\n') : ''}

[[campaign]]
id = ${JSON.stringify(id)}
type = "${INSTANT_WIN ? 'instant-win' : 'draw'}"
start = "2020-01-01T00:00:00Z"
end = "2035-01-01T00:00:00Z"
${MOMENTS}
[[campaign.keys]]
pem_file = "key.pem"

[[campaign.prizes]]
id = "prize"
name = "A weekend in Lisbon"
quantity = ${PRIZES}
${prefill > 0 ? `
# The fill's own stock (a prize holds at most 1,000,000 units): the fill wins these after the
# first PRIZES, so the measured run wins the last PRIZES of them, as an empty campaign would.
[[campaign.prizes]]
id = "fill"
name = "A weekend in Porto"
quantity = ${prefill}
` : ''}`);
  const servers = [];
  try {
    for (let i = 0; i < processes; i++) {
      const port = await freePort();
      const log = path.join(dir, `server-${i}.log`);
      const fh = await fs.open(log, 'w');
      const proc = spawn(server, ['--config', path.join(dir, 'server.toml'), '--listen', `127.0.0.1:${port}`], {
        env: { ...process.env, BENCH_OPERATOR_TOKEN: OPERATOR, RUST_LOG: 'warn' }, stdio: ['ignore', fh.fd, fh.fd],
      });
      servers.push({ port, proc, log, fh });
      await waitHealthy(port, proc, log);
    }
    const loadgen = (tokens, requests, seconds) => JSON.parse(execFileSync(args.loadgen, ['--targets', servers.map((s) => `127.0.0.1:${s.port}`).join(','),
      '--path', `/api/campaigns/${id}/participations`, '--tokens', path.join(dir, tokens),
      '--concurrency', String(concurrency), '--max-requests', String(requests), '--max-seconds', String(seconds)],
    { env: { ...process.env, LOADGEN_THREADS: '1' }, maxBuffer: 64 << 20 }));
    if (prefill > 0) {
      // The fill: PREFILL participations of other subs, all winning (the stock is PRIZES +
      // PREFILL in two prizes), so the measured run below allocates the same PRIZES units as a fresh one.
      const t0 = Date.now();
      const f = loadgen('fill.txt', prefill, 7200);
      if (f.ok !== prefill) throw new Error(`the fill answered ${f.ok} of ${prefill}: ${JSON.stringify(f.statuses)}`);
      console.error(`filled ${prefill} participations in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      await fs.rm(path.join(dir, 'fill.txt'), { force: true });
    }
    const results = [];
    let wonBefore = 0;
    for (let k = 0; k < measures; k++) {
      const cpuBefore = servers.map((sv) => cpuTicks(sv.proc.pid));
      const dbBefore = storage === 'postgres' && pgPostmaster ? clusterTicks(pgPostmaster) : null;
      const ioBefore = servers.map((sv) => ioBytes(sv.proc.pid));
      const r = loadgen(`tokens-${k}.txt`, maxRequests, maxSeconds);
      // Server CPU time (user + system, every process) per answered participation: comparable
      // across machines and loads, unlike requests per second on shared cores.
      const cpuSeconds = servers.reduce((a, sv, i) => a + (cpuTicks(sv.proc.pid) - cpuBefore[i]), 0) / CLK_TCK;
      r.cpuUsPerParticipation = r.ok > 0 ? (cpuSeconds * 1e6) / r.ok : null;
      // PostgreSQL's own CPU (SQLite's is inside the server process, so already counted).
      const dbAfter = dbBefore != null ? clusterTicks(pgPostmaster) : null;
      r.dbCpuUsPerParticipation = dbAfter != null && r.ok > 0
        ? ((dbAfter - dbBefore) / CLK_TCK * 1e6) / r.ok : null;
      const io = servers.reduce((a, sv, i) => {
        const now = ioBytes(sv.proc.pid);
        return { read: a.read + now.read - ioBefore[i].read, written: a.written + now.written - ioBefore[i].written };
      }, { read: 0, written: 0 });
      r.kbReadPerParticipation = r.ok > 0 ? io.read / 1024 / r.ok : null;
      r.kbWrittenPerParticipation = r.ok > 0 ? io.written / 1024 / r.ok : null;
      const stats = await getJson(`http://127.0.0.1:${servers[0].port}/api/campaigns/${id}/stats`,
        { headers: { authorization: `Bearer ${OPERATOR}` } });
      const quantity = stats.prizes.reduce((a, p) => a + p.quantity, 0);
      const allocated = stats.prizes.reduce((a, p) => a + (p.quantity - p.remaining), 0);
      const won = wonBefore + (r.outcomes.won ?? 0) + prefill;
      const ok = stats.winners <= quantity && stats.prizes.every((p) => p.remaining >= 0)
        && stats.winners === allocated && stats.winners === won;
      results.push({ ...r, winners: stats.winners - prefill, prizes: quantity - prefill, wonAnswers: won - prefill, participations: stats.participations, prefilled: prefill, checkOk: ok });
      wonBefore += r.outcomes.won ?? 0;
    }
    return results;
  } finally {
    for (const s of servers) { s.proc.kill('SIGTERM'); }
    await Promise.all(servers.map((s) => new Promise((r) => (s.proc.exitCode !== null ? r() : s.proc.once('exit', r)))));
    for (const s of servers) await s.fh.close();
    if (!process.env.BENCH_KEEP) {
      for (const f of await fs.readdir(dir)) if (/^tokens(-\d+)?\.txt$/.test(f)) await fs.rm(path.join(dir, f), { force: true });
    }
  }
}

// One fsync per durable commit is what SQLite's synchronous=FULL costs: measure it on the
// disk the databases live on, in the same run, to put the throughput in context.
async function fsyncMs() {
  const f = path.join(work, 'fsync-probe');
  const fh = await fs.open(f, 'w');
  const n = 200, t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) { await fh.write('x'.repeat(100)); await fh.datasync(); }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / n;
  await fh.close();
  await fs.rm(f);
  return ms;
}
const fsync = await fsyncMs();

const storages = (args.storages ?? 'sqlite,postgres').split(',');
const clientCounts = (args.clients ?? '64,512').split(',').map(Number);
const plan = [['sqlite', 1, clientCounts], ...(args['pg-url'] ? [['postgres', 2, clientCounts]] : []),
  ...(args['server-o3'] ? [['sqlite', 1, [64], args['server-o3']]] : []),
  ...(fill > 0 ? [['sqlite', 1, [64], undefined, fill]] : [])]
  .filter(([storage]) => storages.includes(storage));
// One cell per (storage, processes, client count, build, fill), in the plan's order.
const cells = plan.flatMap(([storage, processes, clients, server, prefill = 0]) =>
  clients.map((concurrency) => ({ storage, processes, concurrency, server, prefill, rs: [] })));
const logRun = (c, rep, r) => console.error(`${c.storage} x${c.processes} c=${c.concurrency} rep ${rep}: ${r.perSecond.toFixed(0)}/s p50 ${r.p50Ms} p99 ${r.p99Ms} ms, ${r.cpuUsPerParticipation?.toFixed(0)} µs CPU each${r.dbCpuUsPerParticipation != null ? ` + ${r.dbCpuUsPerParticipation.toFixed(0)} µs PostgreSQL` : ''}, ${r.kbReadPerParticipation?.toFixed(1)}/${r.kbWrittenPerParticipation?.toFixed(1)} KB read/written each, winners ${r.winners}/${r.prizes} ${r.checkOk ? 'ok' : 'CHECK FAILED'} ${JSON.stringify(r.statuses)}`);
// SQLite and PostgreSQL at the same client count alternate repetition by repetition, so that
// the machine's drift during the run weighs on both sides of the PostgreSQL / SQLite ratio
// alike (they used to run one storage's repetitions after the other's).
const plain = cells.filter((c) => !c.server && !c.prefill);
for (const concurrency of [...new Set(plain.map((c) => c.concurrency))]) {
  for (let rep = 0; rep < reps; rep++) {
    for (const c of plain.filter((x) => x.concurrency === concurrency)) {
      const [r] = await run(c.storage, c.processes, c.concurrency, rep);
      logRun(c, rep, r);
      c.rs.push(r);
    }
  }
}
for (const c of cells.filter((x) => x.server || x.prefill)) {
  // With a fill, one campaign is filled once (it takes minutes) and measured `reps` times
  // in a row, each with fresh tokens: the repetitions hold PREFILL, PREFILL + one run, ...
  let results = [];
  if (c.prefill > 0) results = await run(c.storage, c.processes, c.concurrency, 0, c.server, c.prefill, reps);
  else for (let rep = 0; rep < reps; rep++) results.push(...await run(c.storage, c.processes, c.concurrency, rep, c.server));
  for (const [rep, r] of results.entries()) {
    logRun(c, rep, r);
    c.rs.push(r);
  }
}
const runs = cells.map(({ storage, processes, concurrency, server, prefill, rs }) => ({
  storage: (storage === 'sqlite' ? 'SQLite' : 'PostgreSQL') + (server ? ' (server at opt-level 3)' : '')
    + (prefill > 0 ? `, holding ${prefill.toLocaleString('en')} participations` : ''), processes, concurrency, prefilled: prefill,
  perSecond: summary(rs.map((r) => r.perSecond)), p50Ms: summary(rs.map((r) => r.p50Ms)), p99Ms: summary(rs.map((r) => r.p99Ms)),
  cpuUsPerParticipation: summary(rs.map((r) => r.cpuUsPerParticipation).filter((x) => x != null)),
  dbCpuUsPerParticipation: summary(rs.map((r) => r.dbCpuUsPerParticipation).filter((x) => x != null)),
  kbReadPerParticipation: summary(rs.map((r) => r.kbReadPerParticipation).filter((x) => x != null)),
  kbWrittenPerParticipation: summary(rs.map((r) => r.kbWrittenPerParticipation).filter((x) => x != null)),
  responses: rs.reduce((a, r) => a + r.responses, 0), nonOk: rs.reduce((a, r) => a + r.responses - r.ok + r.ioErrors, 0),
  check: rs.map((r) => `${r.winners}/${r.prizes}${r.checkOk ? '' : ' FAILED'}`).join(', '), checkOk: rs.every((r) => r.checkOk),
  statuses: rs.map((r) => r.statuses), outcomes: rs.map((r) => r.outcomes),
}));
await fs.mkdir(args.out, { recursive: true });
await fs.writeFile(path.join(args.out, 'load.json'), JSON.stringify({
  maxRequests, maxSeconds, reps, prizes: PRIZES, fsyncMs: fsync,
  note: `Each repetition: a fresh campaign with ${PRIZES} prizes, unique pre-minted ES256 tokens that may all win (gift.cw = true), closed-loop keep-alive clients, at most ${maxRequests} requests or ${maxSeconds} s; the load generator (1 thread) shares the machine's cores with the server(s) (and PostgreSQL). Server built with the \`native\` profile (release at opt-level 3), both stores committing in groups (SQLite: one writer thread; PostgreSQL: \`database_writers\` tasks per process, batches of up to \`database_batch_size\`). One fdatasync on this disk took ${fsync.toFixed(2)} ms in this run (at most ~${Math.round(1000 / fsync)} serial durable commits/s without group commit; throughput on SQLite depends on it).`,
  runs,
}, null, 2));
