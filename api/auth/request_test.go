package auth

import (
	"net/http/httptest"
	"testing"
)

func TestTokenFromRequest(t *testing.T) {
	cases := []struct {
		name, url, authorization, want string
	}{
		{"query", "/ws?token=q", "", "q"},
		{"query wins over header", "/ws?token=q", "Bearer h", "q"},
		{"empty query falls back", "/ws?token=", "Bearer h", "h"},
		{"bearer", "/ws", "Bearer h", "h"},
		{"bearer any case", "/ws", "bEaReR  h ", "h"},
		{"another scheme", "/ws", "Basic dXNlcjpwdw==", ""},
		{"bearer without token", "/ws", "Bearer ", ""},
		{"nothing", "/ws", "", ""},
		{"escaped query", "/ws?token=a%2Bb", "", "a+b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", c.url, nil)
			if c.authorization != "" {
				r.Header.Set("Authorization", c.authorization)
			}
			if got := TokenFromRequest(r); got != c.want {
				t.Errorf("TokenFromRequest = %q, want %q", got, c.want)
			}
		})
	}
}
