// The three browser engines the module is tested in, each driven over W3C WebDriver with
// `selenium-webdriver` (Playwright cannot drive Debian's stock Firefox ESR or WebKitGTK):
//   chromium — Debian's Chromium + chromedriver (Blink, BoringSSL WebCrypto)
//   firefox  — Debian's Firefox ESR + geckodriver from crates.io (Gecko, NSS WebCrypto)
//   webkit   — WebKitGTK's WebKitWebDriver + MiniBrowser (Safari's engine, libgcrypt WebCrypto;
//              it has no headless mode: scripts/test-engines.sh runs it under Xvfb)
// Each driver is started here on a free loopback port and stopped with the session.
// ENGINES=firefox,webkit limits the list.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { Builder } from 'selenium-webdriver';

export const ALL_ENGINES = ['chromium', 'firefox', 'webkit'];

export function enginesToTest() {
  const wanted = (process.env.ENGINES || ALL_ENGINES.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  for (const e of wanted) if (!ALL_ENGINES.includes(e)) throw new Error(`unknown engine ${e} (ENGINES=${process.env.ENGINES})`);
  return wanted;
}

const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
  '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];

function spec(engine) {
  switch (engine) {
    case 'chromium':
      return {
        driver: process.env.CHROMEDRIVER || '/usr/bin/chromedriver',
        capabilities: {
          browserName: 'chrome',
          'goog:chromeOptions': { binary: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS },
        },
      };
    case 'firefox':
      return {
        driver: process.env.GECKODRIVER || 'geckodriver',
        capabilities: {
          browserName: 'firefox',
          'moz:firefoxOptions': {
            binary: process.env.FIREFOX || '/usr/bin/firefox-esr',
            args: ['-headless'],
            // No update checks, telemetry or remote settings: the machine's network is closed.
            prefs: {
              'app.update.enabled': false, 'datareporting.policy.dataSubmissionEnabled': false,
              'toolkit.telemetry.enabled': false, 'browser.safebrowsing.malware.enabled': false,
              'browser.safebrowsing.phishing.enabled': false, 'network.captive-portal-service.enabled': false,
            },
          },
        },
      };
    case 'webkit':
      // WebKitWebDriver starts MiniBrowser in automation mode when no binary is named.
      return { driver: process.env.WEBKITDRIVER || 'WebKitWebDriver', capabilities: { browserName: 'MiniBrowser' } };
    default:
      throw new Error(`unknown engine ${engine}`);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function waitForDriver(url, child, log) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`the WebDriver exited (${child.exitCode}):\n${log.join('')}`);
    try {
      const r = await fetch(`${url}/status`);
      if (r.ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the WebDriver at ${url} never answered:\n${log.join('')}`);
}

/** Starts the engine's WebDriver and a browser session: `{ engine, driver, quit() }`. */
export async function openEngine(engine) {
  const { driver: bin, capabilities } = spec(engine);
  const port = await freePort();
  const log = [];
  const child = spawn(bin, [`--port=${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => log.push(String(d)));
  child.stderr.on('data', (d) => log.push(String(d)));
  const spawned = new Promise((resolve, reject) => { child.once('spawn', resolve); child.once('error', reject); });
  const backstop = () => child.kill('SIGKILL');
  process.once('exit', backstop);
  const stopDriver = async () => {
    process.off('exit', backstop);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  };
  try {
    await spawned;
    const url = `http://127.0.0.1:${port}`;
    await waitForDriver(url, child, log);
    const driver = await new Builder().usingServer(url).withCapabilities(capabilities).build();
    await driver.manage().setTimeouts({ script: 30_000, pageLoad: 60_000 });
    const caps = await driver.getCapabilities();
    return {
      engine,
      driver,
      version: `${caps.get('browserName')} ${caps.get('browserVersion')}`,
      async quit() {
        await driver.quit().catch(() => {});
        await stopDriver();
      },
    };
  } catch (err) {
    await stopDriver();
    throw err;
  }
}

/** Polls `fn` in the page (a function of `arg`) until it returns a truthy value. */
export async function waitInPage(driver, fn, arg, what = 'a condition', timeout = 30_000) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await driver.executeScript(`return (${fn})(arguments[0]);`, arg);
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** Runs an async page function `fn(arg)` and returns its result (executeAsyncScript). */
export function runInPage(driver, fn, arg) {
  return driver.executeAsyncScript(
    `const done = arguments[arguments.length - 1];
     Promise.resolve((${fn})(arguments[0])).then((v) => done({ ok: v }), (e) => done({ err: String(e && e.stack || e) }));`,
    arg,
  ).then((r) => { if (r && 'err' in r) throw new Error(r.err); return r?.ok; });
}
