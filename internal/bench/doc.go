// Package bench is herald-bench's engine: a minimal WebSocket client that
// speaks docs/protocol.md (and, to measure the same scenarios against it,
// Centrifugo v6's JSON protocol), worker processes that hold many
// connections each, HTTP publishers, and the figures a run reports. The
// parent process plans a run (Run), its workers execute their share
// (RunWorker) and report counters as JSON lines; nothing here decodes JSON
// per delivered message.
package bench
