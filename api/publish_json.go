package api

import (
	"strconv"
)

// The replies of the publishing routes are written by hand: they are
// every publish's, and encoding/json spent allocations and reflection on
// three fields. The bytes are exactly what json.Marshal makes of
// publishReply and resultsReply (publish_json_test.go checks it).

// appendPublishReply appends r as a JSON object.
func appendPublishReply(dst []byte, r publishReply) []byte {
	dst = append(dst, `{"topic":`...)
	dst = appendJSONString(dst, r.Topic)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, r.Seq, 10)
	dst = append(dst, `,"msg":`...)
	dst = appendJSONString(dst, r.Msg)
	return append(dst, '}')
}

// appendResults appends the reply of a broadcast or batch that published
// every message: {"results":[...]}.
func appendResults(dst []byte, results []publishReply) []byte {
	dst = append(dst, `{"results":[`...)
	for i, r := range results {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendPublishReply(dst, r)
	}
	return append(dst, "]}"...)
}
