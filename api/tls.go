package api

import "crypto/tls"

// serverTLS is cfg as the server uses it: at least TLS 1.2, and HTTP/1.1
// only, since a WebSocket upgrade needs a connection of its own to take
// over (HTTP/2 has none).
func serverTLS(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	c.NextProtos = []string{"http/1.1"}
	return c
}
