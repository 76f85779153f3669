//go:build linux

package netpoll

import (
	"errors"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Event says what became ready on one registered descriptor. Key and Gen
// are what was given to Add: Key names the descriptor's owner in the
// caller's table, and Gen tells a stale event (for an owner that held the
// key before) from a current one.
type Event struct {
	Key      int32
	Gen      uint32
	Readable bool // data, EOF or an error: read to find out which
	Writable bool
}

// Poller is one epoll instance plus an eventfd that wakes its Wait.
type Poller struct {
	epfd   int
	wakefd int
	woken  atomic.Bool // a wake-up is on its way; further ones are coalesced
	events []unix.EpollEvent
}

// wakeGen marks the eventfd's own registration; the generations given to
// Add start at 1 and skip it.
const wakeGen = 0

// New makes a poller that reports up to maxEvents events per Wait.
func New(maxEvents int) (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	p := &Poller{epfd: epfd, wakefd: wakefd, events: make([]unix.EpollEvent, maxEvents)}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1, Pad: wakeGen}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		p.Close()
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return p, nil
}

// Add registers fd once, edge-triggered, for reading and writing: the
// caller reads and writes until EAGAIN and never has to change the
// registration again (no epoll_ctl per message). Its events carry key
// and gen, which must not be 0 (the poller's own). A key chosen by the
// caller, rather than the descriptor number, lets it keep a dense table
// of its own descriptors instead of one as long as the highest number.
func (p *Poller) Add(fd int, key int32, gen uint32) error {
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     key,
		Pad:    int32(gen),
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// Remove unregisters fd. Closing fd removes it too; this is for callers
// that want it gone before the close.
func (p *Poller) Remove(fd int) error {
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// Wait blocks until something is ready, Wake is called, or timeoutMs
// passes (-1: no timeout), and appends the ready events to dst. A wake-up
// itself produces no event. EINTR returns no events and no error.
func (p *Poller) Wait(dst []Event, timeoutMs int) ([]Event, error) {
	n, err := unix.EpollWait(p.epfd, p.events, timeoutMs)
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return dst, nil
		}
		return dst, os.NewSyscallError("epoll_wait", err)
	}
	for _, ev := range p.events[:n] {
		if uint32(ev.Pad) == wakeGen {
			p.drainWake()
			continue
		}
		dst = append(dst, Event{
			Key:      ev.Fd,
			Gen:      uint32(ev.Pad),
			Readable: ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0,
			Writable: ev.Events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0,
		})
	}
	return dst, nil
}

// Wake makes a Wait in progress (or the next one) return. Calls while a
// wake-up is still pending cost one atomic operation and no syscall.
func (p *Poller) Wake() error {
	if !p.woken.CompareAndSwap(false, true) {
		return nil
	}
	var one = [8]byte{1}
	if _, err := unix.Write(p.wakefd, one[:]); err != nil && !errors.Is(err, unix.EAGAIN) {
		return os.NewSyscallError("write", err)
	}
	return nil
}

// WakePending reports whether a Wake is on its way to Wait.
func (p *Poller) WakePending() bool { return p.woken.Load() }

func (p *Poller) drainWake() {
	var buf [8]byte
	_, _ = unix.Read(p.wakefd, buf[:]) // EAGAIN only: nothing to drain
	p.woken.Store(false)
}

// Close releases the epoll instance and the eventfd.
func (p *Poller) Close() error {
	err1 := unix.Close(p.wakefd)
	err2 := unix.Close(p.epfd)
	if err1 != nil {
		return os.NewSyscallError("close", err1)
	}
	if err2 != nil {
		return os.NewSyscallError("close", err2)
	}
	return nil
}
