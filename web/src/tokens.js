// tokens.js: the token a connection or stream opens with, the token
// function asked for it, and the refresh before its exp.

import { HeraldError } from './errors.js';
import { addMethods, Herald } from './client.js';

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

class TokenMethods {
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
      // A close() while the function ran ended this refresh, and after a
      // connect() there the new connection opened with a token of its own
      // and refreshes it on its own schedule: sent there, or queued for it,
      // this one would refresh the new connection with the old one's answer.
      if (this._stale(generation)) return;
      // A token given by setToken meanwhile is newer than the answer (as
      // in _currentToken): it is in force, or about to be, and the next
      // refresh follows its exp.
      if (version !== this._tokenVersion) {
        if (this._isOpen()) this._scheduleRefresh();
        return;
      }
      if (!this._isOpen() && this.transport === 'websocket') {
        // Dropped while the function ran: the answer is the token the
        // next connection opens with, or, one being opened with the token
        // before, refreshes to once welcomed (_onWelcome), as a setToken's
        // would. Queued as a command, it failed 'timeout' after
        // options.timeout while the client was away, an error of a
        // refresh never sent, and the token was lost.
        this._token = token;
        this._tokenVersion++;
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
}

addMethods(Herald, TokenMethods);
