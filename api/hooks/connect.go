package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/herald-broker/herald/api/auth"
	"github.com/herald-broker/herald/broker"
)

// Connect is the connect hook (HERALD_CONNECT_URL): it asks the backend
// who a connection without a token is. It implements api.ConnectAuthorizer.
type Connect struct {
	url    string
	client *Client
	gate   *gate
}

// Connect returns the connect hook posting to url; at most maxInFlight
// requests run at once (0: DefaultMaxInFlight), and a connection past
// them is refused unavailable without asking; one whose address holds
// its share of them (shareOf) is refused rate_limited.
func (c *Client) Connect(url string, maxInFlight int) *Connect {
	return &Connect{url: url, client: c, gate: newGate(maxInFlight)}
}

// connectRequest is the body of docs/protocol.md section 11.
type connectRequest struct {
	Session string            `json:"session"`
	IP      string            `json:"ip"`
	Headers map[string]string `json:"headers"`
	Query   map[string]string `json:"query"`
}

// forwardedHeaders are the request headers the backend is shown, named
// as they are sent.
var forwardedHeaders = [...]string{"Cookie", "Origin", "User-Agent"}

func newConnectRequest(r *http.Request, session, ip string) connectRequest {
	req := connectRequest{Session: session, IP: ip, Headers: map[string]string{}, Query: map[string]string{}}
	for _, h := range forwardedHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Headers[h] = joinHeader(h, v)
		}
	}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			req.Query[k] = v[0]
		}
	}
	return req
}

// joinHeader joins repeated header lines as RFC 9110 section 5.3 says;
// cookies with "; " (RFC 6265 section 5.4).
func joinHeader(name string, values []string) string {
	sep := ", "
	if name == "Cookie" {
		sep = "; "
	}
	var b bytes.Buffer
	for i, v := range values {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(v)
	}
	return b.String()
}

// AuthorizeConnect asks the backend about the connection r opens, which
// will carry the id session. It returns the claims as a token's would be,
// or a *broker.Error: unauthorized or forbidden when the backend refused,
// unavailable when it gave no usable answer; or, without asking,
// rate_limited when ip's address holds its share of the requests in
// flight.
func (h *Connect) AuthorizeConnect(ctx context.Context, r *http.Request, session, ip string) (broker.ClientInfo, error) {
	client := parseClient(ip)
	if err := h.gate.enter(client); err != nil {
		return broker.ClientInfo{}, h.client.notAsked(HookConnect, err)
	}
	defer h.gate.leave(client)
	body, err := json.Marshal(newConnectRequest(r, session, ip))
	if err != nil {
		return broker.ClientInfo{}, fmt.Errorf("herald/hooks: connect request: %w", err)
	}
	start := time.Now()
	ans, err := h.client.post(ctx, h.url, body)
	if err != nil {
		h.client.metrics.observe(HookConnect, outcomeOf(err), time.Since(start))
		return broker.ClientInfo{}, unavailable(err)
	}
	info, err := judgeConnect(ans)
	h.client.metrics.observe(HookConnect, outcomeOfJudged(err), time.Since(start))
	return info, err
}

// outcomeOfJudged classifies an answer the backend gave.
func outcomeOfJudged(err error) Outcome {
	switch {
	case err == nil:
		return OutcomeOK
	case broker.CodeOf(err) == broker.CodeUnauthorized, broker.CodeOf(err) == broker.CodeForbidden:
		return OutcomeRefused
	}
	return OutcomeError
}

// unavailable is the refusal of a connection or subscription the backend
// could not be asked about.
func unavailable(cause error) *broker.Error {
	return &broker.Error{Code: broker.CodeUnavailable, Message: "the backend could not be asked", Err: cause}
}

// connectClaims is a 200 answer: the claims, or an error.
type connectClaims struct {
	User     string          `json:"user"`
	Allow    *allowClaim     `json:"allow"`
	Info     json.RawMessage `json:"info"`
	Subs     []string        `json:"subs"`
	ExpireAt *float64        `json:"expire_at"`
	Error    *answerError    `json:"error"`
}

type allowClaim struct {
	Subscribe []string `json:"subscribe"`
	Publish   []string `json:"publish"`
}

// answerError is {"code":..,"message":..} in a backend's refusal.
type answerError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// judgeConnect reads a backend's answer to a connect request.
func judgeConnect(ans answer) (broker.ClientInfo, error) {
	switch ans.status {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return broker.ClientInfo{}, refusal(broker.CodeUnauthorized, ans.body)
	case http.StatusForbidden:
		return broker.ClientInfo{}, refusal(broker.CodeForbidden, ans.body)
	default:
		return broker.ClientInfo{}, badAnswer("status %d", ans.status)
	}
	var c connectClaims
	if err := decodeObject(ans.body, &c); err != nil {
		return broker.ClientInfo{}, err
	}
	if c.Error != nil {
		switch code := broker.Code(c.Error.Code); code {
		case broker.CodeUnauthorized, broker.CodeForbidden:
			return broker.ClientInfo{}, &broker.Error{Code: code, Message: messageOr(c.Error.Message, code)}
		default:
			return broker.ClientInfo{}, badAnswer("error code %q", c.Error.Code)
		}
	}
	return c.clientInfo()
}

// clientInfo turns accepted claims into what a token's would give.
func (c *connectClaims) clientInfo() (broker.ClientInfo, error) {
	info := broker.ClientInfo{Subject: c.User}
	var perms *auth.Permissions
	var err error
	if c.Allow == nil {
		perms, err = auth.NewPermissions(nil, nil) // like a token without allow: nothing
	} else {
		perms, err = auth.NewPermissions(c.Allow.Subscribe, c.Allow.Publish)
	}
	if err != nil {
		return broker.ClientInfo{}, badAnswer("allow: %v", err)
	}
	info.Perms = perms
	if info.Info, err = broker.CompactInfo(c.Info); err != nil {
		return broker.ClientInfo{}, badAnswer("info: %v", err)
	}
	for _, t := range c.Subs {
		if !broker.ValidPattern(t) {
			return broker.ClientInfo{}, badAnswer("subs holds %q, not a topic or pattern", t)
		}
	}
	info.Subs = c.Subs
	if c.ExpireAt != nil {
		info.Expires = time.UnixMilli(int64(*c.ExpireAt * 1000))
	}
	return info, nil
}

// refusal is the backend's 401 or 403, with its message when the body
// says one.
func refusal(code broker.Code, body []byte) *broker.Error {
	var a struct {
		Error *answerError `json:"error"`
	}
	msg := ""
	if json.Unmarshal(body, &a) == nil && a.Error != nil {
		msg = a.Error.Message
	}
	return &broker.Error{Code: code, Message: messageOr(msg, code)}
}

func messageOr(msg string, code broker.Code) string {
	if msg != "" {
		return msg
	}
	if code == broker.CodeUnauthorized {
		return "the backend did not recognise the client"
	}
	return "the backend refused the client"
}

// decodeObject decodes a JSON object answer into v.
func decodeObject(body []byte, v any) error {
	if len(body) > maxAnswerBytes {
		return badAnswer("the answer is longer than %d bytes", maxAnswerBytes)
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return badAnswer("the answer is not a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badAnswer("the answer does not decode: %v", err)
	}
	return nil
}

// badAnswer is an answer that says neither yes nor no: unavailable.
func badAnswer(format string, args ...any) *broker.Error {
	return unavailable(fmt.Errorf("herald/hooks: bad answer: "+format, args...))
}
