package broker

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// A session's presence entry follows its presence:true subscription: not
// made when the subscribe fails, taken back when its position cannot be
// read, kept across an unsubscribe and subscribe, ended with a refresh
// that takes the topic away; and the changes that come while it is set up
// wait for the reply, within bounds.

func TestPresenceAddFailureSubscribesNothing(t *testing.T) {
	b, e := presenceBroker(t)
	e.pres.failAdd = Unavailable(errors.New("down"))
	c := connect(t, b, user("1"))
	if r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"room.1"}`); r["code"] != string(CodeUnavailable) {
		t.Fatalf("%v", r)
	}
	if e.isActive("room.1") || b.Stats().Subscriptions != 0 {
		t.Error("a subscription whose presence entry failed stayed")
	}
}

// The entry is made beside the position's read; when the read fails, the
// entry made meanwhile goes with the subscription.
func TestPresencePositionFailureTakesTheEntryBack(t *testing.T) {
	b, e := presenceBroker(t)
	e.failPosition = Unavailable(errors.New("down"))
	c := connect(t, b, user("1"))
	if r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"room.1"}`); r["code"] != string(CodeUnavailable) {
		t.Fatalf("%v", r)
	}
	if n := e.presentSessions("room.1"); n != 0 || b.Stats().Subscriptions != 0 {
		t.Errorf("%d entries and %d subscriptions after a failed subscribe", n, b.Stats().Subscriptions)
	}
}

// Changes that come while a presence:true subscription is set up are
// sent after its subscribed reply, never before.
func TestPresenceChangesWaitForTheReply(t *testing.T) {
	b, e := presenceBroker(t)
	e.block = make(chan struct{})
	c := connect(t, b, user("1"))
	c.s.HandleText([]byte(`{"type":"subscribe","id":"1","topic":"room.1","presence":true}`))
	for b.Stats().Subscriptions != 1 {
		time.Sleep(time.Millisecond)
	}
	b.HandlePresence(PresenceChange{Topic: "room.1", User: "5", Join: true, Session: "x"})
	close(e.block)
	c.waitChanges(t, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.msgs) != 3 || c.msgs[1]["type"] != "subscribed" || c.msgs[2]["type"] != "join" {
		t.Errorf("got %v, want welcome, subscribed, join", c.msgs)
	}
}

// An unsubscribe followed by a subscribe to the same topic, both waiting
// in the queue (how herald.js loads a backlog), hands the entry over:
// others see neither a leave nor a join. When the connection closes
// before the subscribe ran, the entry goes all the same.
func TestPresenceResubscribeKeepsTheEntry(t *testing.T) {
	b, e := presenceBroker(t)
	watcher := connect(t, b, user("w"))
	watcher.do(t, "w", `{"type":"subscribe","id":"w","topic":"room.1","presence":true}`)
	c := connect(t, b, user("ada"))
	c.do(t, "1", `{"type":"subscribe","id":"1","topic":"room.1"}`)
	watcher.waitChanges(t, 1)

	// Hold the worker on another subscribe, so that both commands wait
	// in the queue whatever the scheduling.
	hold := func() chan struct{} {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.block = make(chan struct{})
		return e.block
	}
	release := hold()
	c.s.HandleText([]byte(`{"type":"subscribe","id":"2","topic":"other"}`))
	c.s.HandleText([]byte(`{"type":"unsubscribe","id":"3","topic":"room.1"}`))
	c.s.HandleText([]byte(`{"type":"subscribe","id":"4","topic":"room.1","since":{"epoch":"e1","seq":0}}`))
	close(release)
	if r := c.reply(t, "4"); r["type"] != "subscribed" {
		t.Fatalf("%v", r)
	}
	watcher.do(t, "p", `{"type":"ping","id":"p"}`)
	waitEntries(t, e, "room.1", 2)
	if got := watcher.changes(); len(got) != 1 {
		t.Errorf("the watcher saw %v, want only ada's first join", got)
	}
	c.do(t, "5", `{"type":"unsubscribe","id":"5","topic":"room.1"}`)
	if got := watcher.waitChanges(t, 2); got[1] != "leave ada" {
		t.Errorf("after a plain unsubscribe: %v", got)
	}
	waitEntries(t, e, "room.1", 1) // at once: the reply came after the removal

	d := connect(t, b, user("bob"))
	d.do(t, "1", `{"type":"subscribe","id":"1","topic":"room.1"}`)
	release = hold()
	d.s.HandleText([]byte(`{"type":"unsubscribe","id":"2","topic":"room.1"}`))
	d.s.HandleText([]byte(`{"type":"subscribe","id":"3","topic":"elsewhere"}`))
	d.s.HandleText([]byte(`{"type":"subscribe","id":"4","topic":"room.1"}`))
	d.reply(t, "2")
	d.s.Disconnected() // drops the subscribe, not the entry's release
	close(release)
	waitEntries(t, e, "room.1", 1) // the watcher's
}

// Changes held for a subscription being set up are bounded as messages
// are: past maxHeldMessages the connection is closed as a slow consumer.
func TestPresenceChangesHeldAreBounded(t *testing.T) {
	b, e := presenceBroker(t)
	e.block = make(chan struct{})
	c := connect(t, b, user("1"))
	c.s.HandleText([]byte(`{"type":"subscribe","id":"1","topic":"room.1","presence":true}`))
	for b.Stats().Subscriptions != 1 {
		time.Sleep(time.Millisecond)
	}
	for i := range maxHeldMessages + 10 {
		b.HandlePresence(PresenceChange{Topic: "room.1", User: fmt.Sprint(i), Join: true, Session: "x"})
	}
	c.waitFor(t, "close 4000", func(_ []map[string]any, code int) bool { return code == CloseSlowConsumer })
	c.s.mu.Lock()
	sub := c.s.subs
	c.s.mu.Unlock()
	sub.mu.Lock()
	held := len(sub.setup.changes)
	sub.mu.Unlock()
	if held > maxHeldMessages+1 {
		t.Errorf("%d changes held, want at most %d", held, maxHeldMessages+1)
	}
	close(e.block)
}

// A refresh that takes a presence topic away ends the entry with the
// subscription.
func TestPresenceEndsOnRefresh(t *testing.T) {
	b, e := newTestBroker(t, Config{PresenceTopics: []string{"room.*"},
		Tokens: tokensFunc(func(string) (ClientInfo, error) { return ClientInfo{Subject: "1", Perms: allowList{}}, nil })})
	c := connect(t, b, ClientInfo{Subject: "1", Perms: allowList{sub: []string{"room.*"}}})
	c.do(t, "1", `{"type":"subscribe","id":"1","topic":"room.1"}`)
	waitEntries(t, e, "room.1", 1)
	c.do(t, "2", `{"type":"refresh","id":"2","token":"t"}`)
	waitEntries(t, e, "room.1", 0)
}

type tokensFunc func(string) (ClientInfo, error)

func (f tokensFunc) Verify(token string) (ClientInfo, error) { return f(token) }
