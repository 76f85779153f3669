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
// room for them (past the burst: a stream naming, with it, fewer topics
// than the one that refused it had up to it, the page having dropped
// others; onError tells
// each handle once; with transport 'sse' they fail), and opens
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

import { HeraldError } from './errors.js';
import { Herald } from './client.js';
import './connection.js';
import './reconnect.js';
import { tokenExpiry } from './tokens.js';
import './commands.js';
import './subscriptions.js';
import { matches } from './patterns.js';
import './delivery.js';
import './presence.js';
import './server-subs.js';
import './stream.js';

export { Herald, HeraldError, matches, tokenExpiry };
