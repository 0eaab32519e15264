package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/duet-rtc/duet/admin"
	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/internal/testkit/hookrecv"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/ops"
	"github.com/duet-rtc/duet/server"
)

const adminKey = "admin-key-for-the-cli-tests-0123456789"

func roomsCLI(t *testing.T, url string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	env := map[string]string{"DUET_ADMIN_KEY": adminKey}
	code := run(t.Context(), append(append([]string{"rooms"}, args...), "--url", url), &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

// TestRoomsCommand drives duet rooms against a real server: it lists,
// shows, kicks and ends what real sockets did, and its exit codes say
// what went wrong.
func TestRoomsCommand(t *testing.T) {
	cfg := testserver.Config()
	cfg.AdminKey = adminKey
	opts := server.Options{}
	x, err := ops.Setup(ops.Options{Config: cfg, NodeID: "cli-node"}, &opts)
	if err != nil {
		t.Fatal(err)
	}
	s := testserver.Start(t, cfg, opts)
	x.Attach(s.Server)
	a, b := wstest.Dial(t, s.URL("WebRTCAppEE")), wstest.Dial(t, s.URL("WebRTCAppEE"))
	wstest.Pair(a, b, "standup")

	code, out, errs := roomsCLI(t, s.HTTP(), "ls")
	if code != 0 || !strings.Contains(out, "WebRTCAppEE") || !strings.Contains(out, "standup") || !strings.Contains(out, "call") {
		t.Fatalf("ls: %d %q %q", code, out, errs)
	}
	code, out, _ = roomsCLI(t, s.HTTP(), "show", "WebRTCAppEE/standup", "--json")
	var room admin.RoomResponse
	if err := json.Unmarshal([]byte(out), &room); code != 0 || err != nil || len(room.Members) != 2 || room.Members[0].Node != "cli-node" {
		t.Fatalf("show --json: %d %v %q", code, err, out)
	}
	code, out, _ = roomsCLI(t, s.HTTP(), "show", "WebRTCAppEE/standup")
	if code != 0 || !strings.Contains(out, room.Members[1].ID) || !strings.Contains(out, "127.0.0.1:") {
		t.Fatalf("show: %d %q", code, out)
	}
	if code, out, _ = roomsCLI(t, s.HTTP(), "kick", "WebRTCAppEE/standup", room.Members[1].ID); code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("kick: %d %q", code, out)
	}
	b.Expect("stop", "")
	a.Expect("stop", "")
	wstest.Join(b, "standup")
	b.Expect("notification", "leaved") // the kick's leaved came first
	b.Expect("notification", "joined")
	a.Expect("start", "")
	if code, out, _ = roomsCLI(t, s.HTTP(), "end", "WebRTCAppEE/standup"); code != 0 || !strings.Contains(out, "2 members removed") {
		t.Fatalf("end: %d %q", code, out)
	}
	if code, out, _ = roomsCLI(t, s.HTTP(), "stats"); code != 0 || !strings.Contains(out, "cli-node") || !strings.Contains(out, "connections 2") {
		t.Fatalf("stats: %d %q", code, out)
	}
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"show", "WebRTCAppEE/standup"}, roomsNotFound},
		{[]string{"kick", "WebRTCAppEE/standup", "1"}, roomsNotFound},
		{[]string{"show", "standup"}, roomsUsage},
		{[]string{"kick", "WebRTCAppEE/standup"}, roomsUsage},
		{[]string{"frobnicate"}, roomsUsage},
		{[]string{"ls", "--admin-key", strings.Repeat("x", 40)}, roomsUnauthorized},
	} {
		if code, _, errs := roomsCLI(t, s.HTTP(), c.args...); code != c.code {
			t.Errorf("rooms %v: exit %d, want %d (%s)", c.args, code, c.code, errs)
		}
	}
	if code, _, _ := roomsCLI(t, "http://127.0.0.1:1", "ls"); code != roomsFailed {
		t.Errorf("unreachable server: exit %d, want %d", code, roomsFailed)
	}
}

// hookKinds is the "event:reason" of every webhook payload, in the order
// the events happened: the sender's workers deliver concurrently, so the
// order of arrival is not theirs.
func hookKinds(h *hookrecv.Receiver) string {
	ps := h.Payloads()
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Time.Before(ps[j].Time) })
	var k []string
	for _, e := range ps {
		k = append(k, e.Event+":"+e.Reason)
	}
	return strings.Join(k, " ")
}

func writeJWKS(t *testing.T, path, kid string, k *ecdsa.PrivateKey) {
	t.Helper()
	b, _ := k.PublicKey.Bytes()
	enc := base64.RawURLEncoding.EncodeToString
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "EC", "kid": kid, "crv": "P-256", "x": enc(b[1:33]), "y": enc(b[33:])}}})
	tmp := path + ".tmp"
	os.WriteFile(tmp, doc, 0o600)
	os.Rename(tmp, path)
}

// TestBinaryOperations runs the real binary with tokens from a JWKS file,
// the admin API and a webhook: a member joins (webhook), the operator ends
// its room with duet rooms (stop, webhook), the key is rotated and SIGHUP
// makes the new one work without a restart; SIGTERM still exits cleanly
// after the webhooks are out.
func TestBinaryOperations(t *testing.T) {
	hooks := hookrecv.New("webhook-secret-0123")
	hookURL := hooks.Serve(t)
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, jwks, "k1", k1)
	n := startDuet(t, buildDuet(t), "--token-key-file", jwks, "--admin-key", adminKey, "--node-id", "bin-1",
		"--webhook-urls", hookURL+"/hook", "--webhook-secret", "webhook-secret-0123")
	httpURL := "http://" + n.addr
	join := func(kid string, key *ecdsa.PrivateKey) *wstest.Client {
		tok, err := auth.Mint("ES256", kid, key, "WebRTCAppEE", "r1", "", time.Now(), time.Hour, 0)
		if err != nil {
			t.Fatal(err)
		}
		c := wstest.Dial(t, n.url())
		c.Send(wstest.Msg{"command": "join", "streamId": "r1", "token": tok})
		return c
	}
	a := join("k1", k1)
	a.Expect("notification", "joined")
	if code, out, errs := roomsCLI(t, httpURL, "ls"); code != 0 || !strings.Contains(out, "r1") {
		t.Fatalf("rooms ls: %d %q %q", code, out, errs)
	}
	if code, _, errs := roomsCLI(t, httpURL, "end", "WebRTCAppEE/r1"); code != 0 {
		t.Fatalf("rooms end: %d %q", code, errs)
	}
	if m := a.Expect("stop", ""); m.Str("reason") != "kicked" {
		t.Fatalf("stop %v", m)
	}

	// A token naming k2 before it is published is refused, and the file
	// read it caused holds off the next kid-miss read for 10 s: within
	// that time only SIGHUP can bring k2 in.
	early := join("k2", k2)
	early.Expect("error", "authenticationTokenNotValid")
	writeJWKS(t, jwks, "k2", k2) // k1 retired, k2 published
	n.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := join("k2", k2)
		m, err := c.TryRead(5 * time.Second)
		c.WS.Close()
		if err == nil && m.Str("definition") == "joined" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("k2 still refused after SIGHUP: %v %v", m, err)
		}
		time.Sleep(50 * time.Millisecond) // the process handles the signal on its own time
	}
	old := join("k1", k1)
	old.Expect("error", "authenticationTokenNotValid")

	n.stop(t)
	want := "peer_joined: peer_left:kicked"
	if got := hookKinds(hooks); !strings.HasPrefix(got, want) || hooks.Bad() != 0 {
		t.Fatalf("webhooks %q (bad %d), want them to start with %q", got, hooks.Bad(), want)
	}
}
