package cluster

import (
	"errors"
	"fmt"
	"net"
	"net/url"
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
	// ServerName names the server in NATS logs and monitoring; servers of
	// one NATS cluster need distinct names.
	ServerName string
	// ClusterName, ClusterListen and Routes form a NATS cluster of several
	// embedded servers (tests): ClusterListen is this server's route
	// address ("127.0.0.1:0" picks a free port, see ClusterAddr), Routes
	// the route URLs of the others (nats-route://host:port).
	ClusterName   string
	ClusterListen string
	Routes        []string
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
	nopts := &natsserver.Options{
		ServerName: o.ServerName,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
	}
	if err := clusterOptions(nopts, o); err != nil {
		e.removeTemp()
		return nil, err
	}
	srv, err := natsserver.NewServer(nopts)
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

// ClusterAddr is the server's route address, "" when it is not clustered.
func (e *Embedded) ClusterAddr() string {
	if a := e.srv.ClusterAddr(); a != nil {
		return a.String()
	}
	return ""
}

func clusterOptions(n *natsserver.Options, o EmbeddedOptions) error {
	if o.ClusterListen == "" {
		return nil
	}
	h, p, err := net.SplitHostPort(o.ClusterListen)
	if err != nil {
		return fmt.Errorf("cluster: embedded NATS cluster address: %w", err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return fmt.Errorf("cluster: embedded NATS cluster port: %w", err)
	}
	if port == 0 {
		port = -1
	}
	n.Cluster = natsserver.ClusterOpts{Name: o.ClusterName, Host: h, Port: port}
	for _, r := range o.Routes {
		u, err := url.Parse(r)
		if err != nil {
			return fmt.Errorf("cluster: embedded NATS route %q: %w", r, err)
		}
		n.Routes = append(n.Routes, u)
	}
	return nil
}

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
