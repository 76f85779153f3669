package main

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/redis"
)

// How each kind of setting parses its value (the settings table of config.go).

func setConnectRate(c *Config, v string) error {
	r, err := strconv.ParseFloat(v, 64)
	if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
		return fmt.Errorf("want a number of connections per second, 0 or more")
	}
	c.ConnectRatePerIP = r
	return nil
}

func setDeliveryLag(c *Config, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("want a duration such as 100ms, or 0 to never wait")
	}
	c.MaxDeliveryLag = d
	return nil
}

// minPresenceLapse is the least HERALD_PRESENCE_LAPSE: a live node that
// goes a lapse without a heartbeat is taken for dead, and a shorter one
// would have a pause of the node or of Redis of less than a second, as
// on a busy host, do that. The most is the default, which meets the 30 s
// of docs/protocol.md section 8.
const minPresenceLapse = time.Second

func setPresenceLapse(c *Config, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < minPresenceLapse || d > redis.DefaultPresenceLapse {
		return fmt.Errorf("want a duration from %v to %v", minPresenceLapse, redis.DefaultPresenceLapse)
	}
	c.PresenceLapse = d
	return nil
}

func urlSetting(set func(*Config, string)) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("want an http:// or https:// URL")
		}
		set(c, v)
		return nil
	}
}

func setSubscribeHookTopics(c *Config, v string) (err error) {
	c.SubscribeHookTopics, err = patternList(v)
	return err
}

// patternList splits a comma-separated list of topics and patterns.
func patternList(v string) ([]string, error) {
	topics := splitList(v)
	for _, t := range topics {
		if !broker.ValidPattern(t) {
			return nil, fmt.Errorf("want comma-separated topics or patterns: %q is neither", t)
		}
	}
	return topics, nil
}

func setTrustedProxies(c *Config, v string) error {
	if _, err := limits.NewClientIP(v); err != nil {
		return fmt.Errorf("want comma-separated addresses or CIDRs: %w", err)
	}
	c.TrustedProxies = splitList(v)
	return nil
}

func setPresenceTopics(c *Config, v string) (err error) {
	c.PresenceTopics, err = patternList(v)
	return err
}

func setAddr(c *Config, v string) error {
	if !strings.Contains(v, ":") {
		return fmt.Errorf("want host:port or :port")
	}
	c.Addr = v
	return nil
}

func setRedisURL(c *Config, v string) error {
	if v == "" {
		return nil
	}
	if err := redis.ValidateURL(v); err != nil {
		return fmt.Errorf("want redis[s]://host:port/db, redis[s]+sentinel://host:port,.../MASTER_NAME[/db] or redis[s]+cluster://host:port,...: %w", err)
	}
	c.RedisURL = v
	return nil
}

func intSetting(least int, set func(*Config, int)) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < least {
			return fmt.Errorf("want a whole number, %d or more", least)
		}
		set(c, n)
		return nil
	}
}

func boolSetting(set func(*Config, bool)) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		set(c, b)
		return nil
	}
}

func durationSetting(set func(*Config, time.Duration)) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration such as 500ms, 25s or 10m")
		}
		set(c, d)
		return nil
	}
}

func oneOf(set func(*Config, string), allowed ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		for _, a := range allowed {
			if v == a {
				set(c, v)
				return nil
			}
		}
		return fmt.Errorf("want one of %s", strings.Join(allowed, ", "))
	}
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// compressMinBytes is HERALD_COMPRESS_MIN_BYTES as node.Config takes it:
// there 0 is the default and a negative size turns compression off.
func compressMinBytes(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// deliveryLag is HERALD_MAX_DELIVERY_LAG as transport.Config takes it:
// there 0 is the default and a negative bound turns the wait off.
func deliveryLag(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
