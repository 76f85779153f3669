// commands.js: commands sent over the WebSocket, the frames received
// and the replies and errors that settle them.

import { HeraldError } from './errors.js';
import { addMethods, Herald } from './client.js';

class CommandMethods {
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
}

addMethods(Herald, CommandMethods);
