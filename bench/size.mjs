// Size: raw, gzip (-9) and brotli (q11) bytes of everything a page downloads from us (the
// module's JS entry, the files it imports, the wasm) for each build, beside the minified
// esbuild bundle of the jose equivalent page script; and twiggy's view of where the wasm's
// bytes go.
//
// node bench/size.mjs --build NAME=PKG_DIR[:NAMED_WASM] ... --jose BUNDLE --out RESULTS_DIR
// NAMED_WASM is the same build before wasm-bindgen/wasm-opt stripped its names (the
// cargo output), which twiggy can attribute to functions and crates.
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';

const argv = process.argv.slice(2);
const builds = [];
let jose, out;
for (let i = 0; i < argv.length; i += 2) {
  if (argv[i] === '--build') {
    const [name, rest] = argv[i + 1].split('=');
    const [dir, named] = rest.split(':');
    builds.push({ name, dir, named });
  } else if (argv[i] === '--jose') jose = argv[i + 1];
  else if (argv[i] === '--out') out = argv[i + 1];
}

function sizes(buf) {
  return {
    raw: buf.length,
    gzip: zlib.gzipSync(buf, { level: 9 }).length,
    brotli: zlib.brotliCompressSync(buf, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
}

/**
 * The files a page downloads from us: index.js, the modules it imports statically, and the
 * wasm they name. The pure-Rust fallback (`campaign_token_fallback*`, reached only through a
 * dynamic `import()`) is downloaded only where WebCrypto cannot serve, and the module with the
 * PEM parser (`campaign_token_pem*`) only for a `keys` given as PEM, so neither is counted (the
 * bench's pages use JWKs); nor is any other file that merely sits in the package directory.
 */
async function pageFiles(dir) {
  const seen = new Set();
  const queue = ['index.js'];
  while (queue.length) {
    const f = queue.shift();
    if (seen.has(f)) continue;
    seen.add(f);
    const text = await fs.readFile(path.join(dir, f), 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*)['"](\.\/[^'"]+)['"]/g)) {
      queue.push(path.normalize(path.join(path.dirname(f), m[1])));
    }
    for (const m of text.matchAll(/new URL\(\s*['"](\.?\/?[^'"]+\.wasm)['"]/g)) {
      if (!/fallback|_pem/.test(m[1])) seen.add(path.normalize(path.join(path.dirname(f), m[1])));
    }
  }
  return [...seen].sort();
}

function crateOf(name) {
  const m = name.match(/(?:^|[<( &*])([a-z_][a-z0-9_]*)(?:\[[0-9a-f]+\])?::/);
  if (m) return m[1];
  if (/shim/.test(name)) return 'wasm-bindgen shims';
  if (/^data segment/.test(name)) return 'data segments (.rodata: strings, tables)';
  if (/^(data|custom|type|import|export|table|elem|memory|global)\b|\[\d+\]/.test(name)) return name.replace(/\[.*$/, '').trim() || name;
  return '(other: ' + name.slice(0, 30) + ')';
}

function twiggy(wasm) {
  try {
    const top = JSON.parse(execFileSync('twiggy', ['top', '-n', '100000', '--format', 'json', wasm], { maxBuffer: 1 << 28 }));
    // The name section is twiggy's own input (kept with wasm-opt -g), not shipped bytes.
    const isNames = (x) => /"function names"|subsection|^custom section 'name'/.test(x.name);
    const names = top.filter(isNames).reduce((a, x) => a + x.shallow_size, 0);
    top.splice(0, top.length, ...top.filter((x) => !isNames(x)));
    const total = top.reduce((a, x) => a + x.shallow_size, 0);
    const crates = {};
    for (const x of top) crates[crateOf(x.name)] = (crates[crateOf(x.name)] ?? 0) + x.shallow_size;
    return {
      wasm, total, nameSectionBytes: names,
      top: top.slice(0, 25).map((x) => ({ name: x.name.slice(0, 120), bytes: x.shallow_size })),
      crates: Object.entries(crates).sort((a, b) => b[1] - a[1]).slice(0, 25).map(([crate, bytes]) => ({ crate, bytes })),
    };
  } catch (e) {
    return { wasm, error: String(e.message).split('\n')[0] };
  }
}

const result = { builds: {} };
for (const b of builds) {
  const files = await pageFiles(b.dir);
  const perFile = {};
  const total = { raw: 0, gzip: 0, brotli: 0 };
  for (const f of files) {
    const s = sizes(await fs.readFile(path.join(b.dir, f)));
    perFile[f] = s;
    for (const k of Object.keys(total)) total[k] += s[k];
  }
  const wasmFile = files.find((f) => f.endsWith('.wasm'));
  result.builds[b.name] = {
    dir: b.dir, files: perFile, total,
    twiggy: twiggy(b.named || path.join(b.dir, wasmFile)),
  };
}
if (jose) result.jose = { file: jose, total: sizes(await fs.readFile(jose)) };
await fs.mkdir(out, { recursive: true });
await fs.writeFile(path.join(out, 'size.json'), JSON.stringify(result, null, 2));
for (const [name, b] of Object.entries(result.builds)) console.log(name, JSON.stringify(b.total));
if (result.jose) console.log('jose', JSON.stringify(result.jose.total));
