// connection.js: opening a WebSocket, its welcome, drops and what they
// fail, a stop, and the liveness pings and timers of a connection.

import { HeraldError } from './errors.js';
import { addMethods, Herald } from './client.js';

class ConnectionMethods {
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
    for (const sub of this._subs.values()) Object.assign(sub, { pastBurst: 0, noRoom: false }); // each subscribe fits here
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
}

addMethods(Herald, ConnectionMethods);
