package bench

import "net"

// dialerFor binds connection i to its source address.
func dialerFor(p Plan, i int) *net.Dialer {
	return &net.Dialer{LocalAddr: p.sourceAddr(i), Control: bindNoPort}
}
