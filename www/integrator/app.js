// The brand's page: embeds the campaign (another origin) in an iframe and hands it a token
// with the package's integrator helper. Tokens come from this page's generated config.js
// (in production, from the brand's backend for the signed-in member).
import { sendToken } from '/pkg/integrator.js';
import { campaignOrigin, tokens } from './config.js';

const iframe = document.getElementById('campaign');
const casesEl = document.getElementById('cases');
const linksEl = document.getElementById('links');
const logEl = document.getElementById('log');
const lastEl = document.getElementById('last-result');

function log(text) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  logEl.prepend(li);
}

// Every message the campaign frame posts to us, as the integrator sees it. Only messages
// from the campaign's origin and from our own iframe count.
window.addEventListener('message', (event) => {
  if (event.origin !== campaignOrigin || event.source !== iframe.contentWindow) return;
  const data = event.data;
  if (!data || typeof data.type !== 'string' || !data.type.startsWith('campaign-token')) return;
  log(`← ${JSON.stringify(data)}`);
  if (data.type === 'campaign-token:ready') document.documentElement.dataset.campaignReady = 'true';
});

function showResult(name, result) {
  lastEl.dataset.state = result.ok ? 'ok' : 'error';
  lastEl.dataset.case = name;
  lastEl.dataset.result = result.ok ? result.eligibility : result.code;
  lastEl.textContent = result.ok
    ? `${name}: accepted — ${result.eligibility}`
    : `${name}: rejected — ${result.code}`;
}

// One token at a time, so that the log and the last result read in click order (each
// sendToken call would get its own answer anyway: it matches the reply by request id).
let queue = Promise.resolve();
function send(name) {
  queue = queue.then(() => sendOne(name));
  return queue;
}

async function sendOne(name) {
  const token = tokens[name];
  for (const b of casesEl.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.case === name));
  log(`→ token "${name}"`);
  lastEl.dataset.state = 'pending';
  lastEl.dataset.case = name;
  delete lastEl.dataset.result;
  lastEl.textContent = `${name}: waiting for the campaign…`;
  try {
    showResult(name, await sendToken(iframe, token, { targetOrigin: campaignOrigin, timeoutMs: 15000 }));
  } catch (err) {
    lastEl.dataset.state = 'error';
    lastEl.dataset.case = name;
    lastEl.dataset.result = err?.code ?? 'error';
    lastEl.textContent = `${name}: no answer — ${err?.code ?? err?.message ?? err}`;
    log(`✗ ${err?.message ?? err}`);
  }
}

for (const name of Object.keys(tokens)) {
  const button = document.createElement('button');
  button.type = 'button';
  button.dataset.case = name;
  button.textContent = name;
  button.addEventListener('click', () => send(name));
  casesEl.append(button);

  const li = document.createElement('li');
  const q = document.createElement('a');
  q.href = `${campaignOrigin}/?token=${encodeURIComponent(tokens[name])}`;
  q.target = '_blank';
  q.rel = 'noopener noreferrer';
  q.textContent = `${name} (query)`;
  const f = document.createElement('a');
  f.href = `${campaignOrigin}/#token=${encodeURIComponent(tokens[name])}`;
  f.target = '_blank';
  f.rel = 'noopener noreferrer';
  f.textContent = 'fragment';
  li.append(q, ' · ', f);
  linksEl.append(li);
}

iframe.src = `${campaignOrigin}/`;

// `#send=<case>` sends that token as soon as the campaign is ready (a shareable demo link).
const auto = new URLSearchParams(location.hash.slice(1)).get('send');
if (auto && tokens[auto]) send(auto);
