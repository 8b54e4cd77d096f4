// The brand-side minting recipes of examples/minting/ (Node + jose, Python + PyJWT, Ruby +
// ruby-jwt, the token tool), each run as a brand's backend would run it, with a key pair made
// by the token tool (`keygen --alg ES256`, kid = its thumbprint). Each token must verify:
//   - in our core, with the token tool's `verify` (the same Verifier as page and server);
//   - in the page's module, with the npm package's Node API (pkg/index.js, `verifyToken`);
//   - by the real allocation server (POST /api/campaigns/{id}/participations, SQLite), which
//     allocates the token's prize under its label;
// and carry the whole contract: sub, a short exp, iat, campaignId, kid, gift, limit, form,
// optin, custom, all read the same by the three.
//
// Run by scripts/test-minting.sh, which installs the libraries (ensure_minting), builds the
// token tool and the server and sets CAMPAIGN_TOKEN_CLI, CAMPAIGN_TOKEN_SERVER, MINTING_PYTHON,
// MINTING_RUBY and CAMPAIGN_TOKEN_PKG_DIR.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RECIPES = path.join(ROOT, 'examples', 'minting');
const CLI = process.env.CAMPAIGN_TOKEN_CLI;
const SERVER = process.env.CAMPAIGN_TOKEN_SERVER;
const PKG_DIR = path.resolve(process.env.CAMPAIGN_TOKEN_PKG_DIR || path.join(ROOT, 'pkg'));
const CAMPAIGN_ID = 'minting-recipes-2026';
const LABEL = 'Día de spa pour deux';

/** What every recipe puts in its token beside sub, iat and exp. */
const CONTRACT = {
  campaignId: CAMPAIGN_ID,
  gift: { cw: true, label: LABEL },
  limit: { nb: 2, canPlay: true },
  form: { firstName: 'Ana', email: 'ana@example.com' },
  optin: { newsletter: true },
  custom: { orderId: 'A-1042', tier: 'gold', points: 120 },
  eligibility: 'given-prize',
  prizeLabel: LABEL,
  alg: 'ES256',
  iss: null,
  nbf: null,
};

const RECIPE_COMMANDS = {
  'Node + jose': [process.execPath, [path.join(RECIPES, 'node-jose.mjs')]],
  'Python + PyJWT': [process.env.MINTING_PYTHON || '/usr/bin/python3', [path.join(RECIPES, 'pyjwt.py')]],
  'Ruby + ruby-jwt': [process.env.MINTING_RUBY || '/usr/bin/ruby', [path.join(RECIPES, 'ruby-jwt.rb')]],
  'the token tool': ['bash', [path.join(RECIPES, 'token-tool.sh')]],
};

let dir;
let kid;
let server;
let verifyToken;

before(async () => {
  assert.ok(CLI && SERVER, 'CAMPAIGN_TOKEN_CLI and CAMPAIGN_TOKEN_SERVER are not set: run scripts/test-minting.sh');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'campaign-token-minting-'));
  // The brand's key pair, made by the token tool as docs/minting.md says.
  await run(CLI, ['keygen', '--alg', 'ES256', '--out-dir', path.join(dir, 'keys')]);
  const jwks = JSON.parse(await fs.readFile(path.join(dir, 'keys', 'jwks.json'), 'utf8'));
  kid = jwks.keys[0].kid;
  assert.equal(typeof kid, 'string');
  ({ verifyToken } = await import(pathToFileURL(path.join(PKG_DIR, 'index.js'))));
  server = await startServer(dir);
});

after(async () => {
  await server?.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** The allocation server with one draw campaign that trusts the brand's jwks.json. */
async function startServer(workDir) {
  const toml = (v) => JSON.stringify(v);
  await fs.writeFile(path.join(workDir, 'server.toml'), `
listen = "127.0.0.1:0"
database = ${toml(`sqlite:${path.join(workDir, 'campaign-token.db')}`)}

[[campaign]]
id = "${CAMPAIGN_ID}"
type = "draw"
start = "2020-01-01T00:00:00Z"
end = "2099-01-01T00:00:00Z"

[[campaign.keys]]
jwks_file = ${toml(path.join(workDir, 'keys', 'jwks.json'))}

[[campaign.prizes]]
id = "spa"
name = "a spa day"
quantity = 10
`);
  const child = spawn(SERVER, ['--config', path.join(workDir, 'server.toml')], {
    env: { ...process.env, RUST_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const backstop = () => child.kill('SIGKILL');
  process.once('exit', backstop);
  // The server prints its address once it listens (port 0: chosen by the OS).
  const origin = await new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^listening on (http:\/\/\S+)$/.exec(line);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`campaign-token-server exited (${code}) before listening`)));
  });
  return {
    origin,
    async stop() {
      process.off('exit', backstop);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

const decodeSegment = (segment) => JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));

for (const [name, [command, args]] of Object.entries(RECIPE_COMMANDS)) {
  test(`${name}: the recipe's token verifies in the core, the page and the server`, async () => {
    const sub = `member-${name.replace(/\W+/g, '-').toLowerCase()}`;
    const { stdout } = await run(command, [...args, path.join(dir, 'keys', 'private.pem'), kid, CAMPAIGN_ID, sub], {
      env: { ...process.env, CAMPAIGN_TOKEN: CLI },
    });
    const token = stdout.trim();
    const [header, payload] = token.split('.').map((s, i) => (i < 2 ? decodeSegment(s) : s));
    assert.deepEqual({ alg: header.alg, kid: header.kid, typ: header.typ }, { alg: 'ES256', kid, typ: 'JWT' });
    // A short life: minutes, never days (docs/minting.md).
    assert.equal(typeof payload.iat, 'number');
    assert.ok(payload.exp - payload.iat > 0 && payload.exp - payload.iat <= 300, `exp - iat = ${payload.exp - payload.iat}`);

    // 1. The core: the token tool's verify, exit code 0.
    const cli = JSON.parse((await run(CLI, ['verify', '--key', path.join(dir, 'keys', 'jwks.json'),
      '--campaign', CAMPAIGN_ID, token])).stdout);
    assert.deepEqual({ ...cli, sub: undefined, exp: undefined, iat: undefined, kid: undefined },
      { ...CONTRACT, sub: undefined, exp: undefined, iat: undefined, kid: undefined });
    assert.deepEqual([cli.sub, cli.kid, cli.exp, cli.iat], [sub, kid, payload.exp, payload.iat]);

    // 2. The page's module (Node API of the package): the same result, plus the page's
    //    `access` (limit.canPlay read by the core for the page's styling).
    const jwks = await fs.readFile(path.join(dir, 'keys', 'jwks.json'), 'utf8');
    const page = await verifyToken(token, { campaignId: CAMPAIGN_ID, keys: jwks });
    assert.deepEqual(JSON.parse(JSON.stringify(page)), { ...cli, access: 'allowed' });

    // 3. The server: verifies again and allocates the prize under the token's label.
    const response = await fetch(`${server.origin}/api/campaigns/${CAMPAIGN_ID}/participations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    const body = await response.json();
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.equal(body.outcome, 'won');
    assert.equal(body.eligibility, 'given-prize');
    assert.deepEqual(body.prize, { id: 'spa', label: LABEL });
    assert.equal(body.replayed, false);
  });
}

test('a recipe token signed with another key is refused by the core, the page and the server', async () => {
  await run(CLI, ['keygen', '--alg', 'ES256', '--kid', kid, '--out-dir', path.join(dir, 'forger')]);
  const { stdout } = await run(process.execPath, [path.join(RECIPES, 'node-jose.mjs'),
    path.join(dir, 'forger', 'private.pem'), kid, CAMPAIGN_ID, 'member-forged']);
  const token = stdout.trim();
  const cli = await run(CLI, ['verify', '--key', path.join(dir, 'keys', 'jwks.json'), '--campaign', CAMPAIGN_ID, token])
    .then(() => assert.fail('verify accepted a forged token'), (err) => err);
  assert.equal(cli.code, 1);
  assert.equal(JSON.parse(cli.stdout).error.code, 'bad_signature');
  const jwks = await fs.readFile(path.join(dir, 'keys', 'jwks.json'), 'utf8');
  await assert.rejects(verifyToken(token, { campaignId: CAMPAIGN_ID, keys: jwks }), { code: 'bad_signature' });
  const response = await fetch(`${server.origin}/api/campaigns/${CAMPAIGN_ID}/participations`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }),
  });
  assert.equal(response.status, 401);
  assert.equal((await response.json()).error.code, 'bad_signature');
});
