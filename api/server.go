// Package api is Herald's HTTP server: one port for the backend API
// (/api/*), the probes (/healthz, /readyz), /metrics, and /ws, where a
// request is checked and handed to transport for the WebSocket upgrade.
package api

import (
	"context"
	"crypto/tls"
	"errors"
	stdlog "log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/transport"
	"go.uber.org/zap"
)

// Server serves the HTTP API and the WebSocket upgrade on one listener.
type Server struct {
	cfg      Config
	broker   *broker.Broker
	ws       *transport.Server
	log      *zap.Logger
	refusals *zap.Logger // one line per refusal (refusals.go)
	clientIP *limits.ClientIP
	keys     [][]byte
	limits   bodyLimits
	handler  http.Handler
	http     *http.Server
	stats    *statsSharer // this node's stats, shared and merged with the others'
	// tailSecrets sign and check tail tokens (tailtoken.go).
	tailSecrets [][]byte
	closing     atomic.Bool // set by Shutdown: /ws refuses, /readyz fails
	ready       *readiness  // the engine's readiness, shared among /readyz requests
	// warnedForwarding: the log said once that X-Forwarded-For came from
	// a peer that is not a trusted proxy.
	warnedForwarding atomic.Bool

	shutdownOnce sync.Once
	shutdownErr  error
}

// New builds the server over b and ws. It serves nothing until Serve.
func New(cfg Config, b *broker.Broker, ws *transport.Server) *Server {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = broker.DefaultMaxMessageBytes
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = new(limits.ClientIP) // trusts no proxy
	}
	s := &Server{
		cfg:      cfg,
		broker:   b,
		ws:       ws,
		log:      cfg.Logger,
		refusals: cfg.Logger.Named(broker.RefusalLogger),
		clientIP: cfg.ClientIP,
		keys:     keyBytes(cfg.APIKeys),
		limits:   newBodyLimits(cfg.MaxMessageBytes),
	}
	s.tailSecrets = tailSecrets(s.keys)
	s.ready = newReadiness(b.Ready, b.EngineTroubles, time.Now)
	s.stats = newStatsSharer(cfg.Stats, &localStats{b: b, version: cfg.Version}, s.log)
	if len(s.keys) == 0 {
		s.log.Warn("no API keys configured: /api/* serves loopback callers only")
	}
	s.handler = s.limitHead(s.paceRequests(s.routes()))
	s.http = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ConnContext:       s.connContext,
		// net/http reports accept errors here, "too many open files"
		// among them (it backs off and retries), and failed TLS
		// handshakes; they go to the log instead of stderr (httplog.go).
		ErrorLog: stdlog.New(newHTTPErrorLog(s.log.Named("http"), s.refusals), "", 0),
	}
	return s
}

// Handler routes every path the server answers; Serve serves it.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/publish", s.apiRoute(http.MethodPost, s.handlePublish))
	mux.Handle("/api/broadcast", s.apiRoute(http.MethodPost, s.handleBroadcast))
	mux.Handle("/api/batch", s.apiRoute(http.MethodPost, s.handleBatch))
	mux.Handle("/api/history", s.apiRoute(http.MethodGet, s.handleHistory))
	mux.Handle("/api/topics", s.cors(s.apiRoute(http.MethodGet, s.handleTopics)))
	mux.Handle("/api/stats", s.cors(s.apiRoute(http.MethodGet, s.handleStats)))
	mux.Handle("/api/presence", s.cors(s.apiRoute(http.MethodGet, s.handlePresence)))
	mux.Handle("/api/disconnect", s.apiRoute(http.MethodPost, s.handleControl(broker.ControlDisconnect)))
	mux.Handle("/api/unsubscribe", s.apiRoute(http.MethodPost, s.handleControl(broker.ControlUnsubscribe)))
	mux.Handle("/api/subscribe", s.apiRoute(http.MethodPost, s.handleControl(broker.ControlSubscribe)))
	mux.Handle("/api/tail-token", s.corsFor(http.MethodPost, s.apiRoute(http.MethodPost, s.handleTailToken)))
	mux.Handle("/healthz", s.route(http.MethodGet, handleHealthz))
	mux.Handle("/readyz", s.route(http.MethodGet, s.handleReadyz))
	mux.Handle("/metrics", s.route(http.MethodGet, s.paced(s.handleMetrics)))
	mux.Handle("/ws", refusalsReadable(s.route(http.MethodGet, s.handleWS)))
	mux.Handle("/sse", s.streamCORS(s.route(http.MethodGet, s.handleSSE)))
	mux.Handle("/api/", s.key(notFound))
	if s.cfg.Files != nil {
		mux.Handle("/", s.cfg.Files)
		// Pages of other origins may import the client (web/README.md).
		mux.Handle("/herald.js", s.cors(s.cfg.Files))
		mux.Handle("/herald.d.ts", s.cors(s.cfg.Files))
	} else {
		mux.HandleFunc("/", notFound)
	}
	return mux
}

// limitHead answers 431 to a request whose line and headers are over
// MaxHeaderBytes, whatever its route: net/http alone lets up to 4096
// bytes more through (see limits.HeadTooLarge).
func (s *Server) limitHead(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if limits.HeadTooLarge(r, s.cfg.MaxHeaderBytes) {
			writeFailure(w, codeHeadersTooLarge, "the request line and headers are larger than the server accepts")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeFailure(w, codeNotFound, "no such path: "+r.URL.Path)
}

// route answers 405 with an Allow header to any method but method (and
// HEAD, where method is GET).
func (s *Server) route(method string, h http.HandlerFunc) http.Handler {
	allow := method
	if method == http.MethodGet {
		allow = "GET, HEAD"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", allow)
			writeFailure(w, codeMethodNotAllowed, r.Method+" is not allowed here; use "+method)
			return
		}
		h(w, r)
	})
}

// Serve answers requests on l until Shutdown; it then returns nil. With
// Config.TLS it speaks TLS on l.
func (s *Server) Serve(l net.Listener) error {
	s.stats.start()
	if s.ws != nil {
		// On the listening socket, so that accepted sockets have the
		// receive buffer from their handshake, when TCP fixes the window
		// scale (tcp(7)); each is given its buffers at accept too.
		if err := s.ws.SetListenerBuffers(l); err != nil {
			s.log.Warn("socket buffers of the listener not set; each connection gets them at accept", zap.Error(err))
		}
	}
	l = s.countingListener(l)
	if s.ws != nil {
		l = socketBuffersListener{Listener: l, set: s.ws.SetSocketBuffers}
	}
	if s.cfg.TLS != nil {
		l = tls.NewListener(l, serverTLS(s.cfg.TLS))
	}
	err := s.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// countingListener counts every connection from accept on (see
// limits.Listener). It sits under TLS, so the count holds before the
// handshake too; there a refusal is a bare close, as plain text would not
// be understood.
func (s *Server) countingListener(l net.Listener) net.Listener {
	cfg := limits.ListenerConfig{
		Conns: s.cfg.Conns, Accepts: s.cfg.Accepts, ClientIP: s.clientIP, Files: s.cfg.OpenFiles,
		Refused: s.refusedAtAccept,
	}
	if s.cfg.TLS == nil {
		cfg.Refusal = acceptRefusal()
	}
	return limits.NewListener(l, cfg)
}

// connContext lets /ws find whether the Listener counted the connection,
// and tells transport that the connection's socket has its send and
// receive buffers already, so that an upgrade does not set them again:
// s.http serves only what Serve accepted, through socketBuffersListener
// whenever s.ws is set.
func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	ctx = limits.WithConn(ctx, c)
	if s.ws != nil {
		ctx = transport.WithSocketBuffersSet(ctx)
	}
	return ctx
}

// socketBuffersListener gives each connection it accepts the node's socket
// send and receive buffers (transport.Server.SetSocketBuffers), before a
// byte of it is read or written, so that every socket of the node is
// bounded alike, not only those taken over: a client that asked for
// GET /api/topics and read none of it had the kernel hold up to 3.9 MB of
// the answer, autotuned, until the write timeout, and one whose request
// body waited behind that answer had 1.4 MB of it held unread. It sits over the counting listener, so that a
// connection refused at accept costs no system call more, and under TLS,
// so that the socket is set before the handshake.
type socketBuffersListener struct {
	net.Listener
	set func(net.Conn)
}

func (l socketBuffersListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.set(c)
	}
	return c, err
}

// Shutdown stops accepting, closes every WebSocket with 1001 and waits for
// the HTTP requests in progress and the readiness check under way (which
// it cancels), all at once, until ctx ends. Clients that
// have not finished their close by then are dropped, which is logged and
// is no error: the server stopped all the same, and a client that ignores
// close must not make a clean stop look failed. Later calls wait for the
// first and return its result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.closing.Store(true)
		var httpErr, readyErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			httpErr = s.http.Shutdown(ctx)
		}()
		go func() { // the check /readyz requests wait on calls the engine, closed after us
			defer wg.Done()
			readyErr = s.ready.close(ctx)
		}()
		wsErr := s.ws.Shutdown(ctx)
		if errors.Is(wsErr, transport.ErrCloseUnanswered) {
			s.log.Warn("shutdown: clients that did not finish the close in time were dropped", zap.Error(wsErr))
			wsErr = nil
		}
		s.stats.shutdown(ctx)
		wg.Wait()
		s.shutdownErr = errors.Join(httpErr, wsErr, readyErr)
	})
	return s.shutdownErr
}

// logInternal logs err, a failure the client is shown only as
// "internal error", with r's path and fields: at Error, unless the client
// ended the request itself (it closed its connection or gave up), which
// cancels r's context and fails what the request was waiting for; that is
// the client's doing, and one line at Error each time would let any client
// fill the node's log at its request rate.
func (s *Server) logInternal(r *http.Request, msg string, err error, fields ...zap.Field) {
	level := zap.ErrorLevel
	if r.Context().Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		level, msg = zap.DebugLevel, msg+": the client ended the request"
	}
	if ce := s.log.Check(level, msg); ce != nil {
		ce.Write(append(fields, zap.String("path", r.URL.Path), zap.Error(err))...)
	}
}

// fail answers err as docs/protocol.md section 3 says, logging what the client
// is not shown.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, message := failureOf(err)
	if code == broker.CodeInternal {
		s.logInternal(r, "request failed", err)
	}
	var e *broker.Error
	if errors.As(err, &e) && code != broker.CodeInternal && e.Topic != nil {
		writeJSON(w, statusOf(code), errorBody{Error: errorDetail{Code: code, Message: message, Topic: e.Topic}})
		return
	}
	writeFailure(w, code, message)
}
