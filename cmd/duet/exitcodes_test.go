package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/admin"
	"github.com/duet-rtc/duet/cluster"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/ops"
	"github.com/duet-rtc/duet/server"
)

// TestHelpGoesToStdout: --help of every command is its output: on stdout,
// exit 0, nothing on stderr.
func TestHelpGoesToStdout(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"serve", "--help"}, {"peer", "--help"}, {"token", "--help"}, {"rooms", "--help"},
		{"rooms", "ls", "--help"}, {"bench", "--help"}, {"bench", "report", "--help"}, {"healthcheck", "--help"},
		{"version", "--help"}, {"serve", "-h"}, {"turn", "--help"},
	} {
		var out, errb strings.Builder
		code := run(t.Context(), args, &out, &errb, func(string) string { return "" })
		if code != 0 || !strings.HasPrefix(out.String(), "usage: duet") || errb.Len() != 0 {
			t.Errorf("duet %s: exit %d, stdout %.40q…, stderr %q", strings.Join(args, " "), code, out.String(), errb.String())
		}
	}
}

// TestRoomsExitCodes: duet rooms tells a server without an admin API from
// a room that is not there.
func TestRoomsExitCodes(t *testing.T) {
	plain := testserver.Start(t, testserver.Config(), server.Options{})
	code, _, errs := roomsCLI(t, plain.HTTP(), "ls")
	if code != roomsAPIOff || errs != "duet rooms: "+admin.ErrAPIOff.Error()+"\n" {
		t.Errorf("admin API off: exit %d, stderr %q; want %d", code, errs, roomsAPIOff)
	}

	cfg := testserver.Config()
	cfg.AdminKey = adminKey
	opts := server.Options{}
	x, err := ops.Setup(ops.Options{Config: cfg, NodeID: "cli"}, &opts)
	if err != nil {
		t.Fatal(err)
	}
	s := testserver.Start(t, cfg, opts)
	x.Attach(s.Server)
	if code, _, errs := roomsCLI(t, s.HTTP(), "show", "WebRTCAppEE/nobody"); code != roomsNotFound ||
		errs != "duet rooms: admin: not found (404): no such room\n" {
		t.Errorf("no such room: exit %d, stderr %q; want %d", code, errs, roomsNotFound)
	}
}

// TestPeerKicked: a duet peer an operator removes exits 7 (kicked), its
// partner 5 (the connection ended before the end of the stream).
func TestPeerKicked(t *testing.T) {
	noLeaks(t)
	cfg := testserver.Config()
	cfg.AdminKey = adminKey
	opts := server.Options{}
	x, err := ops.Setup(ops.Options{Config: cfg, NodeID: "k"}, &opts)
	if err != nil {
		t.Fatal(err)
	}
	s := testserver.Start(t, cfg, opts)
	x.Attach(s.Server)
	url := s.URL("WebRTCAppEE")
	inA, feedA := io.Pipe()
	inB, feedB := io.Pipe()
	defer feedA.Close()
	defer feedB.Close()
	a := startPeer(t, inA, "--url", url, "--room", "kick")
	b := startPeer(t, inB, "--url", url, "--room", "kick")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c := &admin.Client{URL: s.HTTP(), Key: adminKey}
	var member string
	for member == "" {
		r, err := c.Room(ctx, "WebRTCAppEE", "kick")
		if err == nil && len(r.Members) == 2 && strings.Contains(a.stderr.String(), `"event":"connected"`) &&
			strings.Contains(b.stderr.String(), `"event":"connected"`) {
			member = r.Members[0].ID
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("peers not connected: %v\n%s\n%s", err, a.stderr.String(), b.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := c.Kick(ctx, "WebRTCAppEE", "kick", member); err != nil {
		t.Fatal(err)
	}
	codes := map[int]int{}
	for _, r := range []*peerRun{a, b} {
		codes[r.wait(t)]++
	}
	if codes[exitKicked] != 1 || codes[exitConnFailed] != 1 {
		t.Fatalf("exit codes %v, want one %d (kicked) and one %d\n%s\n%s", codes, exitKicked, exitConnFailed, a.stderr.String(), b.stderr.String())
	}
}

// TestReplicasBeyondNATSFailAtStart: nats_kv_replicas 3 against a NATS
// server that is not clustered can never work: duet serve says so at once,
// naming the setting, instead of waiting nats_start_timeout.
func TestReplicasBeyondNATSFailAtStart(t *testing.T) {
	ns, err := cluster.StartEmbedded(cluster.EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	var out, errb strings.Builder
	began := time.Now()
	code := run(t.Context(), []string{"serve", "--listen", "127.0.0.1:0", "--nats-url", ns.URL(), "--nats-kv-replicas", "3", "--log-level", "error"},
		&out, &errb, func(string) string { return "" })
	want := "duet serve: invalid configuration:\n  nats_kv_replicas: 3 needs a NATS cluster of 3 servers, but the NATS server at nats_url is not clustered; write 1, or cluster NATS\n"
	if code != 2 || !strings.HasPrefix(errb.String(), want) || !strings.Contains(errb.String(), "replicas > 1 not supported in non-clustered mode") {
		t.Fatalf("exit %d, stderr:\n%s\nwant it to start with:\n%s", code, errb.String(), want)
	}
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("took %v; nats_start_timeout is a minute, a permanent error should end the start at once", took)
	}
}
