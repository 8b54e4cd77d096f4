// The alternative a campaign page would write without our module: `jose` on WebCrypto
// plus hand-written glue doing what `campaign-token`'s `init` does — token from the URL
// (then removed from the address bar) or from an allowed postMessage origin, signature
// and the same claim checks, the eligibility table, `{{gift.label}}` placeholders and
// `data-token-var` elements rendered as text, `data-token-eligibility` on <html>, a
// `campaign-token:change` event, and the participation POST.
// Bundled and minified with esbuild by bench/build.mjs; its size is the comparison.
import { importJWK, importSPKI, jwtVerify, errors } from 'jose';
import * as config from './config.js';

const PLACEHOLDER = /\{\{\s*gift\.label\s*(?:\|([^}]*))?\}\}/g;
const CLAIM_CODES = {
  ERR_JWT_EXPIRED: 'expired', ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'bad_signature',
  ERR_JOSE_ALG_NOT_ALLOWED: 'unsupported_algorithm', ERR_JWKS_NO_MATCHING_KEY: 'unknown_key',
  ERR_JWS_INVALID: 'malformed', ERR_JWT_INVALID: 'malformed',
};

class CampaignTokenError extends Error {
  constructor(code, message, claim) { super(message); this.name = 'CampaignTokenError'; this.code = code; if (claim) this.claim = claim; }
}

async function loadKey() {
  // Like our module: a PEM SPKI, or a JWK/JWKS (object or JSON text) whose `alg` says how.
  let k = config.keys;
  if (typeof k === 'string' && k.trim().startsWith('-----')) return [await importSPKI(k, config.alg), config.alg];
  if (typeof k === 'string') k = JSON.parse(k);
  const jwk = k.keys ? k.keys[0] : k;
  return [await importJWK(jwk, jwk.alg), jwk.alg];
}

function eligibility(gift) {
  const label = gift && typeof gift.label === 'string' ? gift.label : null;
  if (gift && gift.cw === false) return ['cannot-win', null];
  if (label !== null) return ['given-prize', label];
  if (gift && gift.cw === true) return ['any-prize', null];
  return ['standard', null];
}

async function verifyToken(token, [key, alg]) {
  if (!token) throw new CampaignTokenError('no_token', 'no token');
  if (token.length > 8192) throw new CampaignTokenError('too_large', 'token too large');
  let payload, protectedHeader;
  try {
    ({ payload, protectedHeader } = await jwtVerify(token, key, {
      algorithms: [alg], clockTolerance: 60, requiredClaims: ['sub', 'exp', 'campaignId'],
      issuer: config.issuers, typ: undefined,
    }));
  } catch (e) {
    if (e instanceof errors.JWTClaimValidationFailed) {
      const code = e.claim === 'iat' ? 'issued_in_future' : e.claim === 'nbf' ? 'not_yet_valid'
        : e.claim === 'iss' ? 'wrong_issuer' : e.reason === 'missing' ? 'missing_claim' : 'invalid_claim';
      throw new CampaignTokenError(code, e.message, e.claim);
    }
    throw new CampaignTokenError(CLAIM_CODES[e.code] || 'malformed', e.message);
  }
  if (typeof payload.sub !== 'string' || !payload.sub) throw new CampaignTokenError('invalid_claim', 'sub', 'sub');
  if (typeof payload.campaignId !== 'string') throw new CampaignTokenError('invalid_claim', 'campaignId', 'campaignId');
  if (payload.campaignId !== config.campaignId) throw new CampaignTokenError('wrong_campaign', 'wrong campaign', 'campaignId');
  const gift = payload.gift ?? null;
  if (gift !== null && (typeof gift !== 'object' || Array.isArray(gift)
      || ('cw' in gift && typeof gift.cw !== 'boolean') || ('label' in gift && typeof gift.label !== 'string'))) {
    throw new CampaignTokenError('invalid_claim', 'gift', 'gift');
  }
  const [elig, prizeLabel] = eligibility(gift);
  return {
    sub: payload.sub, campaignId: payload.campaignId, exp: payload.exp, iat: payload.iat ?? null,
    nbf: payload.nbf ?? null, iss: payload.iss ?? null, gift, eligibility: elig, prizeLabel,
    alg: protectedHeader.alg, kid: protectedHeader.kid ?? null,
  };
}

// Text nodes with placeholders keep their original text so a later token re-renders.
function collect(root) {
  const nodes = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    PLACEHOLDER.lastIndex = 0;
    if (PLACEHOLDER.test(n.data)) nodes.push([n, n.data]);
  }
  const vars = [...root.querySelectorAll('[data-token-var="gift.label"]')].map((el) => [el, el.textContent]);
  return { nodes, vars };
}

function render(targets, label) {
  const fallbackDefault = config.defaultPrizeLabel ?? '';
  for (const [node, original] of targets.nodes) {
    node.data = original.replace(PLACEHOLDER, (_, fb) => label ?? fb ?? fallbackDefault);
  }
  for (const [el, fallback] of targets.vars) el.textContent = label ?? fallback ?? fallbackDefault;
}

function takeTokenFromUrl(param) {
  const url = new URL(location.href);
  const hash = new URLSearchParams(url.hash.slice(1));
  const token = url.searchParams.get(param) ?? hash.get(param);
  if (token === null) return null;
  url.searchParams.delete(param);
  hash.delete(param);
  const h = hash.toString();
  history.replaceState(history.state, '', url.pathname + url.search + (h ? '#' + h : ''));
  return token;
}

async function init() {
  const root = typeof config.root === 'string' ? document.querySelector(config.root) : document.body;
  const targets = collect(root);
  const state = { result: null, error: null };
  const keyPromise = loadKey();
  const allowed = config.allowedOrigins ?? [];
  async function setToken(token) {
    try {
      state.result = await verifyToken(token, await keyPromise);
      state.error = null;
    } catch (e) {
      state.result = null;
      state.error = e instanceof CampaignTokenError ? e : new CampaignTokenError('malformed', String(e));
    }
    render(targets, state.result?.prizeLabel ?? null);
    document.documentElement.dataset.tokenEligibility = state.result ? state.result.eligibility : 'invalid';
    document.dispatchEvent(new CustomEvent('campaign-token:change', { detail: { ...state } }));
    for (const origin of allowed) {
      if (parent !== window) parent.postMessage(state.result
        ? { type: 'campaign-token:result', ok: true, eligibility: state.result.eligibility }
        : { type: 'campaign-token:result', ok: false, code: state.error.code }, origin);
    }
    return state;
  }
  document.documentElement.dataset.tokenEligibility = 'none';
  window.addEventListener('message', (ev) => {
    if (!allowed.includes(ev.origin) || ev.data?.type !== 'campaign-token' || typeof ev.data.token !== 'string') return;
    setToken(ev.data.token);
  });
  for (const origin of allowed) if (parent !== window) parent.postMessage({ type: 'campaign-token:ready' }, origin);
  let token = takeTokenFromUrl(config.tokenParam ?? 'token');
  if (token !== null) await setToken(token);
  return {
    get result() { return state.result; }, get error() { return state.error; }, setToken,
    async participate(answers) {
      const res = await fetch(config.endpoint, { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, answers }) });
      const body = await res.json();
      if (!res.ok) { const e = new CampaignTokenError(body.error?.code, body.error?.message); e.status = res.status; throw e; }
      return body;
    },
  };
}

init().then((session) => {
  const button = document.querySelector('[data-participate]');
  button?.addEventListener('click', () => session.participate().then(
    (r) => { button.textContent = r.outcome; }, (e) => { button.textContent = e.code; }));
});
