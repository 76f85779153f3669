package redis

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/herald-broker/herald/broker"
)

// publishArgs is what a publish script call's arguments point to. go-redis
// writes a *string, an *int64 and an encoding.BinaryMarshaler as it writes
// the value, and a pointer goes into an interface without an allocation,
// while each string, number or byte slice boxed took one. The keys,
// channels and epoch are parts of one string, made in one allocation. The
// call that holds it is pooled, and all of this with it: built the usual
// way, with Script.EvalSha, the command took 17 allocations a publish more
// (BenchmarkPublish).
type publishArgs struct {
	buf []byte // text is built here first: kept from one call to the next

	meta, hist, idem, run  string // keys: idem is "" without an idempotency key, run "" off Cluster
	epoch, id              string
	time                   int64
	data                   bytesArg
	classic, topic, shared string // shared: the sharded channel, "" off Cluster
}

// bytesArg is a byte slice go-redis writes as it is.
type bytesArg struct{ b []byte }

func (a *bytesArg) MarshalBinary() ([]byte, error) { return a.b, nil }

// publishCommand sets call's command to the publish script's EVALSHA for req:
// classic and sharded are the channels it is published on (see
// Engine.channels), opts the engine's boxed history and idempotency
// settings, run the run key (see runstamp.go), or nil on Cluster, where
// the run key of the topic's slot is named (runstamp_cluster.go). The
// arguments point into call.pub, valid until call is released.
func (call *scriptCall) publishCommand(k keys, req broker.PublishRequest, classic, sharded bool, opts [3]any, run any) {
	a := &call.pub
	a.fill(k, req, classic, sharded, run == nil)
	call.script = publishScript
	call.nkeys = 3
	if a.idem != "" {
		call.nkeys = 4
	}
	if run == nil {
		run = &a.run
	}
	args := append(call.argv[:0], "evalsha", publishSHA, call.nkeys, &a.meta, &a.hist, run)
	if a.idem != "" {
		args = append(args, &a.idem)
	}
	call.args = append(args, &a.epoch, &a.id, &a.time, &a.data, opts[0], opts[1], opts[2],
		&a.classic, &a.topic, &a.shared)
}

// publishSHA is the publish script's SHA, boxed once.
var publishSHA any = publishScript.Hash()

// fill sets a's values for req, as keys names them, with the run key of
// the topic's slot when slotRun.
func (a *publishArgs) fill(k keys, req broker.PublishRequest, classic, sharded, slotRun bool) {
	t := req.Topic
	b := k.appendTagged(a.buf[:0], t, ":meta")
	ends := [7]int{len(b)}
	b = k.appendTagged(b, t, ":hist")
	ends[1] = len(b)
	if req.IdempotencyKey != "" {
		b = append(k.appendTagged(b, t, ":idem:"), broker.StoredIdempotencyKey(req.IdempotencyKey)...)
	}
	ends[2] = len(b)
	b = appendEpoch(b)
	ends[3] = len(b)
	if classic {
		b = k.appendChannel(b, t)
	}
	ends[4] = len(b)
	if sharded {
		b = k.appendShardChannel(b, t)
	}
	ends[5] = len(b)
	if slotRun {
		b = k.appendSlotRun(b, hashSlot(t))
	}
	ends[6] = len(b)
	a.buf = b
	text := string(b)
	a.meta, a.hist, a.idem = text[:ends[0]], text[ends[0]:ends[1]], text[ends[1]:ends[2]]
	a.epoch, a.classic, a.shared = text[ends[2]:ends[3]], text[ends[3]:ends[4]], text[ends[4]:ends[5]]
	a.run = text[ends[5]:ends[6]]
	a.id, a.time, a.data.b, a.topic = req.ID, req.Time, req.Data, t
}

// reset drops what a points to, keeping its buffer.
func (a *publishArgs) reset() {
	*a = publishArgs{buf: a.buf[:0]}
}

// appendEpoch appends a fresh epoch name, as newEpoch makes them.
func appendEpoch(b []byte) []byte {
	var r [8]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails
	return hex.AppendEncode(b, r[:])
}
