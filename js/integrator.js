// campaign-token/integrator: the brand's side of the postMessage protocol. Tiny, no wasm.
//
// sendToken(iframe, token, { targetOrigin }) waits until the campaign page in `iframe` says
// `campaign-token:ready`, sends it `{ type: "campaign-token", token }` addressed to
// `targetOrigin` only, and resolves with the page's `campaign-token:result`.

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
    const send = () => iframe.contentWindow?.postMessage({ type: 'campaign-token', token }, targetOrigin);
    const onMessage = (event) => {
      if (event.origin !== targetOrigin || event.source !== iframe.contentWindow) return;
      const data = event.data;
      if (data?.type === 'campaign-token:ready') {
        send();
      } else if (data?.type === 'campaign-token:result') {
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
