// The history browser: GET /api/history of one topic, a page of messages
// at a time, from any seq, with the latest page one click away.
import { apiAny, AuthRequired } from './dashboard-api.js';
import { $, row, show, span, formatTime } from './dashboard-ui.js';

const MAX_LIMIT = 1000; // the server's bound on one history request

let shown = null; // {topic, limit, first, last, seq}: the page on screen

async function load(topic, since, limit) {
  const q = new URLSearchParams({ topic, since: String(since), limit: String(limit) });
  const out = $('history-result');
  let h;
  try {
    h = await apiAny('/api/history?' + q);
  } catch (err) {
    show(out, err instanceof AuthRequired ? 'API key required' : err.message, 'bad');
    return;
  }
  const msgs = h.messages || [];
  shown = { topic, limit, first: msgs[0]?.seq ?? since, last: msgs.at(-1)?.seq ?? since, seq: h.seq };
  const rows = msgs.map((m) => {
    const tr = row([span('seq', '#' + m.seq), formatTime(m.time), span('id', m.msg), span('data', JSON.stringify(m.data))]);
    tr.className = 'msg';
    tr.dataset.seq = m.seq;
    return tr;
  });
  $('history-table').tBodies[0].replaceChildren(...rows);
  show(out, h.seq === 0 ? `${topic} has no messages in history`
    : msgs.length ? `${topic}: seq ${shown.first}–${shown.last} of ${h.seq} (epoch ${h.epoch})`
      : `${topic}: nothing after seq ${since}; last seq ${h.seq} (epoch ${h.epoch})`, 'ok');
  $('history-older').disabled = !msgs.length || shown.first <= 1;
  $('history-newer').disabled = !msgs.length || shown.last >= h.seq;
}

function limit() {
  const n = Number($('history-limit').value);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, MAX_LIMIT) : 50;
}

// latest shows the last page of topic: one request learns the last seq.
async function latest(topic) {
  const n = limit();
  try {
    const h = await apiAny('/api/history?' + new URLSearchParams({ topic, limit: '1', since: '0' }));
    await load(topic, Math.max(0, h.seq - n), n);
  } catch (err) {
    show($('history-result'), err instanceof AuthRequired ? 'API key required' : err.message, 'bad');
  }
}

// browseHistory shows the latest messages of topic (from the topics table).
export function browseHistory(topic) {
  $('history-topic').value = topic;
  $('history-panel').scrollIntoView({ block: 'nearest' });
  return latest(topic);
}

$('history-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const since = Number($('history-since').value) || 0;
  load($('history-topic').value.trim(), Math.max(0, since), limit());
});
$('history-latest').addEventListener('click', () => {
  const topic = $('history-topic').value.trim();
  if (topic) latest(topic);
});
$('history-older').addEventListener('click', () => {
  if (shown) load(shown.topic, Math.max(0, shown.first - 1 - shown.limit), shown.limit);
});
$('history-newer').addEventListener('click', () => {
  if (shown) load(shown.topic, shown.last, shown.limit);
});
