package broker

import (
	"errors"
	"fmt"
)

// Code is an error code of docs/protocol.md section 2, sent to clients.
type Code string

// The error codes a client can be answered with.
const (
	CodeBadRequest           Code = "bad_request"
	CodeUnknownType          Code = "unknown_type"
	CodeInvalidTopic         Code = "invalid_topic"
	CodeForbidden            Code = "forbidden"
	CodeUnauthorized         Code = "unauthorized"
	CodeNotSubscribed        Code = "not_subscribed"
	CodeTooManySubscriptions Code = "too_many_subscriptions"
	CodeMessageTooLarge      Code = "message_too_large"
	CodeRateLimited          Code = "rate_limited"
	CodeUnavailable          Code = "unavailable"
	CodeInternal             Code = "internal"
	// CodePresenceOff: presence asked of a pattern or of a topic outside
	// HERALD_PRESENCE_TOPICS (docs/protocol.md section 8, since 1.1).
	CodePresenceOff Code = "presence_off"
)

// Error is a failure answered to the client: over WebSocket as an error
// reply, over HTTP with the status of its code. It never closes anything.
type Error struct {
	Code    Code
	Message string // for humans
	Err     error  // the cause, if any; not shown to clients
	// Topic is the topic or pattern, of the several one request names (an
	// SSE stream's), that the failure is about, so that a client can drop
	// that one and ask again with the rest; nil otherwise. A pointer, as
	// the empty topic of a request (topic=) is one that can be refused.
	Topic *string
}

// aboutTopic returns a copy of e that names topic as the one it is about.
func (e *Error) aboutTopic(topic string) *Error {
	about := *e
	about.Topic = &topic
	return &about
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("herald/broker: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("herald/broker: %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is match any *Error with the same code, so that
// errors.Is(err, ErrUnavailable) holds for every unavailable error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrUnavailable is wrapped by engines when the cluster backend cannot take
// a command now. Such an error means one of two things: nothing was done
// and a retry is safe; or, when it also wraps ErrOutcomeUnknown, the
// command was sent and may have been done.
var ErrUnavailable = &Error{Code: CodeUnavailable, Message: "the cluster backend cannot take the command now"}

// ErrOutcomeUnknown is wrapped, beside ErrUnavailable, by an engine's error
// when the command was sent to the cluster backend and no answer came (a
// timeout, a connection that broke): it may have been done. For a publish
// only a retry with the same idempotency key is then safe. It is not an
// *Error, so that errors.Is tells it from other unavailable errors.
var ErrOutcomeUnknown = errors.New("herald/broker: the command may have been applied")

// Unavailable wraps cause as an unavailable error: nothing was done.
func Unavailable(cause error) error {
	return &Error{Code: CodeUnavailable, Message: ErrUnavailable.Message, Err: cause}
}

// OutcomeUnknown wraps cause as an unavailable error that may have been
// applied (ErrOutcomeUnknown); message is for the client.
func OutcomeUnknown(cause error, message string) error {
	return &Error{Code: CodeUnavailable, Message: message, Err: fmt.Errorf("%w: %w", ErrOutcomeUnknown, cause)}
}

// CodeOf returns the code to answer err with: its own for an *Error,
// CodeInternal otherwise.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
