package broker

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Publishing: the checks a message passes, one wording of their errors,
// and the way to the engine through the delivery-lag bound.

// CheckTopic returns why a backend cannot publish to or read topic, or
// nil. The error is *Error.
func CheckTopic(topic string) error {
	if err := topicError(topic); err != nil {
		return err
	}
	return nil
}

// CheckPattern returns an invalid_topic error unless pattern is a valid
// topic or wildcard pattern, or nil.
func CheckPattern(pattern string) error {
	if err := patternError(pattern); err != nil {
		return err
	}
	return nil
}

// topicError and patternError are the one wording of a malformed topic or
// pattern, for every command and route.
func topicError(topic string) *Error {
	if !ValidTopic(topic) {
		return Errorf(CodeInvalidTopic, "%q is not a valid topic", topic)
	}
	return nil
}

func patternError(pattern string) *Error {
	if !ValidPattern(pattern) {
		return Errorf(CodeInvalidTopic, "%q is not a valid topic or pattern", pattern)
	}
	return nil
}

// CheckPublish returns why Publish would refuse topic and data, or nil:
// the one check of a backend's message, which api also runs over a whole
// batch before publishing any of it. Errors are *Error.
func (b *Broker) CheckPublish(topic string, data []byte) error {
	if err := CheckTopic(topic); err != nil {
		return err
	}
	switch {
	case len(data) == 0:
		return Errorf(CodeBadRequest, "data is missing")
	case len(data) > b.cfg.MaxMessageBytes:
		return Errorf(CodeMessageTooLarge, "data is longer than %d bytes", b.cfg.MaxMessageBytes)
	case !json.Valid(data):
		return Errorf(CodeBadRequest, "data is not JSON")
	}
	return nil
}

// Publish validates (CheckPublish) and publishes one message for a
// backend. data must be one JSON value; it is copied. Errors are *Error.
func (b *Broker) Publish(ctx context.Context, topic string, data []byte, idempotencyKey string) (PublishResult, error) {
	m, err := b.CheckMessage(topic, data, idempotencyKey)
	if err != nil {
		return PublishResult{}, err
	}
	return b.PublishMessage(ctx, m)
}

// CheckedMessage is a backend's message that CheckMessage accepted, for
// PublishMessage: a caller that checks each message of a batch before
// publishing any of them pays for the check, json.Valid over the data,
// once. Its data is the caller's, unchanged until PublishMessage copies it.
type CheckedMessage struct {
	topic string
	data  []byte
	key   string
}

// CheckMessage returns the message Publish would publish, or why Publish
// would refuse it (CheckPublish). data is not copied.
func (b *Broker) CheckMessage(topic string, data []byte, idempotencyKey string) (CheckedMessage, error) {
	if err := b.CheckPublish(topic, data); err != nil {
		return CheckedMessage{}, err
	}
	return CheckedMessage{topic: topic, data: data, key: idempotencyKey}, nil
}

// To returns m's data for topic, with idempotencyKey: a broadcast checks
// its data once and each topic on its own. Errors are *Error.
func (m CheckedMessage) To(topic, idempotencyKey string) (CheckedMessage, error) {
	if err := CheckTopic(topic); err != nil {
		return CheckedMessage{}, err
	}
	return CheckedMessage{topic: topic, data: m.data, key: idempotencyKey}, nil
}

// errUnchecked answers a CheckedMessage that CheckMessage did not make.
var errUnchecked = errors.New("herald/broker: PublishMessage of a message CheckMessage did not return")

// PublishMessage publishes m as Publish does, without checking it again.
// Errors are *Error.
func (b *Broker) PublishMessage(ctx context.Context, m CheckedMessage) (PublishResult, error) {
	if len(m.data) == 0 { // the zero CheckedMessage: a caller's bug
		return PublishResult{}, &Error{Code: CodeInternal, Message: "internal error", Err: errUnchecked}
	}
	res, err := b.publish(ctx, m.topic, append([]byte(nil), m.data...), m.key)
	if err != nil {
		return PublishResult{}, b.replyError(err)
	}
	return res, nil
}

// publish gives a checked message its id and time and hands it to the
// engine; data is the engine's from here on.
func (b *Broker) publish(ctx context.Context, topic string, data []byte, key string) (PublishResult, error) {
	if err := b.holdBack(ctx, topic); err != nil {
		return PublishResult{}, err
	}
	start := time.Now()
	res, err := b.engine.Publish(ctx, PublishRequest{
		Topic:          topic,
		Data:           data,
		IdempotencyKey: key,
		ID:             newMessageID(),
		Time:           start.UnixMilli(),
	})
	b.stats.publishLatency.observe(time.Since(start))
	if err != nil {
		return PublishResult{}, err
	}
	b.stats.messagesIn.Add(1)
	b.traffic.record(topic, res, start.UnixMilli())
	return res, nil
}
