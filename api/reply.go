package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/herald-broker/herald/broker"
)

// Codes the HTTP API answers with that clients of the WebSocket never see.
const (
	codeMethodNotAllowed broker.Code = "method_not_allowed"
	codeNotFound         broker.Code = "not_found"
	// codeHeadersTooLarge: a request line and headers over
	// HERALD_MAX_UPGRADE_BYTES, on any route.
	codeHeadersTooLarge broker.Code = "request_too_large"
)

// statusOf maps an error code to its HTTP status (docs/protocol.md section 3).
func statusOf(code broker.Code) int {
	switch code {
	case broker.CodeBadRequest, broker.CodeInvalidTopic, broker.CodeUnknownType,
		broker.CodeNotSubscribed, broker.CodeTooManySubscriptions, broker.CodePresenceOff:
		return http.StatusBadRequest
	case broker.CodeUnauthorized:
		return http.StatusUnauthorized
	case broker.CodeForbidden:
		return http.StatusForbidden
	case codeNotFound:
		return http.StatusNotFound
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case broker.CodeMessageTooLarge:
		return http.StatusRequestEntityTooLarge
	case codeHeadersTooLarge:
		return http.StatusRequestHeaderFieldsTooLarge
	case broker.CodeRateLimited:
		return http.StatusTooManyRequests
	case broker.CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// errorBody is the body of every failure: {"error":{"code":..,"message":..}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    broker.Code `json:"code"`
	Message string      `json:"message"`
	Topic   *string     `json:"topic,omitempty"` // broker.Error's: the one topic of several refused, "" included
}

// writeJSON answers with status and v encoded as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own reply types reach here; they always encode.
		status, body = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	writeRawJSON(w, status, body)
}

// The values of the headers of every reply, shared: Header.Set would
// allocate a slice for each on every reply. net/http copies them before
// they are written, and no handler changes them in place.
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

// writeRawJSON answers with status and body, which is already JSON.
func writeRawJSON(w http.ResponseWriter, status int, body []byte) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	w.Write(body) // a failed write means the caller has gone; nothing to tell
}

// setJSONHeaders sets what every JSON reply is sent with.
func setJSONHeaders(h http.Header) {
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
}

// writeFailure answers with code's status and an error body.
func writeFailure(w http.ResponseWriter, code broker.Code, message string) {
	writeJSON(w, statusOf(code), errorBody{Error: errorDetail{Code: code, Message: message}})
}

// failureOf returns the code and the message a client may see for err. The
// cause of an internal error stays in the log, not in the reply.
func failureOf(err error) (broker.Code, string) {
	var e *broker.Error
	if errors.As(err, &e) && e.Code != broker.CodeInternal {
		return e.Code, e.Message
	}
	return broker.CodeInternal, "internal error"
}

// retryAfter tells a publisher refused because delivery is behind
// (broker.ErrOverloaded) when to try again: in a second, about ten times
// the default HERALD_MAX_DELIVERY_LAG (RFC 9110 section 10.2.3); and a
// client refused rate_limited, as every per-address limit tells it.
// Called before the failure is written.
func retryAfter(w http.ResponseWriter, err error) {
	if errors.Is(err, broker.ErrOverloaded) || broker.CodeOf(err) == broker.CodeRateLimited {
		w.Header().Set("Retry-After", "1")
	}
}

// badRequest is a 400 bad_request with message.
func badRequest(w http.ResponseWriter, message string) {
	writeFailure(w, broker.CodeBadRequest, message)
}
