package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/internal/testkit/syncbuf"

	"go.uber.org/goleak"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

// noLeaks fails the test if goroutines it started are still running once
// everything it set up has been torn down.
func noLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) }) // registered first, runs last
}

// peerRun is one in-process `duet peer`.
type peerRun struct {
	code           chan int
	stdout, stderr *syncbuf.Buffer
}

func (r *peerRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case c := <-r.code:
		return c
	case <-time.After(30 * time.Second):
		t.Fatalf("duet peer did not exit; stderr:\n%s", r.stderr.String())
		return -1
	}
}

// startPeer runs `duet peer` in-process with stdin and args (plus
// --loopback and --json).
func startPeer(t *testing.T, stdin io.Reader, args ...string) *peerRun {
	r := &peerRun{code: make(chan int, 1), stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}}
	args = append([]string{"--loopback", "--json"}, args...)
	go func() {
		r.code <- runPeer(t.Context(), args, stdin, r.stdout, r.stderr, func(string) string { return "" })
	}()
	return r
}

// events decodes the --json lines of a run.
func (r *peerRun) events(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(r.stderr.String()) {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("stderr line is not JSON: %q", line)
		}
		out = append(out, ev)
	}
	return out
}

func (r *peerRun) lastEvent(t *testing.T) map[string]any {
	t.Helper()
	evs := r.events(t)
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	return evs[len(evs)-1]
}

func peerServer(t *testing.T) *testserver.Server {
	return testserver.Start(t, testserver.Config(), server.Options{})
}

// sdkPeer is a Go SDK peer in room on srv, closed when the test ends.
func sdkPeer(ctx context.Context, t *testing.T, srv *testserver.Server, room string) *client.Peer {
	t.Helper()
	c, err := client.Dial(ctx, srv.URL("WebRTCAppEE"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := client.NewPeer(ctx, c, room, &client.PeerOptions{Loopback: true})
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(); c.Close() })
	return p
}

func TestPeerUsage(t *testing.T) {
	env := func(string) string { return "" }
	for _, args := range [][]string{
		{},
		{"--room", "a b"},
		{"--room", "r", "--send-file", "x", "--recv-file", "y"},
		{"--room", "r", "extra"},
		{"--room", "r", "--no-such-flag"},
	} {
		var out, errb strings.Builder
		if code := runPeer(t.Context(), args, strings.NewReader(""), &out, &errb, env); code != exitUsage {
			t.Errorf("duet peer %q: exit %d, want %d; stderr %s", args, code, exitUsage, errb.String())
		}
	}
	var out, errb strings.Builder
	if code := run(t.Context(), []string{"peer", "--help"}, &out, &errb, env); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, want := range []string{"-room", "-send-file", "-recv-file", "-json", "-timeout", "exit codes", "room is full", "checksum mismatch"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestPeerStream: two duet peers bridge stdin/stdout both ways, with text
// and binary, and both exit 0 once each has everything the other sent.
func TestPeerStream(t *testing.T) {
	noLeaks(t)
	srv := peerServer(t)
	url := srv.URL("WebRTCAppEE")
	binary := make([]byte, 100<<10)
	rand.NewChaCha8([32]byte{2}).Read(binary)
	aIn := "hello from a ✓\n"
	a := startPeer(t, strings.NewReader(aIn), "--url", url, "--room", "pipe")
	b := startPeer(t, bytes.NewReader(binary), "--url", url, "--room", "pipe")
	if code := a.wait(t); code != 0 {
		t.Fatalf("a exited %d: %s", code, a.stderr.String())
	}
	if code := b.wait(t); code != 0 {
		t.Fatalf("b exited %d: %s", code, b.stderr.String())
	}
	if got := b.stdout.String(); got != aIn {
		t.Fatalf("b wrote %q", got)
	}
	if got := a.stdout.String(); got != string(binary) {
		t.Fatalf("a wrote %d bytes, want the %d bytes b read", len(got), len(binary))
	}
	kinds := map[string]bool{}
	for _, ev := range a.events(t) {
		kinds[ev["event"].(string)] = true
	}
	for _, want := range []string{"joined", "waiting", "negotiating", "connected", "exit"} {
		if !kinds[want] {
			t.Errorf("a's events lack %q: %s", want, a.stderr.String())
		}
	}
}

// TestPeerWithSDKPartner: a partner that is not duet peer (no hello) gets
// stdin and duet peer exits once it is sent; the partner's messages appear
// on stdout.
func TestPeerWithSDKPartner(t *testing.T) {
	noLeaks(t)
	srv := peerServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	p := sdkPeer(ctx, t, srv, "sdk")
	stdin, feed := io.Pipe()
	r := startPeer(t, stdin, "--url", srv.URL("WebRTCAppEE"), "--room", "sdk")
	s, err := p.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.SendText(ctx, "from the sdk")
	for r.stdout.String() != "from the sdk" {
		select {
		case <-ctx.Done():
			t.Fatalf("stdout %q", r.stdout.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	feed.Write([]byte("hi sdk\n"))
	m, err := s.Recv(ctx)
	if err != nil || string(m.Data) != "hi sdk\n" || !m.IsString {
		t.Fatalf("sdk got %q (text %v), %v", m.Data, m.IsString, err)
	}
	feed.Close()
	if code := r.wait(t); code != 0 {
		t.Fatalf("exit %d: %s", code, r.stderr.String())
	}
	if got := r.stdout.String(); got != "from the sdk" {
		t.Fatalf("stdout %q", got)
	}
}

func TestPeerRoomFull(t *testing.T) {
	noLeaks(t)
	srv := peerServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for range 2 {
		c, err := client.Dial(ctx, srv.URL("WebRTCAppEE"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Join(ctx, "full"); err != nil {
			t.Fatal(err)
		}
	}
	r := startPeer(t, strings.NewReader(""), "--url", srv.URL("WebRTCAppEE"), "--room", "full")
	if code := r.wait(t); code != exitRoomFull {
		t.Fatalf("exit %d, want %d: %s", code, exitRoomFull, r.stderr.String())
	}
	if ev := r.lastEvent(t); ev["event"] != "exit" || ev["definition"] != "NoSpaceForNewPeer" {
		t.Fatalf("last event %v", ev)
	}
}

func TestPeerTimeout(t *testing.T) {
	noLeaks(t)
	srv := peerServer(t)
	r := startPeer(t, strings.NewReader(""), "--url", srv.URL("WebRTCAppEE"), "--room", "lonely", "--timeout", "200ms")
	if code := r.wait(t); code != exitTimeout {
		t.Fatalf("exit %d, want %d: %s", code, exitTimeout, r.stderr.String())
	}
}

func TestPeerConnectionFailed(t *testing.T) {
	noLeaks(t)
	srv := peerServer(t)
	url := srv.URL("WebRTCAppEE")
	srv.Stop(t) // nothing listens there any more
	r := startPeer(t, strings.NewReader(""), "--url", url, "--room", "r")
	if code := r.wait(t); code != exitConnFailed {
		t.Fatalf("exit %d, want %d: %s", code, exitConnFailed, r.stderr.String())
	}
}

// TestPeerChecksumMismatch: a sender whose trailer does not match what it
// sent makes the receiver exit 6 and leave no file behind.
func TestPeerChecksumMismatch(t *testing.T) {
	noLeaks(t)
	srv := peerServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	p := sdkPeer(ctx, t, srv, "bad")
	dir := t.TempDir()
	out := filepath.Join(dir, "got.bin")
	r := startPeer(t, strings.NewReader(""), "--url", srv.URL("WebRTCAppEE"), "--room", "bad", "--recv-file", out)
	s, err := p.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.SendText(ctx, `{"duet":"file","name":"x","size":3}`)
	s.Send(ctx, []byte("abc"))
	s.SendText(ctx, `{"duet":"end","size":3,"sha256":"0000"}`)
	if code := r.wait(t); code != exitChecksum {
		t.Fatalf("exit %d, want %d: %s", code, exitChecksum, r.stderr.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("files left behind: %v", entries)
	}
}

// TestPeerBinary runs the built binary: a 20 MiB file goes from one duet
// peer to another and is verified, and 4 MiB pipe through
// ("duet peer < in" and "duet peer > out </dev/null").
func TestPeerBinary(t *testing.T) {
	bin := buildDuet(t)
	srv := peerServer(t)
	url := srv.URL("WebRTCAppEE")
	dir := t.TempDir()
	data := make([]byte, 20<<20)
	rand.NewChaCha8([32]byte{3}).Read(data)
	src := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)

	t.Run("file", func(t *testing.T) {
		dst := filepath.Join(dir, "copy.bin")
		start := time.Now()
		recv := duetPeer(t, bin, nil, nil, "--url", url, "--room", "file", "--loopback", "--json", "--recv-file", dst)
		send := duetPeer(t, bin, nil, nil, "--url", url, "--room", "file", "--loopback", "--json", "--send-file", src)
		if err := send.cmd.Wait(); err != nil {
			t.Fatalf("sender: %v\n%s", err, send.stderr.String())
		}
		if err := recv.cmd.Wait(); err != nil {
			t.Fatalf("receiver: %v\n%s", err, recv.stderr.String())
		}
		took := time.Since(start)
		got, err := os.ReadFile(dst)
		if err != nil || sha256.Sum256(got) != sum {
			t.Fatalf("copy differs (%d bytes, %v)", len(got), err)
		}
		var received map[string]any
		for line := range strings.Lines(recv.stderr.String()) {
			var ev map[string]any
			if json.Unmarshal([]byte(line), &ev) == nil && ev["event"] == "received" {
				received = ev
			}
		}
		if received["sha256"] != hex.EncodeToString(sum[:]) {
			t.Fatalf("no received event with the right sha256:\n%s", recv.stderr.String())
		}
		t.Logf("20 MiB: transfer %.2fs (receiver's count), both processes done in %v", received["seconds"], took)
	})

	t.Run("pipe", func(t *testing.T) {
		piped := data[:4<<20]
		in := bytes.NewReader(piped)
		var out bytes.Buffer
		recv := duetPeer(t, bin, nil, &out, "--url", url, "--room", "pipe", "--loopback")
		send := duetPeer(t, bin, in, nil, "--url", url, "--room", "pipe", "--loopback")
		if err := send.cmd.Wait(); err != nil {
			t.Fatalf("sender: %v\n%s", err, send.stderr.String())
		}
		if err := recv.cmd.Wait(); err != nil {
			t.Fatalf("receiver: %v\n%s", err, recv.stderr.String())
		}
		if !bytes.Equal(out.Bytes(), piped) {
			t.Fatalf("piped %d bytes, not the %d sent", out.Len(), len(piped))
		}
	})
}

type proc struct {
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
}

// duetPeer starts `duet peer args` with stdin (nil: /dev/null) and stdout
// (nil: discarded).
func duetPeer(t *testing.T, bin string, stdin io.Reader, stdout io.Writer, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, append([]string{"peer"}, args...)...), stderr: &syncbuf.Buffer{}}
	p.cmd.Stdin = stdin
	p.cmd.Stdout = stdout
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}
