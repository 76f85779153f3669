package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/herald-broker/herald/broker"
	"go.uber.org/zap"
)

// publishRequest is one message to publish, in every publishing route.
type publishRequest struct {
	Topic          topicField      `json:"topic"`
	Data           json.RawMessage `json:"data"` // kept byte for byte
	IdempotencyKey string          `json:"idempotency_key"`
}

// publishReply says where one message was placed.
type publishReply struct {
	Topic string `json:"topic"`
	Seq   uint64 `json:"seq"`
	Msg   string `json:"msg"`
}

// resultsReply answers broadcast and batch, one result per message in
// request order. On a failure midway Error is set and Results holds the
// messages published before it.
type resultsReply struct {
	Error   *errorDetail   `json:"error,omitempty"`
	Results []publishReply `json:"results"`
}

// topicField is a request's topic. It tells an absent (or null) topic, a
// missing field (bad_request), from an empty one, a malformed topic
// (invalid_topic), as the WebSocket commands do.
type topicField struct {
	name    string
	present bool
}

func (f *topicField) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	f.present = true
	return json.Unmarshal(b, &f.name)
}

// present is a topic given in the request.
func present(topic string) topicField { return topicField{name: topic, present: true} }

// topicRequired answers a publish whose topic field is absent or null.
const topicRequired = "topic is required"

// checkMessage returns the message req holds, checked, or why it cannot
// be published (*broker.Error). Only a missing topic field is this layer's
// to find (the broker cannot tell it from an empty topic); the rest is the
// broker's check, so that a batch or broadcast is refused whole, before
// any of it is published.
func (s *Server) checkMessage(req publishRequest) (broker.CheckedMessage, error) {
	if !req.Topic.present {
		return broker.CheckedMessage{}, broker.Errorf(broker.CodeBadRequest, topicRequired)
	}
	return s.broker.CheckMessage(req.Topic.name, req.Data, req.IdempotencyKey)
}

func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, s.limits.publish)
	if !ok {
		return
	}
	defer body.release()
	m, ok := s.publishMessage(w, r, body.bytes)
	if !ok {
		return
	}
	res, err := s.broker.PublishMessage(r.Context(), m)
	if err != nil {
		retryAfter(w, err)
		s.fail(w, r, err)
		return
	}
	writeRawJSON(w, http.StatusOK, appendPublishReply(body.reuse(), replyOf(res)))
}

// publishMessage decodes and checks the message body holds, or answers why
// it cannot be published. A body of the usual shape (readPublish) is
// checked as it is, its data once, by the broker; every other body, and
// every refusal, goes through encoding/json and is answered as it always
// was (a body whose data is not JSON is not JSON either).
func (s *Server) publishMessage(w http.ResponseWriter, r *http.Request, body []byte) (broker.CheckedMessage, bool) {
	var req publishRequest
	if readPublish(body, &req) {
		if m, err := s.checkMessage(req); err == nil {
			return m, true
		}
	}
	slow := new(publishRequest) // req would escape to the heap on every call
	if !unmarshalBody(w, body, slow) {
		return broker.CheckedMessage{}, false
	}
	m, err := s.checkMessage(*slow)
	if err != nil {
		s.fail(w, r, err)
		return broker.CheckedMessage{}, false
	}
	return m, true
}

func replyOf(res broker.PublishResult) publishReply {
	return publishReply{Topic: res.Topic, Seq: res.Seq, Msg: res.ID}
}

// broadcastRequest is one data value for several topics.
type broadcastRequest struct {
	Topics         []string        `json:"topics"`
	Data           json.RawMessage `json:"data"`
	IdempotencyKey string          `json:"idempotency_key"`
}

func (s *Server) handleBroadcast(w http.ResponseWriter, r *http.Request) {
	var req broadcastRequest
	if !decodeBody(w, r, s.limits.broadcast, &req) {
		return
	}
	msgs, ok := s.broadcastMessages(w, req)
	if !ok {
		return
	}
	s.publishAll(w, r, msgs, nil)
}

// broadcastMessages turns req into one message per topic, every one
// checked, or answers why not.
func (s *Server) broadcastMessages(w http.ResponseWriter, req broadcastRequest) ([]broker.CheckedMessage, bool) {
	if len(req.Topics) == 0 {
		badRequest(w, "topics is required: a non-empty array of topics")
		return nil, false
	}
	if len(req.Topics) > maxBroadcastTopics {
		badRequest(w, fmt.Sprintf("at most %d topics in one broadcast", maxBroadcastTopics))
		return nil, false
	}
	msgs := make([]broker.CheckedMessage, len(req.Topics))
	for i, topic := range req.Topics {
		var err error
		key := broadcastKey(req.IdempotencyKey, topic)
		if i == 0 { // the data, the same for every topic, is checked once
			msgs[i], err = s.broker.CheckMessage(topic, req.Data, key)
		} else {
			msgs[i], err = msgs[0].To(topic, key)
		}
		if err != nil {
			code, message := failureOf(err)
			writeFailure(w, code, fmt.Sprintf("topics[%d]: %s", i, message))
			return nil, false
		}
	}
	return msgs, true
}

// broadcastKey gives each topic of a broadcast its own idempotency key, so
// that a retried broadcast publishes only what the first try did not. A
// topic holds no space, so distinct (topic, key) pairs never share one.
func broadcastKey(key, topic string) string {
	if key == "" {
		return ""
	}
	return topic + " " + key
}

// batchRequest is several messages, published in order.
type batchRequest struct {
	Messages []publishRequest `json:"messages"`
}

func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, s.limits.batch)
	if !ok {
		return
	}
	defer body.release()
	msgs, ok := s.batchMessages(w, body.bytes)
	if !ok {
		return
	}
	s.publishAll(w, r, msgs, body.reuse())
}

// batchMessages decodes the batch body holds and checks every message, or
// answers why it cannot be published, as publishMessage does for one.
func (s *Server) batchMessages(w http.ResponseWriter, body []byte) ([]broker.CheckedMessage, bool) {
	var req batchRequest
	if readBatch(body, &req) {
		if msgs, err := s.checkBatch(req.Messages); err == nil {
			return msgs, true
		}
	}
	slow := new(batchRequest)
	if !unmarshalBody(w, body, slow) {
		return nil, false
	}
	msgs, err := s.checkBatch(slow.Messages)
	if err != nil {
		code, message := failureOf(err)
		writeFailure(w, code, message)
		return nil, false
	}
	return msgs, true
}

// checkBatch checks a batch's size and each of its messages; its error
// is a *broker.Error.
func (s *Server) checkBatch(reqs []publishRequest) ([]broker.CheckedMessage, error) {
	if len(reqs) == 0 {
		return nil, broker.Errorf(broker.CodeBadRequest, "messages is required: a non-empty array of messages")
	}
	if len(reqs) > maxBatchMessages {
		return nil, broker.Errorf(broker.CodeBadRequest, "at most %d messages in one batch", maxBatchMessages)
	}
	msgs := make([]broker.CheckedMessage, len(reqs))
	for i, req := range reqs {
		m, err := s.checkMessage(req)
		if err != nil {
			code, message := failureOf(err)
			return nil, broker.Errorf(code, "messages[%d]: %s", i, message)
		}
		msgs[i] = m
	}
	return msgs, nil
}

// publishAll publishes msgs one after another and answers with their
// results in order. It is not atomic: at the first failure it stops and
// answers that failure's status, with the results of the messages already
// published. A retry with the same idempotency keys publishes only the rest.
// The reply is encoded into buf, when given, once every message is
// published.
func (s *Server) publishAll(w http.ResponseWriter, r *http.Request, msgs []broker.CheckedMessage, buf []byte) {
	results := make([]publishReply, 0, len(msgs))
	for i, m := range msgs {
		res, err := s.broker.PublishMessage(r.Context(), m)
		if err != nil {
			code, message := failureOf(err)
			if code == broker.CodeInternal {
				s.logInternal(r, "publish failed", err, zap.Int("index", i))
			}
			retryAfter(w, err)
			detail := &errorDetail{Code: code, Message: fmt.Sprintf("message %d of %d: %s; the %d before it were published", i+1, len(msgs), message, i)}
			writeJSON(w, statusOf(code), resultsReply{Error: detail, Results: results})
			return
		}
		results = append(results, replyOf(res))
	}
	writeRawJSON(w, http.StatusOK, appendResults(buf, results))
}
