// campaign-token/inline: the same API as the package's main entry, with the wasm modules inside
// the JavaScript, for bundlers that do not copy a file referenced by
// `new URL('./campaign_token_bg.wasm', import.meta.url)` (esbuild, Rollup): there the main
// entry's `init` would fetch a wasm that is not in the build. Vite, webpack and Next.js copy
// it, so they need not use this entry (it costs about a third more bytes over the wire: the
// wasm as base64 in the JavaScript; docs/browser.md#bundlers has the numbers).
//
// The default module's bytes are part of this entry. The pure-Rust fallback's are in a
// separate module imported only when the fallback is needed (no WebCrypto, or an algorithm
// this browser's WebCrypto lacks): with code splitting (Rollup, Vite, webpack, esbuild
// --splitting) a page that does not need it never downloads it.
//
// The module with the PEM parser (loaded instead of the default one when `keys` is a PEM
// string) is imported the same way, only when needed.
//
// A `wasm`, `fallbackWasm` or `pemWasm` option the page gives still wins over the inlined bytes.
import * as main from './index.js';
import defaultWasm from './campaign_token_bg.wasm.base64.js';

export { CampaignTokenError } from './index.js';

function decode(base64) {
  if (typeof Uint8Array.fromBase64 === 'function') return Uint8Array.fromBase64(base64);
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  return bytes;
}

// Decoded once, on first use, and the same objects every time: the main entry keeps one
// verifier per configuration, compared by identity for bytes and functions.
let wasmBytes = null;
const wasm = () => (wasmBytes ??= decode(defaultWasm));
// A thenable: wasm-bindgen's loader awaits its source, so the fallback's bytes are imported
// only when the main entry decides to load the fallback.
const fallbackWasm = Object.freeze({
  then(resolve, reject) {
    return import('./campaign_token_fallback_bg.wasm.base64.js')
      .then((m) => decode(m.default))
      .then(resolve, reject);
  },
});
const pemWasm = Object.freeze({
  then(resolve, reject) {
    return import('./campaign_token_pem_bg.wasm.base64.js')
      .then((m) => decode(m.default))
      .then(resolve, reject);
  },
});

/**
 * The options with the inlined modules as `wasm` and `fallbackWasm` unless given. Options that
 * are not an object are refused by the main entry as before (`invalid_config`), after it has
 * loaded the inlined module rather than a URL that is not there.
 */
function withWasm(options) {
  if (options === null || typeof options !== 'object') return { wasm: wasm(), fallbackWasm, pemWasm };
  return {
    ...options,
    wasm: options.wasm ?? wasm(),
    fallbackWasm: options.fallbackWasm ?? fallbackWasm,
    pemWasm: options.pemWasm ?? pemWasm,
  };
}

/** As `verifyToken` of the main entry (`campaign-token`). */
export const verifyToken = (token, options) => main.verifyToken(token, withWasm(options));
/** As `createVerifier` of the main entry (`campaign-token`). */
export const createVerifier = (options) => main.createVerifier(withWasm(options));
/** As `init` of the main entry (`campaign-token`). */
export const init = (options) => main.init(withWasm(options));
