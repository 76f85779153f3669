package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
)

// readMembersChunk is how many members one HMGET of a presence read asks
// for: with 1 KiB of info each, a reply of about 140 KiB at most.
const readMembersChunk = 128

// readPresenceScript returns a topic's counts and, in order, at most a
// number of its users' names after a given one, in one atomic read,
// without their info: a page's members are read after, by name, so that
// a read holds the page's info only, never the topic's. The names come
// from the topic's names index, a range read in O(log N + page) however
// large the topic; a topic written before the index existed (or by a node
// that does not keep it) has an index whose count differs from the users
// hash's, and the read rebuilds it first, once, from the hash.
//
// KEYS: pres, users, names. ARGV: after ("" for the first page), limit.
// Returns {sessions, users, names}.
var readPresenceScript = goredis.NewScript(`
local users = redis.call('HLEN', KEYS[2])
if redis.call('ZCARD', KEYS[3]) ~= users then
  redis.call('DEL', KEYS[3])
  local names = redis.call('HKEYS', KEYS[2])
  for i = 1, #names, 512 do
    local args = {}
    for j = i, math.min(i + 511, #names) do
      args[#args + 1] = 0
      args[#args + 1] = names[j]
    end
    redis.call('ZADD', KEYS[3], unpack(args))
  end
end
local from = '-'
if ARGV[1] ~= '' then from = '(' .. ARGV[1] end
return {redis.call('HLEN', KEYS[1]), users,
  redis.call('ZRANGEBYLEX', KEYS[3], from, '+', 'LIMIT', 0, tonumber(ARGV[2]))}
`)

// Presence reads topic's counts and the page's names in one step, then the
// page's members, in chunks, until the page is full. A user that left
// between the two reads is not listed (users still counts it); one that
// joined is listed only on a later ask. When every name offered left
// meanwhile and more follow, it reads on after them: a truncated page
// with no members would give the asker no user to ask after.
func (e *Engine) Presence(ctx context.Context, topic string, page broker.PresencePage) (broker.PresenceState, error) {
	if err := broker.CheckTopic(topic); err != nil {
		return broker.PresenceState{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	for {
		st, names, more, err := e.presenceNames(ctx, topic, page)
		if err != nil {
			return broker.PresenceState{}, err
		}
		if e.betweenPresenceReads != nil {
			e.betweenPresenceReads()
		}
		fill := page.Filler()
		if err := e.fillPage(ctx, topic, fill, names); err != nil {
			return broker.PresenceState{}, err
		}
		st.Members, st.Truncated = fill.Members, fill.Truncated || more
		if len(fill.Members) > 0 || !more || len(names) == 0 {
			return st, nil
		}
		page.After = names[len(names)-1] // every one left: move past them
	}
}

// presenceNames reads topic's counts and, sorted, the users after
// page.After that the page may list; more reports that users after those
// were left out.
func (e *Engine) presenceNames(ctx context.Context, topic string, page broker.PresencePage) (broker.PresenceState, []string, bool, error) {
	limit := page.MaxListed()
	v, err := readPresenceScript.Run(ctx, e.rdb,
		[]string{e.keys.presEntries(topic), e.keys.presUsers(topic), e.keys.presNames(topic)},
		page.After, limit+1).Result()
	if err != nil {
		return broker.PresenceState{}, nil, false, e.fail("presence", err)
	}
	st, names, err := parsePresenceNames(v)
	if err != nil {
		return broker.PresenceState{}, nil, false, err
	}
	if len(names) > limit {
		return st, names[:limit], true, nil
	}
	return st, names, false, nil
}

// fillPage adds to fill the members of names, read in chunks, until it
// is full; those gone since their names were read are skipped.
func (e *Engine) fillPage(ctx context.Context, topic string, fill *broker.PageFiller, names []string) error {
	for len(names) > 0 && !fill.Truncated {
		chunk := names[:min(len(names), readMembersChunk)]
		names = names[len(chunk):]
		fields, err := e.rdb.HMGet(ctx, e.keys.presUsers(topic), chunk...).Result()
		if err != nil {
			return e.fail("presence", err)
		}
		if err := fillMembers(fill, chunk, fields); err != nil {
			return err
		}
	}
	return nil
}

// parsePresenceNames reads readPresenceScript's reply: the counts, and
// the names in order.
func parsePresenceNames(v any) (broker.PresenceState, []string, error) {
	reply, ok := v.([]any)
	if !ok || len(reply) != 3 {
		return broker.PresenceState{}, nil, fmt.Errorf("herald/redis: presence reply %v is malformed", v)
	}
	sessions, _ := reply[0].(int64)
	users, _ := reply[1].(int64)
	list, _ := reply[2].([]any)
	names := make([]string, len(list))
	for i, u := range list {
		name, ok := u.(string)
		if !ok {
			return broker.PresenceState{}, nil, fmt.Errorf("herald/redis: presence reply: user %v is malformed", u)
		}
		names[i] = name
	}
	return broker.PresenceState{Users: int(users), Sessions: int(sessions)}, names, nil
}

// fillMembers adds to fill the members of users whose fields HMGET
// returned, in order, skipping those gone (nil), until fill is full.
func fillMembers(fill *broker.PageFiller, users []string, fields []any) error {
	if len(fields) != len(users) {
		return fmt.Errorf("herald/redis: presence members: %d fields for %d users", len(fields), len(users))
	}
	for i, f := range fields {
		if f == nil {
			continue
		}
		m, err := parseMember(users[i], f)
		if err != nil {
			return err
		}
		if !fill.Add(m) {
			return nil
		}
	}
	return nil
}

// parseMember reads a user's field of the users hash: "<sessions>\n<info>".
func parseMember(user string, field any) (broker.Member, error) {
	text, _ := field.(string)
	count, info, ok := strings.Cut(text, "\n")
	n, err := strconv.Atoi(count)
	if !ok || err != nil {
		return broker.Member{}, fmt.Errorf("herald/redis: presence of %q: member %q is malformed", user, text)
	}
	m := broker.Member{User: user, Sessions: n}
	if info != "" {
		m.Info = []byte(info)
	}
	return m, nil
}
