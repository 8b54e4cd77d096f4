// campaign-token: the browser (and Node) entry of the npm package.
//
// A thin layer over the wasm module (src/): it takes the token out of the address bar first
// (before anything can fail or wait), loads the module once, fans out change notifications to
// subscribers, and posts participations to the server. The module is synchronous: its steps
// (WebCrypto's importKey/verify, fetches, postMessage events) are performed by js/driver.js.
// Verification, option checks, the postMessage allowlist and the page rendering all happen in
// Rust.
import initWebCrypto, * as webCryptoGlue from './campaign_token.js';
import { CampaignTokenError } from './errors.js';
import { prepare, receive, start, verify } from './driver.js';

export { CampaignTokenError };

// Two builds of the same module, with the same API: the default one checks signatures with
// the platform's WebCrypto; the fallback (`campaign_token_fallback*`, built with the crate's
// `pure-rust` feature) checks them in pure Rust. The fallback is imported and downloaded only
// where it is needed: no `crypto.subtle` (a page on plain http:), a configured key whose
// algorithm this browser's WebCrypto lacks (Ed25519 in older browsers), or `backend:
// "pure-rust"`. PEM keys need the DER/SPKI parser, which the default build leaves out (13 KB
// gzip): a page whose `keys` is not a JWK/JWKS loads `campaign_token_pem*` (the same module
// with the parser) instead of the default one; the module itself still decides what a key is.
// The URLs are literals so that bundlers see and copy every file.
const modules = {
  webcrypto: {
    glue: async () => ({ ...webCryptoGlue, default: initWebCrypto }),
    url: () => new URL('./campaign_token_bg.wasm', import.meta.url),
    loading: null,
  },
  'webcrypto-pem': {
    glue: () => import('./campaign_token_pem.js'),
    url: () => new URL('./campaign_token_pem_bg.wasm', import.meta.url),
    loading: null,
  },
  'pure-rust': {
    glue: () => import('./campaign_token_fallback.js'),
    url: () => new URL('./campaign_token_fallback_bg.wasm', import.meta.url),
    loading: null,
  },
};
const BACKENDS = ['auto', 'webcrypto', 'pure-rust'];

/** Loads one build once; resolves to its exports. `source` is a URL, bytes or a module. */
function loadModule(name, source) {
  const m = modules[name];
  m.loading ??= (async () => {
    const glue = await m.glue();
    let input = source ?? m.url();
    // Node's fetch cannot read file: URLs; read the bytes instead. (The specifier is computed
    // so that browser bundlers leave this branch alone, and the minifier in
    // scripts/build-wasm.sh cannot fold it back into a literal.)
    const fileUrl = typeof input === 'string' ? urlOrNull(input) : input instanceof URL ? input : null;
    if (fileUrl?.protocol === 'file:') {
      const fs = ['node:fs', 'promises'].join('/');
      input = await (await import(/* webpackIgnore: true */ fs)).readFile(fileUrl);
    }
    // With a URL, the module is fetched here (for its Date header, see fetchModule); the glue
    // uses WebAssembly.instantiateStreaming when the server sends application/wasm, and falls
    // back to bytes otherwise.
    const fetched = await fetchModule(input);
    await glue.default({ module_or_path: fetched?.response ?? input });
    glue.setErrorClass(CampaignTokenError);
    if (fetched) glue.recordModuleDate(fetched.date, fetched.sent, fetched.received);
    return glue;
  })().catch((err) => {
    m.loading = null; // let a later call retry (e.g. after a network error)
    throw loadFailed(name, err);
  });
  return m.loading;
}

/**
 * Fetches the module from an http(s) URL and notes the response's `Date` header with the
 * visitor's clock around the request: the page's first estimate of its server's time, for the
 * honest clock (src/clock.rs). `cache: "no-cache"` revalidates (a 304 when unchanged), so the
 * Date is today's and not that of a copy in the HTTP cache. Null for bytes, a compiled module or
 * a non-http URL (the glue loads those; the clock then has no sample from the module).
 */
async function fetchModule(input) {
  const url = typeof input === 'string' ? urlOrNull(input) : input instanceof URL ? input : null;
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || typeof fetch !== 'function') return null;
  const sent = Date.now();
  const response = await fetch(url, { cache: 'no-cache' });
  const received = Date.now();
  return { response, date: response.headers.get('date'), sent, received };
}

/**
 * Any failure to fetch, compile or instantiate a build (a 404, a network error, a CSP without
 * 'wasm-unsafe-eval', bytes that are not the module) as a CampaignTokenError `load_failed`,
 * with the browser's own error as `cause`: every rejection of the package has a `.code`.
 */
function loadFailed(name, err) {
  if (err instanceof CampaignTokenError) return err;
  const file = { 'pure-rust': 'campaign_token_fallback_bg.wasm', 'webcrypto-pem': 'campaign_token_pem_bg.wasm' }[name]
    ?? 'campaign_token_bg.wasm';
  const error = new CampaignTokenError(
    `the ${file} module could not be loaded: ${err?.message ?? err}`, { code: 'load_failed' });
  error.cause = err;
  return error;
}

/**
 * The build that verifies for `options` (see `modules`), loaded, and its verifier, set up:
 * the keys imported into WebCrypto once (js/driver.js `prepare`), and the fallback build used
 * instead when the wasm says a key's algorithm is one this WebCrypto lacks.
 */
async function prepared(options) {
  const backend = options?.backend ?? 'auto';
  if (!BACKENDS.includes(backend)) {
    throw new CampaignTokenError(`backend must be one of ${BACKENDS.join(', ')}`, { code: 'invalid_config' });
  }
  const fallback = async () => {
    const glue = await loadModule('pure-rust', options?.fallbackWasm);
    const verifier = glue.Verifier.create(options);
    await prepare(verifier, false);
    return { glue, verifier };
  };
  if (backend === 'pure-rust' || (backend === 'auto' && !globalThis.crypto?.subtle)) return fallback();
  const glue = withoutPem(options)
    ? await loadModule('webcrypto', options?.wasm)
    : await loadModule('webcrypto-pem', options?.pemWasm);
  const verifier = glue.Verifier.create(options); // throws invalid_config / invalid_key
  if (await prepare(verifier, backend === 'auto')) return { glue, verifier };
  verifier.free();
  return fallback();
}

/**
 * Whether the default build (without the PEM parser) serves `options`: no `keys` (a `jwksUrl`,
 * a key embedded at build time, or a configuration the module refuses), a JWK/JWKS object, or
 * text that starts with `{` after ASCII whitespace. The core reads such text as a JWKS too
 * (`KeySet::parse`, whose trim removes at least these characters), so this choice never sends
 * a PEM to the build without the parser; anything else goes to the build with it, which reads
 * JWKS text as well. Which module, not what is valid: the module decides that.
 */
function withoutPem(options) {
  const keys = options?.keys;
  return typeof keys !== 'string' || /^[\t\n\r ]*\{/.test(keys);
}

function urlOrNull(text) {
  try {
    return new URL(text, globalThis.location?.href);
  } catch {
    return null;
  }
}

// verifyToken parses and imports the keys once per distinct configuration, not once per token.
// The configuration is the whole options object (every property, at any depth), so an option
// added later can never be served by a verifier built without it.
let cached = { key: null, verifier: null };

const identities = new WeakMap();
const symbols = new Map();
let nextIdentity = 0;

function identity(value) {
  const table = typeof value === 'symbol' ? symbols : identities;
  if (!table.has(value)) table.set(value, nextIdentity++);
  return `#${table.get(value)}`;
}

/**
 * A string equal for two option values exactly when they configure the same verifier: plain
 * objects by their own enumerable properties in sorted order (undefined ones left out, as
 * absent), arrays by their items, primitives by value (NaN, -0 and bigints kept distinct), and
 * anything else (bytes, a compiled module, a function, a cycle) by identity.
 */
function optionsKey(value, open = new Set()) {
  switch (typeof value) {
    case 'undefined': return 'u';
    case 'boolean': case 'string': return JSON.stringify(value);
    case 'number': return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint': return `${value}n`;
    case 'symbol': case 'function': return identity(value);
  }
  if (value === null) return 'null';
  const proto = Object.getPrototypeOf(value);
  const plain = proto === Object.prototype || proto === null;
  if (open.has(value) || !(plain || Array.isArray(value))) return identity(value);
  open.add(value);
  const key = Array.isArray(value)
    ? `[${Array.from(value, (item) => optionsKey(item, open)).join(',')}]`
    : `{${Object.keys(value).sort()
      .map((name) => [name, value[name]])
      .filter(([, item]) => item !== undefined)
      .map(([name, item]) => `${JSON.stringify(name)}:${optionsKey(item, open)}`).join(',')}}`;
  open.delete(value);
  return key;
}

function verifierFor(options) {
  const key = optionsKey(options);
  if (cached.key !== key) {
    // rejects invalid_config / invalid_key
    const verifier = prepared(options).then(({ verifier }) => verifier);
    cached = { key, verifier };
    // A configuration that fails is not kept: the next call reports it again.
    verifier.catch(() => { if (cached.verifier === verifier) cached = { key: null, verifier: null }; });
    // The previous verifier is not freed here: tokens it is still verifying hold it (their
    // steps resume it), and wasm-bindgen's FinalizationRegistry frees it once nothing does.
  }
  return cached.verifier;
}

/**
 * A verifier for one configuration: options read, keys parsed and imported once. For code
 * that verifies many tokens (a server-side renderer, a worker); rejects with a
 * CampaignTokenError (`invalid_config`, `invalid_key`).
 */
export async function createVerifier(options) {
  const { glue, verifier } = await prepared(options);
  return Object.freeze({
    /** Resolves to the verified claims or rejects with a CampaignTokenError. */
    verify: (token) => verify(verifier, token),
    /** The signature backend: "webcrypto", or "pure-rust" (the fallback module). */
    backend: glue.backend(),
  });
}

/** Verifies `token`; resolves to the verified claims or rejects with a CampaignTokenError. */
export async function verifyToken(token, options) {
  return verify(await verifierFor(options), token);
}

/** Starts the campaign page: URL token, postMessage tokens, page variables, participation. */
export async function init(options) {
  // First, synchronously: the token leaves the address bar even if what follows fails.
  const urlToken = takeUrlToken(options);
  const { glue, verifier } = await prepared(options);
  const listeners = new Set();
  const notify = (state) => {
    for (const listener of [...listeners]) {
      try {
        listener(state);
      } catch (err) {
        // One subscriber's bug must not stop the others, nor the page update.
        setTimeout(() => { throw err; });
      }
    }
  };
  // Throws invalid_config; the session answers postMessage tokens from here on.
  const session = glue.Session.create(options, notify, Boolean(urlToken.get()), verifier);
  verifier.free();
  // Resolves once the URL's token (if any) is verified and shown.
  const stop = await start(session, urlToken.get());
  urlToken.used();
  const endpoint = options?.endpoint;

  return {
    get result() { return session.state.result; },
    get error() { return session.state.error; },
    /** The signature backend: "webcrypto", or "pure-rust" (the fallback module). */
    backend: glue.backend(),
    /** Server minus visitor clock (ms) that tokens are checked with; null: the visitor's clock. */
    get clockOffsetMs() { return session.clockOffsetMs ?? null; },
    // Like a store: the listener hears the current state at once (so the URL's token, applied
    // before init resolved, is never missed), then every change.
    subscribe(listener) {
      listeners.add(listener);
      try {
        listener(session.state);
      } catch (err) {
        setTimeout(() => { throw err; });
      }
      return () => listeners.delete(listener);
    },
    setToken(token) {
      return receive(session, token);
    },
    async participate(answers) {
      const token = session.token;
      if (!token) {
        throw session.state.error
          ?? new CampaignTokenError('no verified token to take part with', { code: 'no_token' });
      }
      if (typeof endpoint !== 'string' || endpoint === '') {
        throw new CampaignTokenError('init({ endpoint }) is needed to take part', { code: 'invalid_config' });
      }
      // limit.canPlay: false (the core's rule, as the session's result.access): no request.
      if (session.state.result?.access === 'denied') {
        throw new CampaignTokenError('this token does not allow taking part (limit.canPlay is false)',
          { code: 'not_allowed', claim: 'limit.canPlay' });
      }
      return postParticipation(endpoint, token, answers);
    },
    destroy() {
      listeners.clear();
      stop();
      session.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The token in the page URL. It leaves the address bar (history.replaceState) the moment init
// is called, before the wasm loads and before any option is checked, so that neither a failure
// nor a slow network leaves it in history, bookmarks, shared links or a later Referer. This is
// the one place the rule lives (the wasm session is handed the token).

// Tokens taken from the URL and not yet used by a session, by parameter name: an init that
// failed (say, the wasm did not load) leaves its token here for the next init to use.
const urlTokens = new Map();

/**
 * Takes `options.tokenParam` (default `token`) out of the page URL: from the query and from
 * the fragment, both read as `name=value` pieces joined by `&`. Only the pieces with that name
 * are removed; every other byte of the URL stays as it was (`?a=1&token=T&b=%20#x&y` becomes
 * `?a=1&b=%20#x&y`; an emptied query or fragment loses its `?` or `#`). The query's token wins
 * over the fragment's; an empty value is removed and counts as none. Returns the token's
 * handle for init: `get()` (the token, or undefined) and `used()` (a session took it).
 * Outside a page (Node, a worker) and with a `tokenParam` that is not a non-empty string
 * (init then rejects it as invalid_config), nothing is taken.
 */
function takeUrlToken(options) {
  const given = options?.tokenParam;
  const param = given === undefined || given === null ? 'token' : given;
  const handle = { get: () => urlTokens.get(param), used: () => urlTokens.delete(param) };
  if (typeof param !== 'string' || param === '') {
    throw new CampaignTokenError('tokenParam must be a non-empty string', { code: 'invalid_config' });
  }
  const href = globalThis.location?.href;
  const history = globalThis.history;
  if (typeof href !== 'string' || typeof history?.replaceState !== 'function') return handle;
  const hashAt = href.indexOf('#');
  const beforeHash = hashAt < 0 ? href : href.slice(0, hashAt);
  const queryAt = beforeHash.indexOf('?');
  const base = queryAt < 0 ? beforeHash : beforeHash.slice(0, queryAt);
  const query = withoutParam(queryAt < 0 ? null : beforeHash.slice(queryAt + 1), param);
  const fragment = withoutParam(hashAt < 0 ? null : href.slice(hashAt + 1), param);
  if (!query.found && !fragment.found) return handle;
  const token = [query.value, fragment.value].find((v) => v);
  if (token) urlTokens.set(param, token);
  const part = (prefix, { rest, found }) => (rest === null || (found && rest === '') ? '' : prefix + rest);
  try {
    history.replaceState(history.state, '', base + part('?', query) + part('#', fragment));
  } catch {
    // A document whose URL cannot be rewritten (an opaque origin): the token is still used.
  }
  return handle;
}

/**
 * `text` (a query or fragment without its `?`/`#`, or null when absent) without its `name=…`
 * pieces: `rest` keeps every other piece byte for byte; `value` is the first removed piece's
 * value, decoded as URLSearchParams does (names are compared decoded too).
 */
function withoutParam(text, name) {
  if (text === null) return { rest: null, found: false, value: undefined };
  let found = false;
  let value;
  const kept = text.split('&').filter((piece) => {
    const [entry] = new URLSearchParams(piece);
    if (!entry || entry[0] !== name) return true;
    if (!found) value = entry[1];
    found = true;
    return false;
  });
  return { rest: found ? kept.join('&') : text, found, value };
}

async function postParticipation(endpoint, token, answers) {
  let response;
  try {
    response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify(answers === undefined ? { token } : { token, answers }),
    });
  } catch (err) {
    throw new CampaignTokenError(`the participation server is unreachable: ${err?.message ?? err}`,
      { code: 'network_error' });
  }
  const body = await response.json().catch(() => null);
  if (response.ok && body && typeof body === 'object') return body;
  const error = body?.error;
  throw new CampaignTokenError(
    typeof error?.message === 'string' ? error.message : `the server answered ${response.status}`,
    {
      code: typeof error?.code === 'string' ? error.code : 'bad_response',
      claim: typeof error?.claim === 'string' ? error.claim : undefined,
      status: response.status,
    },
  );
}
