package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"

	"github.com/herald-broker/herald/broker"
)

// Bounds on what one publishing request may carry.
const (
	// envelopeBytes is room for everything around data: topic, key, names.
	envelopeBytes = 64 << 10
	// maxBroadcastTopics and maxBatchMessages bound one request's fan-in.
	maxBroadcastTopics = 1000
	maxBatchMessages   = 1000
	// minBatchBytes lets a batch carry many small messages.
	minBatchBytes = 4 << 20
)

// bodyLimits are the largest request bodies accepted, in bytes; a longer
// body is answered 413 message_too_large before it is read further.
type bodyLimits struct {
	publish   int64 // one data value plus its envelope
	broadcast int64 // one data value plus up to 1000 topics of 255 bytes
	batch     int64 // 4 MiB, or one maximal message if that is larger
}

func newBodyLimits(maxMessageBytes int) bodyLimits {
	m := int64(maxMessageBytes)
	return bodyLimits{
		publish:   m + envelopeBytes,
		broadcast: m + envelopeBytes + maxBroadcastTopics*(255+8),
		batch:     max(minBatchBytes, m+envelopeBytes),
	}
}

// decodeBody reads r's body, at most limit bytes, into v. It answers the
// failure itself and returns false when the body is too long or is not
// the JSON v expects.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeFailure(w, broker.CodeMessageTooLarge, fmt.Sprintf("the request body is longer than %d bytes", limit))
		return false
	case err != nil:
		badRequest(w, "the request body could not be read")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		badRequest(w, "the body is not the JSON expected: "+jsonProblem(err))
		return false
	}
	return true
}

// jsonProblem says what is wrong with a body in words a caller can act on.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return "expected a JSON object"
		}
		return fmt.Sprintf("field %q must be %s", typeErr.Field, jsonKind(typeErr.Type.Kind()))
	}
	return err.Error()
}

// jsonKind names the JSON value a Go kind is decoded from.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "true or false"
	default:
		return "a number"
	}
}
