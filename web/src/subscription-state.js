// subscription-state.js: the client's state of one subscription
// (newSub), and what it says.

// isHeld says whether a subscription over SSE is left out of the stream:
// refused for now, it waits out its delay (_subscribeFailed); one a
// stream cannot carry (_holdForWebSocket) waits for a WebSocket or for
// a stream with room for it, which only a stream's opening decides
// (_openStream asks with room: held only by a delay).
export function isHeld(sub, { room = false } = {}) {
  return ((sub.pastBurst > 0 || sub.noRoom) && !room) || sub.heldUntil > Date.now();
}

// wantsPresence says whether a subscription's handlers ask for presence.
export function wantsPresence(handlers) {
  return Boolean(handlers.onJoin || handlers.onLeave || handlers.onPresence);
}

// newSub is the client's state of one subscription, not yet subscribed.
export function newSub(pattern) {
  const tokens = pattern.split('.');
  const exact = !tokens.includes('*') && !tokens.includes('>');
  return {
    pattern, tokens, exact, epoch: null, seq: 0, lastMsg: null, listeners: new Set(), live: false, changeLogs: new Set(),
    early: [], // what came of its topic before its subscribe or resume was answered (_holdEarly)
    retries: 0, // subscribes refused for now in a row (_subscribeFailed)
    heldUntil: 0, // over SSE: left out of the stream until then (_subscribeFailed)
    pastBurst: 0, // over SSE: refused past its address's burst as this many topics of a stream's were named (_holdForWebSocket)
    noRoom: false, // over SSE: left out past the 32 a stream carries, until a stream carrying it opens (_openStream)
    beforeLoad: [], // ids of its subscribes whose answer is not its backlog load's (_onSubscribed, _loadRefused)
    head: null, // {epoch, seq} its topic had at the last subscribe's answer (_behind)
  };
}
