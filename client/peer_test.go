package client_test

import (
	"testing"

	"github.com/duet-rtc/duet/client"
)

// TestPeersExchangeMessages: two Go peers meet in a room through a real
// duet server and talk over the data channel both ways.
func TestPeersExchangeMessages(t *testing.T) {
	srv := startServer(t)
	alice := newPeer(t, dial(t, srv.URL("WebRTCAppEE")), "chat", &client.PeerOptions{Hello: []byte(`{"name":"alice"}`)})
	bob := newPeer(t, dial(t, srv.URL("WebRTCAppEE")), "chat", &client.PeerOptions{Hello: []byte(`{"name":"bob"}`)})
	sa, sb := accept(t, alice), accept(t, bob)
	if !sa.Offerer() || sb.Offerer() {
		t.Fatalf("alice (first in) should offer: alice %v bob %v", sa.Offerer(), sb.Offerer())
	}
	// Each knows the other's hello once the session is open.
	if string(sa.Hello()) != `{"name":"bob"}` || string(sb.Hello()) != `{"name":"alice"}` {
		t.Fatalf("hellos: alice has %s, bob has %s", sa.Hello(), sb.Hello())
	}
	ctx := ctxFor(t)
	for i := range 3 {
		if err := sa.SendText(ctx, "hello bob"); err != nil {
			t.Fatal(err)
		}
		if err := sb.Send(ctx, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if got := recvText(t, sb); got != "hello bob" {
			t.Fatalf("bob got %q", got)
		}
		if m, err := sa.Recv(ctx); err != nil || m.IsString || len(m.Data) != 1 || m.Data[0] != byte(i) {
			t.Fatalf("alice got %+v, %v", m, err)
		}
	}
}
