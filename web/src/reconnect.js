// reconnect.js: why an attempt failed (askWhy), which refusals are
// final, and the backoff before the next attempt.

import { HeraldError } from './errors.js';
import { isHeld } from './subscription-state.js';
import { addMethods, Herald } from './client.js';

// What a refused attempt's answer can say; anything else is retried as a
// drop. A token refused twice in a row (once after asking the token
// function again) stays refused.
const FINAL_REFUSALS = new Set(['forbidden']);

// askWhy GETs a WebSocket or stream URL over plain HTTP and returns the
// server's refusal (docs/protocol.md section 3: {"error":{code, message}})
// as a HeraldError with its status, or null when it refused nothing or
// could not be asked.
async function askWhy(url, timeout, seen = {}) {
  try {
    const signal = AbortSignal.timeout?.(timeout);
    const res = await fetch(url.replace(/^ws/, 'http'), { credentials: 'omit', cache: 'no-store', signal });
    seen.answered = true;
    if (res.ok || !(res.headers.get('content-type') || '').includes('json')) {
      // Unread, an answer that is a stream (an /sse whose refusal lifted)
      // would stay open, resumed from history, until the timeout.
      res.body?.cancel().catch(() => {});
      return null;
    }
    const body = await res.json();
    if (typeof body?.error?.code !== 'string') return null;
    const err = new HeraldError(body.error.code, body.error.message);
    err.status = res.status;
    if (typeof body.error.topic === 'string') err.topic = body.error.topic; // one topic of a stream's
    return err;
  } catch {
    return null;
  }
}

class ReconnectMethods {
  // _diagnose follows an attempt that ended before welcome: the server's
  // answer to a plain GET of the same URL says why, if it refused it. A
  // stream's refusal is readable only by pages of origins the node
  // allows; when it cannot be read, wsURL (the /ws beside it, whose
  // refusals of the same checks any page may read) is asked.
  async _diagnose(url, info, generation, wsURL) {
    const seen = {};
    let refusal = await askWhy(url, this.options.timeout, seen);
    if (!refusal && !seen.answered && wsURL) refusal = await askWhy(wsURL, this.options.timeout);
    if (this._stale(generation)) return;
    if (!refusal && seen.answered && this.transport === 'websocket' && this.options.transport === 'auto') {
      // HTTP reaches the node and it refused nothing: WebSocket is blocked
      // on the way, or the node refused the upgrade for a while that
      // ended before the GET (a rate limit, a node at capacity). Only the
      // second such attempt in a row is taken for a block: SSE cannot
      // publish, and the client would keep it for good.
      if (++this._blockedLooks >= 2) this._fallBack();
      return this._open();
    }
    // Any other end breaks the row: a refusal, or a node that did not
    // answer (down for a moment) between two upgrades refused for a while.
    this._blockedLooks = 0;
    if (!refusal) return this._scheduleReconnect(info);
    if (refusal.status === 404 && this.transport === 'sse' && this.options.transport === 'auto') {
      // A node without /sse (older than 1.1): WebSocket is all there is.
      this.transport = 'websocket';
      return this._scheduleReconnect(info);
    }
    const named = this.transport === 'sse' && refusal.topic !== undefined;
    const refused = named && this._subs.get(refusal.topic);
    const carried = named && this._streamTopics.get(refusal.topic);
    if (refused && !refused.server && (!carried || carried === refused)) {
      // One subscription of the stream refused: it alone fails
      // (forbidden, invalid_topic, too_many_subscriptions), or waits to
      // be tried again (a subscribe hook's unavailable or rate_limited),
      // as its subscribe would over WebSocket, and the stream opens at
      // once with the others. too_many_subscriptions naming a topic is a
      // stream's own refusal (its topics with its token's subs count more
      // of its address's budget at once than the burst, docs/protocol.md
      // section 10): a WebSocket subscribes one topic at a time, and that
      // one would fit there.
      if (refusal.code === 'too_many_subscriptions') {
        // The topics up to it did not fit: fewer may (_openStream).
        const topics = new URL(url).searchParams.getAll('topic');
        this._holdForWebSocket(refused, refusal, topics.indexOf(refusal.topic) + 1 || topics.length);
      } else {
        this._subscribeFailed(null, refused, refusal);
      }
      // Its onError may have closed the client (and connect() started
      // another attempt): the stream is then nobody's to reopen.
      if (this._stale(generation)) return;
      return this._reopenWithout(refusal, refused);
    }
    // One the refused stream carried that the page dropped while it was
    // asked is nobody's to hear of (as a subscribe's refusal that comes
    // after its unsubscribe), and the next stream, without it, opens at
    // once; so is it when the page made it again meanwhile: the new
    // subscription is no stream's yet, and a later one asks for it.
    if (carried) return this._reopenWithout(refusal, carried);
    this._emitError(refusal);
    // Its listener may have closed the client (and connect() started
    // another attempt): no stop or retry is the closed client's.
    if (this._stale(generation)) return;
    const next = { ...info, error: refusal };
    // A refusal of one topic is none of the client's: one the node names
    // otherwise than the page is in no subscription to fail, and a
    // backoff keeps it from a loop.
    if (!named && this._isFinal(refusal)) return this._stop(next);
    this._scheduleReconnect(next);
  }

  // _reopenWithout opens the stream again at once after its refusal for
  // one topic, once that topic is out of it: failed, held for now, or
  // dropped by the page. One the page made again (while the client asked
  // why, or in the refusal's onError) is held out too, as one refused for
  // now is, for a delay that grows with each such refusal of its topic
  // (before: the refused subscription): asked for at once, it could be
  // refused again at once, a loop of streams refused as fast as they
  // open, and the whole stream waiting instead would stop the page's
  // other subscriptions meanwhile.
  _reopenWithout(refusal, before) {
    const next = this._subs.get(refusal.topic);
    if (next && !next.server && !isHeld(next)) {
      next.retries = Math.max(next.retries, before.retries);
      next.heldUntil = Date.now() + this._backoff(next.retries++);
    }
    return this._open();
  }

  _isFinal(refusal) {
    if (FINAL_REFUSALS.has(refusal.code)) return true;
    if (refusal.code !== 'unauthorized') return false;
    if (typeof this.options.token !== 'function' || this._tokenRefused) return true;
    this._tokenRefused = true;
    this._token = null; // ask the token function again
    return false;
  }

  _scheduleReconnect(info) {
    const { maxDelay } = this.options;
    const generation = this._generation;
    // A connection that lived a while starts the backoff over; one that died
    // at once (a bad token, a refused command) keeps growing it, and so
    // does a row of slow-consumer closes (4000): a client that cannot keep
    // up would otherwise come back every minDelay to read a queue of
    // history and be closed again. Only one that found the client nearer
    // the end of what it has to read than the 4000 before keeps the delay
    // as it was: a resume of more than a queue holds comes in such pieces,
    // each resumed from where the last one ended (docs/protocol.md section
    // 2), and waiting longer between them only lets more pile up.
    // The 4000s count a row of their own (_slowAttempt): the attempts
    // that failed before one was welcomed (a node down, a network gone)
    // say nothing of how fast the client reads, and their delay, up to
    // maxDelay, between the pieces of the resume that follows would
    // slow it the most when it is longest.
    const lived = this._openedAt && Date.now() - this._openedAt > maxDelay;
    const slow = info.code === 4000 && Boolean(this._openedAt);
    if (lived) this._attempt = this._slowAttempt = 0;
    if (lived || !slow) this._behindAtSlowClose = Infinity; // the row is over
    let exponent;
    if (slow) {
      const nearer = this._nearerAtSlowClose();
      exponent = nearer ? Math.max(0, this._slowAttempt - 1) : this._slowAttempt; // nearer: the last delay again
      this._slowAttempt = exponent + 1;
    } else {
      exponent = this._attempt++;
    }
    this._openedAt = 0;
    const delay = this._backoff(exponent);
    // The node that dropped us or refused us may be gone: try the next one.
    this._urlIndex = (this._urlIndex + 1) % this.urls.length;
    this.url = this.urls[this._urlIndex];
    this._setState('disconnected', { ...info, retryIn: delay });
    // A 'state' listener may have closed the client (and connect() started
    // another attempt): the retry would be a closed client's, or a second.
    if (this._stale(generation)) return;
    this._later(delay, () => {
      if (!this._closed && generation === this._generation) this._open();
    });
  }

  // _backoff is the jittered delay, in ms, before the attempt after
  // `exponent` failed ones in a row: half to all of minDelay doubled that
  // many times, at most maxDelay.
  _backoff(exponent) {
    const { minDelay, maxDelay } = this.options;
    const ceiling = Math.min(maxDelay, minDelay * 2 ** exponent);
    return Math.round(ceiling / 2 + Math.random() * ceiling / 2);
  }

  // _nearerAtSlowClose says whether the client, closed as a slow consumer,
  // has fewer messages left to read (_behind) than at the 4000 before in
  // its row. One closed with none left, reading live messages, was not
  // catching up: it reads slower than they come, and counts as no nearer,
  // and the next 4000 is measured against none.
  _nearerAtSlowClose() {
    const behind = this._behind();
    const before = this._behindAtSlowClose;
    this._behindAtSlowClose = behind > 0 ? behind : Infinity;
    return behind > 0 && behind < before;
  }

  // _behind counts the messages the exact subscriptions have yet to get of
  // what their topics held when their subscribe was last answered.
  _behind() {
    let n = 0;
    for (const sub of this._subs.values()) {
      if (sub.exact && sub.head && sub.head.epoch === sub.epoch) n += Math.max(0, sub.head.seq - sub.seq);
    }
    return n;
  }
}

addMethods(Herald, ReconnectMethods);
