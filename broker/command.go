package broker

import (
	"encoding/json"
	"errors"
)

// MaxIDBytes is the longest command id a client may send.
const MaxIDBytes = 64

// The command types of PROTOCOL.md section 2.
const (
	cmdSubscribe   = "subscribe"
	cmdUnsubscribe = "unsubscribe"
	cmdPublish     = "publish"
	cmdPing        = "ping"
	cmdRefresh     = "refresh"
)

// command is one decoded client command. It owns its memory: nothing in it
// points into the payload it was decoded from.
type command struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Topic string          `json:"topic"`
	Since *since          `json:"since"`
	Data  json.RawMessage `json:"data"`
	Token string          `json:"token"`
}

// since is a resume position: every message after Seq in Epoch.
type since struct {
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

// decodeCommand parses one client text message and checks what needs no
// state: the JSON shape, the id, the type, the fields the type requires and
// the topic's syntax. On error the returned command still holds whatever id
// could be read, so the reply can echo it. Unknown fields are ignored.
func decodeCommand(payload []byte) (command, *Error) {
	var c command
	if err := json.Unmarshal(payload, &c); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return c, &Error{Code: CodeBadRequest, Message: "field " + typeErr.Field + " has the wrong type", Err: err}
		}
		return command{}, &Error{Code: CodeBadRequest, Message: "not a JSON object", Err: err}
	}
	if len(c.ID) > MaxIDBytes {
		return c, Errorf(CodeBadRequest, "id is longer than %d bytes", MaxIDBytes)
	}
	return c, c.check()
}

func (c *command) check() *Error {
	switch c.Type {
	case "":
		return Errorf(CodeBadRequest, "type is missing")
	case cmdPing:
		return nil
	case cmdRefresh:
		if c.Token == "" {
			return Errorf(CodeBadRequest, "token is missing")
		}
		return nil
	case cmdSubscribe, cmdUnsubscribe:
		return c.checkTopic(ValidPattern)
	case cmdPublish:
		if err := c.checkTopic(ValidTopic); err != nil {
			return err
		}
		if c.Data == nil {
			return Errorf(CodeBadRequest, "data is missing")
		}
		return nil
	}
	return Errorf(CodeUnknownType, "unknown command type %q", c.Type)
}

func (c *command) checkTopic(valid func(string) bool) *Error {
	if c.Topic == "" {
		return Errorf(CodeBadRequest, "topic is missing")
	}
	if !valid(c.Topic) {
		return Errorf(CodeInvalidTopic, "%q is not a valid topic", c.Topic)
	}
	if c.Type == cmdSubscribe && c.Since != nil && IsPattern(c.Topic) {
		return Errorf(CodeBadRequest, "since needs a topic, not a pattern")
	}
	return nil
}
