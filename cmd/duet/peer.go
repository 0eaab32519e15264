package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/client/transfer"
	"github.com/duet-rtc/duet/internal/cli"
	"github.com/duet-rtc/duet/protocol"
)

// Exit codes of duet peer.
const (
	exitOK          = 0
	exitError       = 1 // anything else: a file error, a join refused for another reason
	exitUsage       = 2
	exitRoomFull    = 3 // the server answered NoSpaceForNewPeer
	exitTimeout     = 4 // --timeout passed before a peer was connected
	exitConnFailed  = 5 // server unreachable, ICE/DTLS failed, or the connection was lost before the end
	exitChecksum    = 6 // the file that arrived is not the file that was sent
	exitKicked      = 7 // an operator removed this peer from the room (duet rooms kick, the admin API)
	exitInterrupted = 130
)

const peerUsage = `usage: duet peer --room ROOM [--url URL] [flags]

Joins ROOM on a duet server as a WebRTC peer, waits for the other peer of
the room (a browser, a phone, another duet peer) and connects to it.

Without --send-file or --recv-file it bridges the data channel to
stdin/stdout: what is read from stdin is sent (as text when it is UTF-8),
what arrives is written to stdout as is. At stdin's end it marks the end
and, with another duet peer, waits until that one has finished too (so
"duet peer < in" and "duet peer > out </dev/null" copy a stream); with any
other peer it leaves once what it sent has been delivered. It also ends
when the other peer leaves.

--send-file / --recv-file transfer one file, verified with SHA-256; the
progress bar shows when stderr is a terminal.

flags:
`

const peerExitCodes = `
exit codes:
  0    done
  1    other error (a file error; the server refused the join for another reason)
  2    usage error
  3    the room is full (server error NoSpaceForNewPeer)
  4    --timeout passed before a peer was connected
  5    connection failed: server unreachable, ICE failed, or lost before the end
  6    checksum mismatch: the file that arrived is not the one sent
  7    kicked: an operator removed this peer from the room
  130  interrupted
`

// peerConfig is what duet peer's flags say.
type peerConfig struct {
	url, room, token     string
	sendFile, recvFile   string
	json, loopback, verb bool
	timeout              time.Duration
	mesh, waitPeers      int // --mesh: a mesh room of up to mesh members (peer_mesh.go)
}

// peerMain is `duet peer`.
func peerMain(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	return runPeer(ctx, args, os.Stdin, stdout, stderr, getenv)
}

func parsePeerFlags(args []string, stdout, stderr io.Writer, getenv func(string) string) (peerConfig, int, bool) {
	var cfg peerConfig
	fs := flag.NewFlagSet("duet peer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := getenv("DUET_PEER_URL")
	if url == "" {
		url = "ws://localhost:5080/WebRTCAppEE/websocket"
	}
	fs.StringVar(&cfg.url, "url", url, "WebSocket URL of the duet server (env DUET_PEER_URL)")
	fs.StringVar(&cfg.room, "room", "", "room to join (required)")
	fs.StringVar(&cfg.token, "token", "", "token to send with the join, for servers that require one")
	fs.StringVar(&cfg.sendFile, "send-file", "", "send this file, then exit")
	fs.StringVar(&cfg.recvFile, "recv-file", "", "receive one file into this path (- for stdout), then exit")
	fs.BoolVar(&cfg.json, "json", false, "print events as JSON on stderr, one object per line, instead of text (stdout stays data)")
	fs.DurationVar(&cfg.timeout, "timeout", 0, "give up when no peer is connected within this time (0: wait)")
	fs.BoolVar(&cfg.loopback, "loopback", false, "ICE over 127.0.0.1 only (tests and demos on one machine)")
	fs.BoolVar(&cfg.verb, "v", false, "log the SDK's debug messages on stderr")
	fs.IntVar(&cfg.mesh, "mesh", 0, "join as a member of a mesh room (group call) of up to this many members, if first in it: stdin goes to every member connected, and what any member sends comes out on stdout")
	fs.IntVar(&cfg.waitPeers, "wait-peers", 1, "with --mesh: members to be connected to before stdin is read")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), peerUsage)
		cli.PrintFlags(fs.Output(), fs)
		fmt.Fprint(fs.Output(), peerExitCodes)
	}
	pos, err := cli.Parse(fs, args)
	if err == nil {
		err = cli.NoArgs(fs, args, pos)
	}
	if errors.Is(err, flag.ErrHelp) {
		return cfg, cli.Help(fs, stdout), false
	}
	if err != nil {
		return cfg, cli.Fail(stderr, "duet peer", err), false
	}
	bad := func(msg string) (peerConfig, int, bool) {
		return cfg, cli.Fail(stderr, "duet peer", errors.New(msg)), false
	}
	switch {
	case cfg.room == "":
		return bad("--room is required, e.g. --room r1")
	case protocol.ValidateStreamID(cfg.room) != nil:
		return bad(fmt.Sprintf("--room: %q is not a room name; write up to 128 of A-Z a-z 0-9 _ . -, e.g. r1", cfg.room))
	case cfg.sendFile != "" && cfg.recvFile != "":
		return bad("--send-file and --recv-file exclude each other; one side sends, the other receives")
	case cfg.timeout < 0:
		return bad(fmt.Sprintf("--timeout: %s is negative; write 0 to wait for ever, or e.g. 30s", cfg.timeout))
	case cfg.mesh != 0 && (cfg.mesh < 2 || cfg.sendFile != "" || cfg.recvFile != ""):
		return bad("--mesh takes 2 or more members (e.g. --mesh 4), and no --send-file or --recv-file")
	case cfg.waitPeers < 1:
		return bad(fmt.Sprintf("--wait-peers: %d is too few; write 1 or more", cfg.waitPeers))
	}
	return cfg, exitOK, true
}

// runPeer is duet peer with its standard streams passed in.
func runPeer(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	cfg, code, ok := parsePeerFlags(args, stdout, stderr, getenv)
	if !ok {
		return code
	}
	var src *os.File
	if cfg.sendFile != "" { // fail before joining a room for nothing
		f, err := os.Open(cfg.sendFile)
		if err != nil {
			fmt.Fprintf(stderr, "duet peer: %v\n", err)
			return exitError
		}
		defer f.Close()
		src = f
	}
	rep := newReporter(stderr, cfg.json, isTerminal(stderr))
	var err error
	if cfg.mesh > 0 {
		code, err = meshSession(ctx, cfg, stdin, stdout, stderr, rep)
	} else {
		code, err = peerSession(ctx, cfg, src, stdin, stdout, stderr, rep)
	}
	// Reported last, after the peer has left and the socket is closed.
	return rep.exit(code, err)
}

// peerSession joins, connects and runs one session of duet peer.
func peerSession(ctx context.Context, cfg peerConfig, src *os.File, stdin io.Reader, stdout, stderr io.Writer, rep *reporter) (int, error) {
	log := slog.New(slog.DiscardHandler)
	if cfg.verb {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	// A kick ends the whole run, whatever phase it is in: the server
	// took this peer out of the room and will not pair it again.
	run, kicked := context.WithCancelCause(ctx)
	defer kicked(nil)

	// Connecting: the only phase --timeout bounds.
	cctx, cancel := context.WithCancelCause(run)
	defer cancel(nil)
	if cfg.timeout > 0 {
		var stop context.CancelFunc
		cctx, stop = context.WithTimeoutCause(cctx, cfg.timeout, errTimeout)
		defer stop()
	}
	c, err := client.Dial(cctx, cfg.url, &client.Options{Logger: log})
	if err != nil {
		return connectCode(ctx, cctx, err, exitConnFailed), err
	}
	defer c.Close()
	kick := newKickWatch(kicked)
	go kick.watch(c.Subscribe(cfg.room))
	var connected atomic.Bool
	var joinOpts []client.JoinOption
	if cfg.token != "" {
		joinOpts = append(joinOpts, client.WithToken(cfg.token))
	}
	p, err := client.NewPeer(cctx, c, cfg.room, &client.PeerOptions{
		Logger:      log,
		Loopback:    cfg.loopback,
		Hello:       []byte(streamHello),
		JoinOptions: joinOpts,
		OnEvent: func(e client.PeerEvent) {
			rep.peerEvent(e)
			// A failed ICE check while connecting ends the wait: nothing
			// else will come of it with most partners.
			if !connected.Load() && e.Kind == client.EventSessionEnd && errors.Is(e.Err, client.ErrConnectionFailed) {
				cancel(e.Err)
			}
		},
	})
	if err != nil {
		return connectCode(ctx, cctx, err, exitConnFailed), err
	}
	defer p.Close()
	rep.event("waiting", "joined room "+cfg.room+", waiting for a peer", nil)
	s, err := p.Accept(cctx)
	if err != nil {
		if cause := context.Cause(cctx); errors.Is(cause, client.ErrConnectionFailed) || errors.Is(cause, errKicked) {
			err = cause
		}
		return connectCode(ctx, cctx, err, exitConnFailed), err
	}
	connected.Store(true)
	if path := mediaPath(s.PeerConnection()); path != nil {
		rep.event("path", "", path)
	}

	switch {
	case src != nil:
		err = sendFile(run, s, src, rep)
	case cfg.recvFile != "":
		err = recvFile(run, s, cfg.recvFile, stdout, rep)
	default:
		err = bridge(run, s, stdin, isTerminal(stdin), stdout)
	}
	if kick.wasKicked(run, err) {
		return exitKicked, errKicked
	}
	if err != nil {
		return runCode(ctx, err), err
	}
	return exitOK, nil
}

var errKicked = errors.New("an operator removed this peer from the room (kicked)")

// kickWatch tells a kick of this peer from one of its partner. A kicked
// member gets stop and then leaved, both with reason kicked; its partner
// gets the stop alone. The session may end before either is read here:
// at the stop (handled by the Peer on its own subscription), or earlier,
// when the partner's connection closes.
type kickWatch struct {
	stop     chan struct{} // closed at the first stop
	kickStop chan struct{} // closed at a stop with reason kicked
	once     sync.Once
	kickOnce sync.Once
	cancel   context.CancelCauseFunc
}

func newKickWatch(cancel context.CancelCauseFunc) *kickWatch {
	return &kickWatch{stop: make(chan struct{}), kickStop: make(chan struct{}), cancel: cancel}
}

// watch cancels the run with errKicked at a leaved with reason kicked,
// which this peer did not ask for. The subscription ends with the client.
func (k *kickWatch) watch(sub *client.Subscription) {
	defer sub.Close()
	for ev := range sub.Events() {
		switch e := ev.(type) {
		case client.Stop:
			k.once.Do(func() { close(k.stop) })
			if e.Reason == client.ReasonKicked {
				k.kickOnce.Do(func() { close(k.kickStop) })
			}
		case client.Leaved:
			if e.Reason == client.ReasonKicked {
				k.cancel(errKicked)
				return
			}
		}
	}
}

// wasKicked reports whether the run, which ended with err, ended because
// this peer was kicked. A session that ended because the partner went
// (err ErrPeerLeft or io.EOF) waits, a second at most each, for the stop
// to be read here, and after a stop with reason kicked for the leaved.
func (k *kickWatch) wasKicked(run context.Context, err error) bool {
	if errors.Is(context.Cause(run), errKicked) {
		return true
	}
	if !errors.Is(err, client.ErrPeerLeft) && !errors.Is(err, io.EOF) {
		return false
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-k.stop:
	case <-run.Done():
	case <-t.C:
	}
	select {
	case <-k.kickStop:
	default:
		return errors.Is(context.Cause(run), errKicked)
	}
	t.Reset(time.Second)
	select {
	case <-run.Done():
	case <-t.C:
	}
	return errors.Is(context.Cause(run), errKicked)
}

var errTimeout = errors.New("timed out waiting for a peer")

// connectCode maps an error while connecting to an exit code.
func connectCode(parent, cctx context.Context, err error, otherwise int) int {
	var se *client.ServerError
	switch {
	case parent.Err() != nil:
		return exitInterrupted
	case errors.Is(context.Cause(cctx), errKicked):
		return exitKicked
	case errors.Is(context.Cause(cctx), errTimeout):
		return exitTimeout
	case errors.Is(err, protocol.ErrNoSpaceForNewPeer):
		return exitRoomFull
	case errors.As(err, &se):
		return exitError
	}
	return otherwise
}

// runCode maps an error after the connection to an exit code.
func runCode(ctx context.Context, err error) int {
	switch {
	case ctx.Err() != nil:
		return exitInterrupted
	case errors.Is(err, transfer.ErrChecksum):
		return exitChecksum
	case errors.Is(err, client.ErrPeerLeft), errors.Is(err, client.ErrConnectionFailed),
		errors.Is(err, client.ErrNotConnected), errors.Is(err, io.EOF):
		return exitConnFailed
	}
	return exitError
}

func sendFile(ctx context.Context, s *client.Session, f *os.File, rep *reporter) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	name := filepath.Base(f.Name())
	res, err := transfer.Send(ctx, s, name, st.Size(), f, rep.progress)
	rep.progressDone()
	if err != nil {
		return err
	}
	rep.transferred("sent", res)
	return nil
}

func recvFile(ctx context.Context, s *client.Session, path string, stdout io.Writer, rep *reporter) error {
	var tmp *os.File
	open := func(name string, size int64) (io.Writer, error) {
		rep.event("receiving", fmt.Sprintf("receiving %s (%s)", name, mib(size)), map[string]any{"name": name, "size": size})
		if path == "-" {
			return stdout, nil
		}
		var err error
		tmp, err = os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
		return tmp, err
	}
	res, err := transfer.Receive(ctx, s, open, rep.progress)
	rep.progressDone()
	if err == nil {
		rep.transferred("received", res)
	}
	if tmp != nil {
		cerr := tmp.Close()
		if err == nil && cerr == nil {
			err = os.Rename(tmp.Name(), path)
		} else {
			os.Remove(tmp.Name())
		}
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	// The sender leaves once it has read our acknowledgement; leaving
	// first could cut it off before it does.
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-s.Done():
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
