// herald.js: the browser client for Herald (docs/protocol.md, version 1.1).
// An ES module with no dependencies; types are in herald.d.ts beside it.
//
//   import { Herald } from '/herald.js';
//   const h = new Herald('/ws', { token: () => fetch('/token').then(r => r.text()) });
//   h.on('state', (state, info) => console.log(state, info));
//   const sub = h.subscribe('chat.lobby', msg => console.log(msg.seq, msg.data), {
//     onRecoveryFailed: info => console.warn('messages may be missing', info),
//     onGap: gap => console.warn(`messages ${gap.from}..${gap.to} are lost`),
//   });
//   h.connect();
//   await h.publish('chat.lobby', { text: 'hi' });   // resolves {topic, seq, msg}
//   sub.unsubscribe();
//   h.close();
//
// new Herald(url, options): url is ws(s)://, http(s):// or a path such as
//   '/ws' (resolved against the page); it defaults to '/ws' on this page's host.
//   options.token          a JWT string, or a function returning one (or a
//                          Promise of one). A function is asked again when the
//                          server closes with 4001 (token expired), when the
//                          cached token's exp has passed, and shortly before exp
//                          to send a `refresh` so the connection never drops.
//                          One that fails, or gives no token within
//                          options.timeout, is an 'error' (code 'token'),
//                          once, and the attempt (a stream's reopen too)
//                          is retried with the usual backoff.
//   options.urls           more nodes of the same cluster (same kinds of URL as
//                          url): after every drop or failed attempt the client
//                          moves on to the next of url, ...urls, in turn, so a
//                          dead node is left for a live one and subscriptions
//                          resume there (the nodes share history through Redis);
//                          a node that takes the connection and answers
//                          nothing (stopped, wedged) is left after
//                          options.timeout for the upgrade and as long
//                          again for a plain GET asking why
//   options.minDelay       first reconnect delay in ms (500)
//   options.maxDelay       largest reconnect delay in ms (30000)
//   options.timeout        ms a command waits for its reply (10000)
//   options.pingInterval   ms of silence after which a `ping` checks the link;
//                          default: the server's heartbeat; 0 turns it off
//   options.refreshMargin  seconds before exp to refresh the token (30)
//   options.transport      'auto' (default), 'websocket' or 'sse': see below
//
// h.subscribe(pattern, fn, handlers): handlers.onRecoveryFailed, onGap,
//   onError as above, and handlers.backlog: N, for an exact topic, delivers
//   its last N messages from history (fewer when history holds fewer)
//   before the live ones, with none missing and none twice. The returned
//   Subscription has `ready` (settles on the server's answer, after the
//   backlog's), `state` ('subscribing', 'live', 'failed', 'unsubscribed'),
//   `position` ({epoch, seq} last delivered, exact topics) and unsubscribe().
//   The last callback's unsubscribe() ends the subscription on the server:
//   one refused for now (rate_limited) is asked again after a delay that
//   grows as the reconnects' does, until the server takes it, the page
//   subscribes to the topic again, or the connection ends (which ends it);
//   its promise resolves then. Its callbacks get nothing from the call on.
//   An exact topic's fn starts after the seq of the server's first answer
//   (or N before it, with a backlog) and gets each message once, in seq
//   order, also when a pattern of this client already brings the topic,
//   or when the page subscribes to it again at once after unsubscribing:
//   what the pattern, or the node's old subscription, brings of it before
//   the topic's subscribe or resume is answered waits for the answer, then
//   comes in its place, or not at all when it is older than where the
//   subscription starts. A pattern's
//   fn gets a topic's messages as they come, each once: history a resume
//   sends again of what the pattern got live is not given to it again
//   (_newToPatterns), and its onGap is told of each lost seq once: a gap
//   over seqs it got or was told of (another node's finding, after a
//   reconnect) is told of the rest alone, in parts when they are apart.
// h.setToken(token) replaces the token: a `refresh` when connected, the
//   next connect's token otherwise; one given while a connection is
//   being opened with the token before is sent in a `refresh` once
//   welcomed (an 'error' if refused), and a stream being opened is
//   reopened with it once open; a token function's answer asked before
//   it (an attempt's, or a refresh's before exp) does not replace it.
//
// Reconnecting: after any drop except close(), the client waits an
// exponentially growing, jittered delay (cut short when the browser comes
// back online; it starts over at connect() and after a connection that
// lived longer than maxDelay: over SSE, a stream with the reopens that
// followed it), reconnects, and resubscribes every
// subscription. Slow-consumer closes (4000) in a row grow a delay of
// their own, so a client that cannot keep up does not come back every
// minDelay to read a queue of history; one that finds it with less left
// to read than at the 4000 before (a long resume handed over in pieces,
// each closed 4000 behind what fits) waits the delay before it again, and
// the failed attempts before (a node down) do not lengthen it. An exact
// topic resumes with `since` = the epoch and seq it last saw, so nothing that
// history still holds is lost and nothing is shown twice. When the server
// says `recovered:false`, or the subscription is a pattern (patterns cannot
// resume), onRecoveryFailed tells the app that messages may be missing.
// While live, the server sends a `gap` in place of messages it accepted but
// can no longer deliver: onGap gets {topic, epoch, from, to} (and pattern)
// and a later resume starts after `to`.
//
// Server-Sent Events: with transport 'auto', two WebSocket attempts in a
// row that fail before `welcome` while the node answers plain HTTP and
// refuses nothing (a proxy or network that blocks WebSocket, refusing the
// upgrade or holding it unanswered; the second is made at once) switch
// the client to GET /sse (beside the /ws URL) through EventSource, until
// close() or a stop (the next connect() tries WebSocket again), until
// a node answers /sse with 404 (it predates SSE), or until WebSocket,
// tried again after maxDelay, is welcomed: an upgrade slower than
// options.timeout (a node or network under load) looks held too, and SSE
// cannot publish. One more attempt that looks blocked goes back to SSE,
// and the next try waits twice as long (at most 30 minutes). A try
// closes the stream while it lasts (up to options.timeout when the
// upgrade is held): exact topics resume after it, and patterns hear
// onRecoveryFailed.
// 'sse' uses it from the start, 'websocket' never. Over SSE the client only
// receives: one stream carries every subscription (at most 32), reopened
// when they change and after any drop, resuming every exact topic from
// the position the client has of it, as a WebSocket resumes it (the
// last_event_id is made of those positions: nothing missing, nothing
// twice while history holds it, onRecoveryFailed otherwise; from a node
// whose ids are of another version than 1, the last id it sent).
// publish(), ping() and presence() reject with code
// 'receive_only'; setToken(), and a token function's refresh before exp,
// reopen the stream with the new token; a stream refused for one of its
// topics (the node names it) fails that subscription alone (onError:
// forbidden, invalid_topic) or, refused for now by a subscribe hook
// (unavailable, rate_limited), leaves it out for a delay that grows as a
// subscribe's refused for now does ('error' as over WebSocket), or,
// refused too_many_subscriptions (with the others and the token's subs,
// more of the address's command budget at once than its burst), leaves
// it out until the client is on WebSocket again, where it would fit,
// as it does those past the 32 a stream carries, or until a stream has
// room for them (onError tells each handle once; with transport 'sse'
// they fail), and opens
// at once with the others (a subscription of the topic the page made
// again while the client asked why, or in onError, is left out as well
// for such a delay: asked for at once, it could be refused again at once);
// handlers.backlog is ignored, and so is presence: a stream has none, so
// onPresence, onJoin and onLeave are never called, and a subscription's
// onError hears it once (code 'receive_only', err.topic its topic) while
// its messages go on, and once more at each fallback after WebSocket
// gave it presence again. The 'connected' state's info is
// {transport: 'sse', topics} (the stream's subscribed event).
//
// Publishing is never retried: a publish whose connection drops before its
// reply rejects with code 'disconnected' (it may or may not have been
// accepted), as may one rejected 'unavailable'; the app decides whether to
// send it again. Every publish carries an idempotency_key, a random UUID or
// publish(topic, data, {idempotencyKey}); its error carries it as
// err.idempotencyKey, so publishing again with that key cannot publish twice.
// A publish made while not connected waits for the next connection, up to
// options.timeout.
//
// Presence (docs/protocol.md section 8): h.presence(topic) resolves
// {topic, users, sessions, members: [{user, sessions, info}]}: one page of
// members, with truncated: true when more follow (a large topic), read on
// with h.presence(topic, {after: lastUser}); h.presenceAll(topic) reads
// every page (truncated stays only if a truncated page listed nobody). A
// subscription with handlers.onJoin, onLeave or onPresence is made with
// presence:true: onJoin({topic, user, info}) when a user's first connection
// arrives, onLeave({topic, user}) when its last one goes (never for this
// client's own arrival), and onPresence(reply) with the whole member list,
// every page, each time the subscription goes live (after every reconnect
// too), so that a member list is onPresence's list with the joins and
// leaves after it. The joins and leaves that arrive while the pages are
// read are applied to that list before onPresence gets it (users is then
// its length). Presence asked of a live subscription (a second subscribe
// with such handlers), or of one whose backlog loads, or of a first
// subscribe some of whose handles did not ask for it (made before
// connect(), or before the first's answer), on a topic that keeps none
// is refused presence_off:
// the subscription goes on without presence, every handle of it live, and
// the handlers that asked for presence hear the refusal in onError once;
// so it does when the answer was lost to a drop and the reconnect's
// resume, asking for presence, is refused (it is resumed again without).
// A backlog is loaded by subscribing again; on a presence topic the node
// hides that from the others when it gets both commands together, and
// otherwise they see this user leave and join (when it has no other tab).
//
// Server-side control (section 9): a subscription the server made (the
// token's subs claim, or a backend's POST /api/subscribe) is announced by
// the 'subscribed' event; h.subscribe(topic, fn) on it adds callbacks.
// One the page did not take lasts its connection (over SSE: its stream,
// which a reopen ends, but for the token's subs, which every stream
// carries: one the page took is left to them, resumed through the
// stream's id, not asked for by name); one it took is
// resubscribed after a reconnect like its own, which the server grants for
// the token's subs (made again on every connection) or a topic the token
// allows, and otherwise refuses (onError). A subscribe of the page's that
// the node refused while the server made the same subscription on the
// connection, before the refusal or after it (the page asked before a
// backend's order it raced), takes that one up: its onError hears the
// refusal (ready rejects), then its state is 'live' again and fn gets the
// topic's messages (and onRecoveryFailed is told when the page had a
// position of the topic, a refused resume's, that the server's starts
// after). The client keeps for that the 1000 newest refused
// subscriptions, none the page unsubscribed every handle of. When the server
// ends a subscription (reason 'server': a backend; 'forbidden': a refresh
// that no longer allows it) its callbacks stop, handlers.onUnsubscribed
// gets {topic, reason}, and the 'unsubscribed' event fires. Close 4004 (the
// backend disconnected this client) stops the client: no reconnect, state
// 'stopped' with error code 'disconnected_by_server'.
//
// Events (h.on(name, fn) returns a function that removes fn):
//   'state'  (state, info): 'connecting' | 'connected' | 'disconnected' |
//            'stopped'; info is the welcome on connected, {code, reason,
//            retryIn, error} on disconnected (retryIn is null after close())
//            and on stopped: the client gave up by itself (a refusal that
//            retrying cannot cure; error says which) until connect() again
//   'error'  (err: HeraldError): a failure not tied to one promise; a
//            refused connection attempt carries the server's HTTP status
//            as err.status; a subscribe refused unavailable for now (it is
//            tried again after a delay that grows with each refusal in a
//            row as the reconnects' does, as is one rate_limited) carries
//            its topic as err.topic; so does 'too_many_patterns': the node
//            closed with 1008 as more than 16 of this client's patterns
//            match that topic (docs/protocol.md section 6), and the page's
//            newest of them past 16 fail (onError) before the reconnect,
//            which would otherwise be closed again at its next message
//   'subscribed'   (reply): the server subscribed this client ("server":true)
//   'unsubscribed' ({topic, reason}): the server ended a subscription
//
// Refused connections: the server refuses a bad token (401), an origin
// (403), a client over its limits (429) or a node near capacity (503)
// before the WebSocket opens, and a browser shows a page only close code
// 1006 for all of them. So when an attempt ends before `welcome`, the client
// asks the same URL over plain HTTP (fetch; the node answers with CORS), and
// emits 'error' with the server's code, message and status. On
// 'unauthorized' a token function is asked again, once: the same refusal
// with the new token stops the client, as does 'unauthorized' with a fixed
// token and 'forbidden'. Other refusals (rate_limited, unavailable) are
// retried with the usual backoff.

/** An error from the server (err.code is its code) or from the client. */
export class HeraldError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = 'HeraldError';
    this.code = code;
  }
}

// What a refused attempt's answer can say; anything else is retried as a
// drop. A token refused twice in a row (once after asking the token
// function again) stays refused.
const FINAL_REFUSALS = new Set(['forbidden']);

// Codes that mean "try the same command again later".
const RETRYABLE = new Set(['unavailable', 'rate_limited']);

export class Herald {
  constructor(url, options = {}) {
    // Every node the client may use, in the order it tries them; this.url
    // is the one in use (or tried next).
    if (options.urls !== undefined && !Array.isArray(options.urls)) {
      throw new HeraldError('bad_option', 'options.urls must be an array of URLs');
    }
    this.urls = [url, ...(options.urls || [])].map(toWebSocketURL);
    this.url = this.urls[0];
    this._urlIndex = 0;
    this.options = {
      minDelay: 500, maxDelay: 30000, timeout: 10000, refreshMargin: 30, transport: 'auto', ...options,
    };
    if (!['auto', 'websocket', 'sse'].includes(this.options.transport)) {
      throw new HeraldError('bad_option', "options.transport must be 'auto', 'websocket' or 'sse'");
    }
    // 'websocket' or 'sse': what _open uses now ('auto' starts with WebSocket).
    this.transport = this.options.transport === 'sse' ? 'sse' : 'websocket';
    this._es = null; // the EventSource while on SSE
    // What the last stream opened carries: each pattern, and the
    // subscription it was asked for (one made again since is another).
    this._streamTopics = new Map();
    // The topics of the token's subs claim the last stream carried without
    // being asked for them (_noteClaim).
    this._claimTopics = new Set();
    // The id of the last event a stream sent: its version says whether
    // the client may make the ids it resumes with (streamID), and of
    // another version it is the resume.
    this._lastEventId = null;
    this.state = 'disconnected';
    this._listeners = { state: new Set(), error: new Set(), subscribed: new Set(), unsubscribed: new Set() };
    this._stateTurn = 0; // bumped by each _setState
    this._subs = new Map(); // pattern -> subscription state
    this._subscribing = new Map(); // subscribe command id -> subscription
    this._presenceAsked = new Set(); // ids of those of them sent with presence:true
    // Of this connection (or stream): the server's subscribed of each
    // subscription it made, and the page's subscriptions the node refused,
    // which one the server makes of the same pattern takes up
    // (_onServerSubscribed): the MAX_REFUSED newest, none the page
    // unsubscribed (_keepRefused).
    this._serverMade = new Map(); // pattern -> {reply, told: whether the 'subscribed' event had it}
    this._refused = new Map(); // pattern -> subscription, oldest first
    this._loads = new Map(); // a backlog load's unsubscribe id -> {sub, resume} (_sendLoad)
    this._pending = new Map(); // command id -> {resolve, reject, timer, sent}
    this._outbox = []; // commands waiting for a connection
    this._nextId = 1;
    this._attempt = 0;
    this._slowAttempt = 0; // slow-consumer closes in a row (_scheduleReconnect)
    this._behindAtSlowClose = Infinity; // _nearerAtSlowClose
    this._blockedLooks = 0; // attempts in a row that looked blocked on the way
    this._fallBacks = 0; // fallbacks to SSE since WebSocket last worked (_fallBack)
    this._webSocketRetryAt = 0; // when a fallback tries WebSocket again, or 0
    this._recentTopics = new Set(); // of the last messages (_noteTopic)
    this._patternSeen = new Map(); // topic -> {epoch, runs} of the seqs patterns got (_newToPatterns)
    this._ws = null;
    this._token = typeof options.token === 'string' ? options.token : null;
    // Bumped by setToken (and over SSE by a refresh, which a stream
    // cannot take): a connection or stream opened with an older token
    // (_openTokenVersion) takes the newest once open.
    this._tokenVersion = 0;
    this._openTokenVersion = 0;
    this._timers = new Set();
    this._closed = true;
    this._generation = 0; // bumped by close(), so a stale _open gives up
    // When the browser comes back online, waiting out the backoff helps nobody.
    this._reconnectNow = () => {
      if (this._closed || this._ws || this.state !== 'disconnected') return;
      this._clearTimers();
      this._open();
    };
  }

  /** Opens the connection (and keeps it open until close()). */
  connect() {
    if (!this._closed) return;
    this._closed = false;
    // A fallback to SSE lasts until close() (or a stop): the network that
    // blocked WebSocket may be gone by the next start. So does the backoff
    // the attempts before it grew: a drop of the new start waits minDelay.
    this.transport = this.options.transport === 'sse' ? 'sse' : 'websocket';
    this._blockedLooks = this._fallBacks = this._webSocketRetryAt = 0;
    this._attempt = this._slowAttempt = 0;
    this._openedAt = 0; // no connection yet: a stream's first open sets it
    this._behindAtSlowClose = Infinity;
    // The delays of subscribes refused for now start over too: the new
    // connection asks for them at once over either transport (a stream
    // left them out until their delay had passed, up to maxDelay).
    for (const sub of this._subs.values()) {
      sub.heldUntil = sub.retries = 0;
      sub.untilWebSocket = sub.noRoom = false;
    }
    globalThis.addEventListener?.('online', this._reconnectNow);
    this._open();
  }

  /** Closes the connection for good; pending commands reject. */
  close() {
    if (this._closed) return;
    this._closed = true;
    this._generation++;
    globalThis.removeEventListener?.('online', this._reconnectNow);
    if (this._ws) this._ws.close(1000);
    this._closeStream();
    this._dropConnection({ code: 1000, reason: 'closed by client' }, null);
  }

  on(event, fn) {
    const set = this._listeners[event];
    if (!set) throw new HeraldError('bad_event', `unknown event "${event}"`);
    set.add(fn);
    return () => set.delete(fn);
  }

  /**
   * Subscribes fn to a topic or pattern; returns a Subscription whose
   * `ready` settles on the server's answer and whose unsubscribe() stops fn.
   */
  subscribe(pattern, fn, handlers = {}) {
    let sub = this._subs.get(pattern);
    const presence = wantsPresence(handlers);
    if (!sub) {
      sub = newSub(pattern);
      // backlog: the first reply gives the topic's position, then a resume
      // from N before it loads the last N messages (_loadBacklog).
      if (sub.exact && handlers.backlog > 0) sub.backlog = Math.floor(handlers.backlog);
      sub.presence = presence;
      this._subs.set(pattern, sub);
      if (this._isOpen()) this._sendSubscribe(sub);
    } else if (presence && !sub.presence) {
      // Asking again with presence:true turns joins and leaves on (a
      // stream has none to turn on: _noPresenceOverStream).
      sub.presence = true;
      if (this._isOpen() && this.transport !== 'sse') this._sendSubscribe(sub);
    }
    sub.server = false; // the page's now: kept across reconnects
    const entry = { fn, handlers };
    sub.listeners.add(entry);
    const ready = new Promise((resolve, reject) => { entry.ready = { resolve, reject }; });
    ready.catch(() => {}); // the app need not await ready
    if (sub.live) entry.ready.resolve(sub.reply);
    if (sub.live && presence && this.transport === 'sse') this._noPresenceOverStream(sub);
    return {
      topic: pattern,
      ready,
      /** 'subscribing' (or resubscribing), 'live', 'failed' or 'unsubscribed'. */
      get state() {
        if (entry.state) return entry.state;
        return sub.live ? 'live' : 'subscribing';
      },
      /** The last epoch and seq delivered (exact topics), or null. */
      get position() { return sub.exact && sub.epoch !== null ? { epoch: sub.epoch, seq: sub.seq } : null; },
      unsubscribe: () => { entry.state = 'unsubscribed'; return this._unsubscribe(sub, entry); },
    };
  }

  /**
   * Publishes data to a topic; resolves {topic, seq, msg} or rejects a
   * HeraldError whose idempotencyKey publishes it again safely.
   */
  publish(topic, data, options = {}) {
    const key = options.idempotencyKey ?? newKey();
    return this._command({ type: 'publish', topic, data, idempotency_key: key }).catch((err) => {
      err.idempotencyKey = key;
      throw err;
    });
  }

  /**
   * Replaces the token: sent at once in a `refresh` when connected (resolves
   * on `refreshed`, rejects unauthorized if the server refuses it, the old
   * one staying in force), used by the next connect otherwise. One given
   * while a connection or stream is being opened with the token before
   * it is sent in a `refresh` once welcomed, or reopens the stream, once
   * it is open. With a token function, the function is still asked when
   * this one expires.
   */
  setToken(token) {
    this._token = token;
    this._tokenVersion++;
    this._tokenRefused = false;
    if (typeof this.options.token !== 'function') this.options.token = token;
    if (!this._isOpen()) return Promise.resolve();
    return this._command({ type: 'refresh', token }).then(() => undefined);
  }

  /**
   * Asks who is on a presence topic; resolves the reply {topic, users,
   * sessions, members, truncated} or rejects a HeraldError (presence_off,
   * forbidden...). members is one page: truncated is true when more
   * follow, listed by asking again with options.after set to the last
   * member's user. users and sessions count the whole topic.
   */
  presence(topic, options = {}) {
    const cmd = { type: 'presence', topic };
    if (options.after !== undefined) cmd.after = options.after;
    return this._command(cmd);
  }

  /**
   * Asks for every member of a presence topic, page after page; resolves
   * the last reply with members holding every page's, and truncated only
   * when the list is still incomplete (a truncated page listed nobody, so
   * there is no user to ask after).
   */
  async presenceAll(topic) {
    let reply = await this.presence(topic);
    const members = [...reply.members];
    while (reply.truncated && reply.members.length > 0) {
      reply = await this.presence(topic, { after: members[members.length - 1].user });
      members.push(...reply.members);
    }
    const all = { ...reply, members };
    if (!reply.truncated) delete all.truncated;
    return all;
  }

  /** Sends a ping command; resolves when the pong arrives. */
  ping() {
    return this._command({ type: 'ping' });
  }

  // ---- connection lifecycle ----

  async _open() {
    const generation = this._generation;
    this._setState('connecting');
    // A 'state' listener may have closed the client (and connect() started
    // another attempt): the token function is not asked for nobody.
    if (this._stale(generation)) return;
    let url = this.url;
    let version;
    try {
      let token;
      ({ token, version } = await this._currentToken());
      if (token) url += (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token);
    } catch (err) {
      // A close() while it was asked ended this attempt: a word now, or a
      // retry, would come from a client closed, or run beside the chain a
      // connect() since then started.
      if (this._stale(generation)) return;
      this._tokenFailed(err);
      return;
    }
    if (this._stale(generation)) return;
    this._openTokenVersion = version;
    if (this.transport === 'sse') return this._openStream(url, generation);
    const ws = new WebSocket(url);
    this._ws = ws;
    ws.onmessage = (ev) => this._receive(ev.data);
    ws.onclose = (ev) => {
      if (this._ws !== ws) return;
      const info = { code: ev.code, reason: ev.reason };
      if (this.state === 'connected') return this._dropConnection(info, ev.code);
      // Refused, or closed before welcome: ask why over plain HTTP.
      this._forget();
      this._diagnose(url, info, generation);
    };
    // A handshake that hangs would otherwise hold the client forever.
    this._later(this.options.timeout, () => {
      if (this._ws !== ws || this.state === 'connected') return;
      if (ws.readyState !== WebSocket.CONNECTING) return this._abandon('no welcome in time');
      // The upgrade was never answered: a proxy holding it back, or a node
      // that hangs (stopped, overloaded) and answers nothing else either.
      // Asked over plain HTTP, as for a refusal: only an answer there
      // makes it look blocked, so a hung node is passed over for the next
      // one rather than sending the client to SSE for good.
      this._forget();
      ws.close(4100, 'no welcome in time');
      this._diagnose(url, { code: 4100, reason: 'no welcome in time' }, generation);
    });
  }

  _isOpen() {
    return this.state === 'connected';
  }

  _onWelcome(welcome) {
    this._tokenRefused = false;
    this._blockedLooks = this._fallBacks = 0;
    this._openedAt = Date.now();
    this._lastHeard = Date.now();
    const generation = this._generation;
    this._setState('connected', welcome);
    // A 'state' listener may have closed the client: nothing to send on.
    if (this._stale(generation)) return;
    for (const sub of this._subs.values()) sub.untilWebSocket = sub.noRoom = false; // each subscribe fits here
    // Exact subscriptions first: the server runs a connection's commands
    // in order, so each resume has sent what its topic missed before a
    // pattern that covers the topic goes live, and the pattern's listeners
    // get those messages in order rather than after newer ones. Not
    // always: a subscribe hook may answer the pattern first, and a resume
    // refused for now is tried again later; what the pattern brings of the
    // topic meanwhile waits for the resume (_holdEarly).
    for (const sub of this._subs.values()) if (sub.exact) this._sendSubscribe(sub);
    for (const sub of this._subs.values()) if (!sub.exact) this._sendSubscribe(sub);
    const waiting = this._outbox;
    this._outbox = [];
    for (const cmd of waiting) this._transmit(cmd);
    if (this._openTokenVersion !== this._tokenVersion) this._refreshWith(this._token);
    this._startPings(welcome.heartbeat);
    this._scheduleRefresh();
  }

  // _dropConnection forgets the socket, fails what waited on it and, unless
  // closed, schedules the next attempt.
  // An 'error' listener that closed the client (close() dropped it
  // itself), and maybe connected it again, ends it here: a stop or a
  // reconnect after it would undo the close, or run beside the new attempt.
  _dropConnection(info, code) {
    const generation = this._generation;
    if (code === 1008 && !this._closed) {
      // More than 16 of our patterns matched one topic: the same ones,
      // resubscribed, would be closed again at its next message, for good.
      const err = this._dropOverlapping();
      if (generation !== this._generation) return;
      if (err) info = { ...info, error: err };
    }
    this._forget();
    if (code === 4004 && !this._closed) {
      // The backend disconnected this client: coming back would undo it.
      const err = new HeraldError('disconnected_by_server', 'the server disconnected this client (close 4004)');
      this._emitError(err);
      if (generation !== this._generation) return;
      return this._stop({ ...info, error: err });
    }
    if (code === 4001 && !this._closed) {
      if (typeof this.options.token === 'function') {
        this._token = null; // ask the token function again
      } else {
        // A fixed token cannot be renewed: reconnecting would fail again.
        const err = new HeraldError('token_expired', 'token expired and no token function to renew it');
        this._emitError(err);
        if (generation !== this._generation) return;
        return this._stop({ ...info, error: err });
      }
    }
    if (this._closed) {
      this._failOutbox(new HeraldError('closed', 'client closed'));
      this._setState('disconnected', { ...info, retryIn: null });
      return;
    }
    this._scheduleReconnect(info);
  }

  // _dropOverlapping answers a close 1008 (docs/protocol.md section 6: more
  // than MAX_MATCHING_PATTERNS of a connection's patterns match one topic,
  // closed after that topic's message; the node's other 1008s, a message
  // not whole within 10 s or an address holding too many unfinished
  // ones, leave no such topic, and nothing is dropped). The topic is
  // found among those of the last messages, and the page's patterns that
  // match it past that many, the newest first, fail (onError), as the newest past
  // too_many_subscriptions would, so that the reconnect keeps the rest.
  // Those the server made are made again whatever the client does, and
  // are kept first. Returns the error emitted, or null.
  _dropOverlapping() {
    for (const topic of [...this._recentTopics].reverse()) {
      const have = topic.split('.');
      const matching = [...this._subs.values()].filter((sub) => !sub.exact && matchTokens(sub.tokens, have));
      if (matching.length <= MAX_MATCHING_PATTERNS) continue;
      const err = new HeraldError('too_many_patterns',
        `more than ${MAX_MATCHING_PATTERNS} of this client's patterns match ${topic}: the newest of them are dropped`);
      err.topic = topic;
      const kept = matching.filter((sub) => sub.server).length;
      const page = matching.filter((sub) => !sub.server);
      for (const sub of page.slice(Math.max(0, MAX_MATCHING_PATTERNS - kept))) this._subscribeFailed(null, sub, err);
      this._emitError(err);
      return err;
    }
    return null;
  }

  // _noteTopic keeps the topics of the last messages, newest last, for
  // _dropOverlapping: a message of another topic may come between the one
  // that matched too many patterns and the close.
  _noteTopic(topic) {
    this._recentTopics.delete(topic);
    this._recentTopics.add(topic);
    if (this._recentTopics.size > RECENT_TOPICS) this._recentTopics.delete(this._recentTopics.values().next().value);
  }

  // _forget drops the socket and fails what was sent on it.
  _forget() {
    this._ws = null;
    this._clearTimers();
    this._recentTopics.clear();
    for (const [id, p] of this._pending) {
      if (!p.sent) continue;
      this._pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new HeraldError('disconnected', 'connection lost before the reply'));
    }
    for (const sub of this._subs.values()) {
      sub.live = false;
      // One the server made and the page never took lasts one connection.
      if (sub.server) this._subs.delete(sub.pattern);
    }
    this._serverMade.clear();
    this._refused.clear();
    this._subscribing.clear();
    this._presenceAsked.clear();
    this._loads.clear();
  }

  _failOutbox(err) {
    for (const cmd of this._outbox) this._fail(cmd.id, err);
    this._outbox = [];
  }

  // _stale reports whether what began at generation is no longer the
  // client's to go on with: the page closed the client since, or closed
  // and connected it again (as it may from any listener or handler).
  _stale(generation) {
    return this._closed || generation !== this._generation;
  }

  // _stop gives up until connect(): what failed would fail again.
  _stop(info) {
    this._closed = true;
    this._generation++;
    globalThis.removeEventListener?.('online', this._reconnectNow);
    this._failOutbox(info.error || new HeraldError('closed', 'client stopped'));
    this._setState('stopped', { ...info, retryIn: null });
  }

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
      if (refusal.code === 'too_many_subscriptions') this._holdForWebSocket(refused, refusal);
      else this._subscribeFailed(null, refused, refusal);
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

  // ---- tokens ----

  // _currentToken resolves the token a connection or stream opens with
  // and the setToken it is of (version, for _openTokenVersion), taken
  // together: one given while the token function was asked is the newest,
  // and opened with; only one given after it is to be sent (or reopened
  // with) once open.
  async _currentToken() {
    const source = this.options.token;
    if (typeof source !== 'function') return { token: source || null, version: this._tokenVersion };
    if (this._token && !expiresWithin(this._token, 0)) return { token: this._token, version: this._tokenVersion };
    const version = this._tokenVersion;
    const token = await this._askToken();
    // A token given by setToken meanwhile is newer than the answer.
    if (version === this._tokenVersion) this._token = token;
    return { token: this._token, version: this._tokenVersion };
  }

  // _askToken calls the token function, for at most options.timeout: one
  // that never settles (a token endpoint that hangs) would otherwise hold
  // the client in 'connecting', or its refresh, for good.
  _askToken() {
    const ms = this.options.timeout;
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no token within ${ms} ms`)), ms);
    });
    return Promise.race([Promise.resolve().then(() => this.options.token()), late]).finally(() => clearTimeout(timer));
  }

  // _tokenFailed answers a token function that failed (or gave nothing in
  // time) before an attempt, a stream's reopen included: the page hears
  // it once, and the attempt is retried with the backoff.
  _tokenFailed(err) {
    const generation = this._generation;
    this._emitError(new HeraldError('token', 'token function failed: ' + err.message));
    // An 'error' listener that closed the client (and maybe connected it
    // again) ends this attempt: a retry would ask the token function for
    // a closed client, or run beside the new attempt.
    if (this._stale(generation)) return;
    this._scheduleReconnect({ code: 0, reason: 'token function failed' });
  }

  // _scheduleRefresh keeps one refresh timer: a refresh that was under
  // way across a reconnect schedules the next one as the new connection
  // does, and two would each go on refreshing.
  _scheduleRefresh() {
    this._timers.delete(this._refreshTimer);
    clearTimeout(this._refreshTimer);
    if (typeof this.options.token !== 'function') return;
    const exp = tokenExpiry(this._token);
    if (!exp) return;
    // Refresh a margin before exp; a token that lives less than two margins
    // is refreshed halfway, so short-lived tokens do not refresh in a loop.
    const left = Math.max(0, exp - Date.now());
    const margin = this.options.refreshMargin * 1000;
    const wait = left > 2 * margin ? left - margin : left / 2;
    this._refreshTimer = this._later(wait, () => this._refresh());
  }

  async _refresh() {
    const generation = this._generation;
    const version = this._tokenVersion;
    try {
      const token = await this._askToken();
      // A token given by setToken meanwhile is newer than the answer (as
      // in _currentToken): it is in force, or about to be, and the next
      // refresh follows its exp.
      if (version !== this._tokenVersion) {
        if (this._isOpen()) this._scheduleRefresh();
        return;
      }
      await this._command({ type: 'refresh', token });
      if (version === this._tokenVersion) this._token = token;
      this._scheduleRefresh();
    } catch (err) {
      // The server keeps the old token; at its exp it closes with 4001 and
      // the reconnect asks for a new one. A drop or close() meanwhile
      // needs no word.
      if (err.code === 'disconnected' || err.code === 'closed' || generation !== this._generation) return;
      this._emitError(err instanceof HeraldError ? err : new HeraldError('token', err.message));
    }
  }

  // _refreshWith sends the token setToken gave while the connection was
  // being opened with the one before, which the server holds: at that
  // one's exp it would close with 4001. A refusal is the page's to hear,
  // as setToken's own would be.
  _refreshWith(token) {
    this._command({ type: 'refresh', token }).catch((err) => {
      if (err.code === 'disconnected' || err.code === 'closed') return;
      this._emitError(err);
    });
  }

  // ---- liveness ----

  // Browsers answer the server's pings without telling us; a `ping` command
  // after a silence notices a dead link (a sleeping laptop, a changed network)
  // long before TCP would.
  _startPings(heartbeat) {
    const every = this.options.pingInterval ?? (heartbeat || 25) * 1000;
    if (!every) return;
    const check = () => {
      // Looked at again once the silence is `every` long, not a whole
      // `every` later: a dead link is noticed after one silence, not two.
      const quiet = Date.now() - this._lastHeard;
      if (quiet < every) return this._later(every - quiet, check);
      this.ping().catch((err) => { if (err.code === 'timeout') this._abandon('ping timeout'); });
      this._later(every, check);
    };
    this._later(every, check);
  }

  // _abandon gives up on a socket that stopped answering without waiting for
  // its close handshake, which on a dead link can take minutes.
  _abandon(reason) {
    const ws = this._ws;
    if (!ws) return;
    this._dropConnection({ code: 4100, reason }, 4100);
    ws.close(4100, reason);
  }

  _later(ms, fn) {
    const timer = setTimeout(() => { this._timers.delete(timer); fn(); }, ms);
    this._timers.add(timer);
    return timer;
  }

  _clearTimers() {
    for (const timer of this._timers) clearTimeout(timer);
    this._timers.clear();
  }

  // ---- commands and replies ----

  _command(cmd) {
    if (this._closed) return Promise.reject(new HeraldError('closed', 'not connected: call connect() first'));
    if (this.transport === 'sse') return this._streamCommand(cmd);
    cmd.id = String(this._nextId++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this._fail(cmd.id, new HeraldError('timeout', 'no reply in time')), this.options.timeout);
      this._pending.set(cmd.id, { resolve, reject, timer, sent: false });
      if (this._isOpen()) this._transmit(cmd);
      else this._outbox.push(cmd);
    });
  }

  _transmit(cmd) {
    const p = this._pending.get(cmd.id);
    if (p) p.sent = true;
    this._send(cmd);
  }

  _send(cmd) {
    this._ws.send(JSON.stringify(cmd));
  }

  _fail(id, err) {
    const p = this._pending.get(id);
    if (!p) return;
    this._pending.delete(id);
    this._outbox = this._outbox.filter((c) => c.id !== id);
    clearTimeout(p.timer);
    p.reject(err);
  }

  _receive(text) {
    this._lastHeard = Date.now();
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      this._emitError(new HeraldError('bad_frame', 'server sent something that is not JSON'));
      return;
    }
    switch (frame.type) {
      case 'welcome': this._onWelcome(frame); break;
      case 'message': this._noteTopic(frame.topic); this._onMessage(frame); break;
      case 'gap': this._onGap(frame); break;
      case 'subscribed': this._onSubscribed(frame); break;
      case 'unsubscribed': this._onUnsubscribed(frame); break;
      case 'join': case 'leave': this._onPresenceChange(frame); break;
      case 'error': this._onError(frame); break;
      default: this._settle(frame.id, frame);
    }
  }

  _settle(id, reply) {
    const p = this._pending.get(id);
    if (!p) return;
    this._pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(reply);
  }

  _onError(frame) {
    const err = new HeraldError(frame.code, frame.message);
    if (this._pending.has(frame.id)) return this._fail(frame.id, err);
    const sub = this._subscribing.get(frame.id);
    if (sub) return this._subscribeFailed(frame.id, sub, err);
    const load = this._loads.get(frame.id);
    if (load) return this._loadRefused(frame.id, load, err);
    this._emitError(err);
  }

  // ---- subscriptions ----

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

  // ---- presence and server-side control ----

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
    Object.assign(sub, { loading: false, backlog: 0, since: undefined, retries: 0, heldUntil: 0, untilWebSocket: false, noRoom: false });
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
      const info = { topic: sub.pattern, epoch: reply.epoch, seq: reply.seq, since: missed };
      for (const entry of sub.listeners) callSafely(entry.handlers.onRecoveryFailed, info);
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

  // _newToPatterns says whether the client's patterns have yet to get msg,
  // and notes that they have. Patterns get a topic's messages live, but
  // when an exact subscription of that topic resumes behind them (held out
  // of a stream, or a resume retried), the history sent again for it
  // matches them too: what of it they got already is dropped to them, and
  // what they had not (sent while the connection was down) still comes.
  // Kept per topic, for one epoch, as the runs of seqs they got or were
  // told were lost (_newGapToPatterns), at most PATTERN_RUNS, the lowest
  // forgotten first, for the last PATTERN_TOPICS topics (the oldest
  // forgotten first): history sent again of what was forgotten so
  // reaches them again. A message without a seq is always new.
  _newToPatterns(msg) {
    if (typeof msg.seq !== 'number' || msg.epoch === undefined) return true;
    const seen = this._patternRuns(msg.topic, msg.epoch);
    if (seen.runs.some(([from, to]) => from <= msg.seq && msg.seq <= to)) return false;
    this._notePatterns(msg.topic, seen, msg.seq, msg.seq);
    return true;
  }

  // _newGapToPatterns returns what of gap the client's patterns have
  // neither got nor been told of, as gaps (none, one trimmed, or, around
  // seqs they have, several), and notes them told. A gap is the finding
  // of the node that sends it: after a reconnect another node may tell
  // of seqs told before, or of seqs the patterns got, and each is told to
  // a pattern once, as to an exact subscription (_deliverOne). One
  // without seqs is always new.
  _newGapToPatterns(gap) {
    if (typeof gap.from !== 'number' || typeof gap.to !== 'number' || gap.epoch === undefined) return [gap];
    const seen = this._patternRuns(gap.topic, gap.epoch);
    const parts = unseenParts(seen.runs, gap.from, gap.to);
    if (parts.length > 0) this._notePatterns(gap.topic, seen, gap.from, gap.to);
    return parts.map(([from, to]) => ({ ...gap, from, to }));
  }

  // _patternRuns is what the client's patterns got of topic in epoch
  // (_newToPatterns): nothing yet when it kept another epoch, or none.
  _patternRuns(topic, epoch) {
    const seen = this._patternSeen.get(topic);
    return seen && seen.epoch === epoch ? seen : { epoch, runs: [] };
  }

  // _notePatterns adds seqs from..to to seen, the runs of topic, and
  // keeps it as the newest topic.
  _notePatterns(topic, seen, from, to) {
    seen.runs = withRun(seen.runs, from, to);
    if (seen.runs.length > PATTERN_RUNS) seen.runs = seen.runs.slice(-PATTERN_RUNS);
    this._patternSeen.delete(topic);
    this._patternSeen.set(topic, seen);
    if (this._patternSeen.size > PATTERN_TOPICS) this._patternSeen.delete(this._patternSeen.keys().next().value);
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

  // ---- events ----

  // A listener that changes the state (close() there) has every listener
  // hear the new one: the listeners after it do not hear the old one
  // after it, which would leave them with a state the client has left.
  _setState(state, info) {
    this.state = state;
    const turn = ++this._stateTurn;
    for (const fn of this._listeners.state) {
      if (turn !== this._stateTurn) return;
      callSafely(fn, state, info);
    }
  }

  _emitError(err) {
    for (const fn of this._listeners.error) callSafely(fn, err);
  }

  // ---- Server-Sent Events (see the header) ----

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
    // for it for ever, room or not.
    const subs = [...this._subs.values()].filter((sub) => !sub.server && !isHeld(sub, { room: true }));
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
    for (const sub of named.slice(0, MAX_STREAM_TOPICS)) sub.noRoom = false;
    for (const sub of named.slice(MAX_STREAM_TOPICS)) {
      if (sub.noRoom) continue; // told already
      if (this.options.transport === 'auto') sub.noRoom = true;
      this._holdForWebSocket(sub, new HeraldError('too_many_subscriptions',
        `a stream carries at most ${MAX_STREAM_TOPICS} subscriptions`));
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
  // address's burst with the others, err): one whose client fell back to
  // SSE by itself ('auto', which tries WebSocket again: _fallBack) is
  // left out of the streams until the client is on WebSocket again
  // (_onWelcome), or until connect(), its handles told once (onError)
  // and 'subscribing' meanwhile; one past the 32 (sub.noRoom, set by
  // _openStream) also until a stream has room for it. On 'sse' alone it
  // fails, as for good.
  _holdForWebSocket(sub, err) {
    if (this.options.transport !== 'auto') return this._subscribeFailed(null, sub, err);
    if (!sub.noRoom) sub.untilWebSocket = true;
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

// How many refused subscriptions the client keeps for the server's to take
// up (_keepRefused): as many as a connection holds subscriptions by
// default (HERALD_MAX_SUBSCRIPTIONS), so that every resume one reconnect
// has refused is still taken up when a backend subscribes the connection
// to them again.
const MAX_REFUSED = 1000;

// The longest a client that fell back to SSE waits before it tries
// WebSocket again (_fallBack): 30 minutes.
const WEBSOCKET_RETRY_MAX = 30 * 60 * 1000;

// A stream carries at most this many subscriptions (docs/protocol.md section 10).
const MAX_STREAM_TOPICS = 32;

// At most this many of a connection's patterns may match one topic
// (docs/protocol.md section 6); past it the node closes with 1008.
const MAX_MATCHING_PATTERNS = 16;

// How many topics of the last messages are kept to find the one a close
// 1008 is about (_noteTopic).
const RECENT_TOPICS = 64;

// Of how many topics, and in how many runs of seqs each, what patterns got
// is kept (_newToPatterns).
const PATTERN_TOPICS = 1024;
const PATTERN_RUNS = 8;

// withRun adds seqs from..to to runs, the sorted [from, to] runs of seqs
// apart from one another: in place when they follow the newest run, as
// live messages do (once per message to a pattern, so without sorting or
// copying), otherwise as a new list of such runs.
function withRun(runs, from, to) {
  const newest = runs[runs.length - 1];
  if (newest && from === newest[1] + 1) {
    newest[1] = to;
    return runs;
  }
  const out = [];
  for (const [a, b] of [...runs, [from, to]].sort((x, y) => x[0] - y[0])) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

// unseenParts returns the [from, to] runs of seqs of from..to that none
// of runs (as withRun keeps them) holds, in order.
function unseenParts(runs, from, to) {
  const parts = [];
  let next = from;
  for (const [a, b] of runs) {
    if (b < next) continue;
    if (a > to) break;
    if (a > next) parts.push([next, a - 1]);
    next = b + 1;
    if (next > to) return parts;
  }
  if (next <= to) parts.push([next, to]);
  return parts;
}

function receiveOnly() {
  return new HeraldError('receive_only',
    'this client receives over Server-Sent Events (WebSocket is unavailable), which cannot publish or ping');
}

// toStreamURL is the SSE URL beside a WebSocket URL: http(s), and /sse in
// place of a final /ws.
function toStreamURL(url) {
  const u = new URL(url);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = u.pathname.replace(/\/ws$/, '').replace(/\/$/, '') + '/sse';
  return u.toString();
}

// streamID is the event id (docs/protocol.md section 10) that resumes
// each of subs from the position the client has of it (sub.since), or
// null when none has one. The positions are the truth: the last id a
// stream sent names where that stream left its topics, which a WebSocket
// since, or a stream that left one out for a while, has moved past, and
// resumed from there a topic would read its history again, or hear that
// history no longer holds what it in fact has.
function streamID(subs) {
  let id = '1';
  for (const sub of subs) {
    if (!sub.since || typeof sub.since.epoch !== 'string') continue;
    id += '.' + idDigits(idHash(sub.pattern), ID_HASH_DIGITS) + idDigits(idHash(sub.since.epoch), ID_HASH_DIGITS)
      + idDigits(BigInt(sub.since.seq), 1);
  }
  return id === '1' ? null : id;
}

// ownsIDs says whether the client may make the stream's last_event_id
// (streamID): only in the version the node's own ids are in, the first
// part of lastID, the last id a stream sent (none yet: a node of another
// version takes one of version 1 for no resume, as it would none). A
// node whose ids are of another version would start every topic afresh
// at every reopen; its own last id resumes them from where the last
// stream left them.
function ownsIDs(lastID) {
  return !lastID || lastID.split('.')[0] === '1';
}

// An event id's hashes are ID_HASH_DIGITS base64url digits.
const ID_HASH_DIGITS = 6;
const ID_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

// idHash is 36 bits of the 64-bit FNV-1a hash of s's UTF-8 bytes, as a
// BigInt.
function idHash(s) {
  let h = 14695981039346656037n;
  for (const b of new TextEncoder().encode(s)) h = ((h ^ BigInt(b)) * 1099511628211n) & 0xffffffffffffffffn;
  return h >> 28n;
}

// idDigits writes n (a BigInt) in base64url digits, most significant
// first, at least width of them.
function idDigits(n, width) {
  let out = '';
  while (n > 0n || out.length < width) {
    out = ID_DIGITS[Number(n & 63n)] + out;
    n >>= 6n;
  }
  return out;
}

// isHeld says whether a subscription refused for now over SSE waits out
// its delay before the stream asks for it again (_subscribeFailed), or
// waits for a WebSocket (_holdForWebSocket) or, with room, for a stream
// with room for it, whose opening alone asks for it again (_openStream).
function isHeld(sub, { room = false } = {}) {
  return sub.untilWebSocket || (sub.noRoom && !room) || sub.heldUntil > Date.now();
}

// wantsPresence says whether a subscription's handlers ask for presence.
function wantsPresence(handlers) {
  return Boolean(handlers.onJoin || handlers.onLeave || handlers.onPresence);
}

// newSub is the client's state of one subscription, not yet subscribed.
function newSub(pattern) {
  const tokens = pattern.split('.');
  const exact = !tokens.includes('*') && !tokens.includes('>');
  return {
    pattern, tokens, exact, epoch: null, seq: 0, lastMsg: null, listeners: new Set(), live: false, changeLogs: new Set(),
    early: [], // what came of its topic before its subscribe or resume was answered (_holdEarly)
    retries: 0, // subscribes refused for now in a row (_subscribeFailed)
    heldUntil: 0, // over SSE: left out of the stream until then (_subscribeFailed)
    untilWebSocket: false, // over SSE: left out of the streams until a welcome (_holdForWebSocket)
    noRoom: false, // over SSE: past the 32 a stream carries, until one has room for it (_openStream)
    beforeLoad: [], // ids of its subscribes whose answer is not its backlog load's (_onSubscribed, _loadRefused)
    head: null, // {epoch, seq} its topic had at the last subscribe's answer (_behind)
  };
}

// MAX_EARLY bounds the messages held for one exact subscription while its
// subscribe or resume is not answered.
const MAX_EARLY = 4096;

// startOf is the first seq a message or gap covers.
function startOf(item) {
  return item.type === 'gap' ? item.from : item.seq;
}

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

// callSafely calls an app's callback (if any). What it throws is reported
// as an uncaught error, the way event listeners' errors are, and does not
// stop the client or the other callbacks.
function callSafely(fn, ...args) {
  if (!fn) return;
  try {
    fn(...args);
  } catch (err) {
    if (typeof reportError === 'function') reportError(err);
    else setTimeout(() => { throw err; });
  }
}

// newKey returns a random UUID (version 4) for a publish's idempotency_key.
// crypto.randomUUID exists only on https and localhost pages;
// getRandomValues everywhere.
function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// matches says whether a topic falls under a pattern (docs/protocol.md section 1).
export function matches(pattern, topic) {
  return matchTokens(pattern.split('.'), topic.split('.'));
}

function matchTokens(want, have) {
  for (let i = 0; i < want.length; i++) {
    if (want[i] === '>') return i === want.length - 1 && have.length > i;
    if (i >= have.length) return false;
    if (want[i] !== '*' && want[i] !== have[i]) return false;
  }
  return want.length === have.length;
}

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

function toWebSocketURL(url) {
  const base = typeof location !== 'undefined' ? location.href : 'http://localhost/';
  const u = new URL(url || '/ws', base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  return u.toString();
}

// tokenExpiry reads a JWT's exp claim in ms, without verifying anything (the
// server does that); null when there is none or the token is not a JWT.
export function tokenExpiry(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const exp = JSON.parse(atob(part)).exp;
    return typeof exp === 'number' ? exp * 1000 : null;
  } catch {
    return null;
  }
}

function expiresWithin(token, ms) {
  const exp = tokenExpiry(token);
  return exp !== null && exp - Date.now() <= ms;
}
