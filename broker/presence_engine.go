package broker

import "context"

// PresenceEntry is one session's presence on one topic, with the identity it
// has there (docs/protocol.md section 8). Identity belongs to the entry, not
// to the connection, so that a dialect in which a client names its identity
// per subscription needs no other engine.
type PresenceEntry struct {
	Topic   string
	Session string // the session's uuid, as in welcome
	User    string // "" for an anonymous session: it counts in Sessions only
	Info    []byte // the user's info, a JSON object; nil when none
}

// Member is one user present on a topic, counted once however many sessions
// it has there.
type Member struct {
	User     string
	Sessions int
	Info     []byte // the info of the session that made the user join; nil when none
}

// PresenceState is who is on a topic, cluster-wide: the counts of the
// whole topic and one page of its members (PresencePage).
type PresenceState struct {
	Users     int      // every member, listed or not
	Sessions  int      // every present session, anonymous ones included
	Members   []Member // the page, sorted by User; never nil
	Truncated bool     // members after the page's last were left out
}

// PresenceChange is a join (a user's first session on the topic arrived,
// anywhere in the cluster) or a leave (its last one went). For one user and
// topic joins and leaves alternate, starting with a join; but an engine
// whose backend lost a change after it was handed over may hand the same
// change over again as it sets the backend right, and the broker sends
// that one only to the subscriptions that need it (presence_watchers.go).
type PresenceChange struct {
	Topic   string
	User    string
	Info    []byte // joins only
	Join    bool   // false: a leave
	Session string // the session whose arrival or departure caused it
	// Seq orders a topic's changes where several nodes decide them (one
	// engine step decides each, but each node reports its own): After is
	// the Seq of the topic's change just before, 0 when none is known.
	// Both are 0 from an engine that reports its changes in order itself.
	Seq, After uint64
}

// ControlKind is what a Control asks of the sessions it names.
type ControlKind uint8

// The controls of docs/protocol.md section 9.
const (
	ControlDisconnect  ControlKind = iota + 1 // close with CloseDisconnected
	ControlUnsubscribe                        // end the subscription named by Topic
	ControlSubscribe                          // subscribe to Topic, whatever the permissions
)

// Control is a backend's order for the sessions of a user, or one session,
// on every node.
type Control struct {
	Kind    ControlKind
	User    string // exactly one of User and Session is set
	Session string
	Topic   string // a topic or pattern; unsubscribe and subscribe only
}

// PresenceEngine is the part of Engine that keeps presence and carries
// controls, cluster-wide. store/enginetest holds its contract.
type PresenceEngine interface {
	// AddPresence records e. Adding an entry already recorded (same topic
	// and session) changes nothing. When e is its user's first session on
	// the topic, every node's Handler is given the join, this node's
	// included.
	AddPresence(ctx context.Context, e PresenceEntry) error

	// RemovePresence removes the entry of e.Topic and e.Session, if any;
	// when it was its user's last session there, every node's Handler is
	// given the leave.
	RemovePresence(ctx context.Context, e PresenceEntry) error

	// Presence returns who is on topic: its counts and the page of its
	// members that page asks for, read in user order from page.After
	// (PageFiller), so that memory and work are bounded by the page, not
	// by the topic. Entries of a node
	// that stopped without removing them are gone, and their leaves
	// given, within 30 seconds of its death.
	Presence(ctx context.Context, topic string, page PresencePage) (PresenceState, error)

	// Control hands c to every node's Handler, this node's included, once.
	Control(ctx context.Context, c Control) error
}
