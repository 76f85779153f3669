package node

import (
	"context"
	"fmt"
	"time"

	"github.com/herald-broker/herald/api/hooks"
	"github.com/herald-broker/herald/broker"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Hooks are the backend hooks of docs/protocol.md section 11; the zero
// value has none.
type Hooks struct {
	ConnectURL      string   // HERALD_CONNECT_URL
	SubscribeURL    string   // HERALD_SUBSCRIBE_URL
	SubscribeTopics []string // HERALD_SUBSCRIBE_HOOK_TOPICS; nil: every topic
	WebhookURL      string   // HERALD_WEBHOOK_URL
	Secret          []byte   // HERALD_HOOK_SECRET
	Timeout         time.Duration
	VacatedDelay    time.Duration // HERALD_WEBHOOK_VACATED_DELAY
	// MaxInFlight bounds the connect (and, apart, the subscribe) hook
	// requests running at once; 0: hooks.DefaultMaxInFlight.
	MaxInFlight int
}

func (h Hooks) any() bool {
	return h.ConnectURL != "" || h.SubscribeURL != "" || h.WebhookURL != ""
}

// nodeHooks are a node's hooks: the client, and the webhooks that Close
// stops.
type nodeHooks struct {
	client   *hooks.Client
	webhooks *hooks.Webhooks // nil: none
}

// buildHooks makes the hook client and hands each part the hook it calls.
// Nil when no hook is configured.
func buildHooks(cfg *Config, eng broker.Engine, log *zap.Logger) (*nodeHooks, error) {
	h := cfg.Hooks
	if !h.any() {
		return nil, nil
	}
	client := hooks.NewClient(hooks.Config{Secret: h.Secret, Timeout: h.Timeout})
	if h.ConnectURL != "" {
		cfg.API.Connect = client.Connect(h.ConnectURL, h.MaxInFlight)
	}
	if h.SubscribeURL != "" {
		sub, err := client.Subscribe(h.SubscribeURL, h.SubscribeTopics, h.MaxInFlight)
		if err != nil {
			return nil, err
		}
		cfg.Broker.Subscribe = sub
	}
	nh := &nodeHooks{client: client}
	if h.WebhookURL != "" {
		store, ok := eng.(hooks.WebhookStore)
		if !ok {
			return nil, fmt.Errorf("%w: the engine keeps no webhook queue", ErrConfig)
		}
		wh, err := client.Webhooks(hooks.WebhookConfig{
			URL: h.WebhookURL, Node: cfg.NodeID, Store: store,
			VacatedDelay: h.VacatedDelay, Logger: log.Named("webhooks"),
		})
		if err != nil {
			return nil, err
		}
		nh.webhooks = wh
		cfg.Broker.Events = wh
		if mw, ok := eng.(hooks.MemberWatcher); ok {
			mw.WatchMembers(wh.MemberChanged)
		}
	}
	return nh, nil
}

// close stops the webhooks, once the broker reports nothing more, and
// frees the client's connections.
func (h *nodeHooks) close(ctx context.Context) error {
	if h == nil {
		return nil
	}
	var err error
	if h.webhooks != nil {
		err = h.webhooks.Close(ctx)
	}
	h.client.Close()
	return err
}

// hookCollectors are the hooks' metrics, for /metrics; none without hooks.
func (n *Node) hookCollectors() []prometheus.Collector {
	if n.hooks == nil {
		return nil
	}
	return n.hooks.client.Metrics().Collectors()
}
