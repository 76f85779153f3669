package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/herald-broker/herald/broker"
)

// Subscribe is the subscribe hook (HERALD_SUBSCRIBE_URL): it asks the
// backend whether a subscription to a hooked topic may start. It
// implements broker.SubscribeAuthorizer.
type Subscribe struct {
	url    string
	topics []string // HERALD_SUBSCRIBE_HOOK_TOPICS
	client *Client
	gate   *gate
}

var _ broker.SubscribeAuthorizer = (*Subscribe)(nil)

// Subscribe returns the subscribe hook posting to url for subscriptions
// to topics (patterns; nil: every topic). At most maxInFlight requests
// run at once (0: DefaultMaxInFlight); a subscription past them is
// answered unavailable without asking, and one whose client's address
// holds its share of them (shareOf) rate_limited.
func (c *Client) Subscribe(url string, topics []string, maxInFlight int) (*Subscribe, error) {
	if topics == nil {
		topics = []string{">"}
	}
	for _, t := range topics {
		if !broker.ValidPattern(t) {
			return nil, fmt.Errorf("herald/hooks: subscribe hook topic %q is not a topic or pattern", t)
		}
	}
	return &Subscribe{url: url, topics: append([]string(nil), topics...), client: c, gate: newGate(maxInFlight)}, nil
}

// Asks: a subscription that can match a hooked topic asks the hook; when
// every topic it can match is hooked, the hook's answer replaces the
// token's allow.subscribe, otherwise both must say yes, so that a pattern
// wider than the hooked topics cannot reach them around the hook.
func (h *Subscribe) Asks(pattern string) (ask, replacesPerms bool) {
	for _, t := range h.topics {
		if broker.Covers(t, pattern) {
			return true, true
		}
	}
	for _, t := range h.topics {
		if overlap(strings.Split(t, "."), strings.Split(pattern, ".")) {
			return true, false
		}
	}
	return false, false
}

// overlap reports whether some topic matches both patterns, given as
// their tokens.
func overlap(a, b []string) bool {
	for len(a) > 0 && len(b) > 0 {
		if a[0] == ">" || b[0] == ">" {
			return true // each has at least one token left to give it
		}
		if a[0] != b[0] && a[0] != "*" && b[0] != "*" {
			return false
		}
		a, b = a[1:], b[1:]
	}
	return len(a) == 0 && len(b) == 0
}

// AuthorizeSubscribe asks the backend about r: nil for 200 {}, forbidden
// for a 200 with an error or a 403, unavailable for anything else; or,
// without asking, rate_limited when r.Client's address holds its share of
// the requests in flight.
func (h *Subscribe) AuthorizeSubscribe(ctx context.Context, r broker.SubscribeRequest) error {
	if err := h.gate.enter(r.Client); err != nil {
		return h.client.notAsked(HookSubscribe, err)
	}
	defer h.gate.leave(r.Client)
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("herald/hooks: subscribe request: %w", err)
	}
	start := time.Now()
	ans, err := h.client.post(ctx, h.url, body)
	if err != nil {
		h.client.metrics.observe(HookSubscribe, outcomeOf(err), time.Since(start))
		return unavailable(err)
	}
	err = judgeSubscribe(ans)
	h.client.metrics.observe(HookSubscribe, outcomeOfJudged(err), time.Since(start))
	return err
}

func judgeSubscribe(ans answer) error {
	switch ans.status {
	case http.StatusOK:
	case http.StatusForbidden:
		return forbidden(refusal(broker.CodeForbidden, ans.body).Message)
	default:
		return badAnswer("status %d", ans.status)
	}
	// Any error value refuses: section 11 gives the subscribe hook's error
	// no shape, so {"error":"no"} says no as plainly as an object does.
	var a struct {
		Error json.RawMessage `json:"error"`
	}
	if err := decodeObject(ans.body, &a); err != nil {
		return err
	}
	if len(a.Error) == 0 || string(a.Error) == "null" {
		return nil
	}
	var e answerError
	_ = json.Unmarshal(a.Error, &e) // a message when it has one
	return forbidden(e.Message)
}

func forbidden(msg string) *broker.Error {
	if msg == "" {
		msg = "the backend refused the subscription"
	}
	return &broker.Error{Code: broker.CodeForbidden, Message: msg}
}
