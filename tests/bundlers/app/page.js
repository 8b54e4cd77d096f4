// The campaign page's code, the same for every bundler (tests/bundlers/bundlers.test.mjs):
// init() takes the URL's token, verifies it and renders the label into #label; then, when the
// URL has ?fallback, the pure-Rust fallback module verifies a second token (backend:
// "pure-rust"), to prove the bundle also finds the fallback's wasm, and the same token with
// the key as PEM (the module with the PEM parser, `campaign_token_pem*`), for that module's
// wasm. Results go to #result and #fallback as JSON.
import { CONFIG } from './config.js';

const show = (id, value) => {
  document.getElementById(id).textContent = JSON.stringify(value);
};
const failure = (err) => ({ error: err?.code ?? null, message: String(err?.message ?? err) });

export async function run({ init, verifyToken }) {
  // Only with ?fallback in the URL: the test also loads the page without it, to see that a
  // page that does not need the fallback never downloads it.
  const wantFallback = new URLSearchParams(location.search).has('fallback');
  const options = { campaignId: CONFIG.campaignId, keys: CONFIG.jwks };
  try {
    const session = await init({ ...options, root: '#campaign' });
    show('result', {
      eligibility: session.result?.eligibility ?? null,
      prizeLabel: session.result?.prizeLabel ?? null,
      error: session.error?.code ?? null,
      backend: session.backend,
    });
  } catch (err) {
    show('result', failure(err));
  }
  if (!wantFallback) {
    show('fallback', 'not asked');
    return;
  }
  try {
    const verified = await verifyToken(CONFIG.fallbackToken, { ...options, backend: 'pure-rust' });
    const withPem = await verifyToken(CONFIG.fallbackToken, { campaignId: CONFIG.campaignId, keys: CONFIG.pem });
    show('fallback', { eligibility: verified.eligibility, prizeLabel: verified.prizeLabel, pem: withPem.prizeLabel });
  } catch (err) {
    show('fallback', failure(err));
  }
}
