package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// Embedded is a single NATS server with JetStream running inside this
// process: a development convenience, so that one duet binary can try the
// cluster backend (and other duet nodes can join it) without installing
// NATS. Production clusters use an external NATS cluster.
type Embedded struct {
	srv     *natsserver.Server
	tempDir string // removed on Shutdown; "" when the caller chose the store
}

// EmbeddedOptions configure StartEmbedded.
type EmbeddedOptions struct {
	// Listen is the client address, e.g. "127.0.0.1:4222"; empty:
	// 127.0.0.1 on a free port.
	Listen string
	// StoreDir holds JetStream's data; empty: a temporary directory that is
	// removed on Shutdown.
	StoreDir string
	// ServerName names the server in NATS logs and monitoring.
	ServerName string
}

var errNotReady = errors.New("cluster: embedded NATS did not become ready")

// StartEmbedded starts an embedded NATS server and waits until it accepts
// connections.
func StartEmbedded(o EmbeddedOptions) (*Embedded, error) {
	host, port := "127.0.0.1", -1 // -1: a free port
	if o.Listen != "" {
		h, p, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("cluster: embedded NATS listen address: %w", err)
		}
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("cluster: embedded NATS port: %w", err)
		}
		if port == 0 {
			port = -1
		}
		if h != "" {
			host = h
		}
	}
	e := &Embedded{}
	dir := o.StoreDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "duet-nats-"); err != nil {
			return nil, err
		}
		e.tempDir = dir
	}
	srv, err := natsserver.NewServer(&natsserver.Options{
		ServerName: o.ServerName,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		e.removeTemp()
		return nil, fmt.Errorf("cluster: embedded NATS: %w", err)
	}
	e.srv = srv
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		e.Shutdown()
		return nil, errNotReady
	}
	return e, nil
}

// URL is the client URL of the embedded server.
func (e *Embedded) URL() string { return e.srv.ClientURL() }

// Shutdown stops the server and waits until it has stopped.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	e.removeTemp()
}

func (e *Embedded) removeTemp() {
	if e.tempDir != "" {
		os.RemoveAll(e.tempDir)
	}
}
