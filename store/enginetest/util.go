package enginetest

import "github.com/herald-broker/herald/broker"

func seqsOf(msgs []*broker.Message) []uint64 {
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Seq
	}
	return out
}
