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

// checkMessage returns why topic and data cannot be published, or ok.
// Only a missing topic field is this layer's to find (the broker cannot
// tell it from an empty topic); the rest is the broker's check, so that
// a batch or broadcast is refused whole, before any of it is published.
func (s *Server) checkMessage(topic topicField, data json.RawMessage) (code broker.Code, message string, ok bool) {
	if !topic.present {
		return broker.CodeBadRequest, topicRequired, false
	}
	if err := s.broker.CheckPublish(topic.name, data); err != nil {
		code, message := failureOf(err)
		return code, message, false
	}
	return "", "", true
}

func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, s.limits.publish)
	if !ok {
		return
	}
	defer body.release()
	var req publishRequest
	if !decodePublish(w, body.bytes, &req) {
		return
	}
	if !req.Topic.present {
		badRequest(w, topicRequired)
		return
	}
	res, err := s.broker.Publish(r.Context(), req.Topic.name, req.Data, req.IdempotencyKey)
	if err != nil {
		retryAfter(w, err)
		s.fail(w, r, err)
		return
	}
	writeRawJSON(w, http.StatusOK, appendPublishReply(body.reuse(), replyOf(res)))
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
func (s *Server) broadcastMessages(w http.ResponseWriter, req broadcastRequest) ([]publishRequest, bool) {
	if len(req.Topics) == 0 {
		badRequest(w, "topics is required: a non-empty array of topics")
		return nil, false
	}
	if len(req.Topics) > maxBroadcastTopics {
		badRequest(w, fmt.Sprintf("at most %d topics in one broadcast", maxBroadcastTopics))
		return nil, false
	}
	msgs := make([]publishRequest, len(req.Topics))
	for i, topic := range req.Topics {
		err := broker.CheckTopic(topic)
		if i == 0 { // the data, the same for every topic, is checked once
			err = s.broker.CheckPublish(topic, req.Data)
		}
		if err != nil {
			code, message := failureOf(err)
			writeFailure(w, code, fmt.Sprintf("topics[%d]: %s", i, message))
			return nil, false
		}
		msgs[i] = publishRequest{Topic: present(topic), Data: req.Data, IdempotencyKey: broadcastKey(req.IdempotencyKey, topic)}
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
	var req batchRequest
	if !decodeBatch(w, body.bytes, &req) {
		return
	}
	if len(req.Messages) == 0 {
		badRequest(w, "messages is required: a non-empty array of messages")
		return
	}
	if len(req.Messages) > maxBatchMessages {
		badRequest(w, fmt.Sprintf("at most %d messages in one batch", maxBatchMessages))
		return
	}
	for i, m := range req.Messages {
		if code, message, ok := s.checkMessage(m.Topic, m.Data); !ok {
			writeFailure(w, code, fmt.Sprintf("messages[%d]: %s", i, message))
			return
		}
	}
	s.publishAll(w, r, req.Messages, body.reuse())
}

// publishAll publishes msgs one after another and answers with their
// results in order. It is not atomic: at the first failure it stops and
// answers that failure's status, with the results of the messages already
// published. A retry with the same idempotency keys publishes only the rest.
// The reply is encoded into buf, when given, once every message is
// published.
func (s *Server) publishAll(w http.ResponseWriter, r *http.Request, msgs []publishRequest, buf []byte) {
	results := make([]publishReply, 0, len(msgs))
	for i, m := range msgs {
		res, err := s.broker.Publish(r.Context(), m.Topic.name, m.Data, m.IdempotencyKey)
		if err != nil {
			code, message := failureOf(err)
			if code == broker.CodeInternal {
				s.log.Error("publish failed", zap.String("path", r.URL.Path), zap.Int("index", i), zap.Error(err))
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
