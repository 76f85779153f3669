package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/golang-jwt/jwt/v5"
)

// A token's subs claim whose topics are past its address's subscriptions
// costs the node's log no more than any other refusal: each topic not set
// up was a warning, so that one token of 1,000 topics, presented again at
// the connect rate by an address holding its bound, wrote 1,000 lines a
// connection (99,000 in 1.7 s from 100 connections).
func TestRunLimitsClaimTopicsPastTheBound(t *testing.T) {
	const secret = "claim-refusals-test-secret-of-32"
	const subs, conns = 10, 4
	base, logged, stop := startNode(t, map[string]string{
		"HERALD_JWT_SECRET":               secret,
		"HERALD_MAX_SUBSCRIPTIONS_PER_IP": fmt.Sprint(subs), // the first connection's claim fills it
	})
	topics := make([]string, subs)
	for i := range topics {
		topics[i] = fmt.Sprintf("claimed.%d", i)
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "u", "subs": topics, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/ws?token=" + url.QueryEscape(token)
	var opened []net.Conn
	for i := range conns {
		opened = append(opened, claimSettled(t, wsURL, i))
	}
	for _, c := range opened {
		c.Close()
	}
	stop()
	out := logged()
	if warned := strings.Count(out, "server subscription failed"); warned > 0 {
		t.Fatalf("%d claim topics past the bound logged as warnings:\n%s", warned, out)
	}
	lines := strings.Count(out, `"msg":"refused: subs claim topic"`)
	const refused = (conns - 1) * subs
	// A token may come back during the flood on a slow machine.
	if lines < refusalBurst || lines > refusalBurst+2 {
		t.Fatalf("%d refusal lines for %d claim topics refused, want about %d:\n%s", lines, refused, refusalBurst, out)
	}
	counted := regexp.MustCompile(`"kind":"refused: subs claim topic","suppressed":(\d+)`).FindStringSubmatch(out)
	if counted == nil || counted[1] != fmt.Sprint(refused-lines) {
		t.Fatalf("the suppressed claim topics counted %v, want %d:\n%s", counted, refused-lines, out)
	}
}

// claimSettled connects with the claim of wsURL's token and waits until
// the node has dealt with all of it: a subscribe sent after connecting is
// answered after the claim's subscriptions, which are the session's first
// job. It returns the connection, open.
func claimSettled(t *testing.T, wsURL string, i int) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, _, err := ws.Dial(ctx, wsURL)
	if err != nil {
		t.Fatalf("connection %d: %v", i, err)
	}
	t.Cleanup(func() { c.Close() }) // on a failure; closed twice is harmless
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := wsutil.WriteClientText(c, []byte(`{"type":"subscribe","id":"after","topic":"after.claim"}`)); err != nil {
		t.Fatal(err)
	}
	for {
		frame, err := wsutil.ReadServerText(c)
		if err != nil {
			t.Fatalf("connection %d: no answer to the subscribe after its claim: %v", i, err)
		}
		if strings.Contains(string(frame), `"id":"after"`) {
			return c
		}
	}
}
