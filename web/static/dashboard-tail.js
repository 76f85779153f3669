// The live tail, through herald.js, and the publish form. The tail needs
// no client JWT: with the token field empty it asks the node for a tail
// token with the API key (POST /api/tail-token), which lets it listen to
// anything and publish nothing, and asks again on each reconnect that
// needs it. A client token typed in is used instead.
import { Herald } from './herald.js';
import { state, apiAny, APIError, AuthRequired } from './dashboard-api.js';
import { $, show, span, formatTime } from './dashboard-ui.js';

const TAIL_MAX = 200;

let tail = null; // {client, sub}

// tailToken buys a tail token. A node that has none to give (an older
// one: 404) is asked without a token, as it would let anyone listen.
async function tailToken() {
  try {
    return (await apiAny('/api/tail-token', { method: 'POST' })).token;
  } catch (err) {
    if (err instanceof APIError && err.status === 404) return null;
    throw err;
  }
}

export function startTail(pattern) {
  stopTail();
  const typed = $('tail-token').value.trim();
  // Every node shown may serve the tail: when one dies it moves to the next.
  const { nodes } = state;
  const urls = nodes.slice(1).map((base) => base + '/ws');
  const client = new Herald(nodes[0] + '/ws', { token: typed || tailToken, urls });
  client.on('state', (s, info) => {
    setTailState(s);
    // The node refused the tail for good (a bad token, this page's origin).
    if (s === 'stopped') { tailNotice(`Stopped: ${info.error?.message || info.reason}`, 'warn'); stopTail(); }
  });
  client.on('error', (err) => {
    // A tail token is good for a minute; herald.js asks for another when
    // a reconnect finds it expired: nothing to show.
    if (!typed && err.status === 401 && err.message.includes('tail token has expired')) return;
    tailNotice(err.status ? `Refused by the node (${err.status} ${err.code}): ${err.message}`
      : `${err.code}: ${err.message}`, 'warn');
  });
  const sub = client.subscribe(pattern, addTailMessage, {
    onRecoveryFailed: () => tailNotice('Reconnected: messages may be missing', 'warn'),
    onError: (err) => { tailNotice(`Subscribe refused: ${err.code}: ${err.message}`, 'warn'); stopTail(); },
  });
  sub.ready.then(() => tailNotice(`Subscribed to ${pattern}`, 'info'), () => {});
  client.connect();
  tail = { client, sub };
  $('tail-pattern').value = pattern;
  $('tail-stop').disabled = false;
}

$('tail-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  startTail($('tail-pattern').value.trim());
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

function setTailState(s) {
  const pill = $('tail-state');
  pill.textContent = s;
  pill.className = 'pill ' + ({ connected: 'ok', connecting: 'warn', disconnected: 'bad', stopped: 'bad' }[s] || '');
}

function addTailMessage(m) {
  const li = document.createElement('li');
  li.className = 'msg';
  li.dataset.topic = m.topic;
  li.dataset.seq = m.seq;
  li.append(span('time', formatTime(m.time)), span('topic', m.topic), span('seq', '#' + m.seq), span('data', JSON.stringify(m.data)));
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
    const r = await apiAny('/api/publish', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    show(out, `Published to ${r.topic}: seq ${r.seq}`, 'ok');
  } catch (err) {
    show(out, err instanceof AuthRequired ? 'API key required' : err.message, 'bad');
  }
});
