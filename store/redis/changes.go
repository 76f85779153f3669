package redis

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/herald-broker/herald/broker"
)

// A topic's joins and leaves reach the nodes over pub/sub, which loses
// what is published while a node's connection is down. So each is also
// added, by the script that decides it, to the topic's change log
//
//	<prefix>{<topic>}:changes       stream: fields p (the ID of the entry before) and c (the change)
//	<prefix>{<topic>}:changes:end   string: the ID of the log's last entry, once the log went
//
// and published with its entry's ID and the one before (its link). A node
// hands a topic's changes over only in an unbroken chain of links, and
// reads what it missed from the log (changemarks.go, changereplay.go).
//
// A log is kept no longer than its topic has presence entries. Every
// exact subscription to a presence topic is an entry, anonymous ones
// included, so while a node has subscribers on a topic the topic has
// entries; once it has none, no node needs the log. The script that
// removes the last entry deletes it, and keeps the ID of its last entry
// under changes:end for changeLogKeep, so that the chain goes on into the
// log the next change starts (presence_scripts.go): a node that handed
// over the last change of a log that went, or subscribed after it went,
// takes the next log's first change as following on. So does a node
// whose link stayed up since it stood there when the end has lapsed and
// the next log starts from nothing (changemarks.go).
const (
	// changeLogCap bounds a change log: about this many entries are kept
	// (XADD MAXLEN ~ trims whole stream nodes, so up to a node's worth
	// more: 100 entries or 4 KB). A node that missed more of one topic's
	// changes than this can no longer tell what it missed. Measured by
	// MEMORY USAGE (TestChangeLogMemory): a full log took 84 KB with short
	// users, session UUIDs and a 68-byte info, 512 KB with the largest
	// users and infos; the stream node a log writes to takes 4.7 KB
	// however few entries it holds. 500 covers changeLogKeep's 30 s at 16
	// changes a second, and an outage of a few seconds at a hundred.
	changeLogCap = 500
)

// changeLogKeep is how long a change stays in its log (trimmed, by
// Redis's clock, at the topic's next change), and a gone log's end: as
// long as a node may be away and still find what it missed there. A node
// away for longer than its presence lapse is reaped (within 4/3 of it:
// heartbeats every third of it, reaps as often), and loses its entries
// anyway; the rest leaves time for the reconnect and the replay's reads.
// A node writes with the slowest lapse it knows of (slowestLapse), so that
// a node of a longer lapse than the writer's finds its changes too.
func changeLogKeep(lapse time.Duration) time.Duration { return 2 * lapse }

// noChange is the ID a change log names before its first entry.
const noChange = "0-0"

// changeLink is where a change stands in its topic's change log: its own
// entry's ID, and the ID of the entry before it (noChange: none).
type changeLink struct {
	prev, id string
}

// isChange reports whether a payload on a topic channel is a join or
// leave rather than a message.
func isChange(payload string) bool { return strings.HasPrefix(payload, "\n") }

// parseChange reads a join or leave as the presence scripts publish it.
// One without a link, as the releases before the change log published
// it, comes with the zero changeLink.
func parseChange(payload string) (broker.PresenceChange, changeLink, error) {
	c, rest, err := parseChangeBody(payload)
	if err != nil || rest == "" {
		return c, changeLink{}, err
	}
	link, rest, err := cutLink(payload, rest)
	if err == nil && rest != "" {
		return c, link, fmt.Errorf("herald/redis: presence change %q has trailing bytes", payload)
	}
	return c, link, err
}

// parseChangePrefix parses the published change payload starts with, its
// link included, and returns what follows it.
func parseChangePrefix(payload string) (broker.PresenceChange, changeLink, string, error) {
	c, rest, err := parseChangeBody(payload)
	if err != nil {
		return c, changeLink{}, "", err
	}
	link, rest, err := cutLink(payload, rest)
	return c, link, rest, err
}

// cutLink reads the link s, the rest of payload past its change, starts
// with.
func cutLink(payload, s string) (changeLink, string, error) {
	text, rest, err := cutNetstring(s)
	prev, id, ok := strings.Cut(text, " ")
	if err != nil || !ok || !isStreamID(prev) || !isStreamID(id) {
		return changeLink{}, "", fmt.Errorf("herald/redis: presence change %q: its link is malformed", payload)
	}
	return changeLink{prev: prev, id: id}, rest, nil
}

// parseChangeBody parses the change s starts with, without its link (as
// the change log keeps it), and returns what follows it.
func parseChangeBody(s string) (broker.PresenceChange, string, error) {
	var c broker.PresenceChange
	if len(s) < 2 || s[0] != '\n' || (s[1] != 'j' && s[1] != 'l') {
		return c, "", fmt.Errorf("herald/redis: presence change %q is malformed", s)
	}
	c.Join = s[1] == 'j'
	rest := s[2:]
	var f [4]string
	for i := range f {
		var err error
		if f[i], rest, err = cutNetstring(rest); err != nil {
			return c, "", fmt.Errorf("herald/redis: presence change %q: field %d is malformed", s, i+1)
		}
	}
	c.Topic, c.User, c.Session = f[0], f[1], f[2]
	if f[3] != "" {
		c.Info = []byte(f[3])
	}
	return c, rest, nil
}

// cutNetstring reads the netstring "<len>:<bytes>" s starts with.
func cutNetstring(s string) (text, rest string, err error) {
	head, tail, ok := strings.Cut(s, ":")
	n, err := strconv.Atoi(head)
	if !ok || err != nil || n < 0 || n > len(tail) {
		return "", "", fmt.Errorf("herald/redis: netstring %q is malformed", s)
	}
	return tail[:n], tail[n:], nil
}

// isStreamID reports whether s is a stream entry ID, "<ms>-<seq>".
func isStreamID(s string) bool {
	ms, seq, ok := strings.Cut(s, "-")
	_, err1 := strconv.ParseUint(ms, 10, 64)
	_, err2 := strconv.ParseUint(seq, 10, 64)
	return ok && err1 == nil && err2 == nil
}

// loggedChange is one entry of a change log.
type loggedChange struct {
	change broker.PresenceChange
	link   changeLink
}

// parseLogEntry reads a change log entry of topic: its ID, and its fields
// p and c.
func parseLogEntry(topic, id string, fields map[string]any) (loggedChange, error) {
	prev, _ := fields["p"].(string)
	body, _ := fields["c"].(string)
	c, rest, err := parseChangeBody(body)
	switch {
	case err != nil:
		return loggedChange{}, err
	case rest != "" || c.Topic != topic || !isStreamID(prev) || !isStreamID(id):
		return loggedChange{}, fmt.Errorf("herald/redis: change log entry %s of %q is malformed", id, topic)
	}
	return loggedChange{change: c, link: changeLink{prev: prev, id: id}}, nil
}
