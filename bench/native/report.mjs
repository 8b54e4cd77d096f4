// Turns criterion's samples (CARGO_TARGET_DIR/criterion/verify/<ALG>/new/sample.json) into
// tokens/s: median and min–max over the samples (each sample is many iterations), for each
// algorithm the fixtures list (`algNames`: the library's table, in its order).
// node bench/native/report.mjs CRITERION_DIR RESULTS_DIR FIXTURES_JSON
import fs from 'node:fs/promises';
import path from 'node:path';
import { summary } from '../stats.mjs';

const [dir, out, fixtures] = process.argv.slice(2);
const { algNames } = JSON.parse(await fs.readFile(fixtures, 'utf8'));
const result = {};
for (const alg of algNames) {
  const s = JSON.parse(await fs.readFile(path.join(dir, 'verify', alg, 'new', 'sample.json'), 'utf8'));
  // times are ns for `iters` iterations
  result[alg] = summary(s.iters.map((n, i) => (n * 1e9) / s.times[i]));
}
await fs.mkdir(out, { recursive: true });
await fs.writeFile(path.join(out, 'native.json'), JSON.stringify(result, null, 2));
for (const [alg, r] of Object.entries(result)) console.log(alg.padEnd(6), Math.round(r.median), 'tokens/s');
