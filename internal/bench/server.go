package bench

import "bytes"

// Servers herald-bench can load. Herald is the default; Centrifugo is
// there to measure the same scenarios against it on the same machine, with
// the same client code, publishers and histograms.
const (
	ServerHerald     = "herald"
	ServerCentrifugo = "centrifugo"
)

// Servers lists the values --server takes.
var Servers = []string{ServerHerald, ServerHeraldSSE, ServerCentrifugo}

// dialect is what differs between the servers' HTTP publish APIs and
// liveness probes. The read paths differ more and have their own loops
// (worker.read, worker.readCentrifugo), chosen once per connection so that
// nothing is decided per delivery.
type dialect struct {
	// topicKey opens the topic's string in a publish body.
	topicKey string
	// authHeader is the header name and the prefix before the API key.
	authHeader string
	// errorInBody: the server may answer a refused publish with 200 and an
	// "error" object (Centrifugo's default error mode), so a 200 alone does
	// not say the message was taken.
	errorInBody bool
	// aliveProbe is a command whose reply shows the server still reads and
	// answers this connection.
	aliveProbe []byte
}

var dialects = map[string]dialect{
	ServerHerald: {
		topicKey:   `{"topic":"`,
		authHeader: "Authorization: Bearer ",
		aliveProbe: []byte(`{"type":"ping","id":"alive"}`),
	},
	ServerHeraldSSE: {
		topicKey:   `{"topic":"`,
		authHeader: "Authorization: Bearer ",
	},
	ServerCentrifugo: {
		topicKey:    `{"channel":"`,
		authHeader:  "X-API-Key: ",
		errorInBody: true,
		aliveProbe:  cfAliveProbe,
	},
}

// dialectOf returns the dialect of server; Herald's for an unknown name,
// which ParseArgs has refused already.
func dialectOf(server string) dialect {
	if d, ok := dialects[server]; ok {
		return d
	}
	return dialects[ServerHerald]
}

// headerLine is the API key header of a request, or "" without a key.
func (d dialect) headerLine(apiKey string) string {
	if apiKey == "" {
		return ""
	}
	return d.authHeader + apiKey + "\r\n"
}

// refused says whether a 200 reply's body still reports a refusal.
func (d dialect) refused(body []byte) bool {
	return d.errorInBody && bytes.Contains(body, []byte(`"error":`))
}

// serverSupports says which scenarios a server can run: churn publishes
// over the WebSocket with Herald's commands, and cluster needs several
// nodes sharing one engine, so both are Herald's only.
func serverSupports(server, scenario string) bool {
	return server == ServerHerald || scenario == ScenarioIdle || scenario == ScenarioFanout
}
