package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

// TestPeerMesh: three duet peer --mesh in one mesh room; what each reads
// from stdin reaches both others' stdout.
func TestPeerMesh(t *testing.T) {
	noLeaks(t)
	cfg := testserver.Config()
	cfg.MaxPeers = []string{"group=4"}
	srv := testserver.Start(t, cfg, server.Options{})
	names := []string{"a", "b", "c"}
	var ins []*io.PipeWriter
	var runs []*peerRun
	for range names {
		r, w := io.Pipe()
		ins = append(ins, w)
		runs = append(runs, startPeer(t, r, "--url", srv.URL("group"), "--room", "g", "--mesh", "4", "--wait-peers", "2"))
	}
	for i, w := range ins {
		go w.Write([]byte("from " + names[i] + "\n"))
	}
	deadline := time.Now().Add(30 * time.Second)
	for i, r := range runs {
		for j, other := range names {
			for i != j && !strings.Contains(r.stdout.String(), "from "+other+"\n") {
				if time.Now().After(deadline) {
					t.Fatalf("%s did not get %s's line; stdout %q, stderr:\n%s", names[i], other, r.stdout.String(), r.stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	for _, w := range ins {
		w.Close()
	}
	for i, r := range runs {
		if code := r.wait(t); code != 0 {
			t.Fatalf("%s exited %d: %s", names[i], code, r.stderr.String())
		}
	}
}
