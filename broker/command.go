package broker

import "encoding/json"

// MaxIDBytes is the longest command id a client may send.
const MaxIDBytes = 64

// The command types of docs/protocol.md section 2.
const (
	cmdSubscribe   = "subscribe"
	cmdUnsubscribe = "unsubscribe"
	cmdPublish     = "publish"
	cmdPing        = "ping"
	cmdRefresh     = "refresh"
	cmdPresence    = "presence" // since 1.1 (section 8)
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
	// IdempotencyKey makes a WebSocket publish safe to retry, as over HTTP.
	IdempotencyKey string `json:"idempotency_key"`
	// Presence asks a subscribe for join and leave (section 8).
	Presence bool `json:"presence"`
	// After pages a presence reply: the members after this user (section 8).
	After string `json:"after"`

	// wrong holds the fields whose value had the wrong type; only those the
	// command's type defines make it a bad request (docs/protocol.md section 2:
	// fields a command does not define are ignored, whatever their type).
	wrong fieldSet

	// hasID: the id field was a string, so its reply echoes it, even "".
	hasID bool

	// hasTopic: the topic field was a string, so an empty one is a
	// malformed topic (invalid_topic), not a missing field (bad_request).
	hasTopic bool

	// permsWaived: the subscribe hook accepted this subscribe, and its
	// yes replaces the permissions' check.
	permsWaived bool
	// skippedHook: the subscribe skipped the subscribe hook on arrival, the
	// session holding its topic then. An unsubscribe queued ahead of it may
	// end that subscription before it runs; then it asks the hook after all.
	skippedHook bool
	// server: the subscribe is a backend's or the token's subs claim's,
	// made whatever the permissions and announced with "server":true; or
	// the command is a backend's order held behind a subscribe waiting
	// for the hook (controlorder.go). Never set by decoding.
	server bool
	// claim: a server subscribe of the token's subs claim (markClaim).
	claim bool
	// paid: what of its work a client's subscribe was counted as it came
	// (prepaySubscribeLocked); nil: nothing. Never set by decoding.
	paid *prepaid
}

// echo is the id c's reply echoes.
func (c *command) echo() echoID { return echoID{id: c.ID, set: c.hasID} }

// size is what the command holds in memory while it waits in a queue.
func (c *command) size() int {
	n := len(c.Data) + len(c.Topic) + len(c.Token) + len(c.ID) + len(c.IdempotencyKey) + len(c.After)
	if c.Since != nil {
		n += len(c.Since.Epoch)
	}
	return n
}

// dropUndefined forgets the fields c's type does not define, which are
// ignored (docs/protocol.md section 2), so that a command waiting in a
// queue keeps none of them: a subscribe sent with a large data field
// would otherwise hold it as long as it waits.
func (c *command) dropUndefined() {
	defined := fieldsOf[c.Type]
	if defined&fieldData == 0 {
		c.Data = nil
	}
	if defined&fieldToken == 0 {
		c.Token = ""
	}
	if defined&fieldIdempotencyKey == 0 {
		c.IdempotencyKey = ""
	}
	if defined&fieldSince == 0 {
		c.Since = nil
	}
	if defined&fieldAfter == 0 {
		c.After = ""
	}
}

// fieldSet is a set of the command fields the decoder knows.
type fieldSet uint8

const (
	fieldID fieldSet = 1 << iota
	fieldTopic
	fieldSince
	fieldData
	fieldToken
	fieldIdempotencyKey
	fieldPresence
	fieldAfter
)

// fieldsOf is what each command type defines, and so checks the type of.
var fieldsOf = map[string]fieldSet{
	cmdSubscribe:   fieldID | fieldTopic | fieldSince | fieldPresence,
	cmdUnsubscribe: fieldID | fieldTopic,
	cmdPublish:     fieldID | fieldTopic | fieldData | fieldIdempotencyKey,
	cmdPing:        fieldID,
	cmdRefresh:     fieldID | fieldToken,
	cmdPresence:    fieldID | fieldTopic | fieldAfter,
}

// fieldNames names the fields of a fieldSet, for error messages.
var fieldNames = [...]string{"id", "topic", "since", "data", "token", "idempotency_key", "presence", "after"}

// parse reads payload into c as encoding/json would (unknown fields ignored,
// null leaves a field as it is, the last of repeated keys wins), except that
// keys match case-sensitively. It allocates only the strings it keeps.
func (c *command) parse(payload []byte) *Error {
	if !json.Valid(payload) {
		return Errorf(CodeBadRequest, "not JSON")
	}
	s := jsonScanner{data: payload}
	typeFits := true
	isObject := s.object(func(key []byte) {
		if string(key) == "type" {
			typeFits = s.stringInto(&c.Type) && typeFits
			c.Type = internType(c.Type)
			return
		}
		if f := c.parseField(&s, key); f != 0 {
			c.wrong |= f
		}
	})
	if !isObject {
		return Errorf(CodeBadRequest, "not a JSON object")
	}
	if !typeFits {
		return Errorf(CodeBadRequest, "field type has the wrong type")
	}
	return nil
}

// checkFieldTypes answers bad_request when a field the command's type
// defines had a value of the wrong type.
func (c *command) checkFieldTypes() *Error {
	wrong := c.wrong & fieldsOf[c.Type]
	for i, name := range fieldNames {
		switch f := fieldSet(1 << i); {
		case wrong&f == 0:
		case f == fieldSince: // an object of two fields, and a number that may not be one
			return Errorf(CodeBadRequest, "field since has the wrong type: it is %s", sinceShape)
		default:
			return Errorf(CodeBadRequest, "field %s has the wrong type", name)
		}
	}
	return nil
}

// sinceShape is what a since must be, for a client that sent another.
const sinceShape = `{"epoch":<string>,"seq":<whole number from 0 to 18446744073709551615>}`

// parseField consumes one field's value and returns the field when its
// value's type does not fit (0 when it fits or the field is unknown).
func (c *command) parseField(s *jsonScanner, key []byte) (wrong fieldSet) {
	fits := func(f fieldSet, ok bool) fieldSet {
		if ok {
			return 0
		}
		return f
	}
	switch string(key) {
	case "id":
		c.hasID = s.peek() == '"'
		return fits(fieldID, s.stringInto(&c.ID))
	case "topic":
		c.hasTopic = c.hasTopic || s.peek() == '"'
		return fits(fieldTopic, s.stringInto(&c.Topic))
	case "token":
		return fits(fieldToken, s.stringInto(&c.Token))
	case "idempotency_key":
		return fits(fieldIdempotencyKey, s.stringInto(&c.IdempotencyKey))
	case "data":
		c.Data = append(json.RawMessage(nil), s.skipValue()...)
		return 0
	case "since":
		return fits(fieldSince, c.parseSince(s))
	case "presence":
		return fits(fieldPresence, s.boolInto(&c.Presence))
	case "after":
		return fits(fieldAfter, s.stringInto(&c.After))
	}
	s.skipValue()
	return 0
}

// internType returns the command type constant equal to t, so that a
// decoded type costs nothing to keep.
func internType(t string) string {
	for _, known := range [...]string{cmdPublish, cmdSubscribe, cmdUnsubscribe, cmdPing, cmdRefresh, cmdPresence} {
		if t == known {
			return known
		}
	}
	return t
}

// decodeCommand parses one client text message and checks what needs no
// state: the JSON shape, the id, the type, the fields the type requires and
// the topic's syntax. On error the returned command still holds whatever id
// could be read, so the reply can echo it. Unknown fields are ignored.
func decodeCommand(payload []byte) (command, *Error) {
	var c command
	err := c.parse(payload)
	c.dropUndefined()
	if err != nil {
		return c, err
	}
	if err := c.checkFieldTypes(); err != nil {
		return c, err
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
		return c.checkTopic(patternError)
	case cmdPresence:
		return c.checkTopic(topicError) // a pattern is invalid_topic

	case cmdPublish:
		if err := c.checkTopic(topicError); err != nil {
			return err
		}
		if c.Data == nil {
			return Errorf(CodeBadRequest, "data is missing")
		}
		return nil
	}
	return Errorf(CodeUnknownType, "unknown command type %q", c.Type)
}

func (c *command) checkTopic(check func(string) *Error) *Error {
	if !c.hasTopic {
		return Errorf(CodeBadRequest, "topic is missing")
	}
	if err := check(c.Topic); err != nil {
		return err
	}
	if c.Type == cmdSubscribe && c.Since != nil && IsPattern(c.Topic) {
		return Errorf(CodeBadRequest, "since needs a topic, not a pattern")
	}
	return nil
}
