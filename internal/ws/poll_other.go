//go:build !linux

package ws

import (
	"errors"
	"net"
)

// poller exists only on Linux (poll_linux.go); elsewhere every socket
// keeps a reader goroutine, waiting in a one-byte read with no buffer.
type poller struct{}

var errNoPoller = errors.New("ws: no poller on this system")

func newPoller(*Engine) (*poller, error) { return nil, errNoPoller }

func socketFD(net.Conn) int32 { return -1 }

func (c *Conn) parkLocked() {}

func (p *poller) remove(*Conn) {}

func (p *poller) close() {}
