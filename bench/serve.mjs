// The static server for the page benchmarks: one loopback origin serving both pages (ours
// and the jose equivalent) with the same headers — the campaign page's security headers
// from docs/CONTRACTS.md (the CSP comes from tests/e2e/serve.mjs, so there is one
// definition) — and the same compression a production CDN would apply: brotli when the
// browser accepts it, else gzip, precompressed once per file. Without compression the
// mobile-network numbers would measure our server, not the pages.
//
// Usage: node bench/serve.mjs SITE_DIR [PORT]   (prints "listening <origin>")
// SITE_DIR/pkg/... may be a symlink to any build of the module.
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { campaignCsp } from '../tests/e2e/serve.mjs';

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm', '.json': 'application/json',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.wasm', '.json']);

export async function startBenchServer(siteDir, port = 0) {
  const cache = new Map(); // file -> { mtime, raw, br, gz }
  const headers = {
    'Content-Security-Policy': campaignCsp([]),
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-cache',
  };
  async function load(file) {
    const st = await fs.stat(file).catch(() => null);
    if (!st || !st.isFile()) return null;
    const hit = cache.get(file);
    if (hit && hit.mtime === st.mtimeMs) return hit;
    const raw = await fs.readFile(file);
    const entry = { mtime: st.mtimeMs, raw };
    if (COMPRESSIBLE.has(path.extname(file))) {
      entry.br = zlib.brotliCompressSync(raw, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } });
      entry.gz = zlib.gzipSync(raw, { level: 9 });
    }
    cache.set(file, entry);
    return entry;
  }
  const root = path.resolve(siteDir);
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    let rel = decodeURIComponent(url.pathname);
    if (rel.endsWith('/')) rel += 'index.html';
    const file = path.resolve(root, '.' + rel);
    if (!file.startsWith(root + path.sep)) { res.writeHead(404, headers); return res.end(); }
    const entry = await load(file);
    if (!entry) { res.writeHead(404, headers); return res.end(); }
    const accept = req.headers['accept-encoding'] ?? '';
    let body = entry.raw;
    const h = { ...headers, 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream', Vary: 'Accept-Encoding' };
    if (entry.br && /\bbr\b/.test(accept)) { body = entry.br; h['Content-Encoding'] = 'br'; }
    else if (entry.gz && /\bgzip\b/.test(accept)) { body = entry.gz; h['Content-Encoding'] = 'gzip'; }
    h['Content-Length'] = String(body.length);
    res.writeHead(200, h);
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => { server.closeAllConnections(); server.close(); } };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const s = await startBenchServer(process.argv[2], Number(process.argv[3] ?? 0));
  console.log(`listening ${s.origin}`);
  process.on('SIGTERM', () => { s.close(); process.exit(0); });
}
