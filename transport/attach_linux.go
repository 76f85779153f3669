//go:build linux

package transport

import (
	"fmt"
	"net"
	"os"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// startLoops starts cfg.Loops epoll loops, unless every connection takes
// the portable path.
func (s *Server) startLoops() error {
	if s.cfg.Portable {
		return nil
	}
	for i := 0; i < s.cfg.Loops; i++ {
		l, err := newLoop(s)
		if err != nil {
			for _, started := range s.loops {
				started.stop(true)
				<-started.done
			}
			return fmt.Errorf("herald/transport: start event loop: %w", err)
		}
		s.loops = append(s.loops, l)
		go l.run() // owned by s: Shutdown stops it and waits for l.done
	}
	return nil
}

// attach moves a plain TCP connection onto an epoll loop: it keeps a
// duplicate of the descriptor and closes the net.Conn, so no Go net object
// stays per connection. Anything else takes the portable path.
// It reports whether the connection was opened.
func (s *Server) attach(nc net.Conn, early []byte, o opening) bool {
	if !o.socketBuffersSet {
		s.SetSocketBuffers(nc)
	}
	tcp, ok := nc.(*net.TCPConn)
	if !ok || len(s.loops) == 0 {
		return s.attachPortable(nc, early, o)
	}
	fd, err := dupFD(tcp)
	_ = nc.Close() // the duplicate keeps the socket open
	if err != nil {
		s.log.Warn("take over websocket socket", zap.Error(err))
		return false
	}
	l := s.leastLoaded()
	if !l.reserve() {
		_ = unix.Close(fd) // shut down meanwhile
		return false
	}
	c := newConn(l, s.lim)
	c.fd = int32(fd)
	s.opened(c, o)
	s.pingBaseline(c)
	l.add(c, early)
	return true
}

// dupFD duplicates tcp's descriptor, close-on-exec and non-blocking.
func dupFD(tcp *net.TCPConn) (int, error) {
	raw, err := tcp.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("herald/transport: syscall conn: %w", err)
	}
	fd := -1
	var dupErr error
	err = raw.Control(func(orig uintptr) {
		fd, dupErr = unix.FcntlInt(orig, unix.F_DUPFD_CLOEXEC, 0)
	})
	if err != nil {
		return -1, fmt.Errorf("herald/transport: syscall conn control: %w", err)
	}
	if dupErr != nil {
		return -1, fmt.Errorf("herald/transport: %w", os.NewSyscallError("fcntl", dupErr))
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("herald/transport: %w", os.NewSyscallError("fcntl", err))
	}
	return fd, nil
}

func (s *Server) leastLoaded() *loop {
	best := s.loops[0]
	for _, l := range s.loops[1:] {
		if l.load.Load() < best.load.Load() {
			best = l
		}
	}
	return best
}
