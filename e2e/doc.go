// Package e2e holds Herald's end-to-end tests: whole nodes (api, transport,
// broker and an engine) on loopback, driven by real WebSocket clients and
// HTTP publishers, and real herald processes for the cluster.
package e2e
