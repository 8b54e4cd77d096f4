// The operator console: a thin client of the documented operator API (docs/server.md).
// The operator token lives in sessionStorage and leaves the page only as an
// `Authorization: Bearer` header: never in a URL, a cookie or a log line.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';

const TOKEN_KEY = 'campaign-token:operator-token';
const BY_KEY = 'campaign-token:operator-name';
const REFRESH_MS = 10_000;
const OUTCOMES = ['won', 'lost', 'entered-draw', 'not-eligible'];
const COLOURS = { won: '#2b8a3e', lost: '#868e96', 'entered-draw': '#3b5bdb', 'not-eligible': '#e67700' };

const $ = (id) => document.getElementById(id);
const state = { campaigns: [], campaign: null, stats: null, winners: [], sort: { key: 'wonAt', dir: -1 }, chart: null, timer: null, tab: 'overview' };

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, { method = 'GET', body, raw = false } = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
  if (!res.ok) {
    let code = 'http_' + res.status, message = res.statusText;
    try { const e = (await res.json()).error; code = e.code; message = e.message; } catch { /* not JSON */ }
    if (res.status === 401) { signOut('The server refused this operator token (401 unauthorized). Check the token and sign in again.'); }
    throw new ApiError(res.status, code, message);
  }
  return raw ? res : res.json();
}

const enc = encodeURIComponent;
const cpath = (rest = '') => `/api/campaigns/${enc(state.campaign.campaignId)}${rest}`;
const by = () => sessionStorage.getItem(BY_KEY) || 'operator';
const fmtTime = (s) => new Date(s * 1000).toISOString().replace('.000Z', 'Z').replace('T', ' ');

function show(el, text) { el.textContent = text; el.hidden = !text; }
function showError(e) { show($('error'), e ? `${e.message}${e.code ? ` (${e.code})` : ''}` : ''); }
function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v; else if (k === 'dataset') Object.assign(e.dataset, v); else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c));
  return e;
}
function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: name });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ---- sign-in ----------------------------------------------------------------------------
function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(state.timer);
  $('console').hidden = true; $('sign-out').hidden = true; $('sign-in-view').hidden = false;
  show($('sign-in-error'), message || '');
}

async function signIn() {
  $('sign-in-view').hidden = true; $('console').hidden = false; $('sign-out').hidden = false;
  const { campaigns } = await api('/api/campaigns');
  state.campaigns = campaigns;
  const select = $('campaign');
  select.replaceChildren(...campaigns.map((c) => el('option', { value: c.campaignId }, c.campaignId)));
  await selectCampaign(campaigns[0]?.campaignId);
}

$('sign-in').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const token = $('token').value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(BY_KEY, $('by').value.trim());
  $('token').value = '';
  try { await signIn(); show($('sign-in-error'), ''); } catch (e) { if (e.status !== 401) { signOut(`Cannot reach the server: ${e.message}`); } }
});
$('sign-out').addEventListener('click', () => signOut(''));

// ---- campaign and tabs ------------------------------------------------------------------
async function selectCampaign(id) {
  state.campaign = state.campaigns.find((c) => c.campaignId === id) || null;
  if (!state.campaign) return;
  $('campaign').value = id;
  // Nothing of the previous campaign's draw stays on screen (the form opens only once this
  // campaign's fairness says it has ended and is not drawn).
  $('draw').hidden = true; $('draw-result').hidden = true; $('draw-source').textContent = '';
  clearInterval(state.timer);
  state.timer = setInterval(() => { if (state.stats?.status === 'running') refresh().catch(showError); }, REFRESH_MS);
  await refresh();
}
$('campaign').addEventListener('change', (ev) => selectCampaign(ev.target.value).catch(showError));

for (const b of document.querySelectorAll('[data-tab]')) {
  b.addEventListener('click', () => openTab(b.dataset.tab).catch(showError));
}
async function openTab(tab) {
  state.tab = tab;
  for (const b of document.querySelectorAll('[data-tab]')) b.setAttribute('aria-selected', String(b.dataset.tab === tab));
  for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== `tab-${tab}`;
  await refresh();
}

// Refreshes overlap (sign-in, the campaign menu, a tab, the 10 s timer): only the newest one's
// answers are drawn, so a slow answer for another campaign or tab never lands on the page.
let refreshes = 0;
async function refresh() {
  const mine = ++refreshes;
  showError(null);
  const stats = await api(cpath('/stats'));
  if (mine !== refreshes) return;
  state.stats = stats;
  const s = state.stats;
  show($('status'), s.status);
  $('window').textContent = `${fmtTime(s.start)} → ${fmtTime(s.end)} · ${s.type}`;
  if (state.tab === 'overview') await renderOverview();
  else if (state.tab === 'winners') await loadWinners();
  else if (state.tab === 'draw') await renderDraw();
  else if (state.tab === 'audit') await renderAudit();
}

// ---- overview ---------------------------------------------------------------------------
function numbers(dl, pairs) {
  dl.replaceChildren(...pairs.map(([k, v]) => el('div', { dataset: { key: k } }, el('dt', {}, k), el('dd', {}, v))));
}

async function renderOverview() {
  const s = state.stats;
  numbers($('outcomes'), [['participations', s.participations], ['participants', s.participants], ...OUTCOMES.map((o) => [o, s.outcomes?.[o] ?? 0]), ['winners', s.winners]]);
  $('stock').replaceChildren(...s.prizes.map((p) => el('li', { dataset: { prize: p.id } },
    el('span', {}, p.name),
    el('progress', { max: p.quantity, value: p.remaining, title: `${p.remaining} of ${p.quantity} left` }),
    el('span', { class: 'remaining' }, `${p.remaining} / ${p.quantity}`))));
  const sel = $('stock-prize'); const keep = sel.value;
  sel.replaceChildren(...s.prizes.map((p) => el('option', { value: p.id }, p.name)));
  if (keep) sel.value = keep;
  const instant = s.type === 'instant';
  $('moments-block').hidden = !instant;
  if (instant) numbers($('moments'), [['claimed', s.claimedMoments ?? 0], ['unclaimed', s.unclaimedMoments ?? 0]]);
  await renderChart();
  $('refreshed').textContent = `Updated ${new Date().toLocaleTimeString()}${s.status === 'running' ? ', refreshed every 10 s while the campaign runs' : ''}.`;
}

let charts = 0;
async function renderChart() {
  const mine = ++charts;
  const bucket = $('bucket').value;
  const { series } = await api(cpath(`/timeseries?bucket=${enc(bucket)}`));
  // Two renders can overlap (a refresh and the bucket menu): only the newest draws, so the box
  // never holds two charts.
  if (mine !== charts) return;
  // The old chart goes first: the new one is sized on the empty box, at today's width.
  const box = $('chart');
  if (state.chart) { state.chart.destroy(); state.chart = null; }
  box.replaceChildren();
  $('chart-empty').hidden = series.length > 0;
  const step = { minute: 60, hour: 3600, day: 86400 }[bucket];
  const xs = series.map((p) => p.at);
  const lo = xs.length ? xs[0] - step : Math.floor(Date.now() / 1000) - step;
  const hi = xs.length ? xs[xs.length - 1] + step : Math.floor(Date.now() / 1000) + step;
  // Stacked bars: each series is drawn at the running total up to its outcome, tallest
  // first, so every outcome shows as its own band; the legend shows the outcome's own count.
  const order = OUTCOMES.slice().reverse();
  const own = Object.fromEntries(OUTCOMES.map((o) => [o, series.map((p) => p[o] ?? 0)]));
  const stacked = order.map((o) => series.map((p) => OUTCOMES.slice(0, OUTCOMES.indexOf(o) + 1).reduce((n, k) => n + (p[k] ?? 0), 0)));
  const data = [xs, ...stacked];
  const opts = {
    width: chartWidth(), height: 240,
    scales: { x: { time: true, range: () => [lo, hi] }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    series: [{}, ...order.map((o) => ({
      label: o, stroke: COLOURS[o], fill: COLOURS[o], width: 1, points: { show: false },
      paths: uPlot.paths.bars({ size: [0.8, 40] }),
      value: (u, v, si, i) => (i == null ? '--' : own[o][i]),
    }))],
    axes: [{}, { size: 40 }],
  };
  state.chart = new uPlot(opts, data, box);
}
// The chart follows the page's width (an empty #chart measures what is available).
function chartWidth() { return Math.max(240, $('chart').clientWidth - 2); }
let resizing;
window.addEventListener('resize', () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => {
    if (!state.chart) return;
    const canvas = $('chart').firstChild; canvas.hidden = true;
    state.chart.setSize({ width: chartWidth(), height: 240 }); canvas.hidden = false;
  }, 100);
});
$('bucket').addEventListener('change', () => renderChart().catch(showError));

$('add-stock').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const prize = $('stock-prize').value; const add = Number($('stock-add').value);
  try {
    const { prize: p } = await api(cpath(`/prizes/${enc(prize)}/stock`), { method: 'POST', body: { add, by: by() } });
    show($('stock-result'), `Added ${add} to ${p.name}: ${p.remaining} of ${p.quantity} left.`);
    await refresh();
  } catch (e) { showError(e); }
});

// ---- winners ----------------------------------------------------------------------------
async function loadWinners() {
  const { winners } = await api(cpath('/winners'));
  state.winners = winners;
  renderWinners();
}

function renderWinners() {
  const q = $('winner-search').value.trim().toLowerCase();
  const { key, dir } = state.sort;
  const val = (w) => key === 'prize' ? w.prize.label : key === 'how' ? (w.drawn ? 'drawn' : 'instant') : w[key];
  const rows = state.winners
    .filter((w) => !q || w.sub.toLowerCase().includes(q) || w.participationId.toLowerCase().includes(q))
    .sort((a, b) => { const x = val(a), y = val(b); return (x < y ? -1 : x > y ? 1 : 0) * dir; });
  const canDisqualify = state.stats?.type === 'draw' && state.stats?.draw;
  $('winners').tBodies[0].replaceChildren(...rows.map((w) => el('tr', { dataset: { participation: w.participationId } },
    el('td', {}, el('code', {}, w.participationId)), el('td', {}, w.sub), el('td', {}, w.prize.label),
    el('td', {}, fmtTime(w.wonAt)), el('td', {}, w.drawn ? 'drawn' : 'instant'),
    el('td', {}, canDisqualify && w.drawn ? disqualifyButton(w.participationId) : ''))));
  $('winners-count').textContent = `${rows.length} of ${state.winners.length} winners`;
}
function disqualifyButton(id) {
  const b = el('button', { type: 'button', class: 'disqualify' }, 'Disqualify');
  b.addEventListener('click', () => { $('disqualify-id').textContent = id; $('disqualify-reason').value = ''; $('disqualify-dialog').showModal(); });
  return b;
}
$('winner-search').addEventListener('input', renderWinners);
for (const b of document.querySelectorAll('[data-sort]')) {
  b.addEventListener('click', () => {
    const key = b.dataset.sort;
    state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
    renderWinners();
  });
}
$('csv').addEventListener('click', async () => {
  try {
    const res = await api(cpath('/winners.csv'), { raw: true });
    download(`${state.campaign.campaignId}-winners.csv`, await res.blob());
  } catch (e) { showError(e); }
});
$('disqualify-cancel').addEventListener('click', () => $('disqualify-dialog').close());
$('disqualify').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const id = $('disqualify-id').textContent; const reason = $('disqualify-reason').value.trim();
  $('disqualify-dialog').close();
  try {
    const r = await api(cpath(`/winners/${enc(id)}/disqualify`), { method: 'POST', body: { reason, by: by() } });
    const repl = r.winners?.length ? `replacement: ${r.winners.map((w) => w.participationId).join(', ')}` : `no replacement${r.returnedToStock ? `; one ${r.returnedToStock} returned to stock` : ''}`;
    show($('disqualify-result'), `Disqualified ${id}; ${repl}.`);
    await refresh();
  } catch (e) { showError(e); }
});

// ---- draw -------------------------------------------------------------------------------
async function renderDraw() {
  const campaign = state.campaign;
  const isDraw = state.stats.type === 'draw';
  $('draw-not-draw').hidden = isDraw; $('draw-block').hidden = !isDraw;
  if (!isDraw) return;
  const f = await (await fetch(cpath('/fairness'), { cache: 'no-store', credentials: 'omit' })).json();
  // Another campaign was chosen meanwhile: its own render draws the tab.
  if (campaign !== state.campaign) return;
  state.fairness = f;
  $('draw-source').textContent = f.draw.publicSource ?? '(none configured: set draw_public_source)';
  $('draw-commitment').textContent = f.draw.secretCommitment ?? '';
  const ended = state.stats.status === 'ended';
  const record = f.draw.record;
  $('draw').hidden = !ended || !!record;
  $('draw-wait').hidden = ended;
  $('draw-result').hidden = !record;
  if (record) showRecord(record, f.draw.secretCommitment);
}

function showRecord(record, commitment) {
  const list = record.winners ?? [];
  $('draw-winners').replaceChildren(...list.map((w) => el('li', {}, typeof w === 'string' ? w : JSON.stringify(w))));
  if (!list.length) $('draw-winners').replaceChildren(el('li', {}, 'no winner (no candidate)'));
  $('draw-record').textContent = JSON.stringify(record, null, 2);
  const file = `${state.campaign.campaignId}-draw.json`;
  $('draw-verify').textContent = `campaign-token verify-draw ${file} --secret-commitment ${commitment}`;
}

$('draw').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    await api(cpath('/draw'), { method: 'POST', body: { publicValue: $('draw-value').value, by: by() } });
    await refresh();
  } catch (e) { showError(e); }
});
$('draw-download').addEventListener('click', () => {
  const record = state.fairness?.draw?.record;
  if (record) download(`${state.campaign.campaignId}-draw.json`, new Blob([JSON.stringify(record)], { type: 'application/json' }));
});

// ---- data -------------------------------------------------------------------------------
$('erase').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    const { erased } = await api(cpath('/erasure'), { method: 'POST', body: { sub: $('erase-sub').value, by: by() } });
    $('erase-sub').value = '';
    show($('erase-result'), `Erased: ${erased} participation${erased === 1 ? '' : 's'} now carry a keyed hash instead of the sub, without answers.`);
  } catch (e) { showError(e); }
});

// ---- audit ------------------------------------------------------------------------------
async function renderAudit() {
  const { entries } = await api(cpath('/audit'));
  $('audit').tBodies[0].replaceChildren(...entries.slice().reverse().map((e) => el('tr', {},
    el('td', {}, e.seq), el('td', {}, fmtTime(e.at)), el('td', {}, e.operator ?? ''), el('td', {}, e.action),
    el('td', {}, el('code', {}, JSON.stringify(e.details))))));
}

// ---- start ------------------------------------------------------------------------------
if (sessionStorage.getItem(TOKEN_KEY)) {
  signIn().catch((e) => { if (e.status !== 401) signOut(`Cannot reach the server: ${e.message}`); });
}
