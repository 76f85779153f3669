// client.js: the Herald class with its constructor and public methods.
// The rest of its methods are written by concern in the other files,
// each as a class of methods that addMethods puts on Herald.prototype.

import { callSafely, HeraldError } from './errors.js';
import { newSub, wantsPresence } from './subscription-state.js';

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
      sub.pastBurst = 0;
      sub.noRoom = false;
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
}

// addMethods puts the methods of a class written for Herald in another
// file (one concern's) on Herald.prototype, as if written in its body:
// `this` in them is the client, and they are as hidden from enumeration
// as its own. None uses super, the one thing that would tell them apart.
// A name defined twice is a mistake, thrown as the module loads.
export function addMethods(target, methods) {
  for (const name of Object.getOwnPropertyNames(methods.prototype)) {
    if (name === 'constructor') continue;
    if (Object.getOwnPropertyDescriptor(target.prototype, name)) throw new Error(`herald.js: ${name} is defined twice`);
    Object.defineProperty(target.prototype, name, Object.getOwnPropertyDescriptor(methods.prototype, name));
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

function toWebSocketURL(url) {
  const base = typeof location !== 'undefined' ? location.href : 'http://localhost/';
  const u = new URL(url || '/ws', base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  return u.toString();
}
