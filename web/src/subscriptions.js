// subscriptions.js: subscribing, resuming, a backlog's load, refusals
// (retried for now, or failed and kept for the server's to take up),
// and unsubscribing.

import { callSafely } from './errors.js';
import { wantsPresence } from './subscription-state.js';
import { addMethods, Herald } from './client.js';

// Codes that mean "try the same command again later".
const RETRYABLE = new Set(['unavailable', 'rate_limited']);

// How many refused subscriptions the client keeps for the server's to take
// up (_keepRefused): as many as a connection holds subscriptions by
// default (HERALD_MAX_SUBSCRIPTIONS), so that every resume one reconnect
// has refused is still taken up when a backend subscribes the connection
// to them again.
const MAX_REFUSED = 1000;

class SubscriptionMethods {
  _sendSubscribe(sub) {
    if (this.transport === 'sse') return this._reopenStreamSoon();
    const cmd = { type: 'subscribe', id: 's' + this._nextId++, topic: sub.pattern };
    if (sub.exact && sub.epoch !== null) cmd.since = { epoch: sub.epoch, seq: sub.seq };
    if (sub.presence) {
      cmd.presence = true;
      this._presenceAsked.add(cmd.id);
    }
    sub.since = cmd.since;
    this._subscribing.set(cmd.id, sub);
    this._send(cmd);
    return cmd.id;
  }

  _onSubscribed(reply) {
    if (reply.server) return this._onServerSubscribed(reply);
    const sub = this._subscribing.get(reply.id);
    if (!sub) return;
    this._subscribing.delete(reply.id);
    const granted = this._presenceAsked.delete(reply.id); // presence, when it asked for it
    // The answer to a subscription the page dropped since (one made
    // again under its pattern has a subscribe of its own, answered after
    // it) is nobody's, as its refusal would be (_subscribeFailed): taken,
    // its backlog would be loaded, a resume the node would hold for
    // nobody, or beside the new one's own.
    if (this._subs.get(sub.pattern) !== sub) return;
    // A backlog's load ends with its resume's answer. One of a subscribe
    // sent before it (asking for presence) is answered first, and taken
    // it would let live messages through ahead of the backlog, which the
    // resume then sends as repeats. Only those: the answer of one sent
    // after it (presence asked for while it loads) comes after it, and a
    // stream's (after a fall back to SSE) is the load's own. Waiting for
    // another, the client dropped what the resume sent of the backlog,
    // which the node does not send again, or loaded for good.
    if (sub.loading && sub.beforeLoad.includes(reply.id)) return;
    if (sub.backlog && this._loadBacklog(sub, reply)) return;
    const resumed = sub.since;
    const first = sub.loading; // the backlog's load is no recovery
    sub.loading = false;
    sub.live = true;
    sub.retries = 0;
    sub.reply = reply;
    if (sub.exact && reply.epoch !== sub.epoch) {
      // A first subscribe, or a history that started over: live messages
      // follow the reply's seq. Same epoch: history after our seq follows.
      sub.epoch = reply.epoch;
      sub.seq = reply.seq;
      sub.lastMsg = null;
    }
    if (sub.exact) sub.head = { epoch: reply.epoch, seq: reply.seq }; // _behind
    for (const entry of sub.listeners) entry.ready.resolve(reply);
    const lost = first ? false : resumed ? reply.recovered === false : sub.wasLive && !sub.exact;
    sub.wasLive = true;
    if (lost) {
      const generation = this._generation;
      const info = { topic: sub.pattern, epoch: reply.epoch, seq: reply.seq, since: resumed || null };
      for (const entry of sub.listeners) callSafely(entry.handlers.onRecoveryFailed, info);
      // Closed there (and maybe connected again): nothing more is the
      // closed connection's; the new one resumes it and asks for presence.
      if (this._stale(generation)) return;
    }
    if (sub.early.length > 0) this._deliverEarly(sub, 0);
    if (sub.presence && this.transport === 'sse') this._noPresenceOverStream(sub);
    else if (granted) {
      // Presence works again (back on WebSocket after a fallback): a
      // later fallback stops it again, and is told again.
      for (const entry of sub.listeners) entry.toldNoPresence = false;
      this._askPresence(sub);
    }
    // Not for an answer to a subscribe sent without presence while one
    // asking for it follows (a handle with onPresence added meanwhile):
    // the node may refuse that one presence_off, and the member list,
    // asked now, would be refused to every handle; it is asked at the
    // answer that grants it.
  }

  // _loadBacklog answers the first reply of a subscription with a backlog:
  // it gives the topic's epoch and last seq, so a resume from backlog
  // messages before it (unsubscribe, then subscribe with since) sends them
  // from history, then goes live without a gap or a repeat. What the first
  // subscription delivers meanwhile is ignored: the resume sends it again.
  // False when there is nothing to load.
  _loadBacklog(sub, reply) {
    const from = Math.max(0, reply.seq - sub.backlog);
    sub.backlog = 0;
    if (!(reply.seq > from) || typeof reply.epoch !== 'string') return false;
    sub.epoch = reply.epoch;
    sub.seq = from;
    sub.lastMsg = null;
    sub.loading = true;
    this._sendLoad(sub);
    return true;
  }

  // _sendLoad sends a backlog's load: an unsubscribe, and with it the
  // resume from the subscription's position.
  _sendLoad(sub) {
    sub.beforeLoad = [...this._subscribing].filter(([, other]) => other === sub).map(([id]) => id);
    const id = 'b' + this._nextId++;
    this._send({ type: 'unsubscribe', id, topic: sub.pattern });
    this._loads.set(id, { sub, resume: this._sendSubscribe(sub) });
  }

  // _loadRefused answers a refused unsubscribe of a backlog's load. One
  // refused for now (rate_limited, unavailable) left the subscription on
  // the node, so the resume sent with it found it there and sends none of
  // the backlog (docs/protocol.md section 2): that resume's answer is not
  // the load's (sub.beforeLoad), and the two are sent again after a delay
  // that grows as a refused subscribe's does. A drop meanwhile ends the
  // wait: the new connection's resume loads it alone. not_subscribed: the
  // node had none, and the resume loads all the same.
  _loadRefused(id, { sub, resume }, err) {
    this._loads.delete(id);
    if (err.code === 'not_subscribed') return;
    if (!RETRYABLE.has(err.code)) return this._emitError(err);
    if (this._subs.get(sub.pattern) !== sub || !sub.loading) return;
    sub.beforeLoad.push(resume);
    this._later(this._backoff(sub.retries++), () => {
      if (this._isOpen() && this._subs.get(sub.pattern) === sub && sub.loading) this._sendLoad(sub);
    });
  }

  // _subscribeFailed answers a refused subscribe. One refused for now
  // (unavailable: a subscribe hook or the cluster's backend failing;
  // rate_limited) is tried again after a delay that grows as the
  // connection's does, until it goes live: at a fixed pace, every client's
  // subscriptions would keep a failing backend as busy as ever. The page
  // hears of an unavailable one, as an 'error' carrying its topic; not of
  // one rate_limited, which the client's own burst of resubscribes after a
  // reconnect earns when it holds more than the node's command burst, and
  // which would flood the page with one error each.
  // Over SSE the stream opens without it until then (sub.heldUntil): a
  // stream is refused whole for one topic, and the others go on flowing.
  // A refusal of a subscription the page dropped since (its command id,
  // not its pattern, names it) is nobody's: one made again meanwhile
  // under the same pattern has a subscribe of its own, answered after it.
  // A listener told of the refusal ('error', onError) may close the
  // client, and connect it again: what follows is this connection's, and
  // goes on only while the client is still the one that was refused.
  _subscribeFailed(id, sub, err) {
    const generation = this._generation;
    const gone = () => this._stale(generation);
    this._subscribing.delete(id);
    this._presenceAsked.delete(id);
    if (this._subs.get(sub.pattern) !== sub) return;
    // A resume whose answer would not be the load's: the load is sent again
    // whole (_loadRefused), and this alone would find the node's
    // subscription and load nothing.
    if (sub.loading && sub.beforeLoad.includes(id) && RETRYABLE.has(err.code)) return;
    if (RETRYABLE.has(err.code)) {
      const delay = this._backoff(sub.retries++);
      err.topic = sub.pattern;
      if (err.code !== 'rate_limited') this._emitError(err);
      // Closed there, and maybe connected again: the new connection
      // subscribes it, and a retry would do so twice.
      if (gone()) return;
      if (this.transport === 'sse') {
        sub.heldUntil = Date.now() + delay; // _openStream leaves it out, _streamOpened brings it back
        return;
      }
      this._later(delay, () => {
        if (this._isOpen() && this._subs.get(sub.pattern) === sub) this._sendSubscribe(sub);
      });
      return;
    }
    if (id !== null && sub.live) return this._presenceRefused(sub, err);
    if (id !== null && err.code === 'presence_off' && sub.loading) {
      // Presence asked while the backlog loads: the node answered the
      // subscription without it, which goes on loading, as a live one
      // goes on. The load's own resume asked for it too when sent after
      // the page asked: refused, it did nothing, and the load's
      // unsubscribe left the node none, so it is sent again without.
      if (sub.presence) this._presenceRefused(sub, err);
      if (!gone() && !sub.beforeLoad.includes(id)) this._sendSubscribe(sub);
      return;
    }
    if (id !== null && err.code === 'presence_off' && sub.presence && !sub.wasLive
      && [...sub.listeners].some((entry) => !wantsPresence(entry.handlers))) {
      // A first subscribe that asked for presence for some of its handles
      // only (several subscribe calls made before connect(), or before
      // the first one's answer): the handles that did not ask would have
      // had the subscription from a subscribe of their own, so it is made
      // without presence, and only those that asked hear the refusal.
      this._presenceRefused(sub, err);
      if (!gone()) this._sendSubscribe(sub);
      return;
    }
    if (id !== null && err.code === 'presence_off' && sub.wasLive && sub.presence) {
      // A resume asking for presence the node refuses: asked of the live
      // subscription with no answer before a drop, or granted by a node
      // before this one. The subscription the page had goes on, without
      // presence, as when the refusal comes on a live connection; resumed
      // again without it, it misses nothing.
      this._presenceRefused(sub, err);
      if (!gone()) this._sendSubscribe(sub);
      return;
    }
    this._subs.delete(sub.pattern);
    for (const entry of sub.listeners) {
      entry.state = 'failed';
      entry.ready.reject(err);
      callSafely(entry.handlers.onError, err);
    }
    if (gone()) return; // the connection that refused it is no more
    // The refused command did nothing (docs/protocol.md section 2): a
    // subscription the server made of the pattern on this connection,
    // before the refusal or after it, goes on, and takes up this one's
    // callbacks (_onServerSubscribed).
    this._keepRefused(sub);
    const made = this._serverMade.get(sub.pattern);
    if (made) this._takeServerMade(made);
  }

  // _keepRefused keeps a refused subscription for one the server may make
  // of its pattern on this connection to take up, as the newest. A page
  // that subscribes in a loop to topics the node refuses (its bug, or a
  // token that allows none of them), with commands that succeed between
  // (ten refusals in a row close the connection, which forgets them), or
  // over SSE past the 32 topics a stream carries (the streams reopen
  // without a drop), would otherwise have them all kept: past
  // MAX_REFUSED the oldest is forgotten, and its topic's server
  // subscription, if one ever comes, is a new one ('subscribed').
  _keepRefused(sub) {
    this._refused.delete(sub.pattern);
    this._refused.set(sub.pattern, sub);
    if (this._refused.size > MAX_REFUSED) this._refused.delete(this._refused.keys().next().value);
  }

  _unsubscribe(sub, entry) {
    sub.listeners.delete(entry);
    // A refused one the page dropped every handle of has nothing left to
    // take up: a server subscription of its pattern is a new one.
    if (sub.listeners.size === 0 && this._refused.get(sub.pattern) === sub) this._refused.delete(sub.pattern);
    if (sub.listeners.size > 0 || this._subs.get(sub.pattern) !== sub) return Promise.resolve();
    this._subs.delete(sub.pattern);
    if (!this._isOpen()) return Promise.resolve();
    return this._leave(sub.pattern, this._ws, 0);
  }

  // _leave unsubscribes the connection ws from pattern, which the page
  // dropped, and resolves once the node has (or there is nothing left to
  // do). A refusal for now (rate_limited, unavailable) did nothing
  // (docs/protocol.md section 2): the node would go on sending the topic,
  // for nobody, as long as the connection lives, so it is asked again
  // after a delay that grows as a refused subscribe's does. Not once the
  // page subscribes to the pattern again (the node's subscription is its
  // now), nor on another connection, which has no such subscription; and
  // not_subscribed, like any other refusal, means nothing is left to end.
  _leave(pattern, ws, retries) {
    return this._command({ type: 'unsubscribe', topic: pattern }).then(() => undefined, (err) => {
      if (!RETRYABLE.has(err.code)) return undefined;
      // Not one of this._timers, which a drop clears: the promise settles
      // at the timer's end whatever became of the connection.
      return new Promise((resolve) => setTimeout(resolve, this._backoff(retries))).then(() => {
        if (this._ws !== ws || !this._isOpen() || this._subs.has(pattern)) return undefined;
        return this._leave(pattern, ws, retries + 1);
      });
    });
  }
}

addMethods(Herald, SubscriptionMethods);
