package limits

import (
	"fmt"
	"sync/atomic"
)

// minFilesReserve is the least number of descriptors kept free for what
// is not a client connection (Redis, log files, the descriptor the upgrade
// itself duplicates): the reserve is this or 1% of the limit, the greater.
const minFilesReserve = 64

// OpenFiles counts the descriptors the server's connections hold against
// the process's open-file limit (RLIMIT_NOFILE), so that an upgrade that
// would need a descriptor the kernel will not give is refused before it is
// answered 101 (docs/protocol.md section 6). It is safe for concurrent use.
//
// It counts what the Listener accepted and not yet released, plus the
// descriptors open when it was made; descriptors opened later by others
// (Redis connections, say) fall within the reserve.
type OpenFiles struct {
	limit   int64
	reserve int64
	base    int64 // descriptors open before counting began
	open    atomic.Int64
}

// NewOpenFiles counts against limit, the soft RLIMIT_NOFILE, with inUse
// descriptors already open. A test passes a small limit.
func NewOpenFiles(limit, inUse int) (*OpenFiles, error) {
	if limit <= 0 || inUse < 0 {
		return nil, fmt.Errorf("herald/limits: open-file limit %d with %d in use", limit, inUse)
	}
	return &OpenFiles{
		limit:   int64(limit),
		reserve: int64(max(minFilesReserve, limit/100)),
		base:    int64(inUse),
	}, nil
}

// Room reports whether more than the reserve is still free, so that a
// new WebSocket may be opened.
func (f *OpenFiles) Room() bool {
	return f.limit-f.base-f.open.Load() > f.reserve
}

// opened counts one descriptor in; closed counts it out.
func (f *OpenFiles) opened() { f.open.Add(1) }
func (f *OpenFiles) closed() { f.open.Add(-1) }

// Open is how many descriptors are counted now, those in use at the start
// included.
func (f *OpenFiles) Open() int { return int(f.base + f.open.Load()) }
