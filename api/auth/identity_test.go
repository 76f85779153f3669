package auth

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/herald-broker/herald/broker"
)

// The info claim is kept compacted, and subs as listed; both are the
// broker's to use (presence, server subscriptions).
func TestInfoAndSubsClaims(t *testing.T) {
	v := newVerifier(t, Config{Secret: testSecret})
	tok := sign(t, jwt.SigningMethodHS256, testSecret, with(
		"info", json.RawMessage(`{ "name" : "Ada", "tags": [1, 2] }`),
		"subs", []string{"user:42.inbox", "news.*"}))
	info, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if string(info.Info) != `{"name":"Ada","tags":[1,2]}` {
		t.Errorf("info %s", info.Info)
	}
	if strings.Join(info.Subs, " ") != "user:42.inbox news.*" {
		t.Errorf("subs %v", info.Subs)
	}
	none, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, with("info", json.RawMessage("null"))))
	if err != nil || none.Info != nil || none.Subs != nil {
		t.Errorf("info null: %+v, %v", none, err)
	}
}

func TestInfoRefusals(t *testing.T) {
	v := newVerifier(t, Config{Secret: testSecret})
	long := strings.Repeat("x", broker.MaxInfoBytes)
	run(t, v, []refusalCase{
		{"info over 1 KiB", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, with("info", map[string]string{"a": long}))
		}, ErrBadInfo},
		{"info a string", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, with("info", "Ada"))
		}, ErrBadInfo},
		{"info an array", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, with("info", []int{1}))
		}, ErrBadInfo},
		{"subs not a list", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, with("subs", "news"))
		}, ErrMalformed},
	})
}
