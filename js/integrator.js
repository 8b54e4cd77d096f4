// campaign-token/integrator: the brand's side of the postMessage protocol. Tiny, no wasm.
//
// sendToken(iframe, token, { targetOrigin }) sends the campaign page in `iframe`
// `{ type: "campaign-token", token, id }` addressed to `targetOrigin` only (now, and again
// each time the page says `campaign-token:ready`), and resolves with the page's
// `campaign-token:result` that carries the same random `id`: never another call's answer,
// nor the verdict on a token the page got elsewhere (its URL). It resolves (never rejects)
// `{ ok: false, code: "timeout" }` if no answer comes within `timeoutMs`.
import { CampaignTokenError } from './errors.js';

/**
 * @param {HTMLIFrameElement} iframe the campaign page
 * @param {string} token the signed token (JWS)
 * @param {{ targetOrigin: string, timeoutMs?: number }} options
 */
export function sendToken(iframe, token, { targetOrigin, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    // "*" would hand the token to whatever page the frame shows now (after a redirect, say).
    if (!isExactOrigin(targetOrigin)) {
      reject(new CampaignTokenError(
        'targetOrigin must be the campaign page\'s exact origin (scheme://host[:port]), never "*"',
        { code: 'invalid_config' },
      ));
      return;
    }
    const id = requestId();
    const send = () => iframe.contentWindow?.postMessage({ type: 'campaign-token', token, id }, targetOrigin);
    const onMessage = (event) => {
      if (event.origin !== targetOrigin || event.source !== iframe.contentWindow) return;
      const data = event.data;
      if (data?.type === 'campaign-token:ready') {
        // A page sending the same token twice (here and on ready) answers twice with the
        // same id: the first answer settles, the second finds no listener.
        send();
      } else if (data?.type === 'campaign-token:result' && data.id === id) {
        done(data.ok === true
          ? { ok: true, eligibility: data.eligibility }
          : { ok: false, code: typeof data.code === 'string' ? data.code : 'unknown' });
      }
    };
    const timer = setTimeout(() => done({ ok: false, code: 'timeout' }), timeoutMs);
    function done(result) {
      clearTimeout(timer);
      window.removeEventListener('message', onMessage);
      resolve(result);
    }
    window.addEventListener('message', onMessage);
    // The page may already be listening (it said ready before we were called): try now too.
    // A page that is not listening yet drops this one and gets the token on its `ready`.
    send();
  });
}

/**
 * The exact-origin rule of the core (core/src/origin.rs), which the page's `allowedOrigins` and the
 * server's `integrator_origins` follow too: lower-case `http`/`https`, `://`, a host (lower-case
 * ASCII domain labels of a-z 0-9 - _, canonical dotted IPv4, or bracketed canonical IPv6), an
 * optional port (1-65535, no leading zero, not the scheme's default), nothing else. Both copies
 * are tested against tests/origins.json.
 * @param {unknown} s
 */
function isExactOrigin(s) {
  if (typeof s !== 'string') return false;
  const m = /^(https?):\/\/(\[[^\]]*\]|[^:\[\]]*)(?::(.*))?$/.exec(s);
  if (!m) return false;
  const [, scheme, host, port] = m;
  if (port !== undefined) {
    if (!/^[1-9][0-9]{0,4}$/.test(port)) return false;
    const n = Number(port);
    if (n > 65535 || n === (scheme === 'https' ? 443 : 80)) return false;
  }
  if (host.startsWith('[')) return isCanonicalIpv6(host.slice(1, -1));
  const labels = host.split('.');
  const last = labels[labels.length - 1];
  // A numeric last label makes the host an IPv4 address, which browsers rewrite unless canonical.
  if (/^[0-9]*$/.test(last) || last.startsWith('0x')) {
    return labels.length === 4 && labels.every((l) => /^(0|[1-9][0-9]{0,2})$/.test(l) && Number(l) <= 255);
  }
  return labels.every((l) => /^[a-z0-9_-]+$/.test(l));
}

/** RFC 5952 text (as browsers print it): lower-case hex without leading zeros, the first longest run of two or more zero groups as `::`; no embedded IPv4. */
function isCanonicalIpv6(s) {
  if (!/^[0-9a-f:]+$/.test(s)) return false;
  const halves = s.split('::');
  if (halves.length > 2) return false;
  const part = (h) => (h === '' ? [] : h.split(':'));
  const head = part(halves[0]);
  const tail = halves.length === 2 ? part(halves[1]) : [];
  const groups = head.concat(tail);
  if (!groups.every((g) => /^(0|[1-9a-f][0-9a-f]{0,3})$/.test(g))) return false;
  const missing = 8 - groups.length;
  if (halves.length === 1 ? missing !== 0 : missing < 2) return false;
  const full = halves.length === 2 ? head.concat(Array(missing).fill('0'), tail) : groups;
  // Where the canonical form puts `::`: the first longest run (length >= 2) of zero groups.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && full[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j === i ? i + 1 : j;
  }
  // IPv4-mapped addresses (::ffff:a.b.c.d) are refused, as the Rust rule refuses them.
  if (full.slice(0, 5).every((g) => g === '0') && full[5] === 'ffff') return false;
  if (best < 0) return halves.length === 1;
  return halves.length === 2 && head.length === best && missing === bestLen;
}

/** 128 random bits as 32 hex characters (the campaign accepts ids of up to 64). */
function requestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
