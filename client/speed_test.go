package client_test

import (
	"crypto/sha256"
	"testing"
	"time"
)

func TestSpeedProbe(t *testing.T) {
	srv := startServer(t)
	alice := newPeer(t, dial(t, srv.URL("WebRTCAppEE")), "speed", nil)
	bob := newPeer(t, dial(t, srv.URL("WebRTCAppEE")), "speed", nil)
	sa, sb := accept(t, alice), accept(t, bob)
	ctx := ctxFor(t)
	const total = 20 << 20
	chunk := make([]byte, 16<<10)
	start := time.Now()
	go func() {
		for sent := 0; sent < total; sent += len(chunk) {
			if err := sa.Send(ctx, chunk); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	h := sha256.New()
	n := 0
	for n < total {
		m, err := sb.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(m.Data)
		n += len(m.Data)
	}
	t.Logf("20 MiB in %v", time.Since(start))
}
