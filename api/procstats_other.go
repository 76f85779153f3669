//go:build !unix

package api

import "time"

// cpuTime is unknown on this system: 0.
func cpuTime() time.Duration { return 0 }

// rssBytes is unknown on this system: 0.
func rssBytes() uint64 { return 0 }
