// The Herald dashboard. Any node answers /api/stats for the whole cluster
// (the nodes share their stats through Redis), so the page polls one node,
// the first listed that answers (?nodes=http://a:8080,http://b:8080; by
// default the node that served it), and shows every node, each topic once,
// small live charts of the totals, who is on a presence topic, a history
// browser, a live tail and a publish form (dashboard-presence.js,
// dashboard-history.js, dashboard-tail.js).
import { state, api, AuthRequired, KEY_STORAGE } from './dashboard-api.js';
import { $, row, num, badge, empty, button, drawSpark, formatNumber, formatBytes, formatDuration, formatTime } from './dashboard-ui.js';
import { browseHistory } from './dashboard-history.js';
import { startTail } from './dashboard-tail.js';
import { showMembers } from './dashboard-presence.js';

const POLL_MS = 2000;
const POINTS = 60; // two minutes of history per chart
// A node whose stats are older than this, next to the answering node's,
// missed two posts (every 3 s): it is shown late until they expire.
const LATE_MS = 8000;

const series = { connections: [], subscriptions: [], topics: [], in: [], out: [] };
let pollTimer = 0;
let waitingForKey = false;

state.onAuthRequired = askForKey;
state.nodes = readNodes();

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
  state.nodes = readNodes();
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

// poll asks the nodes in order until one answers; those before it that
// could not be reached are shown as down.
async function poll() {
  const down = [];
  let answer = null;
  for (const base of state.nodes) {
    try {
      answer = { base, stats: await api(base, '/api/stats') };
      break;
    } catch (err) {
      if (err instanceof AuthRequired) return askForKey();
      down.push({ base, error: err });
    }
  }
  const cluster = answer ? clusterOf(answer.stats) : null;
  renderBanner(down, cluster);
  renderStatus(answer, down);
  if (cluster) {
    renderTotals(cluster);
    renderTopics(cluster);
  }
  renderNodes(cluster, answer, down);
}

// clusterOf is the stats' cluster view; a node too old to share its stats
// is shown alone.
function clusterOf(stats) {
  if (stats.cluster) return stats.cluster;
  return {
    nodes: [{ ...stats, at_ms: Date.now() }], topics: [], connections: stats.connections,
    subscriptions: stats.subscriptions, in_per_s: 0, out_per_s: 0,
  };
}

// ---- rendering ----

function renderBanner(down, cluster) {
  const banner = $('banner');
  let text = '';
  if (down.some((d) => d.error.status === 403)) {
    text = 'A node refused this page (403). With no API keys configured, Herald answers only callers on its own machine: set HERALD_API_KEYS to use the dashboard from elsewhere.';
  } else if (cluster?.error) {
    text = cluster.error;
  }
  banner.hidden = !text;
  banner.textContent = text;
}

function renderStatus(answer, down) {
  const pill = $('poll-status');
  const total = state.nodes.length;
  if (!answer) {
    pill.textContent = 'unreachable';
    pill.className = 'pill bad';
  } else {
    pill.textContent = total === 1 ? 'live' : `live via ${answer.base || location.host}`;
    pill.className = 'pill ' + (down.length ? 'warn' : 'ok');
  }
}

function renderTotals(c) {
  const totals = {
    connections: c.connections, subscriptions: c.subscriptions, topics: c.topics.length,
    in: c.in_per_s, out: c.out_per_s,
  };
  for (const [name, value] of Object.entries(totals)) {
    const s = series[name];
    s.push(value);
    if (s.length > POINTS) s.shift();
    $('stat-' + name).textContent = formatNumber(value) + (name === 'topics' && c.topics_cut ? '+' : '');
    drawSpark($('spark-' + name), s);
  }
  $('stat-nodes').textContent = String(c.nodes.length);
  // SSE streams are connections too; shown apart when there are any.
  $('stat-sse').textContent = c.sse_connections ? `(${formatNumber(c.sse_connections)} SSE)` : '';
}

function renderNodes(c, answer, down) {
  const newest = Math.max(0, ...(c?.nodes || []).map((n) => n.at_ms));
  const rows = (c?.nodes || []).map((n) => {
    const late = newest - n.at_ms > LATE_MS;
    const tr = row([
      n.node, n.version || '–', formatDuration(n.uptime_s), num(n.rss_bytes, formatBytes), num(n.heap_bytes, formatBytes),
      num(n.cpu_percent, (v) => formatNumber(v) + ' %'), num(n.connections), num(n.sse_connections), num(n.subscriptions),
      num(n.in_per_s), num(n.out_per_s), late ? badge('late', 'warn') : badge('up', 'ok'),
    ]);
    if (answer && n.node === answer.stats.node) tr.classList.add('answering');
    return tr;
  });
  for (const d of down) {
    rows.push(row([d.base || location.origin, '', '', '', '', '', '', '', '', '', '', badge(d.error.message, 'bad')]));
  }
  $('nodes-table').tBodies[0].replaceChildren(...rows);
}

function renderTopics(c) {
  const rows = c.topics.map((t) => {
    const tr = row([t.topic, num(t.subscribers), num(t.publish_rate),
      num(t.last_seq || undefined), present(t.presence), formatTime(t.last_publish_ms), actions(t)]);
    tr.title = 'Tail this topic';
    tr.classList.add('clickable');
    tr.addEventListener('click', () => { $('tail-pattern').value = t.topic; });
    return tr;
  });
  if (!rows.length) rows.push(row([empty('No subscribers and no publishes yet')]));
  $('topics-table').tBodies[0].replaceChildren(...rows);
  $('topics-cut').hidden = !c.topics_cut;
}

// present is a presence topic's users and connections, cluster-wide.
function present(p) {
  return p ? `${formatNumber(p.users)} ${p.users === 1 ? 'user' : 'users'} · ${formatNumber(p.sessions)}` : '';
}

function actions(t) {
  const cell = document.createElement('span');
  cell.className = 'actions';
  cell.append(button('Tail', () => startTail(t.topic)));
  if (!t.topic.includes('*') && !t.topic.endsWith('>')) cell.append(button('History', () => browseHistory(t.topic)));
  if (t.presence) cell.append(button('Members', () => showMembers(t.topic)));
  return cell;
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

pollNow();
