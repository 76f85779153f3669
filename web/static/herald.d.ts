// Types for herald.js, the Herald browser client. See the header of
// herald.js for how it behaves; docs/protocol.md for the wire contract.

/** A function that returns a client token (a JWT), possibly asynchronously. */
export type TokenSource = string | (() => string | Promise<string>);

export interface HeraldOptions {
  /**
   * A JWT, or a function asked for one at connect, on close 4001 and before
   * exp. A function that fails or gives nothing within `timeout` is an
   * 'error' with code 'token', and the attempt is retried.
   */
  token?: TokenSource;
  /**
   * More nodes of the same cluster. After every drop or failed attempt the
   * client moves on to the next of url, ...urls, in turn, and resumes its
   * subscriptions there. A node that takes the connection and answers
   * nothing is left after `timeout` for the upgrade and as long again for a
   * plain GET asking why.
   */
  urls?: string[];
  /** First reconnect delay in ms (default 500). */
  minDelay?: number;
  /** Largest reconnect delay in ms (default 30000). */
  maxDelay?: number;
  /**
   * How long a command waits for its reply, in ms (default 10000); also how
   * long a connection attempt waits for `welcome` and the token function
   * for a token.
   */
  timeout?: number;
  /** Silence in ms after which a ping checks the link; default the server's heartbeat; 0: never. */
  pingInterval?: number;
  /** Seconds before the token's exp at which it is refreshed (default 30). */
  refreshMargin?: number;
  /**
   * 'auto' (default): WebSocket, switching to Server-Sent Events (GET /sse
   * through EventSource) until close() or a stop when a WebSocket cannot
   * be established while plain HTTP reaches the node. 'websocket' or 'sse' force one. Over
   * SSE the client only receives: publish(), ping() and presence() reject with code
   * 'receive_only'.
   */
  transport?: 'auto' | 'websocket' | 'sse';
}

/**
 * 'stopped': the client gave up by itself, on a refusal that retrying cannot
 * cure (forbidden origin, a token refused again after a new one was asked
 * for, an expired fixed token, close 4004 from the server); connect()
 * starts it again.
 */
export type State = 'connecting' | 'connected' | 'disconnected' | 'stopped';

/** The server's first frame on every connection. */
export interface Welcome {
  type: 'welcome';
  session: string;
  node: string;
  /** Seconds between the server's pings. */
  heartbeat: number;
}

/** The 'connected' info over Server-Sent Events: the stream's subscribed event. */
export interface StreamOpened {
  transport: 'sse';
  topics: { topic: string; epoch?: string; seq?: number; recovered?: boolean }[];
}

export interface Disconnected {
  /** The WebSocket close code: 1006 when the socket just dropped; 4100 when the client gave up (no welcome or no pong in time); 0 when no connection was tried, as the token function failed. */
  code: number;
  reason: string;
  /** Milliseconds until the next attempt; null when the client stays closed. */
  retryIn: number | null;
  /** Why the attempt was refused, when the server said, or the too_many_patterns of a close 1008 (also emitted as 'error'). */
  error?: HeraldError;
}

/** One message published to a topic. */
export interface Message<T = unknown> {
  type: 'message';
  topic: string;
  /** The topic's epoch when it was published (since protocol 1.1; absent from older servers). */
  epoch?: string;
  /** Position in the topic; grows by one per message within an epoch. */
  seq: number;
  /** The message's unique id. */
  msg: string;
  /** When the server accepted it, in Unix milliseconds. */
  time: number;
  data: T;
  /** The pattern subscription it was delivered for, when it was one. */
  pattern?: string;
}

/**
 * Messages of a topic the server accepted but can no longer deliver to this
 * subscription, sent in their place (protocol 1.1).
 */
export interface Gap {
  type: 'gap';
  topic: string;
  epoch: string;
  /**
   * The first seq that will never come; for an exact topic, the first this subscription had not seen.
   * A pattern is told of each lost seq once: a gap over seqs it got or was told of comes as the rest
   * alone, as one gap or (around those seqs) several.
   */
  from: number;
  /** The last seq that will never come; a resume starts after it. */
  to: number;
  /** The pattern subscription it was sent for, when it was one. */
  pattern?: string;
}

export interface Subscribed {
  type: 'subscribed';
  /** The subscribe command's id; absent when the server made the subscription. */
  id?: string;
  topic: string;
  /** Left out for patterns. */
  epoch?: string;
  seq?: number;
  /** Present when the subscribe resumed with since. */
  recovered?: boolean;
  /** The server made this subscription: the token's subs claim, or a backend (protocol 1.1). */
  server?: true;
}

/** One user present on a topic (docs/protocol.md section 8). */
export interface Member<I = unknown> {
  user: string;
  /** How many of the user's connections are on the topic. */
  sessions: number;
  /** The user's info (the token's info claim), when it has one. */
  info?: I;
}

/** Who is on a presence topic, cluster-wide: the reply to presence(). */
export interface Presence<I = unknown> {
  type: 'presence';
  id: string;
  topic: string;
  /** The number of members, listed or not. */
  users: number;
  /** Every present connection, anonymous ones included. */
  sessions: number;
  /** Sorted by user; [] when none. One page on a large topic: see truncated. */
  members: Member<I>[];
  /**
   * More members follow (a topic whose members pass one reply's budget):
   * ask again with after set to the last member's user. Absent on the
   * last page.
   */
  truncated?: true;
}

/** Options of presence(). */
export interface PresenceOptions {
  /** List the members whose user sorts after this one (the last of the page before). */
  after?: string;
}

/** A user's first connection on the topic arrived. */
export interface Join<I = unknown> {
  type: 'join';
  topic: string;
  user: string;
  info?: I;
}

/** A user's last connection on the topic went. */
export interface Leave {
  type: 'leave';
  topic: string;
  user: string;
}

/** The server ended a subscription: 'server' (a backend), 'forbidden' (a refresh no longer allows it). */
export interface Unsubscribed {
  topic: string;
  reason: 'server' | 'forbidden' | string;
}

export interface PublishOptions {
  /** Makes a repeated publish answer the first one's result instead of publishing again. */
  idempotencyKey?: string;
}

export interface Published {
  type: 'published';
  id: string;
  topic: string;
  seq: number;
  msg: string;
}

/** Told when a resubscription may have missed messages. */
export interface RecoveryFailed {
  topic: string;
  /** The epoch and seq the subscription goes on from (absent for patterns). */
  epoch?: string;
  seq?: number;
  /** What the client asked to resume from; null for a pattern, which cannot resume. */
  since: { epoch: string; seq: number } | null;
}

export interface SubscribeHandlers {
  /** Called after a reconnect when messages may be missing. */
  onRecoveryFailed?(info: RecoveryFailed): void;
  /** Called, in the place of the messages, when seqs from..to will never be delivered. */
  onGap?(gap: Gap): void;
  /** Called when the server refuses the subscription (forbidden, invalid_topic, ...), or when it is one of more than 16 patterns matching one topic that the client drops (too_many_patterns); once with 'receive_only' for presence handlers over SSE, the subscription going on (again after each fallback that follows a WebSocket's presence); over SSE after a fallback, once with 'too_many_subscriptions' for one a stream cannot carry, which stays subscribing until the client is on WebSocket again, or until a stream has room for it (the page dropped others; one refused past the address's burst: a stream naming, with it, fewer topics than the refused one had up to it). */
  onError?(err: HeraldError): void;
  /**
   * Exact topics: first deliver the topic's last N messages from history
   * (fewer when it holds fewer), then the live ones, none missing and none
   * twice. Applies when the subscription is created (the topic's first
   * subscribe() on this client); ignored for patterns.
   */
  backlog?: number;
  /**
   * Presence topics: setting any of these three subscribes with
   * presence:true (a topic outside HERALD_PRESENCE_TOPICS, or a pattern,
   * fails with presence_off; asked of a subscription already live, its
   * onError gets presence_off and the subscription goes on, without
   * presence, also when the answer was lost to a drop and the resume
   * after the reconnect is refused). onJoin and onLeave are never called for this
   * client's own arrival and departure. Over Server-Sent Events there is
   * no presence: none of the three is called, and onError gets
   * 'receive_only' (with the topic) once.
   */
  onJoin?(join: Join): void;
  onLeave?(leave: Leave): void;
  /**
   * The whole member list, every page read and the joins and leaves that
   * came meanwhile applied, each time the subscription goes live (first,
   * and after every reconnect).
   */
  onPresence?(presence: Presence): void;
  /** The server ended the subscription; its callbacks stop. */
  onUnsubscribed?(info: Unsubscribed): void;
}

export interface Subscription {
  /** The topic or pattern subscribed to. */
  readonly topic: string;
  /**
   * Settles on the server's first answer: subscribed, or the error. Not on
   * an onError that leaves the subscription subscribing: a receive_only over
   * SSE, or a too_many_subscriptions while one a stream cannot carry waits
   * for a WebSocket or for room (pending meanwhile). Nor on close(): the
   * subscription is kept, and the answer after the next connect() settles it.
   */
  readonly ready: Promise<Subscribed>;
  /**
   * 'subscribing' (also while resubscribing after a drop), 'live', 'failed' (refused; 'live' again when the
   * server makes the same subscription on the connection, while it is one of the 1000 newest refused
   * and not unsubscribed), 'unsubscribed'.
   */
  readonly state: 'subscribing' | 'live' | 'failed' | 'unsubscribed';
  /** The epoch and seq last delivered, for an exact topic that has one; else null. */
  readonly position: { epoch: string; seq: number } | null;
  /**
   * Stops this callback; the last one to go unsubscribes on the server,
   * asked again while the server refuses it for now. Resolves once the
   * server took it (or the connection ended); never rejects.
   */
  unsubscribe(): Promise<void>;
}

/**
 * A failure: code is a docs/protocol.md error code from the server, or one of the
 * client's own: 'disconnected' (the connection dropped before the reply; a
 * publish may or may not have been accepted), 'disconnected_by_server' (close
 * 4004: the client stopped), 'timeout', 'closed',
 * 'token', 'token_expired', 'too_many_patterns', 'receive_only' (over SSE: a
 * command, or presence), 'bad_frame', 'bad_event', 'bad_option' (thrown
 * by the constructor). An exception thrown by
 * a callback is reported as uncaught (reportError) and stops nothing else.
 */
export class HeraldError extends Error {
  readonly code: string;
  /**
   * Set on a failed publish: the idempotency_key it was sent with. Publishing
   * again with { idempotencyKey } cannot publish it twice (within the
   * server's idempotency window, 5 minutes by default).
   */
  idempotencyKey?: string;
  /**
   * Set on a refused connection attempt: the HTTP status the server refused
   * it with before the upgrade (401 unauthorized, 403 forbidden, 429
   * rate_limited, 503 unavailable).
   */
  status?: number;
  /**
   * Set on a subscribe refused unavailable for now, emitted as an 'error'
   * event: the subscription's topic or pattern. It is tried again after a
   * delay that grows with each such refusal in a row (as is one refused
   * rate_limited, which is not emitted); over SSE the stream opens
   * without it meanwhile. Set too on a stream refused for one of its
   * topics for good (SSE: forbidden, invalid_topic), which that
   * subscription's onError gets, and on the too_many_subscriptions it
   * gets when a stream cannot carry it. On 'too_many_patterns': the topic that
   * more than 16 of the client's patterns matched (the node closed with
   * 1008); the page's newest of them past 16 fail with it (onError) and
   * the client reconnects with the rest. On the 'receive_only' a presence
   * subscription's onError gets over SSE: its topic.
   */
  topic?: string;
  constructor(code: string, message?: string);
}

export class Herald {
  constructor(url?: string, options?: HeraldOptions);
  /** The ws(s):// URL in use, or tried next. */
  readonly url: string;
  /** Every node the client may use, url first, as ws(s):// URLs. */
  readonly urls: readonly string[];
  readonly state: State;
  /** What the client uses now: 'sse' once it fell back (or was told to). */
  readonly transport: 'websocket' | 'sse';
  /** Opens the connection and keeps it open, reconnecting, until close(). */
  connect(): void;
  /**
   * Closes for good; pending commands reject with 'closed' or
   * 'disconnected'. May be called from any listener or handler: no retry
   * or token request follows it.
   */
  close(): void;
  subscribe<T = unknown>(pattern: string, onMessage: (msg: Message<T>) => void, handlers?: SubscribeHandlers): Subscription;
  /**
   * Settles on the reply: resolves published, rejects a HeraldError. Never
   * retried. Sent with an idempotency_key: options.idempotencyKey, or a
   * random UUID.
   */
  publish(topic: string, data: unknown, options?: PublishOptions): Promise<Published>;
  ping(): Promise<{ type: 'pong'; id: string }>;
  /**
   * Who is on a presence topic, one page of members (see
   * Presence.truncated); rejects presence_off, forbidden, invalid_topic...
   */
  presence<I = unknown>(topic: string, options?: PresenceOptions): Promise<Presence<I>>;
  /**
   * Who is on a presence topic, every page read: members lists them all,
   * and truncated is absent, unless a truncated page listed nobody (no
   * user to ask after): then truncated stays set on an incomplete list.
   */
  presenceAll<I = unknown>(topic: string): Promise<Presence<I>>;
  /**
   * Replaces the token: sent in a `refresh` when connected (rejects
   * unauthorized if refused; the old token stays in force), used by the next
   * connect otherwise. One given while a connection is being opened with
   * the token before is sent in a `refresh` once it is welcomed (an
   * 'error' if refused); a stream being opened is reopened with it. A
   * token function's answer asked before it (for a connection, or a
   * refresh before exp) does not replace it.
   */
  setToken(token: string): Promise<void>;
  on(event: 'state', fn: (state: State, info?: Welcome | StreamOpened | Disconnected) => void): () => void;
  on(event: 'error', fn: (err: HeraldError) => void): () => void;
  /** The server subscribed this client; subscribe(reply.topic, fn) adds callbacks to it. */
  on(event: 'subscribed', fn: (reply: Subscribed) => void): () => void;
  /** The server ended a subscription. */
  on(event: 'unsubscribed', fn: (info: Unsubscribed) => void): () => void;
}

/** Whether topic falls under pattern (docs/protocol.md section 1). */
export function matches(pattern: string, topic: string): boolean;

/** A JWT's exp claim in Unix milliseconds, unverified; null when it has none. */
export function tokenExpiry(token: string): number | null;
