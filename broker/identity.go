package broker

import (
	"bytes"
	"encoding/json"
)

// CompactInfo returns a token's info claim as a session keeps it:
// compacted, nil when absent or null. Anything but a JSON object of at
// most MaxInfoBytes once compacted is refused with an unauthorized *Error
// whose message says why.
func CompactInfo(raw []byte) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, Errorf(CodeUnauthorized, "info must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, &Error{Code: CodeUnauthorized, Message: "info is not JSON", Err: err}
	}
	if buf.Len() > MaxInfoBytes {
		return nil, Errorf(CodeUnauthorized, "info is %d bytes of JSON, more than %d", buf.Len(), MaxInfoBytes)
	}
	return buf.Bytes(), nil
}

// CheckClient returns why a client cannot be connected as info says, or
// nil: its Subject at most MaxUserBytes, its Info nil or a compact JSON
// object (CompactInfo), and its Subs at most MaxSubscriptions valid topics or patterns, so that
// what one token costs is bounded like what one client's commands cost.
// The error is an unauthorized *Error; api refuses the upgrade with it.
func (b *Broker) CheckClient(info ClientInfo) error {
	if len(info.Subject) > MaxUserBytes {
		return Errorf(CodeUnauthorized, "the user (sub) is %d bytes, more than %d", len(info.Subject), MaxUserBytes)
	}
	if len(info.Info) > MaxInfoBytes || len(info.Info) > 0 && info.Info[0] != '{' {
		return Errorf(CodeUnauthorized, "info must be a JSON object of at most %d bytes", MaxInfoBytes)
	}
	if len(info.Subs) > b.cfg.MaxSubscriptions {
		return Errorf(CodeUnauthorized, "subs names %d topics, more than the %d subscriptions a connection may have",
			len(info.Subs), b.cfg.MaxSubscriptions)
	}
	for i, t := range info.Subs {
		if !ValidPattern(t) {
			return Errorf(CodeUnauthorized, "subs[%d] %.64q is not a valid topic or pattern", i, t)
		}
	}
	return b.checkSubsFit(info.Pacer, info.Subject, info.Subs)
}
