package api

import (
	"crypto/tls"
	"net/http"
	"time"

	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
	"go.uber.org/zap"
)

// Defaults of Config and of the http.Server. The message limit is the
// broker's setting, and so is its default (broker.DefaultMaxMessageBytes).
const (
	DefaultMaxHeaderBytes = 16 << 10

	// DefaultReadHeaderTimeout closes a connection whose request line and
	// headers, an upgrade request among them, have not all arrived in
	// time, and bounds a TLS handshake (net/http takes the least of the
	// server's timeouts for it).
	DefaultReadHeaderTimeout = 10 * time.Second

	readTimeout  = 30 * time.Second // headers and body of one request
	writeTimeout = 30 * time.Second // one reply
	idleTimeout  = 120 * time.Second
)

// Config are the HTTP server's settings.
type Config struct {
	// APIKeys are accepted as "Authorization: Bearer <key>" on /api/*.
	// With none, only loopback callers are served.
	APIKeys []string
	// AllowedOrigins are the Origin values accepted on /ws, and those
	// whose pages may read /api/stats and /api/topics and get a tail
	// token (CORS); empty: any.
	AllowedOrigins []string
	// MaxMessageBytes is the broker's largest data value; request bodies
	// are bounded from it (see bodyLimits), and the broker checks each
	// message against it. 0: broker.DefaultMaxMessageBytes.
	MaxMessageBytes int
	// MaxHeaderBytes bounds a request's line and headers
	// (HERALD_MAX_UPGRADE_BYTES): net/http stops reading past it, and
	// every route answers a request over it exactly with 431. 0:
	// DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// ReadHeaderTimeout is how long a request's line and headers may
	// take before the connection is closed: from accept for its first
	// request, from the first bytes of each later one (net/http waits
	// for those up to the idle timeout), and from accept for a TLS
	// handshake. The read timeout, 30 s, bounds them all the same, so a
	// longer one changes nothing. 0: DefaultReadHeaderTimeout, which
	// cmd/herald keeps (it is not one of its settings).
	ReadHeaderTimeout time.Duration
	// Tokens checks client tokens on /ws; give the broker the same one,
	// for the refresh command. Nil: every client is anonymous and allowed
	// everything.
	Tokens broker.TokenVerifier
	// Connect asks the backend who a /ws client without a token is (or
	// every client, when Tokens is nil). Nil: no connect hook.
	Connect ConnectAuthorizer
	// ClientIP finds a /ws client's address behind trusted proxies
	// (HERALD_TRUSTED_PROXIES). Nil: the peer's address, never a header.
	ClientIP *limits.ClientIP
	// Conns limits the connections of each client address: MaxOpen from
	// the moment a connection is accepted (for a trusted proxy's, at the
	// upgrade, per client behind it), Rate at each /ws upgrade. Nil: no
	// limit.
	Conns *limits.ConnLimiter
	// Probes paces, per client address, the requests to the route that
	// needs no key and does work for it, /metrics (every metric
	// rendered). Its Rate and Burst are spent one per request; a
	// keep-alive connection would otherwise make them as fast as it can
	// send them. Nil: no pace.
	Probes *limits.ConnLimiter
	// Requests paces, per client address, the requests that carry no
	// valid API key, /ws, /sse and /metrics aside (requests.go): past
	// its Rate and Burst each is answered, then its connection closed.
	// Nil: no pace.
	Requests *limits.ConnLimiter
	// Accepts paces, per client address, the connections it opens,
	// counted at accept, trusted proxies aside (limits.ListenerConfig):
	// past it a connection is refused as past Conns' MaxOpen. Nil: no
	// pace.
	Accepts *limits.ConnLimiter
	// OpenFiles counts the connections' descriptors against the
	// open-file limit; near it /ws refuses upgrades with 503. Nil: no
	// count.
	OpenFiles *limits.OpenFiles
	// TLS, when set, makes Serve speak TLS on its listener, so wss:// and
	// https:// work without a proxy. Versions below TLS 1.2 are refused.
	TLS *tls.Config
	// Metrics serves /metrics. Nil: /metrics answers 501 until the
	// Prometheus metrics exist.
	Metrics http.Handler
	// Files serves every path not listed above outside /api/: the
	// dashboard at / and /herald.js. Nil: those paths answer 404.
	Files http.Handler
	// Version is the build's, reported by /api/stats.
	Version string
	// Stats is where the nodes share their stats, so that /api/stats
	// shows the whole cluster (cluster.go). Nil: this node only.
	Stats StatsBoard
	// Logger gets the server's lines; its child named
	// broker.RefusalLogger gets one line per refused request or
	// connection (see refusals.go).
	Logger *zap.Logger
}
