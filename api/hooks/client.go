package hooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// DefaultTimeout bounds one hook request (HERALD_HOOK_TIMEOUT).
const DefaultTimeout = 3 * time.Second

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>" when a
// secret is set.
const SignatureHeader = "X-Herald-Signature"

// maxAnswerBytes bounds what is read of a backend's answer: a connect
// answer holds claims and an info of at most 1 KiB; more is a bad answer.
const maxAnswerBytes = 64 << 10

// Idle keep-alive connections kept to the backend. Every hook goes to one
// or a few hosts, so the per-host limit is the one that matters: it is
// about the concurrency a busy node reaches, so that a burst does not
// close and reopen connections.
const (
	maxIdleConns    = 256
	idleConnTimeout = 90 * time.Second
)

// Config are the settings every hook request shares.
type Config struct {
	// Secret keys the signature (HERALD_HOOK_SECRET); empty: unsigned.
	Secret []byte
	// Timeout bounds each request (HERALD_HOOK_TIMEOUT); 0: DefaultTimeout.
	Timeout time.Duration
}

// Client posts hook requests. It is safe for concurrent use; Close frees
// its idle connections.
type Client struct {
	secret  []byte
	timeout time.Duration
	http    *http.Client
	metrics *Metrics
}

// NewClient builds the one client every hook of a node uses.
func NewClient(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        maxIdleConns,
		MaxIdleConnsPerHost: maxIdleConns,
		IdleConnTimeout:     idleConnTimeout,
		TLSHandshakeTimeout: cfg.Timeout,
		ForceAttemptHTTP2:   true,
	}
	return &Client{
		secret:  append([]byte(nil), cfg.Secret...),
		timeout: cfg.Timeout,
		http: &http.Client{
			Transport: tr,
			// A hook answers itself; a redirect would post the body elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		metrics: newMetrics(),
	}
}

// Metrics returns the client's counters, for /metrics.
func (c *Client) Metrics() *Metrics { return c.metrics }

// Close drops the idle keep-alive connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Sign returns the X-Herald-Signature value of body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is body's under secret, in constant
// time: what a backend runs on each request (see examples/).
func Verify(secret, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}

// answer is a backend's reply: its status and at most maxAnswerBytes of
// its body.
type answer struct {
	status int
	body   []byte
}

// errTimeout, errBusy and errAddressBusy tell why a request got no answer.
var (
	errTimeout     = errors.New("herald/hooks: the backend did not answer in time")
	errBusy        = errors.New("herald/hooks: too many requests to the backend in flight")
	errAddressBusy = errors.New("herald/hooks: too many requests from one address in flight")
)

// post sends body to url within the client's timeout (or ctx's, when
// sooner) and reads the answer. An error means no answer: a timeout
// (wrapping errTimeout) or a failure to connect, send or read.
func (c *Client) post(ctx context.Context, url string, body []byte) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return answer{}, fmt.Errorf("herald/hooks: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "herald-hooks")
	if len(c.secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(c.secret, body))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, c.failure(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return answer{}, c.failure(ctx, err)
	}
	// What is left unread of a body over the bound is dropped with the
	// connection rather than read: a backend cannot make us read more.
	return answer{status: resp.StatusCode, body: data}, nil
}

// failure names a request that got no answer, telling a timeout apart.
func (c *Client) failure(ctx context.Context, err error) error {
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %w", errTimeout, err)
	}
	return fmt.Errorf("herald/hooks: no answer: %w", err)
}
