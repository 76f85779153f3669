// stream.js: the Server-Sent Events fallback: when to fall back and try
// WebSocket again, the one stream that carries every subscription, its
// reopens, and the subscriptions held out of it.

import { callSafely, HeraldError } from './errors.js';
import { isHeld } from './subscription-state.js';
import { ownsIDs, streamID, toStreamURL } from './stream-ids.js';
import { addMethods, Herald } from './client.js';

// The longest a client that fell back to SSE waits before it tries
// WebSocket again (_fallBack): 30 minutes.
const WEBSOCKET_RETRY_MAX = 30 * 60 * 1000;

// A stream carries at most this many subscriptions (docs/protocol.md section 10).
const MAX_STREAM_TOPICS = 32;

function receiveOnly() {
  return new HeraldError('receive_only',
    'this client receives over Server-Sent Events (WebSocket is unavailable), which cannot publish or ping');
}

// roomPastBurst picks, of the subscriptions held past their address's
// burst (each refused as the sub.pastBurst-th topic its stream named),
// those a stream naming `naming` other topics asks for again: as many as
// leave the whole stream naming fewer topics than each one's pastBurst,
// the largest first. One refused again is then held with a smaller
// pastBurst than it had, and the row of refusals ends. Checked against
// the topics before each alone, one a later try made the stream longer
// for was held again with the same count, and the same stream asked for
// for ever (topics count unequally: one that keeps presence counts 3).
function roomPastBurst(held, naming) {
  const longest = [...held].sort((a, b) => b.pastBurst - a.pastBurst);
  let n = 0;
  while (n < longest.length && naming + n + 1 < longest[n].pastBurst) n++;
  return new Set(longest.slice(0, n));
}

class StreamMethods {
  // _fallBack switches to SSE after two attempts that looked blocked.
  // An upgrade held unanswered looks the same as one slower than
  // options.timeout (a node or network under load), and SSE cannot
  // publish: WebSocket is tried again after maxDelay, and after twice as
  // long each time it looks blocked again, at most WEBSOCKET_RETRY_MAX
  // (_retryWebSocketLater). Only one more such attempt is needed to
  // come back: a network that blocks it costs the stream one attempt.
  _fallBack() {
    this.transport = 'sse';
    const wait = Math.min(WEBSOCKET_RETRY_MAX, this.options.maxDelay * 2 ** this._fallBacks++);
    this._webSocketRetryAt = Date.now() + wait;
  }

  // _retryWebSocketLater keeps one timer, armed at each stream's opening
  // (a drop clears the client's timers), that leaves SSE for WebSocket
  // once the fallback's wait is over.
  _retryWebSocketLater() {
    this._timers.delete(this._webSocketTimer);
    clearTimeout(this._webSocketTimer);
    if (!this._webSocketRetryAt) return;
    this._webSocketTimer = this._later(Math.max(0, this._webSocketRetryAt - Date.now()), () => {
      if (this._closed || this.transport !== 'sse' || this.state !== 'connected') return;
      this._webSocketRetryAt = 0;
      this._closeStream();
      this._forget();
      this.transport = 'websocket';
      this._blockedLooks = 1;
      this._open();
    });
  }

  // _openStream opens one EventSource for every subscription, resuming
  // each exact topic from the position the client has of it (streamID),
  // or from the node's last id when its ids are not of version 1 (ownsIDs).
  // With no subscription there is nothing to stream: the
  // client counts as connected and opens one at the first subscribe.
  _openStream(wsURL, generation) {
    // Server-made subscriptions are the server's to make again (a token's
    // subs): asking for them could be forbidden. One refused for now waits
    // out its delay (_subscribeFailed). Those left out past the 32 a
    // stream carries are asked for again as they fit, once the page has
    // dropped others: with WebSocket blocked for good, they would wait
    // for it for ever, room or not. So are those refused past their
    // address's burst (_holdForWebSocket) that a stream naming fewer
    // topics than came up to each in the one that refused it can carry
    // (roomPastBurst): the page dropped others since, and they may fit.
    const open = [...this._subs.values()].filter((sub) => !sub.server && !isHeld(sub, { room: true }));
    const naming = open.filter((sub) => !sub.pastBurst && !this._claimTopics.has(sub.pattern)).length;
    const retried = roomPastBurst(open.filter((sub) => sub.pastBurst), naming);
    const subs = open.filter((sub) => !sub.pastBurst || retried.has(sub));
    for (const sub of subs) {
      sub.backlog = 0;
      sub.since = sub.exact && sub.epoch !== null ? { epoch: sub.epoch, seq: sub.seq } : undefined;
    }
    this._streamTopics = new Map();
    if (subs.length === 0) return this._streamOpened({ transport: 'sse', topics: [] });
    // Those of the token's subs claim the last stream carried (the page
    // took them) the node adds again by itself, whatever allow says:
    // asked for by name, one the token does not allow would have the
    // stream refused forbidden at every reopen. They are resumed through
    // the id as the others. A stream needs one topic asked for by name.
    const claimed = subs.filter((sub) => this._claimTopics.has(sub.pattern));
    const named = claimed.length < subs.length ? subs.filter((sub) => !this._claimTopics.has(sub.pattern)) : subs;
    for (const sub of named.slice(MAX_STREAM_TOPICS)) {
      this._holdForWebSocket(sub, new HeraldError('too_many_subscriptions',
        `a stream carries at most ${MAX_STREAM_TOPICS} subscriptions`));
      if (this.options.transport === 'auto') sub.noRoom = true;
    }
    // Its onError may have closed the client: a stream opened now would
    // be nobody's, open for good.
    if (this._stale(generation)) return;
    const url = new URL(toStreamURL(wsURL));
    for (const sub of named.slice(0, MAX_STREAM_TOPICS)) url.searchParams.append('topic', sub.pattern);
    const streamed = [...named.slice(0, MAX_STREAM_TOPICS), ...(named === subs ? [] : claimed)];
    this._streamTopics = new Map(streamed.map((sub) => [sub.pattern, sub]));
    const resume = ownsIDs(this._lastEventId) ? streamID(streamed) : this._lastEventId;
    if (resume) url.searchParams.set('last_event_id', resume);
    const es = new EventSource(url.toString());
    this._es = es;
    const current = () => this._es === es && generation === this._generation;
    const track = (ev) => { if (ev.lastEventId) this._lastEventId = ev.lastEventId; };
    es.addEventListener('subscribed', (ev) => {
      if (!current()) return;
      track(ev);
      const body = JSON.parse(ev.data);
      if (body.type) return this._receive(ev.data); // one the server made later
      this._noteClaim(url, body.topics);
      // What it carries fits, those tried again past the burst or the
      // 32 too: held again, they are told again.
      for (const sub of this._streamTopics.values()) Object.assign(sub, { pastBurst: 0, noRoom: false });
      this._streamOpened({ transport: 'sse', topics: body.topics });
      this._forgetServerSubs(body.topics);
      for (const t of body.topics) {
        // The 'connected' listeners, or a topic's onError or
        // onRecoveryFailed, may have closed the client: the rest would go
        // live on a closed client.
        if (!current()) return;
        this._onStreamSubscribed(t);
      }
    });
    for (const name of ['message', 'gap', 'unsubscribed', 'join', 'leave']) {
      es.addEventListener(name, (ev) => {
        if (!current()) return;
        track(ev);
        this._receive(ev.data);
      });
    }
    es.addEventListener('close', (ev) => {
      if (!current()) return;
      const { code } = JSON.parse(ev.data);
      this._streamLost({ code, reason: 'closed by the server' }, code);
    });
    es.onerror = () => {
      if (!current()) return;
      if (this.state === 'connected') return this._streamLost({ code: 1006, reason: 'stream lost' }, 1006);
      // Refused or unreachable before the first event: ask why, as for /ws.
      this._closeStream();
      this._forget();
      this._diagnose(url.toString(), { code: 1006, reason: 'stream refused' }, generation, wsURL);
    };
    this._later(this.options.timeout, () => {
      if (current() && this.state !== 'connected') this._streamLost({ code: 4100, reason: 'no stream in time' }, 4100);
    });
  }

  // _holdForWebSocket answers a subscription a stream cannot carry though
  // a WebSocket could (past the 32 a stream carries, or past its
  // address's burst with the others, err, refused in place `at` of its
  // stream): one whose client fell back to SSE by itself ('auto',
  // which tries WebSocket again: _fallBack) is left out of the streams
  // until the client is on WebSocket again (_onWelcome), until
  // connect(), or until a stream has room for it (past the 32:
  // sub.noRoom, set by _openStream; past the burst: sub.pastBurst, a
  // stream naming fewer topics than `at`), its handles told once
  // (onError), not again while it is held, whichever stream leaves it
  // out or refuses it, and 'subscribing' meanwhile. On 'sse' alone it
  // fails, as for good.
  _holdForWebSocket(sub, err, at = 0) {
    if (this.options.transport !== 'auto') return this._subscribeFailed(null, sub, err);
    const told = sub.pastBurst > 0 || sub.noRoom;
    if (at > 0) sub.pastBurst = at;
    if (told) return;
    err.topic = sub.pattern;
    for (const entry of sub.listeners) callSafely(entry.handlers.onError, err);
  }

  _streamOpened(info) {
    if (this.state === 'connected') return;
    this._tokenRefused = false;
    // A reopen (its subscriptions changed, a held one came back, a new
    // token) goes on with the connection: it lives, for the backoff
    // (_scheduleReconnect), since the first stream after a drop opened,
    // as a WebSocket does since its welcome. Counted from each reopen,
    // one healthy for hours but reopened every few seconds never lived
    // long enough to start the backoff over.
    if (!this._openedAt) this._openedAt = Date.now();
    const generation = this._generation;
    this._setState('connected', info);
    // A 'state' listener may have closed the client: no reopen, retry or
    // refresh (which asks the token function) is the closed client's.
    if (this._stale(generation)) return;
    this._failOutbox(receiveOnly());
    // A subscription made, or a token given, while the stream was being
    // opened is not in it: reopened with it, as a WebSocket sends a
    // subscribe (or a refresh) once welcomed.
    // So is one that carries a subscription the page dropped meanwhile
    // (the drop had no stream to reopen), as a WebSocket welcomed does not
    // subscribe to it again: the node would hold it for nobody.
    if (this._missingFromStream() || this._carriesDropped() || this._openTokenVersion !== this._tokenVersion) {
      this._reopenStreamSoon();
    }
    this._retryHeldLater();
    this._retryWebSocketLater();
    // A stream cannot take a `refresh`: reopened with a new token before
    // exp, it does not end at exp (close 4001) to come back after a backoff.
    this._scheduleRefresh();
  }

  // _missingFromStream says whether a subscription of the page's is not
  // in the stream and not held out of it for now.
  _missingFromStream() {
    return [...this._subs.values()].some((sub) => !sub.server && !isHeld(sub) && !this._streamTopics.has(sub.pattern));
  }

  // _carriesDropped says whether the stream carries a subscription the
  // page no longer has.
  _carriesDropped() {
    return [...this._streamTopics.keys()].some((pattern) => !this._subs.has(pattern));
  }

  // _retryHeldLater reopens the stream once the first subscription held
  // out of it (refused for now) may be asked for again. One timer: the
  // stream, reopened meanwhile, schedules it again. It waits for every
  // subscription a hold left out of the stream, whether or not its hold
  // has ended by now: the clock passes the end of one between
  // _missingFromStream (held, so no reopen) and here, and a timer only
  // for those still held would leave it out for good.
  _retryHeldLater() {
    this._timers.delete(this._heldTimer);
    clearTimeout(this._heldTimer);
    const left = [...this._subs.values()].filter((sub) => !sub.server && sub.heldUntil && !this._streamTopics.has(sub.pattern));
    const until = Math.min(...left.map((sub) => sub.heldUntil));
    if (until === Infinity) return;
    this._heldTimer = this._later(Math.max(0, until - Date.now()), () => {
      if (!this._isOpen() || this.transport !== 'sse') return;
      if (this._missingFromStream()) this._reopenStreamSoon();
      else this._retryHeldLater(); // a timer a little early
    });
  }

  // _onStreamSubscribed answers one topic of the subscribed event as the
  // WebSocket's subscribed reply would be answered. A topic the client has
  // a position of that the stream did not resume all the same (two of its
  // topics whose hashes in the id are alike, one the last id of a node
  // whose ids are of another version does not name) starts afresh, and says nothing of recovered
  // (docs/protocol.md section 10): what came meanwhile is missed, as a
  // resume's recovered:false says.
  _onStreamSubscribed(topic) {
    const sub = this._subs.get(topic.topic);
    // One the page asked for and dropped while the stream opened is
    // nobody's: the stream is reopened without it (_streamOpened).
    if (!sub && this._streamTopics.has(topic.topic)) return;
    // One the page did not ask for: the token's subs. One of them a stream
    // before made too is answered here as the page's are: the reopen left
    // it waiting for this answer (_reopenStreamSoon), and held its
    // messages meanwhile (_holdEarly).
    if (!sub) return this._onSubscribed({ type: 'subscribed', ...topic, server: true });
    const id = 'sse:' + topic.topic;
    this._subscribing.set(id, sub);
    const afresh = sub.since && topic.recovered === undefined;
    this._onSubscribed({ type: 'subscribed', id, ...topic, ...(afresh ? { recovered: false } : {}) });
  }

  // _noteClaim keeps, as a stream opens, which of its topics are its
  // token's subs claim: those it lists that the request (url) did not
  // name. One the client left for the claim to carry and this stream does
  // not (a new token's claim lacks it) is not in the stream: asked for by
  // name at once (_streamOpened), as a subscription made meanwhile is.
  _noteClaim(url, topics) {
    const named = new Set(url.searchParams.getAll('topic'));
    this._claimTopics = new Set(topics.map((t) => t.topic).filter((topic) => !named.has(topic)));
    for (const pattern of [...this._streamTopics.keys()]) {
      if (!named.has(pattern) && !this._claimTopics.has(pattern)) this._streamTopics.delete(pattern);
    }
  }

  // _forgetServerSubs drops, as a stream opens, what the server made on
  // the streams before: a backend's subscription belonged to the stream it
  // was made on, as on a WebSocket to its connection (_forget). Of those
  // the page did not take, the new stream carries only its token's subs,
  // listed in its subscribed event (topics).
  _forgetServerSubs(topics) {
    this._serverMade.clear();
    const carried = new Set(topics.map((t) => t.topic));
    for (const sub of [...this._subs.values()]) if (sub.server && !carried.has(sub.pattern)) this._subs.delete(sub.pattern);
  }

  _streamLost(info, code) {
    this._closeStream();
    this._dropConnection(info, code);
  }

  _closeStream() {
    if (!this._es) return;
    this._es.close();
    this._es = null;
  }

  // _reopenStreamSoon reopens the stream once the subscriptions made in the
  // same turn are all in, so that a burst of them costs one stream.
  _reopenStreamSoon() {
    if (this._reopening || this._closed) return;
    this._reopening = true;
    queueMicrotask(() => {
      this._reopening = false;
      if (this._closed || this.transport !== 'sse' || this.state !== 'connected') return;
      const generation = this._generation;
      this._closeStream();
      for (const sub of this._subs.values()) sub.live = false;
      this._setState('connecting');
      if (this._stale(generation)) return; // closed in a 'state' listener
      this._currentToken().then(({ token, version }) => {
        if (this._stale(generation)) return;
        this._openTokenVersion = version;
        let url = this.url;
        if (token) url += (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token);
        this._openStream(url, generation);
      }, (err) => {
        if (this._stale(generation)) return;
        this._forget();
        this._tokenFailed(err);
      });
    });
  }

  // _streamCommand answers a command over SSE, which only receives.
  _streamCommand(cmd) {
    switch (cmd.type) {
      case 'unsubscribe':
        // One held out of the stream (refused for now) is in none: a
        // reopen would resume every other topic, and ask the subscribe
        // hook about each again, for nothing.
        if (this._streamTopics.has(cmd.topic)) this._reopenStreamSoon();
        return Promise.resolve({ type: 'unsubscribed', topic: cmd.topic });
      case 'refresh':
        // What the reopened stream opens with. A stream being opened
        // meanwhile, with the token before, is reopened with it once open
        // (_streamOpened), as with one setToken gave: a refresh before exp
        // whose answer came then would otherwise end at the old one's exp.
        this._token = cmd.token;
        this._tokenVersion++;
        this._reopenStreamSoon();
        return Promise.resolve({ type: 'refreshed' });
      default:
        return Promise.reject(receiveOnly());
    }
  }
}

addMethods(Herald, StreamMethods);
