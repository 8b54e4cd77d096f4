// The PEM parser is a module of its own (campaign_token_pem*, docs/browser.md#size): a page
// configured with a JWKS (the demo page) never downloads it, and a PEM key loads it instead of
// the default module and verifies the same tokens with the same verdicts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { setup, newPage, waitForVerdict, campaignUrl, CAMPAIGN_ID, LABEL } from './helpers.mjs';

let env;
before(async () => { env = await setup(); });
after(async () => { await env?.teardown(); });

const pemRequests = () => env.campaign.requests.filter((r) => r.path.includes('campaign_token_pem'));

test('a JWKS page never downloads the PEM module; a PEM key loads it and verifies', async () => {
  env.servers.clearRequests();
  const { context, page, problems } = await newPage(env.browser);
  try {
    await page.goto(campaignUrl(env.campaign.origin, { query: env.tokens['given-prize'] }));
    await waitForVerdict(page, 'given-prize');
    assert.deepEqual(pemRequests(), []);

    const jwk = env.jwks.keys[0];
    const pem = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' })
      .export({ type: 'spki', format: 'pem' });
    const results = await page.evaluate(async ({ tokens, pem, campaignId }) => {
      const { verifyToken } = await import('/pkg/index.js');
      const out = {};
      for (const name of ['given-prize', 'forged', 'expired']) {
        try {
          out[name] = (await verifyToken(tokens[name], { keys: pem, campaignId })).prizeLabel;
        } catch (err) {
          out[name] = err?.code ?? `threw ${err}`;
        }
      }
      // A PEM that is not a key is refused by the module with the parser, not by the default one.
      try {
        await verifyToken(tokens['given-prize'], { keys: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', campaignId });
        out.garbage = 'accepted';
      } catch (err) {
        out.garbage = [err?.code, /without the `pem` feature/.test(err?.message)];
      }
      return out;
    }, { tokens: env.tokens, pem, campaignId: CAMPAIGN_ID });
    assert.deepEqual(results, {
      'given-prize': LABEL, forged: 'bad_signature', expired: 'expired', garbage: ['invalid_key', false],
    });
    assert.ok(pemRequests().some((r) => r.path.endsWith('campaign_token_pem_bg.wasm')), JSON.stringify(pemRequests()));
    assert.deepEqual(problems, []);
  } finally { await context.close(); }
});
