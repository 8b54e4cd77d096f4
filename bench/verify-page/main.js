// Verify speed in the browser, one page, the same tokens: our wasm (`createVerifier` once, then
// `verifier.verify(token)`, like jose's pre-imported key; and `verifyToken(token, options)`
// per call) against
// `jose` on WebCrypto. Driven by bench/browser.mjs through `window.runVerifyBench`.
// Each repetition runs each side for a fixed time budget, alternating ours and jose so
// that background noise hits both alike; the driver reports median and min–max.
import { createVerifier, verifyToken } from '/pkg/index.js';
import { importJWK, jwtVerify } from 'jose';

async function rate(budgetMs, once) {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < budgetMs) {
    await once();
    n++;
    t = performance.now();
  }
  return (n * 1000) / (t - t0);
}

window.runVerifyBench = async ({ fixtures, algs, reps, budgetMs }) => {
  const out = {};
  for (const alg of algs) {
    const f = fixtures.algs[alg];
    const options = { campaignId: fixtures.campaignId, keys: { keys: [f.jwk] } };
    const key = await importJWK(f.jwk, alg);
    const joseOptions = { algorithms: [alg], clockTolerance: 60, requiredClaims: ['sub', 'exp', 'campaignId'] };
    const verifier = await createVerifier(options);
    const ours = async () => {
      const r = await verifier.verify(f.token);
      if (r.prizeLabel !== fixtures.label) throw new Error('ours: wrong result');
    };
    const oursPerCall = async () => {
      const r = await verifyToken(f.token, options);
      if (r.prizeLabel !== fixtures.label) throw new Error('ours (verifyToken): wrong result');
    };
    const jose = async () => {
      const { payload } = await jwtVerify(f.token, key, joseOptions);
      if (payload.campaignId !== fixtures.campaignId) throw new Error('jose: wrong campaign');
    };
    // Warm-up: instantiates the wasm, lets both JITs settle.
    await rate(Math.min(200, budgetMs), ours);
    await rate(Math.min(200, budgetMs), oursPerCall);
    await rate(Math.min(200, budgetMs), jose);
    const r = { ours: [], oursPerCall: [], jose: [] };
    for (let i = 0; i < reps; i++) {
      r.ours.push(await rate(budgetMs, ours));
      r.oursPerCall.push(await rate(budgetMs, oursPerCall));
      r.jose.push(await rate(budgetMs, jose));
    }
    out[alg] = r;
  }
  return out;
};
window.verifyBenchReady = true;
