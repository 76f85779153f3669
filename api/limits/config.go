package limits

import (
	"fmt"
	"math"
	"time"
)

// Defaults of ConnConfig.
const (
	// DefaultIPv6Prefix: one host or home usually gets a /64, and can pick
	// any address in it, so a /64 counts as one address.
	DefaultIPv6Prefix = 64
	// DefaultMaxTracked bounds the table at about 75 MB: some 290 bytes
	// of heap an address with every per-address budget on (its entry,
	// 176, 24 of them its command budget; its queued and read bytes'
	// counts, 16 each; the rest its place in the map).
	DefaultMaxTracked = 1 << 18
)

// ConnConfig are the per-address connection limits.
type ConnConfig struct {
	// MaxOpen is how many connections one address may hold open; 0: no
	// limit.
	MaxOpen int
	// Rate is how many new connections per second one address may open,
	// on average; 0: no limit.
	Rate float64
	// Burst is how many new connections one address may open at once
	// before Rate holds it back; 0: Rate rounded up, at least 1. Ignored
	// without a Rate.
	Burst int
	// IPv6Prefix: IPv6 addresses that share this many leading bits count
	// as one address; 0: DefaultIPv6Prefix; 128: each address alone.
	IPv6Prefix int
	// MaxTracked bounds how many addresses are remembered at once; 0:
	// DefaultMaxTracked. See ConnLimiter for what happens past it.
	MaxTracked int
	// CommandRate is how many commands a second all the connections of
	// one address may send together, on average (commands.go); 0: no
	// limit.
	CommandRate int
	// CommandBurst is how many commands they may send at once before
	// CommandRate holds them back, at most a billion; 0: CommandRate.
	// Ignored without a CommandRate.
	CommandBurst int
	// QueueBytes bounds the bytes queued for all the connections of one
	// address that are theirs alone (transport.AddressQueue); 0: no
	// limit.
	QueueBytes int
	// Subscriptions bounds the subscriptions all the connections of one
	// address hold together (broker.AddressSubscriptions); 0: no limit.
	Subscriptions int
	// ReadBytes bounds the read buffers all the connections of one
	// address keep between reads, for frames that came in part
	// (transport.AddressReads); 0: no limit.
	ReadBytes int
	// Now is the clock; nil: time.Now. Tests set it.
	Now func() time.Time
}

func (c *ConnConfig) check() error {
	switch {
	case c.MaxOpen < 0:
		return fmt.Errorf("herald/limits: negative open connections per address %d", c.MaxOpen)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("herald/limits: connection rate per address %v is not a number of at least 0", c.Rate)
	case c.Burst < 0:
		return fmt.Errorf("herald/limits: negative connection burst per address %d", c.Burst)
	case c.IPv6Prefix < 0 || c.IPv6Prefix > 128:
		return fmt.Errorf("herald/limits: IPv6 prefix /%d is not between 0 and 128", c.IPv6Prefix)
	case c.MaxTracked < 0:
		return fmt.Errorf("herald/limits: negative table size %d", c.MaxTracked)
	case c.CommandRate < 0 || c.CommandRate > maxCommandRate:
		return fmt.Errorf("herald/limits: command rate per address %d is not between 0 and %d", c.CommandRate, maxCommandRate)
	case c.QueueBytes < 0:
		return fmt.Errorf("herald/limits: negative queued bytes per address %d", c.QueueBytes)
	case c.ReadBytes < 0:
		return fmt.Errorf("herald/limits: negative read bytes per address %d", c.ReadBytes)
	case c.Subscriptions < 0:
		return fmt.Errorf("herald/limits: negative subscriptions per address %d", c.Subscriptions)
	case c.CommandBurst < 0 || c.CommandBurst > maxCommandBurst:
		return fmt.Errorf("herald/limits: command burst per address %d is not between 0 and %d", c.CommandBurst, maxCommandBurst)
	}
	return nil
}

func (c *ConnConfig) setDefaults() {
	if c.Burst == 0 {
		c.Burst = max(1, int(math.Ceil(c.Rate)))
	}
	if c.IPv6Prefix == 0 {
		c.IPv6Prefix = DefaultIPv6Prefix
	}
	if c.MaxTracked == 0 {
		c.MaxTracked = DefaultMaxTracked
	}
	if c.CommandBurst == 0 {
		c.CommandBurst = c.CommandRate
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}
