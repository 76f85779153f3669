package api_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/memory"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	return zap.New(core), logs
}

// emfileListener fails its first Accept as a listener out of descriptors
// does, then waits until closed.
type emfileListener struct {
	once   sync.Once
	closed chan struct{}
}

type tempError struct{}

func (tempError) Error() string   { return "accept tcp: too many open files" }
func (tempError) Timeout() bool   { return false }
func (tempError) Temporary() bool { return true }

func (l *emfileListener) Accept() (net.Conn, error) {
	failed := false
	l.once.Do(func() { failed = true })
	if failed {
		return nil, tempError{}
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *emfileListener) Close() error {
	select {
	case <-l.closed:
	default:
		close(l.closed)
	}
	return nil
}

func (l *emfileListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func TestAcceptErrorsAreLogged(t *testing.T) {
	log, logs := observed()
	ws := newTransport(t)
	srv := api.New(api.Config{Logger: log, APIKeys: []string{"k"}}, nil, ws)
	l := &emfileListener{closed: make(chan struct{})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	deadline := time.Now().Add(10 * time.Second)
	for logs.FilterMessageSnippet("too many open files").Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the accept error was not logged: %v", logs.All())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve: %v", err)
	}
	entries := logs.FilterMessageSnippet("retrying").All()
	if len(entries) == 0 || entries[0].Level != zap.WarnLevel {
		t.Fatalf("the accept error is not a warning saying it retries: %v", entries)
	}
}

// brokenEngine is a memory engine whose publishes fail with an error
// that is no broker.Error: one the client cannot act on.
type brokenEngine struct{ *memory.Engine }

var errDiskOnFire = errors.New("disk on fire")

func (brokenEngine) Publish(context.Context, broker.PublishRequest) (broker.PublishResult, error) {
	return broker.PublishResult{}, errDiskOnFire
}

// A publish the engine failed for a reason the client cannot act on is
// answered 500 and logged once, where it was answered, with its path and
// its cause.
func TestInternalErrorIsLoggedOnce(t *testing.T) {
	log, logs := observed()
	eng := brokenEngine{memory.New(memory.Config{HistorySize: broker.DefaultHistorySize, HistoryTTL: broker.DefaultHistoryTTL})}
	n := startNode(t, api.Config{Logger: log}, eng)
	n.post(t, "/api/publish", `{"topic":"a","data":1}`).wantError(t, http.StatusInternalServerError, "internal")
	errs := logs.FilterLevelExact(zap.ErrorLevel).All()
	if len(errs) != 1 || errs[0].ContextMap()["path"] != "/api/publish" ||
		!strings.Contains(fmt.Sprint(errs[0].ContextMap()["error"]), errDiskOnFire.Error()) {
		t.Fatalf("error lines %v, want one with the path and the cause", errs)
	}
}

// heldEngine holds every publish to the topic "held" until its request
// ends, telling entered when one is held.
type heldEngine struct {
	*memory.Engine
	entered chan struct{}
}

func (e heldEngine) Publish(ctx context.Context, req broker.PublishRequest) (broker.PublishResult, error) {
	if req.Topic != "held" {
		return e.Engine.Publish(ctx, req)
	}
	e.entered <- struct{}{}
	<-ctx.Done()
	return broker.PublishResult{}, fmt.Errorf("publish held: %w", ctx.Err())
}

// A publish its client gave up on fails with the request's context, and
// that is the client's doing: logged at Debug, not once at Error per
// request, which would let any publisher fill the node's log.
func TestPublishesTheirClientEndedAreNotLoggedAsErrors(t *testing.T) {
	for _, tc := range []struct{ path, body string }{
		{"/api/publish", `{"topic":"held","data":1}`},
		{"/api/batch", `{"messages":[{"topic":"a","data":1},{"topic":"held","data":2}]}`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			log, logs := observed()
			eng := heldEngine{memory.New(memory.Config{HistorySize: broker.DefaultHistorySize, HistoryTTL: broker.DefaultHistoryTTL}), make(chan struct{}, 1)}
			n := startNode(t, api.Config{Logger: log}, eng)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.base+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			answered := make(chan error, 1)
			go func() { // ends when cancel ends the request
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				answered <- err
			}()
			select {
			case <-eng.entered:
			case <-time.After(10 * time.Second):
				t.Fatal("the publish never reached the engine")
			}
			cancel()
			if err := <-answered; !errors.Is(err, context.Canceled) {
				t.Fatalf("the request ended with %v, want it cancelled", err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for logs.FilterMessageSnippet("the client ended the request").Len() == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the ended publish was not logged: %v", logs.All())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if errs := logs.FilterLevelExact(zap.ErrorLevel).All(); len(errs) != 0 {
				t.Fatalf("error lines %v for a publish its client ended", errs)
			}
			if ended := logs.FilterMessageSnippet("the client ended the request").All(); ended[0].Level != zap.DebugLevel {
				t.Fatalf("the ended publish logged at %v, want debug", ended[0].Level)
			}
		})
	}
}
