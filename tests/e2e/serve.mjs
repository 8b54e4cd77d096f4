// A small static server for the end-to-end tests and for local demos: one loopback port per
// site (the campaign page, the integrator page, and optionally a third "other" origin), each
// serving its `www/` directory, the built module at `/pkg/`, and a generated `/config.js`
// from a directory the caller chooses (tests never write into `www/`).
//
// The campaign site sends exactly the security headers of docs/CONTRACTS.md, so the tests
// prove the page works under them. Every request is recorded (path, query, Referer) so tests
// can check what the browser fetched and that the token never leaves in a later request.
//
// Usage as a script: node tests/e2e/serve.mjs CONFIG_DIR [CAMPAIGN_PORT] [INTEGRATOR_PORT]
// (CONFIG_DIR/campaign/config.js and CONFIG_DIR/integrator/config.js must exist).
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// The built module (scripts/build-wasm.sh); CAMPAIGN_TOKEN_PKG_DIR serves another build.
export const PKG_DIR = path.resolve(process.env.CAMPAIGN_TOKEN_PKG_DIR || path.join(ROOT, 'pkg'));
export const WWW_DIR = path.join(ROOT, 'www');

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

/** The campaign page's Content-Security-Policy, as in docs/CONTRACTS.md. */
export function campaignCsp(frameAncestors, { wasmUnsafeEval = true } = {}) {
  const script = wasmUnsafeEval ? "script-src 'self' 'wasm-unsafe-eval'" : "script-src 'self'";
  return [
    "default-src 'self'",
    script,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    `frame-ancestors 'self' ${frameAncestors.join(' ')}`.trim(),
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
  ].join('; ');
}

/** The integrator page's own policy: it runs no wasm and frames only the campaign. */
export function integratorCsp(campaignOrigin) {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `frame-src ${campaignOrigin}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
  ].join('; ');
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

/**
 * One site: `www/<name>/` at `/`, `pkg/` at `/pkg/`, `<configDir>/config.js` at `/config.js`.
 * `site.headers` is mutable so a test can change the policy between page loads.
 */
async function startSite({ name, wwwDir, configDir, port = 0 }) {
  // `sendDate: false` leaves out the Date header (a test of the page's clock without a sample).
  const site = { name, headers: {}, requests: [], origin: '', api: null, apiCalls: [], sendDate: true };
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      console.error(`serve.mjs: ${req.url}: ${err.stack ?? err}`);
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n', site.headers);
      else res.destroy();
    });
  });
  async function handle(req, res) {
    const url = new URL(req.url, 'http://x');
    res.sendDate = site.sendDate;
    site.requests.push({ method: req.method, path: url.pathname, search: url.search, referer: req.headers.referer ?? null });
    // A test may stand in for the allocation server's API on the campaign's origin.
    if (site.api && url.pathname.startsWith('/api/')) return answerApi(site, req, res, url);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', site.headers);
    const file = resolveFile(url.pathname, { wwwDir, configDir });
    const body = file && await fs.readFile(file).catch(() => null);
    if (!body) return send(res, 404, 'text/plain; charset=utf-8', 'not found\n', site.headers);
    const type = MIME[path.extname(file)] ?? 'application/octet-stream';
    send(res, 200, type, req.method === 'HEAD' ? null : body, site.headers, body.length);
  }
  // Keep-alive sockets would keep `close()` waiting; the tests want a quick, clean stop.
  server.keepAliveTimeout = 1000;
  const actual = await listen(server, port);
  site.origin = `http://127.0.0.1:${actual}`;
  site.port = actual;
  site.server = server;
  return site;
}

async function answerApi(site, req, res, url) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const text = Buffer.concat(chunks).toString('utf8');
  site.apiCalls.push({ method: req.method, path: url.pathname, contentType: req.headers['content-type'] ?? null, body: text });
  const { status = 200, json } = await site.api({ method: req.method, path: url.pathname, body: text });
  send(res, status, 'application/json', JSON.stringify(json), site.headers);
}

function resolveFile(pathname, { wwwDir, configDir }) {
  let decoded;
  try { decoded = decodeURIComponent(pathname); } catch { return null; }
  if (decoded.includes('\0')) return null;
  if (decoded === '/config.js') return configDir ? path.join(configDir, 'config.js') : null;
  let base = wwwDir;
  let rel = decoded;
  if (decoded.startsWith('/pkg/')) { base = PKG_DIR; rel = decoded.slice('/pkg'.length); }
  if (rel.endsWith('/')) rel += 'index.html';
  const file = path.resolve(base, '.' + rel);
  // Never serve anything outside the site's directory (`..`, encoded or not).
  if (file !== base && !file.startsWith(base + path.sep)) return null;
  // The page's own config.js is generated into configDir, never read from www/.
  if (path.basename(file) === 'config.js' && base === wwwDir) return null;
  return file;
}

function send(res, status, type, body, headers, length) {
  res.writeHead(status, {
    'Content-Type': type,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
    ...(length !== undefined ? { 'Content-Length': String(length) } : {}),
  });
  res.end(body ?? undefined);
}

/**
 * Starts the campaign and integrator sites (and a third, `other`, if `otherConfigDir` is
 * given: the integrator page served from an origin the campaign does not allow).
 * `extraFrameAncestors` adds origins to the campaign's frame-ancestors without adding them
 * to its postMessage allowlist (that is the caller's config.js), so a test can prove the
 * module's own origin check rather than the CSP.
 */
export async function startServers({ campaignConfigDir, integratorConfigDir, otherConfigDir,
  campaignPort = 0, integratorPort = 0, otherPort = 0 } = {}) {
  const campaign = await startSite({ name: 'campaign', wwwDir: path.join(WWW_DIR, 'campaign'), configDir: campaignConfigDir, port: campaignPort });
  const integrator = await startSite({ name: 'integrator', wwwDir: path.join(WWW_DIR, 'integrator'), configDir: integratorConfigDir, port: integratorPort });
  const other = otherConfigDir
    ? await startSite({ name: 'other', wwwDir: path.join(WWW_DIR, 'integrator'), configDir: otherConfigDir, port: otherPort })
    : null;

  const setCampaignPolicy = ({ frameAncestors = [integrator.origin, ...(other ? [other.origin] : [])], wasmUnsafeEval = true } = {}) => {
    campaign.headers = {
      'Content-Security-Policy': campaignCsp(frameAncestors, { wasmUnsafeEval }),
      'Referrer-Policy': 'no-referrer',
      'X-Content-Type-Options': 'nosniff',
    };
  };
  setCampaignPolicy();
  for (const site of [integrator, other].filter(Boolean)) {
    site.headers = {
      'Content-Security-Policy': integratorCsp(campaign.origin),
      'Referrer-Policy': 'no-referrer',
      'X-Content-Type-Options': 'nosniff',
    };
  }

  const sites = [campaign, integrator, other].filter(Boolean);
  return {
    campaign, integrator, other,
    setCampaignPolicy,
    clearRequests() { for (const s of sites) s.requests.length = 0; },
    async close() {
      await Promise.all(sites.map((s) => new Promise((resolve) => {
        s.server.close(() => resolve());
        s.server.closeAllConnections();
      })));
    },
  };
}

/** Writes a config.js exporting each property of `values` as a named constant. */
export async function writeConfig(dir, values) {
  await fs.mkdir(dir, { recursive: true });
  const lines = Object.entries(values).map(([k, v]) => `export const ${k} = ${JSON.stringify(v, null, 2)};`);
  await fs.writeFile(path.join(dir, 'config.js'), `// Generated for a test run; not committed.\n${lines.join('\n')}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [configDir, cPort = '8080', iPort = '8081'] = process.argv.slice(2);
  if (!configDir) {
    console.error('usage: node tests/e2e/serve.mjs CONFIG_DIR [CAMPAIGN_PORT] [INTEGRATOR_PORT]');
    process.exit(2);
  }
  const servers = await startServers({
    campaignConfigDir: path.join(configDir, 'campaign'),
    integratorConfigDir: path.join(configDir, 'integrator'),
    campaignPort: Number(cPort), integratorPort: Number(iPort),
  });
  console.log(`campaign:   ${servers.campaign.origin}/`);
  console.log(`integrator: ${servers.integrator.origin}/`);
  const stop = () => servers.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
