package ws

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// poller parks idle sockets in an epoll set of its own (Go's runtime
// poller has each socket too, edge-triggered; the two do not interfere).
// A socket is armed EPOLLIN|EPOLLRDHUP|EPOLLONESHOT when its reader finds
// nothing to read and ends; the event starts a new reader, and the
// one-shot keeps a second event from starting another before it re-arms.
//
// An event carries the Conn's slot and the slot's generation, not the fd:
// an fd number is reused by the next socket the moment it is closed, and
// an event read from the kernel before the close could otherwise wake the
// wrong Conn. The fd also leaves the set before it is closed (Conn.finish).
type poller struct {
	e     *Engine
	epfd  int
	wakeR int // the read end of a pipe in the set: closing stops wait
	wakeW int
	done  chan struct{}
	once  sync.Once
}

var errNoPoller = errors.New("ws: no poller on this system")

func newPoller(e *Engine) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	var pfd [2]int
	if err := syscall.Pipe2(pfd[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: -1}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pfd[0], &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(pfd[0])
		syscall.Close(pfd[1])
		return nil, err
	}
	p := &poller{e: e, epfd: epfd, wakeR: pfd[0], wakeW: pfd[1], done: make(chan struct{})}
	go p.wait()
	return p, nil
}

// socketFD returns nc's descriptor when nc is a plain TCP socket or a
// Layer over one, else -1.
func socketFD(nc net.Conn) int32 {
	var sc syscall.Conn
	switch c := nc.(type) {
	case *net.TCPConn:
		sc = c
	case Layer:
		sc = c
	default:
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := int32(-1)
	if rc.Control(func(f uintptr) { fd = int32(f) }) != nil {
		return -1
	}
	return fd
}

// parkLocked arms c in the poller and, when that worked, marks it parked:
// its reader must end without touching it again. The caller holds c.mu.
func (c *Conn) parkLocked() {
	p := c.eng.poll
	if p == nil || c.fd < 0 {
		return
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(c.id), Pad: int32(c.gen)}
	op := syscall.EPOLL_CTL_MOD
	if !c.inPoll {
		op = syscall.EPOLL_CTL_ADD
	}
	if err := syscall.EpollCtl(p.epfd, op, int(c.fd), &ev); err != nil {
		c.eng.log.Warn("cannot park socket; it keeps a reader goroutine", "err", err)
		c.fd = -1
		return
	}
	c.inPoll, c.parked, c.running = true, true, false
}

// remove takes c's fd out of the set. The caller holds c.mu, and the fd is
// still open.
func (p *poller) remove(c *Conn) {
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(c.fd), nil)
}

// wait hands ready sockets to new readers until the poller is closed.
func (p *poller) wait() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			p.e.log.Error("epoll wait failed; parked sockets stay parked", "err", err)
			return
		}
		for i := range events[:n] {
			ev := &events[i]
			if ev.Fd == -1 {
				return // closed
			}
			c := p.e.lookup(uint32(ev.Fd), uint32(ev.Pad))
			if c == nil {
				continue // stale: the socket is gone and its slot maybe reused
			}
			c.mu.Lock()
			if c.parked && c.gen == uint32(ev.Pad) {
				c.startReaderLocked()
			}
			c.mu.Unlock()
		}
	}
}

// close stops the poller. Every socket must have left it.
func (p *poller) close() {
	p.once.Do(func() {
		syscall.Write(p.wakeW, []byte{0})
		<-p.done
		syscall.Close(p.epfd)
		syscall.Close(p.wakeR)
		syscall.Close(p.wakeW)
	})
}
