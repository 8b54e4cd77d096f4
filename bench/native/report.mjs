// Turns criterion's samples (CARGO_TARGET_DIR/criterion/verify/<BACKEND>/<ALG>/new/sample.json)
// into tokens/s: median and min–max over the samples (each sample is many iterations), for each
// algorithm the fixtures list (`algNames`: the library's table, in its order). native.json holds
// the core's own backend (rustcrypto); native-backends.json every backend measured.
// node bench/native/report.mjs CRITERION_DIR RESULTS_DIR FIXTURES_JSON
import fs from 'node:fs/promises';
import path from 'node:path';
import { summary } from '../stats.mjs';

const [dir, out, fixtures] = process.argv.slice(2);
const { algNames } = JSON.parse(await fs.readFile(fixtures, 'utf8'));
const BACKENDS = ['rustcrypto', 'ring', 'aws-lc-rs'];
const read = async (backend, alg) => {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, 'verify', backend, alg, 'new', 'sample.json'), 'utf8'));
  } catch { return null; } // ring has no P-521
};
const result = {};
const backends = {};
for (const alg of algNames) {
  backends[alg] = {};
  for (const backend of BACKENDS) {
    const s = await read(backend, alg);
    // times are ns for `iters` iterations
    if (s) backends[alg][backend] = summary(s.iters.map((n, i) => (n * 1e9) / s.times[i]));
  }
  result[alg] = backends[alg].rustcrypto;
}
await fs.mkdir(out, { recursive: true });
await fs.writeFile(path.join(out, 'native.json'), JSON.stringify(result, null, 2));
await fs.writeFile(path.join(out, 'native-backends.json'), JSON.stringify(backends, null, 2));
for (const [alg, r] of Object.entries(backends)) {
  console.log(alg.padEnd(6), BACKENDS.map((b) => `${b} ${r[b] ? Math.round(r[b].median) : '–'}`).join('  '), 'tokens/s');
}
