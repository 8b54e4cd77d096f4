// campaign-token/errors: one CampaignTokenError class for both entries of the package, so
// `instanceof` holds for errors of the wasm entry and of the integrator alike.
//
//   node --test tests/node/errors.test.mjs        (PKG_DIR=other/dir to test another build)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const pkgDir = resolve(process.env.PKG_DIR ?? new URL('../../pkg', import.meta.url).pathname);
const errors = await import(pathToFileURL(`${pkgDir}/errors.js`));
const { CampaignTokenError } = errors;

test('the errors module exports CampaignTokenError and nothing else', () => {
  assert.deepEqual(Object.keys(errors), ['CampaignTokenError']);
  const err = new CampaignTokenError('no', { code: 'invalid_config', claim: 'exp', status: 400 });
  assert.ok(err instanceof Error);
  assert.deepEqual([err.name, err.code, err.claim, err.status, err.message],
    ['CampaignTokenError', 'invalid_config', 'exp', 400, 'no']);
  assert.ok(!('claim' in new CampaignTokenError('no', { code: 'no_token' })));
});

test('errors of the integrator entry are instances of the shared class', async () => {
  const { sendToken } = await import(pathToFileURL(`${pkgDir}/integrator.js`));
  const err = await sendToken({}, 'a.b.c', { targetOrigin: '*' }).then(() => null, (e) => e);
  assert.ok(err instanceof CampaignTokenError, String(err));
  assert.equal(err.code, 'invalid_config');
});

test('errors of the wasm entry are instances of the shared class, which it re-exports', async () => {
  const index = await import(pathToFileURL(`${pkgDir}/index.js`));
  assert.equal(index.CampaignTokenError, CampaignTokenError);
  const err = await index.verifyToken('', { campaignId: 'c', keys: { keys: [] } }).then(() => null, (e) => e);
  assert.ok(err instanceof CampaignTokenError, String(err));
  assert.match(err.code, /^(no_token|invalid_key|invalid_config)$/);
});

test('the package exports map serves the same module as campaign-token/errors', { skip: process.env.PKG_DIR !== undefined }, async () => {
  const viaExports = await import('campaign-token/errors');
  assert.equal(viaExports.CampaignTokenError, CampaignTokenError);
  const { sendToken } = await import('campaign-token/integrator');
  const err = await sendToken({}, 't', { targetOrigin: 'https://brand.example/' }).then(() => null, (e) => e);
  assert.ok(err instanceof viaExports.CampaignTokenError);
});
