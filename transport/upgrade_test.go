package transport

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/herald-broker/herald/broker"
)

// countingAcceptor wraps the echo acceptor's Receiver, as api does to give
// back a per-address slot, and counts Opens and Disconnecteds.
type countingAcceptor struct {
	inner        *echoAcceptor
	opened, gone *atomic.Int64
}

func (a countingAcceptor) Open(c broker.Conn, info broker.ClientInfo) Receiver {
	a.opened.Add(1)
	return countingReceiver{a.inner.Open(c, info), a.gone}
}

type countingReceiver struct {
	Receiver
	gone *atomic.Int64
}

func (r countingReceiver) Disconnected() {
	r.gone.Add(1)
	r.Receiver.Disconnected()
}

// Upgrade reports a handed-over connection, opens it with the given
// acceptor before returning, and its Receiver hears Disconnected once; a
// refused handshake reports false and opens nothing.
func TestUpgradeReportsHandover(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{})
		var opened, gone atomic.Int64
		var handedOver, refused atomic.Int64
		acc := countingAcceptor{inner: ts.acc, opened: &opened, gone: &gone}
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			before := opened.Load()
			ok := ts.srv.Upgrade(w, r, broker.ClientInfo{}, acc)
			switch {
			case ok && opened.Load() == before+1:
				handedOver.Add(1)
			case !ok && opened.Load() == before:
				refused.Add(1)
			default:
				t.Errorf("Upgrade = %v with %d opens during the call", ok, opened.Load()-before)
			}
		}))
		defer hs.Close()
		addr := strings.TrimPrefix(hs.URL, "http://")

		c := dialRaw(t, addr, nil)
		eventually(t, "opened", func() bool { return handedOver.Load() == 1 })
		c.nc.Close()
		eventually(t, "disconnected", func() bool { return gone.Load() == 1 })

		resp, err := http.Get(hs.URL + "/ws") // no upgrade headers
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a plain GET: status %d", resp.StatusCode)
		}
		// The reply is out before Upgrade returns to the handler.
		eventually(t, "refusal reported", func() bool { return refused.Load() == 1 })
		if opened.Load() != 1 || gone.Load() != 1 {
			t.Fatalf("%d opened, %d disconnected; want 1 and 1", opened.Load(), gone.Load())
		}
	})
}
