// campaign-token: the step driver. The wasm module holds no future and performs no I/O: it
// decides, and hands this driver a step (src/step.rs): import keys into WebCrypto, verify a
// signature, fetch a URL, wait for a key-set refresh, or done. The driver performs it exactly
// as described, with no rule of its own (what to import, which URL, which limits, what an
// outcome means: all decided in the wasm), and resumes the machine with the outcome. The one
// step loop of the package: js/index.js (verifyToken, createVerifier, init) and the browser
// tests (src/tests.rs) use it.

// Refreshes of a key set under way (a fetch and the import of what it fetched): a `wait` step
// waits for them.
const refreshes = new Set();

/**
 * Drives `machine` (a wasm Verifier or Session) from `step` until it is done; resolves to the
 * done step's value, or rejects with what the machine threw (a CampaignTokenError).
 */
export async function run(machine, step) {
  let refresh = null;
  try {
    while (step.kind !== 'done') {
      if (step.refresh && !refresh) {
        let release;
        refresh = new Promise((resolve) => { release = resolve; });
        refresh.release = release;
        refreshes.add(refresh);
      } else if (!step.refresh && refresh) {
        end(refresh);
        refresh = null;
      }
      step = machine.resume(step, await perform(step));
    }
  } finally {
    if (refresh) end(refresh);
  }
  return step.value;
}

function end(refresh) {
  refreshes.delete(refresh);
  refresh.release();
}

async function perform(step) {
  switch (step.kind) {
    case 'import':
      return Promise.all(step.keys.map(async ({ format, keyData, algorithm }) => {
        try {
          return await crypto.subtle.importKey(format, keyData, algorithm, false, ['verify']);
        } catch (err) {
          return String(err?.name ?? 'Error');
        }
      }));
    case 'verify':
      try {
        return (await crypto.subtle.verify(step.algorithm, step.key, step.signature, step.data)) === true;
      } catch {
        return false;
      }
    case 'fetch':
      return get(step);
    case 'wait':
      // The refresh under way ends in another chain of this driver; with none in sight (it
      // ended between the wasm's answer and now), go on at the next turn.
      await (refreshes.size ? Promise.all(refreshes) : new Promise((resolve) => setTimeout(resolve)));
      return null;
    default:
      throw new Error(`campaign-token: unknown step ${step.kind}`);
  }
}

/**
 * A `fetch` step: `fetch(url, init)` (the wasm's init: CORS, credentials omitted, no
 * Referer, revalidated, its redirect rule) abandoned after `timeoutMs`, the body read up to
 * `maxBytes` (with or without a Content-Length; null when longer). Null for any failure.
 */
async function get({ url, init, timeoutMs, maxBytes }) {
  const signal = typeof AbortSignal?.timeout === 'function' ? AbortSignal.timeout(timeoutMs) : undefined;
  try {
    const sent = Date.now();
    const response = await fetch(url, { ...init, signal });
    const received = Date.now();
    const header = (name) => response.headers.get(name);
    const body = maxBytes > 0 && response.ok ? await readCapped(response, maxBytes) : null;
    if (!(maxBytes > 0 && response.ok)) response.body?.cancel().catch(() => {});
    return {
      ok: response.ok,
      date: header('date'),
      cacheControl: header('cache-control'),
      contentLength: header('content-length'),
      body,
      sent,
      received,
    };
  } catch {
    return null;
  }
}

/** The body as text (UTF-8, as `response.text()`), or null past `max` bytes. */
async function readCapped(response, max) {
  const reader = response.body?.getReader();
  if (!reader) {
    const text = await response.text();
    return text;
  }
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/**
 * Sets up a wasm Verifier: imports its keys once (the wasm decides invalid_key / lacking),
 * then, unless `stopIfLacking` and some key's algorithm is one this WebCrypto lacks (the
 * caller then uses the pure-Rust module), reads the honest clock's `timeUrl`. Resolves to
 * whether the verifier is ready.
 */
export async function prepare(verifier, stopIfLacking) {
  await run(verifier, verifier.setup());
  if (stopIfLacking && verifier.lacking) return false;
  await run(verifier, verifier.clock());
  return true;
}

/** Verifies `token` with a prepared Verifier: the VerifiedToken, or a CampaignTokenError. */
export async function verify(verifier, token) {
  return run(verifier, verifier.begin(token));
}

/** Applies `token` to a Session as if it had just arrived; resolves to its state. */
export function receive(session, token) {
  return run(session, session.receive(token));
}

/**
 * Starts a Session: listens for `message` events (when it accepts postMessage tokens; each
 * event goes to the wasm, which ignores what it must), then applies the URL's token, if any.
 * Resolves to the function that stops listening.
 */
export async function start(session, urlToken, target = globalThis) {
  let stop = () => {};
  if (session.listening) {
    const onMessage = (event) => {
      const step = session.message(event);
      if (step !== undefined) run(session, step).catch(() => {});
    };
    target.addEventListener('message', onMessage);
    stop = () => target.removeEventListener('message', onMessage);
  }
  if (urlToken) await receive(session, urlToken);
  return stop;
}
