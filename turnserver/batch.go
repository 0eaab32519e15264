package turnserver

import (
	"net"
	"runtime"
	"sync"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Socket buffer sizes. The listening socket carries every client's
// traffic: at 40 calls of 1,000 packets a second each, the kernel's
// default 208 KiB holds 4 ms of it, and a server that is not scheduled
// for that long drops what comes next (coturn asks for 4 MiB too). A
// relay socket carries one allocation's. The kernel caps both at
// net.core.rmem_max and wmem_max; memory is used only by what waits.
const (
	listenSockBuf = 4 << 20
	relaySockBuf  = 1 << 20
)

// batchSize is how many datagrams one system call reads or writes.
const batchSize = 32

// maxDatagram is the largest datagram read whole: pion's inbound MTU is
// 1,600 bytes, and a longer one is dropped as truncated either way.
const maxDatagram = 2048

// batcher is what ipv4.PacketConn and ipv6.PacketConn offer on Linux:
// recvmmsg and sendmmsg (elsewhere one datagram per call).
type batcher interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// batchConn is the TURN server's UDP socket. pion reads it one datagram
// at a time; batchConn reads up to batchSize per system call and hands
// them out one by one, so a server that fell behind catches up at a
// fraction of the calls. Writers (pion's read loop answering, and one
// goroutine per allocation relaying to its client) that find another
// writer sending leave it a copy of their datagram and return: the one
// sending sends them all together.
type batchConn struct {
	*net.UDPConn
	b batcher

	// The reader's (pion has one read loop per socket).
	in         []ipv4.Message
	next, have int

	wmu     sync.Mutex
	kicked  bool // the flusher was woken for what is queued
	closed  bool
	queue   []ipv4.Message // copies waiting for the flusher
	kick    chan struct{}
	flushed chan struct{}
}

// maxQueued bounds the copies waiting: past it a writer writes its own
// datagram, as it would without batching.
const maxQueued = 256

func newBatchConn(c *net.UDPConn) *batchConn {
	c.SetReadBuffer(listenSockBuf)
	c.SetWriteBuffer(listenSockBuf)
	bc := &batchConn{UDPConn: c, in: make([]ipv4.Message, batchSize), kick: make(chan struct{}, 1), flushed: make(chan struct{})}
	if la, ok := c.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() != nil {
		bc.b = ipv4.NewPacketConn(c)
	} else {
		bc.b = ipv6.NewPacketConn(c)
	}
	for i := range bc.in {
		bc.in[i].Buffers = [][]byte{make([]byte, maxDatagram)}
	}
	go bc.flush()
	return bc
}

// ReadFrom implements net.PacketConn for pion's read loop.
func (c *batchConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if c.next == c.have {
		n, err := c.b.ReadBatch(c.in, 0)
		if err != nil {
			return 0, nil, err
		}
		c.next, c.have = 0, n
	}
	m := &c.in[c.next]
	c.next++
	return copy(p, m.Buffers[0][:m.N]), m.Addr, nil
}

// WriteTo implements net.PacketConn: it queues a copy of p for the
// flusher and returns (UDP promises no more than that). A full queue is
// written past, directly.
func (c *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.wmu.Lock()
	if c.closed || len(c.queue) >= maxQueued {
		c.wmu.Unlock()
		return c.UDPConn.WriteTo(p, addr)
	}
	// Queue slots keep their buffers from one batch to the next.
	n := len(c.queue)
	if n < cap(c.queue) {
		c.queue = c.queue[:n+1]
	} else {
		c.queue = append(c.queue, ipv4.Message{})
	}
	m := &c.queue[n]
	if m.Buffers == nil {
		m.Buffers = make([][]byte, 1)
	}
	m.Buffers[0], m.Addr = append(m.Buffers[0][:0], p...), addr
	if !c.kicked {
		// Under the lock, so that Close cannot close kick between the
		// check of closed and the send. It does not block: a token is
		// sent only while kicked is false, and kicked stays true until
		// the flusher has taken the token.
		c.kicked = true
		c.kick <- struct{}{}
	}
	c.wmu.Unlock()
	return len(p), nil
}

// flush sends what writers queued, in batches, until the socket closes.
// Woken by the first writer of a batch, it first lets every goroutine
// that is ready run (the allocations' readers woken by the same poll),
// so that their datagrams go in the same sendmmsg.
func (c *batchConn) flush() {
	defer close(c.flushed)
	var batch []ipv4.Message
	for range c.kick {
		runtime.Gosched()
		c.wmu.Lock()
		batch, c.queue = c.queue, batch[:0]
		c.kicked = false
		c.wmu.Unlock()
		for sent := 0; sent < len(batch); {
			k, err := c.b.WriteBatch(batch[sent:], 0)
			if err != nil || k == 0 {
				break // the rest are lost, as datagrams may be
			}
			sent += k
		}
	}
}

// Close stops the flusher and closes the socket.
func (c *batchConn) Close() error {
	c.wmu.Lock()
	if !c.closed {
		c.closed = true
		close(c.kick)
	}
	c.wmu.Unlock()
	<-c.flushed
	return c.UDPConn.Close()
}
