// The module's flows in every browser engine (tests/engines/engines.mjs: Chromium, Firefox ESR,
// WebKitGTK), with identical answers required everywhere:
//  - the hostile keys and signatures of tests/node/webcrypto-cases.mjs (each engine's own
//    WebCrypto: BoringSSL, NSS, libgcrypt) get the codes the native core gives;
//  - a token in the URL (query and fragment) renders in every variable form, as text only, and
//    leaves the address bar with the rest of the URL kept;
//  - postMessage from the allowed origin is applied and answered; from another origin it changes
//    nothing;
//  - a participation against the real allocation server wins, and its replay is recognised.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, verdictShown, campaignState, campaignUrl, LABEL, HTML_LABEL, SCRIPT_LABEL, FALLBACK } from '../e2e/helpers.mjs';
import { startRealServer, CAMPAIGN_ID, PRIZE } from '../e2e/real-server.mjs';
import { makeCases } from '../node/webcrypto-cases.mjs';
import { enginesToTest, openEngine, waitInPage, runInPage } from './engines.mjs';
import { By } from 'selenium-webdriver';

let env;
let cases;
before(async () => {
  env = await setup({ launch: false });
  cases = await makeCases();
});
after(async () => { await env?.teardown(); });

/** The verdict and state of the campaign page in the current browsing context. */
async function verdict(driver, want) {
  await waitInPage(driver, verdictShown, want ?? null, `the verdict ${want ?? '(any)'}`);
  return driver.executeScript(`return (${campaignState})();`);
}

for (const engine of enginesToTest()) {
  describe(engine, () => {
    let browser;
    before(async () => { browser = await openEngine(engine); console.log(`# ${engine}: ${browser.version}`); });
    after(async () => { await browser?.quit(); });

    test('hostile keys and signatures get the same codes as natively', async () => {
      const { driver } = browser;
      await driver.get(campaignUrl(env.campaign.origin));
      await verdict(driver, 'none');
      const results = await runInPage(driver, async (cases) => {
        const { verifyToken } = await import('/pkg/index.js');
        const out = [];
        for (const c of cases) {
          let got;
          try {
            const r = await verifyToken(c.token, c.options);
            got = r?.prizeLabel === 'Espresso machine' ? 'ok' : `accepted with ${JSON.stringify(r)}`;
          } catch (err) {
            got = err?.code ?? `threw ${err}`;
          }
          out.push({ name: c.name, expect: c.expect, got });
        }
        return out;
      }, cases);
      assert.equal(results.length, cases.length);
      const differences = results.filter((r) => r.got !== r.expect);
      for (const d of differences) console.log(`# ${engine} differs: ${d.name}: expected ${d.expect}, got ${d.got}`);
      assert.deepEqual(differences, []);
    });

    test('a URL token renders as text in every form and leaves the URL, the rest kept byte for byte', async () => {
      const { driver } = browser;
      const token = env.tokens['given-prize'];
      await driver.get(`${env.campaign.origin}/?utm_source=mail&token=${token}&lang=en#how`);
      let state = await verdict(driver, 'given-prize');
      assert.equal(state.headline, `Play and win ${LABEL}`);
      assert.equal(state.prizeName, LABEL);
      assert.equal(state.winnersNote, `Winners of ${LABEL} receive an email within three working days.`);
      assert.ok(!state.allText.includes('{{'));
      assert.equal(state.status, 'valid');
      assert.equal(state.href, `${env.campaign.origin}/?utm_source=mail&lang=en#how`);
      assert.deepEqual(state.cspViolations, []);

      await driver.get(campaignUrl(env.campaign.origin, { fragment: env.tokens.expired }));
      state = await verdict(driver, 'invalid');
      assert.equal(state.code, 'expired');
      assert.equal(state.prizeName, FALLBACK.prizeName);
      assert.ok(!state.href.includes('token'), state.href);
    });

    test('labels with markup are shown as text and run nothing', async () => {
      const { driver } = browser;
      for (const [name, label] of [['html-label', HTML_LABEL], ['script-label', SCRIPT_LABEL]]) {
        await driver.get(campaignUrl(env.campaign.origin, { query: env.tokens[name] }));
        const state = await verdict(driver, 'given-prize');
        assert.equal(state.prizeName, label);
        assert.equal(state.pwned, null, `${name} ran`);
      }
    });

    test('postMessage from the allowed origin is applied and answered', async () => {
      const { driver } = browser;
      await driver.get(`${env.integrator.origin}/`);
      await waitInPage(driver, () => document.querySelectorAll('#cases button').length > 0, null, 'the case buttons');
      const frame = await driver.findElement(By.css('iframe#campaign'));
      await driver.switchTo().frame(frame);
      await verdict(driver, 'none');
      await driver.switchTo().defaultContent();
      await driver.findElement(By.css('#cases button[data-case="given-prize"]')).click();
      const result = await waitInPage(driver, () => {
        const el = document.getElementById('last-result');
        return el.dataset.case === 'given-prize' && el.dataset.state !== 'pending'
          && { state: el.dataset.state, result: el.dataset.result };
      }, null, 'the result message');
      assert.deepEqual(result, { state: 'ok', result: 'given-prize' });
      await driver.switchTo().frame(await driver.findElement(By.css('iframe#campaign')));
      const state = await verdict(driver, 'given-prize');
      assert.equal(state.prizeName, LABEL);
      assert.deepEqual(state.cspViolations, []);
      await driver.switchTo().defaultContent();
    });

    test('postMessage from an origin that is not allowed changes nothing', async () => {
      const { driver } = browser;
      await driver.get(`${env.other.origin}/`);
      await waitInPage(driver, () => document.querySelectorAll('#cases button').length > 0, null, 'the case buttons');
      await driver.switchTo().frame(await driver.findElement(By.css('iframe#campaign')));
      await verdict(driver, 'none');
      await driver.executeScript(() => {
        window.__seen = 0;
        window.__changes = 0;
        document.addEventListener('campaign-token:change', () => { window.__changes++; });
        window.addEventListener('message', () => { window.__seen++; });
      });
      await driver.switchTo().defaultContent();
      await driver.executeScript((token, origin) => {
        document.getElementById('campaign').contentWindow.postMessage({ type: 'campaign-token', token }, origin);
      }, env.tokens['given-prize'], env.campaign.origin);
      await driver.switchTo().frame(await driver.findElement(By.css('iframe#campaign')));
      await waitInPage(driver, () => window.__seen >= 1, null, 'the message to arrive');
      // The module may verify asynchronously: leave it ample time to (wrongly) react.
      await runInPage(driver, () => new Promise((r) => setTimeout(r, 1000)));
      const state = await verdict(driver);
      assert.equal(state.eligibility, 'none');
      assert.ok(!state.allText.includes(LABEL));
      assert.equal(await driver.executeScript(() => window.__changes), 0);
      await driver.switchTo().defaultContent();
    });

    describe('against the real allocation server', () => {
      let server;
      before(async () => { server = await startRealServer({ launch: false }); });
      after(async () => { await server?.teardown(); });

      test('a participation wins, its replay is recognised, and the stock holds', async () => {
        const { driver } = browser;
        const take = async () => {
          await driver.get(campaignUrl(server.origin, { query: server.tokens['given-prize'] }));
          await verdict(driver, 'given-prize');
          await waitInPage(driver, () => !document.getElementById('participate').disabled, null, 'the button');
          await driver.findElement(By.css('#participate')).click();
          return waitInPage(driver, () => {
            const el = document.getElementById('outcome');
            return el.dataset.outcome !== undefined
              && { outcome: el.dataset.outcome, text: el.textContent, id: el.dataset.participationId ?? null };
          }, null, 'the outcome');
        };
        const first = await take();
        assert.equal(first.outcome, 'won', first.text);
        assert.equal(first.text, `You won ${LABEL}!`);
        const again = await take();
        assert.equal(again.id, first.id);
        assert.equal(again.text, `You won ${LABEL}! (already recorded)`);
        const stats = await server.stats();
        assert.equal(stats.campaignId, CAMPAIGN_ID);
        assert.deepEqual(stats.prizes.map((p) => [p.id, p.remaining]), [[PRIZE.id, 0]]);
        assert.equal(stats.winners, 1);
      });
    });
  });
}
