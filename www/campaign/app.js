// The campaign page's own code: starts the campaign-token module with this page's settings,
// shows the verification verdict, and submits a participation to the allocation server.
// The module fills the prize variables and sets `data-token-eligibility` on <html>; this file
// only reflects the session's state in the status line and the participate button.
import { init } from '/pkg/index.js';
import * as config from './config.js';

const $ = (id) => document.getElementById(id);
const statusEl = $('status');
const codeEl = $('status-code');
const button = $('participate');
const outcomeEl = $('outcome');

/** Set once the server has recorded this token's participation: one entry per invitation. */
let participated = false;

const VERDICTS = {
  'given-prize': 'verified — a prize was chosen for you',
  'any-prize': 'verified — eligible for any prize',
  standard: 'verified — standard entry',
  'cannot-win': 'verified — not eligible for a prize',
};

function showCode(code) {
  codeEl.hidden = !code;
  codeEl.textContent = code ?? '';
}

function render({ result, error }) {
  if (result) {
    statusEl.dataset.state = 'valid';
    statusEl.textContent = VERDICTS[result.eligibility] ?? `verified (${result.eligibility})`;
    showCode(null);
  } else if (error && error.code !== 'no_token') {
    statusEl.dataset.state = 'invalid';
    statusEl.textContent = 'not verified';
    showCode(error.code ?? 'error');
  } else {
    statusEl.dataset.state = 'none';
    statusEl.textContent = 'no invitation token';
    showCode(null);
  }
  // Only a verified token can take part; the server verifies it again and decides.
  participated = false;
  button.textContent = 'Take part';
  button.disabled = !result;
  outcomeEl.hidden = true;
  outcomeEl.textContent = '';
  delete outcomeEl.dataset.outcome;
}

function showOutcome(kind, text) {
  outcomeEl.hidden = false;
  outcomeEl.dataset.outcome = kind;
  outcomeEl.textContent = text;
}

async function participate(session) {
  button.disabled = true;
  button.textContent = 'Sending…';
  try {
    // The form's fields (prefilled from the token's `form` / `optin`, then the visitor's).
    const r = await session.participate({
      email: $('entry-email').value,
      newsletter: $('entry-newsletter').checked,
    });
    switch (r.outcome) {
      case 'won':
        showOutcome('won', `You won ${r.prize?.label ?? 'a prize'}!${r.replayed ? ' (already recorded)' : ''}`);
        break;
      case 'lost':
        showOutcome('lost', 'Not this time — thank you for taking part.');
        break;
      case 'entered-draw':
        showOutcome('entered-draw', 'You are entered in the final draw. Good luck!');
        break;
      case 'not-eligible':
        showOutcome('not-eligible', 'Your participation is recorded, but this invitation is not eligible for a prize.');
        break;
      default:
        showOutcome('unknown', `Participation recorded (${r.outcome}).`);
    }
    outcomeEl.dataset.participationId = r.participationId ?? '';
    participated = true;
  } catch (err) {
    showOutcome('error', `Participation failed: ${err?.code ?? err?.message ?? err}`);
    outcomeEl.dataset.code = err?.code ?? 'error';
  } finally {
    button.textContent = participated ? 'Entry recorded' : 'Take part';
    button.disabled = participated || !session.result;
  }
}

async function main() {
  let session;
  try {
    session = await init({
      campaignId: config.campaignId,
      keys: config.keys,
      allowedOrigins: config.allowedOrigins ?? [],
      defaultPrizeLabel: config.defaultPrizeLabel,
      endpoint: config.endpoint,
      root: '#campaign',
    });
  } catch (err) {
    // The module could not start (e.g. a CSP without 'wasm-unsafe-eval'): reveal the
    // page's standard content and say why, rather than leaving it hidden.
    document.documentElement.dataset.tokenModule = 'failed';
    statusEl.dataset.state = 'failed';
    statusEl.textContent = 'verification unavailable';
    showCode(err?.code ?? err?.name ?? 'module_failed');
    console.warn('campaign-token did not start:', err);
    return;
  }
  document.documentElement.dataset.tokenModule = 'ready';
  // subscribe() calls render at once with the current state, then on every change.
  session.subscribe(render);
  button.addEventListener('click', () => participate(session));
  // Enter in a field does not leave the page: the button takes part.
  $('entry').addEventListener('submit', (event) => event.preventDefault());
  // For debugging from the console and for the end-to-end tests.
  window.campaignSession = session;
}

main();
