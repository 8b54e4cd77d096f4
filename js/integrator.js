// campaign-token/integrator: the brand's side of the postMessage protocol. Tiny, no wasm.
//
// sendToken(iframe, token, { targetOrigin }) sends the campaign page in `iframe`
// `{ type: "campaign-token", token, id }` addressed to `targetOrigin` only (now, and again
// each time the page says `campaign-token:ready`), and resolves with the page's
// `campaign-token:result` that carries the same random `id`: never another call's answer,
// nor the verdict on a token the page got elsewhere (its URL). It resolves (never rejects)
// `{ ok: false, code: "timeout" }` if no answer comes within `timeoutMs`.

/**
 * @param {HTMLIFrameElement} iframe the campaign page
 * @param {string} token the signed token (JWS)
 * @param {{ targetOrigin: string, timeoutMs?: number }} options
 */
export function sendToken(iframe, token, { targetOrigin, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    let origin;
    try {
      origin = new URL(targetOrigin).origin;
    } catch {
      origin = null;
    }
    // "*" would hand the token to whatever page the frame shows now (after a redirect, say).
    if (targetOrigin === '*' || origin !== targetOrigin) {
      const err = new Error('targetOrigin must be the campaign page\'s exact origin (scheme://host[:port]), never "*"');
      err.name = 'CampaignTokenError';
      err.code = 'invalid_config';
      reject(err);
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

/** 128 random bits as 32 hex characters (the campaign accepts ids of up to 64). */
function requestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
