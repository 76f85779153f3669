// Package redis is the broker.Engine that makes every node sharing one Redis
// a single broker (docs/protocol.md section 4). Redis is the only shared state.
//
// # Redis deployments
//
// Config.URL (HERALD_REDIS_URL) names one of three deployments (docs/protocol.md
// section 12):
//
//	redis://[[user]:password@]host:port[/db][?options]
//	redis+sentinel://[[user]:password@]host:port[,host:port...]/MASTER_NAME[/db]
//	redis+cluster://[[user]:password@]host:port[,host:port...]
//
// One server is reached through goredis.NewClient, with the options
// goredis.ParseURL reads; the master the sentinels name through
// goredis.NewFailoverClient; Redis Cluster (7.0 or later), with the hosts as
// seeds, through goredis.NewClusterClient. The engine holds either as a
// goredis.UniversalClient, so nothing past New knows which.
//
// TLS is the scheme's: rediss://, rediss+sentinel:// and rediss+cluster://
// speak TLS to every server, sentinels included, each checked against the host it was
// dialled by. The user and password are the data servers'; sentinels that
// have their own take ?sentinel_username=...&sentinel_password=..., the only
// query options of these two forms (anything else is an error, as is a URL
// that does not parse, named by the setting that carried it).
//
// The engine keeps two clients built alike from the URL: one that retries a
// call whose connection broke, and its twin that never sends a call twice,
// for publishes without an idempotency key. On Cluster the twin follows no
// MOVED either: a publish it sends to a slot's old master is refused
// (nothing done), and the slot map read again before the engine sends
// it once more (see below).
//
// Everything works alike in the three modes. Every script's keys belong to
// one topic and share its {topic} hash tag, so one slot, the slot of the
// topic itself (but off Cluster, where slots do not matter, the presence
// add script also writes the node's topic set: see presence.go); the keys that belong to no topic (the readiness probe's
// <prefix>ready, the pattern lease <prefix>patterns, the presence
// heartbeats and per-node topic sets of presence.go, the control stream)
// are used in single-key commands and scripts only. The classic channels are not
// keys; the sharded ones carry the topic's hash tag too. The position check's pipelines are split by slot by
// go-redis. A Cluster client reloads its slot map when a call fails and at
// least every few seconds (clusterReload), so that after a failover the
// engine reaches the new master within seconds; go-redis alone would keep
// dialling the dead one for a minute.
//
// On Cluster, exact topics use sharded pub/sub (see Delivery between
// nodes): the publish script SPUBLISHes on the topic's channel in the
// topic's slot, and a node SSUBSCRIBEs over one connection per master its
// topics live on (shards.go). Patterns keep classic PUBLISH and PSUBSCRIBE
// on one connection, to the master of the slot of that connection's probe
// channel <prefix>probe.<node>.{classic.<n>}, each connection that
// replaces one on another master: Redis Cluster passes every PUBLISH to
// every node. The probe is
// SPUBLISHed through each shard connection and, while the node holds a
// pattern, published through every master, as each passes its classic
// messages to the node over its own link, in order: once a master's
// copies are back, what it published before has arrived. A node without
// patterns publishes the classic probe once, through the master its
// classic connection is on, to see that the connection is alive.
//
// # Keys
//
// Every key starts with Config.Prefix, and every key of one topic carries the
// topic as its hash tag, so that the publish script touches one slot and
// stays valid on Redis Cluster:
//
//	<prefix>{<topic>}:meta        hash: epoch, seq (the topic's position), id (of
//	                              the message at seq), mark and run (see Failover)
//	<prefix>{<topic>}:hist        stream of the current epoch, entry ID <seq>-0,
//	                              fields i (message id), m (time ms), d (data);
//	                              trimmed to the history size every 16
//	                              publishes, read no further back than it
//	<prefix>{<topic>}:idem:<key>  "epoch\nseq\nid", the first publish's result;
//	                              a key over 64 bytes is named by its SHA-256
//	                              (broker.StoredIdempotencyKey)
//	<prefix>patterns              on Cluster, a name while some node holds a
//	                              pattern (see patterns.go)
//	<prefix>{<topic>}:pres, :users, :names, :own:<life>, :seq, :changes,
//	:changes:end                  the topic's presence and the log of its
//	                              joins and leaves (see presence.go)
//	<prefix>controls              stream of the last controls (see control.go)
//	<prefix>{#stats}:nodes, :node:<node>
//	                              the nodes' stats board (see statsboard.go)
//	<prefix>{#lag}:behind         the nodes whose delivery is behind (see lagboard.go)
//	<prefix>run                   off Cluster, the Redis process serving the
//	                              engine (see Failover)
//	<prefix>run{<tag>}            on Cluster, the same for the slot its tag
//	                              lands in, one a slot
//
// meta and hist expire HistoryTTL after the topic's last publish; when meta
// is gone (expired, or Redis lost its data) the next publish or Position
// starts a new epoch and drops any stale stream. An idempotency key is scoped
// to its topic (it must share the topic's slot); since it lives in Redis, a
// retry on any node gets the first reply.
//
// # Failover
//
// Redis replicates asynchronously, so a Sentinel or Cluster failover can
// lose the last publishes the old master acknowledged, and the new master
// goes on from an older seq of the same epoch; so does a server that
// restarts from its own files (an RDB snapshot older than its last
// publishes, or an append-only file that lost its last second). No seq
// may then name a second message, and a client resuming past the loss
// must be told recovered:false. Three checks see to it (failover.go):
//
//   - meta's mark is the seq as the server itself last wrote it, kept out
//     of replication and the append-only file, with run beside it, the
//     server process that wrote it. Off Cluster, the key <prefix>run
//     names the process serving the engine: every connection notes it
//     there before it serves anything (runstamp.go), from INFO's run_id.
//     On Cluster, where a topic's scripts run on the master of its slot
//     and reach no key of another master's, each slot has a run key of
//     its own, <prefix>run{<tag>} with a tag
//     found to land in the slot, and the scripts read the one of the
//     topic's slot: the first connection the engine opens to a master
//     after it started or was promoted has all the slots it holds
//     stamped then (on a connection of the stamp's own, with a budget of
//     its own, whichever call found it due), in one script, and a script
//     of its own loaded that says so,
//     named after its replication ID (the script cache is the process's
//     alone, and a promotion gives a new ID), which later connections
//     check instead (runstamp_cluster.go); connections go-redis opened
//     to a replica, to read the slot map, are checked again before they
//     run a script once promoted, and every master's once a second
//     before its scripts, so that a
//     master back from a term as a replica, with another master's data
//     whole, is stamped again. A slot moved in
//     afterwards keeps the run key it came with, beside its topics' own
//     runs, so a reshard breaks no epoch. A server that took over, or
//     came back from its files (a snapshot holds the mark, but the run
//     of the process before), finds mark apart from seq or run apart
//     from the run key, and the topic's first publish there starts a
//     new epoch. So every failover and every restart of Redis starts a
//     new epoch for each topic published to after it, whether or not
//     anything was lost, as no one can tell; subscribers see it on that
//     message. A Redis user refused INFO leaves the run out (logged
//     once): then a server back from files that lost publishes goes on
//     from their seqs, and only the next check sees it, for the topics
//     nodes deliver. So does, on Cluster, a slot moved in without a run
//     key, until its master's next stamp.
//   - A node that handed its subscribers more of an epoch than Redis now
//     holds (a position check finds the seq below what was handed over, or
//     the same seq naming another message, or a message arrives with the
//     seq last handed over but another id) starts the topic a new epoch
//     itself, by a script that does it only if the epoch is still the one
//     found wrong. This covers a master that takes over again with a
//     copy of a topic that came back to it, its own mark and run and all,
//     in a full resync from a replica that missed its last publishes;
//     and where there is no run, a replica that got its mark with a full
//     resync and saw no publish of the topic since, and a master
//     restarted from files older than its last publishes. A message of
//     the epoch left that arrives late is dropped. Publishes on other
//     nodes can still reuse a seq in the moment before the node notices.
//   - A node never goes back to an epoch it left (the last two of each
//     topic). When failovers follow each other, the server that takes
//     over may hold a topic as it was before the last epoch change, its
//     mark and all; a node that finds the topic in Redis back in an epoch
//     it left starts it a new epoch, as above, and drops the messages of
//     that epoch meanwhile, as late ones. Here too publishes can reuse a
//     seq of it in the moment before a node notices.
//
// A node of a version before the mark leaves it behind seq, so a newer
// node's next publish of the topic starts a new epoch: nodes that share a
// Redis are upgraded past it together. A node of a version with the mark
// but before the run keeps the mark and leaves the run as it was, so
// the two go on in one epoch, but its publishes after a restart of Redis
// do not see it. A topic's meta from before the run has none, so the
// first publish of each topic after the upgrade starts a new epoch, as
// after a restart: a meta without a run cannot tell a snapshot from the
// server that wrote it. On Cluster the run came a release later, with the
// run keys of the slots, and costs the same there.
//
// While no master is known, calls fail with broker.ErrUnavailable and the
// pub/sub connection is redialled with backoff; the clients find the new
// master by themselves (the sentinels name it; the Cluster slot map is read
// again), and the check after the reconnect runs as after any outage. On
// Cluster a Subscribe of a topic whose master is gone tries again until
// the timeout, and so does a Publish that certainly did not run (its
// master could not be dialled, or refused it for its slot), so that one
// made as a replica takes over does not fail for a slot map read a moment
// too early. A publish whose connection broke once it was written is not
// sent again: it may have run.
//
// # Delivery between nodes
//
// The publish script PUBLISHes each message on the channel
// <prefix>m.<topic>. A node holds one pub/sub connection and adds a channel
// to it when the broker subscribes a topic. This keeps one channel per
// topic: publishers need not know who listens, and a message is published
// once however many nodes and patterns want it. The alternative,
// publishing to one channel per interested node, would need a registry of
// every node's patterns kept consistent through outages.
//
// On Redis Cluster a classic PUBLISH goes to every node of the cluster
// over its bus, whoever listens. So there the script SPUBLISHes each
// message on <prefix>m.{<topic>}, a sharded channel in the topic's slot,
// beside its keys, which the slot's master alone passes on (to its
// replicas too), and a node SSUBSCRIBEs the topics it wants over one
// connection per master they live on (shards.go): a message crosses only
// its own shard, and a node listens only on the shards its subscribers
// need. Patterns have no sharded form: they keep classic PSUBSCRIBE on
// the node's one classic connection, and the script also PUBLISHes on
// <prefix>m.<topic>, but only while some node holds a pattern, as a
// lease in Redis says (patterns.go). The lease costs every node a GET
// every half second, a node's first pattern subscribe up to a second of
// waiting, and classic publishes for up to 30 s after the last pattern
// went. Measured on a 3-master cluster on one two-core machine
// (BenchmarkClusterFanIn, 100 B messages round-robin over 100 topics): a
// publish took 27 µs of Redis's time and sent nothing over the bus with
// no pattern held, and 33 µs and 2 bus messages (one per other master)
// with one; the bytes Redis sent a node were 2.6 a publish when it
// subscribed 1 of the 100 topics and 247 when it subscribed all 100.
// The alternative, always PUBLISHing as well for patterns' sake, would
// keep every publish's trip to every node; a registry of patterns that
// the script consults cannot be read from the topic's slot.
//
// Herald patterns reach Redis as a bounded set of globs (see maxGlobs),
// not one PSUBSCRIBE each: Redis matches every PUBLISH against every
// pattern subscription on the server, so 20 nodes holding 1,000 patterns
// each cut a cluster from 15,474 to 888 publishes/s. A node's patterns
// share one glob per literal first token ("chat.*" and "chat.a.>" both
// become "<prefix>m.chat.*") for the first maxGlobs-1 first tokens; past
// that, and for a pattern starting with a wildcard, they share the
// catch-all "<prefix>m.*". A glob is unsubscribed when its last pattern
// goes. Topic bytes hold no glob metacharacter, so only the prefix is
// escaped. Every received message is checked against this node's
// subscriptions before it is handed over. The cost: a node receives, and
// drops, messages of topics that share a first token with its patterns,
// or, once it holds the catch-all, every message of the cluster (and a
// message two of its globs match arrives twice, the second dropped as a
// duplicate); what it drops is bounded by the cluster's publish rate, and
// costs that node alone, where pattern subscriptions cost every publish of
// every node.
//
// Subscribe returns once Redis confirmed the subscription, so every message
// published after it returns reaches the node. On Cluster a topic's
// Subscribe waits on its master (to open a shard there, for the
// confirmation, for the position) without the lock that orders the
// node's subscribes and unsubscribes, so a master that does not answer
// holds up no Subscribe of another's topic (subscribe_sharded.go).
//
// A node keeps, per topic it delivers, the epoch and the last seq handed to
// the Handler. A duplicate (say, a topic matched by both an exact and a
// pattern subscription) is dropped; a gap is filled from the stream before
// the message is handed over; a new epoch starts over. The receive loop
// does not read the stream: the message and the topic's next ones are
// held, in order, at most HistorySize of them, while the refill goroutine
// reads the gap, in one pipeline per master, so that the other topics of
// the connection are delivered meanwhile, and a master that does not
// answer holds up the gaps of its own topics only. When that read fails
// (in a failover, the command client may still dial the old master after
// pub/sub reached the new one), it is tried again with backoff for up to
// CheckInterval (refill.go). After every
// reconnect the node reads every tracked topic's position in Redis, then
// sends a probe through its pub/sub connections: once the probe is back,
// everything published before that read has come through, so what is
// still missing was lost by pub/sub and is read from the stream. These
// reads, as the control stream's after a break, go on connections that
// skip the run key's stamp, which changes nothing they read
// (plainreads.go): a Redis full after a restart still serves them. A
// message merely late is never skipped. A topic Redis fails to read (a key of the
// wrong type) holds up no other: it is checked again at every interval
// until Redis reads it, and a failure that lasts is logged at Warn once,
// naming the topics. With one Redis (standalone, Sentinel) a read that
// times out ends the round: every other read would wait as long. On
// Cluster a master that does not answer costs only the topics of its
// slots (masters.go; slots the slot map names no master for count as one
// master's): the supervisor checks the topics of each master, and probes
// through each master, in jobs of its own, at most one of a kind per
// master at a time, beside the loop that takes its tickers
// (watchjobs.go), so the others' checks and probes go on at their
// intervals while one waits out the timeout; the positions are read in
// one pipeline per master, and the legs of a probe are sent and waited
// for each on its own, so a master whose read or probe leg times out has
// its topics left for the next round while the others are checked, and
// later batches of the round, and its probe, do not ask it again; nor do
// the rounds while it does not take the periodic probe. The presence
// change logs are read the same way (changebatch.go), in a job beside
// the checks. Its topics are checked once it answers
// again or its slots moved (see Redis trouble for their connection). The
// master the classic connection is on costs more: its probe fails, every
// connection is replaced as below, the classic one on another master,
// and the topics of the other masters are checked once that is done.
//
// Between reconnects the same check runs every CheckInterval, but only for
// topics with a message in the last few intervals, or since the last few
// checks started when they came late (on a machine busy enough): while
// the connection
// stays up Redis delivers in order, and a break, loud or silent (the
// probe), is followed by a check of everything, so what the periodic check
// adds is the last messages before a break and what reached history
// without being published. Its cost follows recent traffic, not every
// topic seen. A topic's state outlives its last message by HistoryTTL,
// like the topic in Redis, so that a message after a long silence still
// shows what was lost before it; keeping it costs memory, not Redis calls.
// A topic a pattern covers that the node never delivered has no state for
// these checks to read: what a break of the classic connection lost of
// one is found by searching Redis once the connection is back, for the
// topics the node's patterns cover whose last message was accepted since
// the last probe that came back before the break, and until then its
// first message to arrive brings those accepted since from history
// (untracked.go). An exact subscribe of a topic a pattern covers that
// has no state yet starts it likewise, from when the pattern was
// subscribed, not at the topic's position: the pattern's subscribers may
// not have had what lies before it (what lies after it is the exact
// subscription's, whenever it was accepted). This one check goes by the nodes'
// clocks, taken to agree within a second.
//
// Joins and leaves have no seq; each carries its place in the topic's
// change log instead, a stream of the last changeLogCap of them (of the
// last changeLogKeep, and kept while the topic has presence entries),
// and the place of the one before. A node hands them over only in that chain:
// after every reconnect, and when a change arrives that does not follow
// on, it reads what it missed from the log (changemarks.go). A log that
// no longer holds where the node stood (trimmed, or gone back in a
// failover) is counted in Stats.PresenceGaps, and what it holds is handed
// over.
//
// Unsubscribing a pattern costs no pass over the tracked topics: states
// are checked against the remaining subscriptions, through a trie of the
// patterns, when their next message comes or in one sweep before the next
// pattern subscribe or check (see subscriptions).
//
// What the stream no longer holds (more than HistorySize messages were
// published while the connection was down, or Redis dropped a subscriber
// too slow to read, or more than HistorySize messages came after it while
// it could not be read), or could not be read for CheckInterval, is
// reported to the Handler as a broker.Gap in its place: every message
// handed over passes one function that reports the seqs between it and
// the last one as a gap first, and a check that finds messages gone with
// nothing after them reports them up to the topic's position. A new epoch
// is not a gap: its messages carry it, so subscribers see the history
// broke.
//
// # Redis trouble
//
// Every call has Config.Timeout. Errors of an unreachable Redis wrap
// broker.ErrUnavailable. A connection that failed before Redis answered
// its handshake carried no command (dialer.go): a publish that met one
// was not published, and its publisher is told so. The pub/sub connection is probed by publishing on
// the node's private channel <prefix>probe.<node>; a probe that does not
// come back in time, or a read on the connection that fails, has the
// connection replaced and every channel and pattern subscribed again,
// retried with capped exponential backoff and jitter while Redis is away;
// off Cluster a wait ends early once Redis answers a PING again
// (backoffwait.go), so a restarted server or a replica the sentinels now
// name is used at once.
// The loop reading a connection waits after a failed read too, so as not
// to redial in a tight loop, but only until the connection is subscribed
// again: what Redis sends after a reconnect is read at once (see loopControl).
// A probe, or a read of positions, histories or change logs, that fails
// on a dead pooled connection (a link lost without a word leaves
// go-redis's pool holding some that pass its health check) is sent again,
// as often as the pool's idle connections could all be dead
// (deadconns.go), so that the loss costs one reconnect and not one more
// per pair of them, and no check leaves its topics for the next round.
// go-redis would redial a broken pub/sub connection by itself, but silently:
// the engine replaces it instead so that the check after the reconnect
// finds what was published while it was down.
//
// On Cluster each shard connection has a probe channel of its own in the
// slot of a topic homed on it, <prefix>probe.<node>.{<topic>}, SPUBLISHed
// with every probe. A shard connection that breaks, or that Redis
// unsubscribes from a channel it still wants (the slot moved: Redis sends
// SUNSUBSCRIBE), is replaced alone: the slot map is read again, its topics
// are homed again by it, and they are checked as after any reconnect. A
// Subscribe's SSUBSCRIBE that the master refuses (MOVED: the slot moved
// after its check) costs no shard: that topic alone goes to the master
// the reply names (shardrefused.go). So
// is a shard connection whose master took its probe but whose copy did
// not come back (the connection went silent, or the slot moved). A shard
// whose master does not take the probe is kept: its topics wait, as
// above. While the node holds a pattern, the periodic probe also goes
// classically through every master the slot map named when last read;
// that read, which go-redis sends to one node after another until one
// answers, runs beside the probes, so a node that does not answer holds
// up none of them. Topics whose master cannot be reached when they are homed again
// (it died, and its replica has yet to take over or the slot map to say
// so) are left unhomed, costing no other topic: they are tried again at
// probe ticks, backing off up to BackoffMax, and at once when the slot
// map, read again every 200 ms meanwhile, names another master for them
// than one that failed (rehome.go); they are checked once homed.
// Homing, after a repair or a reconnect, goes master by master in
// parallel and without the lock Subscribe takes (but for the moment of
// sending the SSUBSCRIBEs), so a master that does not answer holds up
// neither the other masters' topics nor a Subscribe of them. When
// the classic connection's probe does not come back, every connection is
// replaced, with backoff, as above.
package redis
