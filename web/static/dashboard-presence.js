// Who is on a presence topic (GET /api/presence), with a button per user
// that disconnects every connection of that user, on every node (POST
// /api/disconnect). The button asks to be pressed twice.
import { apiAny, AuthRequired } from './dashboard-api.js';
import { $, row, num, show, span, button } from './dashboard-ui.js';

let shownTopic = null;

export async function showMembers(topic) {
  shownTopic = topic;
  const panel = $('presence-panel');
  panel.hidden = false;
  $('presence-topic').textContent = topic;
  const out = $('presence-result');
  let p;
  try {
    p = await apiAny('/api/presence?' + new URLSearchParams({ topic }));
  } catch (err) {
    show(out, err instanceof AuthRequired ? 'API key required' : err.message, 'bad');
    return;
  }
  if (topic !== shownTopic) return; // another topic was asked meanwhile
  // A large topic answers one page of members (truncated): say so.
  const listed = p.truncated ? `; the first ${p.members.length} listed` : '';
  show(out, `${p.users} ${p.users === 1 ? 'user' : 'users'}, ${p.sessions} ${p.sessions === 1 ? 'connection' : 'connections'} (anonymous ones included)${listed}`, 'ok');
  const rows = p.members.map((m) => {
    const tr = row([m.user, num(m.sessions), span('data', m.info ? JSON.stringify(m.info) : ''), disconnectButton(m.user)]);
    tr.dataset.user = m.user;
    return tr;
  });
  $('presence-table').tBodies[0].replaceChildren(...rows);
  panel.scrollIntoView({ block: 'nearest' });
}

function disconnectButton(user) {
  const b = button('Disconnect', async () => {
    if (b.dataset.armed !== 'yes') {
      b.dataset.armed = 'yes';
      b.textContent = 'Disconnect ' + user + '?';
      b.className = 'danger small';
      return;
    }
    b.disabled = true;
    try {
      await apiAny('/api/disconnect', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user }),
      });
      show($('presence-result'), `Disconnected ${user} on every node`, 'ok');
      setTimeout(() => { if (shownTopic) showMembers(shownTopic); }, 1000);
    } catch (err) {
      b.disabled = false;
      show($('presence-result'), err instanceof AuthRequired ? 'API key required' : err.message, 'bad');
    }
  });
  return b;
}

$('presence-refresh').addEventListener('click', () => { if (shownTopic) showMembers(shownTopic); });
$('presence-close').addEventListener('click', () => { shownTopic = null; $('presence-panel').hidden = true; });
