// Package netpoll waits for readiness on many non-blocking sockets at once.
// Linux has an epoll poller; other systems have none, and transport runs
// them with a goroutine per connection instead.
package netpoll
