// The Herald dashboard: polls /api/stats and /api/topics of every node it is
// shown (?nodes=http://a:8080,http://b:8080; by default this node), draws the
// totals as small live charts, tails a topic or pattern through herald.js,
// and publishes through POST /api/publish; the tail and the publish form use
// the first node listed that answers, so a dead node does not stop them. An
// API key, when the node asks for one, is kept in sessionStorage: this tab
// only.
import { Herald } from './herald.js';

const POLL_MS = 2000;
const POINTS = 60; // two minutes of history per chart
const TAIL_MAX = 200;
const KEY_STORAGE = 'herald.apiKey';

const $ = (id) => document.getElementById(id);
const series = { connections: [], subscriptions: [], topics: [], in: [], out: [] };
const previous = new Map(); // node base URL -> {at, in, out}
let nodes = readNodes();
let pollTimer = 0;
let waitingForKey = false;

// ---- the API ----

class AuthRequired extends Error {}

class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(base, path, init = {}) {
  const headers = { ...init.headers };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers.Authorization = 'Bearer ' + key;
  let res;
  try {
    res = await fetch(base + path, { ...init, headers, cache: 'no-store' });
  } catch {
    // fetch says no more than this: the node is down, or (another node)
    // it does not allow this page's origin.
    throw new APIError(0, base ? 'unreachable, or no CORS for this page' : 'unreachable');
  }
  if (res.status === 401) throw new AuthRequired('API key required');
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new APIError(res.status, body?.error?.message || `${res.status} ${res.statusText}`);
  return body;
}

// ---- nodes ----

function readNodes() {
  const list = new URLSearchParams(location.search).get('nodes') || '';
  const bases = list.split(',').map((s) => s.trim().replace(/\/+$/, '')).filter(Boolean);
  $('nodes-input').value = bases.join(', ');
  return bases.length ? bases : [''];
}

$('nodes-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const url = new URL(location.href);
  const value = $('nodes-input').value.trim();
  if (value) url.searchParams.set('nodes', value);
  else url.searchParams.delete('nodes');
  history.replaceState(null, '', url);
  nodes = readNodes();
  previous.clear();
  for (const s of Object.values(series)) s.length = 0;
  pollNow();
});

// ---- polling ----

function pollNow() {
  clearTimeout(pollTimer);
  poll().finally(() => {
    if (!waitingForKey) pollTimer = setTimeout(pollNow, POLL_MS);
  });
}

async function poll() {
  const results = await Promise.allSettled(nodes.map(async (base) => {
    const [stats, topics] = await Promise.all([api(base, '/api/stats'), api(base, '/api/topics')]);
    return { base, stats, topics: topics.topics || [] };
  }));
  if (results.some((r) => r.status === 'rejected' && r.reason instanceof AuthRequired)) {
    askForKey();
    return;
  }
  const up = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
  const down = results.map((r, i) => (r.status === 'rejected' ? { base: nodes[i], error: r.reason } : null)).filter(Boolean);
  for (const n of up) n.rates = rates(n.base, n.stats);
  renderBanner(down);
  renderStatus(up.length, nodes.length);
  renderTotals(up);
  renderNodes(up, down);
  renderTopics(up);
}

// rates turns the message counters into per-second rates since the last poll.
function rates(base, stats) {
  const now = performance.now();
  const last = previous.get(base);
  previous.set(base, { at: now, in: stats.messages_in, out: stats.messages_out });
  if (!last) return { in: 0, out: 0 };
  const seconds = (now - last.at) / 1000;
  // A counter that went down means the node restarted: no rate this time.
  const per = (a, b) => (a >= b && seconds > 0 ? (a - b) / seconds : 0);
  return { in: per(stats.messages_in, last.in), out: per(stats.messages_out, last.out) };
}

// ---- rendering ----

function renderBanner(down) {
  const banner = $('banner');
  const forbidden = down.some((d) => d.error.status === 403);
  banner.hidden = !forbidden;
  banner.textContent = forbidden
    ? 'A node refused this page (403). With no API keys configured, Herald answers only callers on its own machine: set HERALD_API_KEYS to use the dashboard from elsewhere.'
    : '';
}

function renderStatus(upCount, total) {
  const pill = $('poll-status');
  pill.textContent = total === 1 ? (upCount ? 'live' : 'unreachable') : `${upCount} / ${total} nodes`;
  pill.className = 'pill ' + (upCount === total ? 'ok' : upCount ? 'warn' : 'bad');
}

function renderTotals(up) {
  const sum = (f) => up.reduce((acc, n) => acc + f(n), 0);
  const totals = {
    connections: sum((n) => n.stats.connections),
    subscriptions: sum((n) => n.stats.subscriptions),
    topics: sum((n) => n.stats.topics),
    in: sum((n) => n.rates.in),
    out: sum((n) => n.rates.out),
  };
  for (const [name, value] of Object.entries(totals)) {
    const s = series[name];
    s.push(value);
    if (s.length > POINTS) s.shift();
    $('stat-' + name).textContent = formatNumber(value);
    drawSpark($('spark-' + name), s);
  }
}

function renderNodes(up, down) {
  const rows = up.map((n) => row([
    n.stats.node, n.base || location.origin, formatDuration(n.stats.uptime_s),
    num(n.stats.connections), num(n.stats.subscriptions), num(n.stats.topics),
    num(n.rates.in), num(n.rates.out), badge('up', 'ok'),
  ]));
  for (const d of down) {
    rows.push(row(['–', d.base || location.origin, '–', '', '', '', '', '', badge(d.error.message, 'bad')]));
  }
  $('nodes-table').tBodies[0].replaceChildren(...rows);
}

function renderTopics(up) {
  const counts = new Map();
  for (const n of up) {
    for (const t of n.topics) counts.set(t.topic, (counts.get(t.topic) || 0) + t.subscribers);
  }
  const sorted = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const rows = sorted.map(([topic, subs]) => {
    const tr = row([topic, num(subs)]);
    tr.title = 'Tail this topic';
    tr.classList.add('clickable');
    tr.addEventListener('click', () => { $('tail-pattern').value = topic; });
    return tr;
  });
  if (!rows.length) rows.push(row([empty('No subscribers yet')]));
  $('topics-table').tBodies[0].replaceChildren(...rows);
}

// row builds a table row; a string cell is text, a Node is put in as it is.
function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const td = document.createElement('td');
    if (cell instanceof Node) td.append(cell);
    else td.textContent = cell;
    if (cell?.numeric) td.className = 'num';
    tr.append(td);
  }
  return tr;
}

function num(value) {
  const span = document.createElement('span');
  span.textContent = formatNumber(value);
  span.numeric = true;
  return span;
}

function badge(text, kind) {
  const span = document.createElement('span');
  span.className = 'pill ' + kind;
  span.textContent = text;
  return span;
}

function empty(text) {
  const span = document.createElement('span');
  span.className = 'hint';
  span.textContent = text;
  return span;
}

// drawSpark draws values as a line over a filled area, scaled to the largest
// and stretched over the width (a single value is a flat line).
function drawSpark(svg, values) {
  const w = 160, h = 36, pad = 2;
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const max = Math.max(1, ...values);
  const shown = values.length === 1 ? [values[0], values[0]] : values;
  const step = w / (shown.length - 1);
  const x0 = 0;
  const points = shown.map((v, i) => `${(x0 + i * step).toFixed(1)},${(h - pad - (v / max) * (h - 2 * pad)).toFixed(1)}`);
  const ns = 'http://www.w3.org/2000/svg';
  const area = document.createElementNS(ns, 'polygon');
  area.setAttribute('class', 'area');
  area.setAttribute('points', `${x0.toFixed(1)},${h} ${points.join(' ')} ${w},${h}`);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('class', 'line');
  line.setAttribute('points', points.join(' '));
  svg.replaceChildren(area, line);
}

function formatNumber(v) {
  if (typeof v !== 'number' || !isFinite(v)) return '–';
  if (v >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (v >= 1e4) return (v / 1e3).toFixed(1) + 'k';
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function formatDuration(s) {
  if (typeof s !== 'number') return '–';
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return m ? `${m}m ${Math.floor(s % 60)}s` : `${Math.floor(s)}s`;
}

// ---- the API key ----

function askForKey() {
  waitingForKey = true;
  const pill = $('poll-status');
  pill.textContent = 'key needed';
  pill.className = 'pill warn';
  const dialog = $('key-dialog');
  if (!dialog.open) {
    $('key-input').value = '';
    dialog.showModal();
  }
}

$('key-form').addEventListener('submit', () => {
  const key = $('key-input').value.trim();
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  waitingForKey = false;
  pollNow();
});

$('key-forget').addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORAGE);
  $('key-dialog').close();
  waitingForKey = false;
  pollNow();
});

$('key-button').addEventListener('click', () => {
  $('key-input').value = sessionStorage.getItem(KEY_STORAGE) || '';
  $('key-dialog').showModal();
});

// ---- publish ----

$('publish-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const out = $('publish-result');
  let data;
  try {
    data = JSON.parse($('publish-data').value);
  } catch (err) {
    return show(out, 'Data is not JSON: ' + err.message, 'bad');
  }
  const body = { topic: $('publish-topic').value.trim(), data };
  const key = $('publish-key').value.trim();
  if (key) body.idempotency_key = key;
  try {
    const r = await publishToAny(body);
    show(out, `Published to ${r.topic}: seq ${r.seq}`, 'ok');
  } catch (err) {
    if (err instanceof AuthRequired) askForKey();
    show(out, err.message, 'bad');
  }
});

// publishToAny publishes through the first node shown that can be reached:
// any node of a cluster will do, and one of them may be down. A node that
// answers with an error is not passed over: the next would say the same.
async function publishToAny(body) {
  const init = { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
  for (const [i, base] of nodes.entries()) {
    try {
      return await api(base, '/api/publish', init);
    } catch (err) {
      if (!(err instanceof APIError) || err.status !== 0 || i === nodes.length - 1) throw err;
    }
  }
}

function show(el, text, kind) {
  el.textContent = text;
  el.className = kind;
}

// ---- live tail ----

let tail = null; // {client, sub}

$('tail-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  stopTail();
  const pattern = $('tail-pattern').value.trim();
  const token = $('tail-token').value.trim();
  // Every node shown may serve the tail: when one dies it moves to the next.
  const urls = nodes.slice(1).map((base) => base + '/ws');
  const client = new Herald(nodes[0] + '/ws', token ? { token, urls } : { urls });
  client.on('state', (state, info) => {
    setTailState(state);
    // The node refused the tail for good (a bad token, this page's origin).
    if (state === 'stopped') { tailNotice(`Stopped: ${info.error?.message || info.reason}`, 'warn'); stopTail(); }
  });
  client.on('error', (err) => tailNotice(err.status ? `Refused by the node (${err.status} ${err.code}): ${err.message}`
    : `${err.code}: ${err.message}`, 'warn'));
  const sub = client.subscribe(pattern, addTailMessage, {
    onRecoveryFailed: () => tailNotice('Reconnected: messages may be missing', 'warn'),
    onError: (err) => { tailNotice(`Subscribe refused: ${err.code}: ${err.message}`, 'warn'); stopTail(); },
  });
  sub.ready.then(() => tailNotice(`Subscribed to ${pattern}`, 'info'), () => {});
  client.connect();
  tail = { client, sub };
  $('tail-stop').disabled = false;
});

$('tail-stop').addEventListener('click', stopTail);
$('tail-clear').addEventListener('click', () => $('tail').replaceChildren());

function stopTail() {
  if (!tail) return;
  tail.client.close();
  tail = null;
  $('tail-stop').disabled = true;
  setTailState('stopped');
}

function setTailState(state) {
  const pill = $('tail-state');
  pill.textContent = state;
  pill.className = 'pill ' + ({ connected: 'ok', connecting: 'warn', disconnected: 'bad', stopped: 'bad' }[state] || '');
}

function addTailMessage(m) {
  const li = document.createElement('li');
  li.className = 'msg';
  li.dataset.topic = m.topic;
  li.dataset.seq = m.seq;
  const d = new Date(m.time);
  const time = d.toTimeString().slice(0, 8) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  li.append(span('time', time), span('topic', m.topic), span('seq', '#' + m.seq), span('data', JSON.stringify(m.data)));
  prependTail(li);
}

function tailNotice(text, kind) {
  const li = document.createElement('li');
  li.className = 'notice ' + kind;
  li.textContent = text;
  prependTail(li);
}

function prependTail(li) {
  const list = $('tail');
  list.prepend(li);
  while (list.children.length > TAIL_MAX) list.lastChild.remove();
}

function span(cls, text) {
  const s = document.createElement('span');
  s.className = cls;
  s.textContent = text;
  return s;
}

pollNow();
