package mobilepeer

import (
	"net"
	"sync/atomic"
	"time"
)

// switchConn is the peer's one UDP socket for ICE (loopback), with a
// switch for its network: while down, nothing goes out and nothing comes
// in, as on a phone whose network dropped.
type switchConn struct {
	net.PacketConn
	down atomic.Bool
}

func listenUDP() (*switchConn, error) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &switchConn{PacketConn: c}, nil
}

func (c *switchConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || !c.down.Load() {
			return n, addr, err
		}
	}
}

func (c *switchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.down.Load() {
		return len(b), nil // lost on the way
	}
	return c.PacketConn.WriteTo(b, addr)
}

// SetReadBuffer lets pion size the socket's buffer as it does its own.
func (c *switchConn) SetReadBuffer(n int) error {
	if u, ok := c.PacketConn.(*net.UDPConn); ok {
		return u.SetReadBuffer(n)
	}
	return nil
}

// dialTimeout bounds a WebSocket dial.
const dialTimeout = 5 * time.Second
