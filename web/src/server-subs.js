// server-subs.js: subscriptions the server made or ended
// (docs/protocol.md section 9).

import { callSafely } from './errors.js';
import { newSub } from './subscription-state.js';
import { addMethods, Herald } from './client.js';

class ServerSubMethods {
  // _onServerSubscribed takes a subscription the server made. One the page
  // already has goes on as it is (a subscribe of the page's not answered
  // yet is answered subscribed, or its refusal finds this one:
  // _subscribeFailed). A new one is kept, live, for the page to add
  // callbacks to; one the page asked for and the node refused on this
  // connection (the page's subscribe came before a backend's order) is
  // taken up: the connection holds the topic after all, so its callbacks
  // get its messages, and the handle is live again (its ready stays
  // rejected, its onError had the refusal).
  _onServerSubscribed(reply) {
    const made = { reply, told: false };
    this._serverMade.set(reply.topic, made);
    if (this._subs.has(reply.topic)) return;
    this._takeServerMade(made);
  }

  // _takeServerMade keeps the subscription the server made (made.reply)
  // as the client's, live, and tells the page of it once.
  _takeServerMade(made) {
    const { reply } = made;
    const refused = this._refused.get(reply.topic);
    this._refused.delete(reply.topic);
    const sub = refused || newSub(reply.topic);
    // A position the page had of the topic before the refusal (its resume
    // after a reconnect was refused) that the server's subscription starts
    // after: what came between is missed, and said so, as a resume's
    // recovered:false would.
    const missed = refused && sub.exact && sub.epoch !== null && (sub.epoch !== reply.epoch || sub.seq < reply.seq)
      ? { epoch: sub.epoch, seq: sub.seq } : null;
    sub.server = sub.listeners.size === 0; // taken by the page: kept across reconnects
    sub.live = true;
    sub.wasLive = true;
    sub.reply = reply;
    // What it held of its topic while its subscribe waited (the server's
    // subscription's messages, when it came first) is delivered below.
    Object.assign(sub, { loading: false, backlog: 0, since: undefined, retries: 0, heldUntil: 0, pastBurst: 0, noRoom: false });
    // A position the page had of the topic stays when it is ahead (the
    // node's subscription went on from where the refused resume was).
    if (sub.exact && !(sub.epoch === reply.epoch && sub.seq > reply.seq)) {
      sub.epoch = reply.epoch;
      sub.seq = reply.seq;
      sub.lastMsg = null;
    }
    for (const entry of sub.listeners) if (entry.state === 'failed') delete entry.state;
    this._subs.set(reply.topic, sub);
    if (missed) {
      const generation = this._generation;
      const info = { topic: sub.pattern, epoch: reply.epoch, seq: reply.seq, since: missed };
      for (const entry of sub.listeners) callSafely(entry.handlers.onRecoveryFailed, info);
      // Closed there (and maybe connected again): what it held, and the
      // 'subscribed' event, are the closed connection's, as after a
      // resume's onRecoveryFailed (_onSubscribed).
      if (this._stale(generation)) return;
    }
    if (sub.early.length > 0) this._deliverEarly(sub, 0);
    if (made.told) return;
    made.told = true;
    for (const fn of this._listeners.subscribed) callSafely(fn, reply);
  }

  // _onUnsubscribed settles an unsubscribe's reply, or ends a subscription
  // the server ended (it names a reason): its callbacks stop.
  _onUnsubscribed(frame) {
    if (!frame.reason) {
      this._loads.delete(frame.id);
      return this._settle(frame.id, frame);
    }
    this._serverMade.delete(frame.topic);
    const sub = this._subs.get(frame.topic);
    if (sub) {
      this._subs.delete(frame.topic);
      const info = { topic: frame.topic, reason: frame.reason };
      for (const entry of sub.listeners) {
        entry.state = 'unsubscribed';
        callSafely(entry.handlers.onUnsubscribed, info);
      }
    }
    for (const fn of this._listeners.unsubscribed) callSafely(fn, { topic: frame.topic, reason: frame.reason });
  }
}

addMethods(Herald, ServerSubMethods);
