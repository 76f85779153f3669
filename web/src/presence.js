// presence.js: member lists, joins and leaves, and presence refused or
// missing (over SSE).

import { callSafely, HeraldError } from './errors.js';
import { wantsPresence } from './subscription-state.js';
import { addMethods, Herald } from './client.js';

// applyChanges returns members with the joins and leaves in changes
// applied in order, sorted by user as the node sorts them when any was
// applied: a leave removes its user, a join adds one not listed.
function applyChanges(members, changes) {
  if (changes.length === 0) return members;
  const byUser = new Map(members.map((m) => [m.user, m]));
  for (const c of changes) {
    if (c.type === 'leave') byUser.delete(c.user);
    else if (!byUser.has(c.user)) byUser.set(c.user, c.info === undefined ? { user: c.user, sessions: 1 } : { user: c.user, sessions: 1, info: c.info });
  }
  return [...byUser.values()].sort((a, b) => compareCodePoints(a.user, b.user));
}

// compareCodePoints orders strings as the node orders users, by their
// UTF-8 bytes, which is the order of their code points (< compares UTF-16
// units, which differs past U+FFFF).
function compareCodePoints(a, b) {
  const x = Array.from(a, (c) => c.codePointAt(0));
  const y = Array.from(b, (c) => c.codePointAt(0));
  for (let i = 0; i < x.length && i < y.length; i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}

class PresenceMethods {
  // _askPresence gives the subscription's onPresence the member list now
  // that it is live: joins and leaves from here on apply to it. The pages
  // are read one after another, so the joins and leaves that arrive
  // meanwhile are applied to them first: a page read before a change
  // would otherwise undo it.
  _askPresence(sub) {
    if (![...sub.listeners].some((entry) => entry.handlers.onPresence)) return;
    const changes = [];
    sub.changeLogs.add(changes);
    this.presenceAll(sub.pattern).then((state) => {
      if (this._subs.get(sub.pattern) !== sub) return;
      const members = applyChanges(state.members, changes);
      const list = { ...state, users: members.length, members };
      for (const entry of sub.listeners) callSafely(entry.handlers.onPresence, list);
    }, (err) => {
      if (err.code === 'disconnected') return; // asked again once live again
      for (const entry of sub.listeners) if (wantsPresence(entry.handlers)) callSafely(entry.handlers.onError, err);
    }).finally(() => sub.changeLogs.delete(changes));
  }

  // _noPresenceOverStream tells a subscription's listeners that asked for
  // presence that a stream has none: it takes no presence:true and no
  // presence command (docs/protocol.md section 10), so onPresence, onJoin
  // and onLeave are never called while the client is on SSE. Each
  // listener's onError hears it once, not at every reopen of the stream
  // (again only after a WebSocket gave it presence: _onSubscribed); its
  // messages go on.
  _noPresenceOverStream(sub) {
    const err = new HeraldError('receive_only',
      'presence (onPresence, onJoin, onLeave) needs WebSocket: over Server-Sent Events this client only receives messages');
    err.topic = sub.pattern;
    for (const entry of sub.listeners) {
      if (entry.toldNoPresence || !wantsPresence(entry.handlers)) continue;
      entry.toldNoPresence = true;
      callSafely(entry.handlers.onError, err);
    }
  }

  _onPresenceChange(change) {
    const sub = this._subs.get(change.topic);
    if (!sub || !sub.presence) return;
    for (const log of sub.changeLogs) log.push(change);
    const name = change.type === 'join' ? 'onJoin' : 'onLeave';
    for (const entry of sub.listeners) callSafely(entry.handlers[name], change);
  }

  // _presenceRefused answers the refusal of a subscribe the page sent
  // again, for presence, of a subscription the node holds on this
  // connection (live: it ended none since, or an unsubscribed would have
  // come first). Only asking for presence sends that (subscribe), refused
  // presence_off when the topic keeps none. A refused command did nothing
  // (docs/protocol.md section 2): the subscription goes on, live, without
  // presence, which a reconnect must not ask for either (the node would
  // refuse the resume and subscribe nothing), and the listeners that asked
  // for it hear why, each once.
  _presenceRefused(sub, err) {
    sub.presence = false;
    err.topic = sub.pattern;
    const asked = [...sub.listeners].filter((entry) => wantsPresence(entry.handlers) && !entry.toldRefused);
    if (asked.length === 0) return this._emitError(err);
    for (const entry of asked) {
      entry.toldRefused = true;
      callSafely(entry.handlers.onError, err);
    }
  }
}

addMethods(Herald, PresenceMethods);
