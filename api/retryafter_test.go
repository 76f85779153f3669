package api

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/herald-broker/herald/broker"
)

// A publish refused because delivery is behind says when to retry; other
// unavailable answers (Redis) do not claim to know.
func TestRetryAfterOnlyForOverload(t *testing.T) {
	overloaded := &broker.Error{Code: broker.CodeUnavailable, Message: "behind",
		Err: fmt.Errorf("%w: %w", broker.ErrOverloaded, context.DeadlineExceeded)}
	cases := []struct {
		err  error
		want string
	}{
		{overloaded, "1"},
		{fmt.Errorf("publish: %w", overloaded), "1"},
		{broker.Unavailable(errors.New("redis down")), ""},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		retryAfter(rec, c.err)
		if got := rec.Header().Get("Retry-After"); got != c.want {
			t.Errorf("%v: Retry-After %q, want %q", c.err, got, c.want)
		}
	}
}
