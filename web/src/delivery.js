// delivery.js: messages and gaps to the subscriptions they match, and
// for an exact topic its position, repeats dropped, and what came early
// held until its subscribe or resume is answered.

import { callSafely } from './errors.js';
import { addMethods, Herald } from './client.js';
import { matchTokens } from './patterns.js';

// MAX_EARLY bounds the messages held for one exact subscription while its
// subscribe or resume is not answered.
const MAX_EARLY = 4096;

// startOf is the first seq a message or gap covers.
function startOf(item) {
  return item.type === 'gap' ? item.from : item.seq;
}

class DeliveryMethods {
  // The server delivers a message once per connection even when several
  // subscriptions match; every local subscription that matches gets it.
  _onMessage(msg) {
    const topic = msg.topic.split('.');
    let fresh; // to patterns: decided at the first that matches
    for (const sub of this._subs.values()) {
      if (!matchTokens(sub.tokens, topic) || this._holdEarly(sub, msg)) continue;
      if (sub.loading) continue;
      if (sub.exact) this._deliverExact(sub, msg);
      else if (fresh ??= this._newToPatterns(msg)) for (const entry of sub.listeners) callSafely(entry.fn, msg);
    }
  }

  // A gap goes, like a message, to every local subscription it matches. An
  // exact one moves past it, so a resume starts after `to`, and is told only
  // of the part it has not seen; patterns are told of what they have
  // neither got nor been told of (_newGapToPatterns).
  _onGap(gap) {
    const topic = gap.topic.split('.');
    let fresh; // to patterns: decided at the first that matches
    for (const sub of this._subs.values()) {
      if (!matchTokens(sub.tokens, topic) || this._holdEarly(sub, gap)) continue;
      if (sub.loading) continue;
      if (sub.exact) {
        this._deliverExact(sub, gap);
        continue;
      }
      fresh ??= this._newGapToPatterns(gap);
      for (const part of fresh) for (const entry of sub.listeners) callSafely(entry.handlers.onGap, part);
    }
  }

  // _holdEarly keeps for an exact subscription whose subscribe is not
  // answered yet (its first, a resume after a reconnect, a retry, or its
  // backlog's load) a message or gap of its topic that came through a
  // pattern. Taken now, it would move the topic past what the resume is
  // about to send, and a retried resume would start after it: those
  // messages would be lost. Before the first reply it may be older than
  // where the subscription starts, or be sent again by its backlog.
  // Dropped, it would be lost when it came while the subscription was set
  // up, as the server then does not send it again (docs/protocol.md
  // section 2). Kept, it is delivered in its place among what the
  // subscription sends, or dropped when that starts after it
  // (_deliverEarly). Bounded: past it the oldest go. A resume begun after
  // them sends them again; a first subscribe starts after them, as the
  // server closes a connection that sees as many published while it sets
  // the subscription up.
  // One of the topic's own (untagged) is kept too. The node sends a new
  // subscription's messages only after its reply, so this one was sent
  // for a subscription the connection had before: the page dropped the
  // topic and subscribed again at once, and what the node sent until it
  // took the unsubscribe is at or before the reply's seq (a subscribe
  // starts after it, a resume sends it again). Or the node kept that
  // subscription (its unsubscribe refused for now, or the server made
  // one meanwhile): then what it sent past the reply's seq ahead of the
  // reply is not sent again. Not while a backlog loads, whose resume
  // sends them again, nor for a resume (sub.since): the page does not
  // resume what it dropped, so the node kept that subscription (the
  // token's subs, made before a reconnect's resumes are read, or a
  // backend's), which sent this one ahead of the resume (one that sent
  // nothing yet is resumed as a new one, docs/protocol.md section 2),
  // and sends nothing of it again: held behind the messages
  // the reply says were lost (recovered:false), they would wait for the
  // topic's next message. Taken now, they move the subscription on as
  // they did live.
  _holdEarly(sub, item) {
    if (!sub.exact || sub.live || item.epoch === undefined) return false;
    if (item.pattern === undefined && (sub.loading || sub.since)) return false;
    sub.early.push(item);
    if (sub.early.length > MAX_EARLY) sub.early.shift();
    return true;
  }

  // _deliverExact gives an exact subscription a message or gap of its own,
  // after the held ones that come before it.
  _deliverExact(sub, item) {
    if (sub.early.length > 0 && item.epoch !== undefined) this._deliverEarly(sub, startOf(item));
    this._deliverOne(sub, item);
    if (sub.early.length > 0) this._deliverEarly(sub, 0);
  }

  // _deliverOne moves an exact subscription past a message or gap and hands
  // listeners what was new of it.
  _deliverOne(sub, item) {
    if (item.type === 'gap') {
      const from = this._advance(sub, item.epoch, item.from, item.to);
      if (from === 0) return;
      const info = { ...item, from };
      for (const entry of sub.listeners) callSafely(entry.handlers.onGap, info);
      return;
    }
    if (!this._take(sub, item)) return;
    for (const entry of sub.listeners) callSafely(entry.fn, item);
  }

  // _deliverEarly delivers, in order, the held messages of a live exact
  // subscription that come next: those that start before seq `before`
  // (what the subscription sends has passed them: they will not come
  // again), and those that follow its position with nothing between. Held
  // ones of another epoch than its own are dropped, as are those at or
  // before its position (_deliverOne: repeats, or older than its start).
  _deliverEarly(sub, before) {
    while (sub.early.length > 0) {
      const item = sub.early[0];
      if (item.epoch === sub.epoch && startOf(item) >= before && startOf(item) > sub.seq + 1) return;
      sub.early.shift();
      if (item.epoch === sub.epoch) this._deliverOne(sub, item);
    }
  }

  // _take moves an exact subscription past msg; false means a duplicate.
  _take(sub, msg) {
    if (msg.epoch === undefined) return this._takeWithoutEpoch(sub, msg);
    return this._advance(sub, msg.epoch, msg.seq, msg.seq) !== 0;
  }

  // _advance moves an exact subscription to seq `to` of epoch and returns
  // the first seq of from..to that is new to it: 0 when it saw them all. A
  // new epoch is new throughout. Before the subscribe is answered there is
  // no position to move: the reply sets it.
  _advance(sub, epoch, from, to) {
    if (sub.epoch === null) return from;
    const first = epoch === sub.epoch ? Math.max(from, sub.seq + 1) : from;
    if (first > to) return 0;
    sub.epoch = epoch;
    sub.seq = to;
    return first;
  }

  // Servers before 1.1 send messages without their epoch. Seq 1 again,
  // unless it is the very message seen last, can only be a history that
  // started over (a new epoch), never a repeat.
  _takeWithoutEpoch(sub, msg) {
    const restarted = msg.seq === 1 && (sub.seq > 1 || msg.msg !== sub.lastMsg);
    if (msg.seq <= sub.seq && !restarted) return false;
    sub.seq = msg.seq;
    sub.lastMsg = msg.msg;
    return true;
  }
}

addMethods(Herald, DeliveryMethods);
