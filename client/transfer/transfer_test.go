package transfer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/client/transfer"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/server"
)

func TestMain(m *testing.M) { testserver.VerifyTestMain(m) }

// pair returns the two open sessions of two Go peers in one room of a
// fresh server.
func pair(t *testing.T) (a, b *client.Session) {
	t.Helper()
	srv := testserver.Start(t, testserver.Config(), server.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	var sessions [2]*client.Session
	var peers [2]*client.Peer
	for i := range peers {
		c, err := client.Dial(ctx, srv.URL("WebRTCAppEE"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		p, err := client.NewPeer(ctx, c, "files", &client.PeerOptions{Loopback: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		peers[i] = p
	}
	for i, p := range peers {
		s, err := p.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sessions[i] = s
	}
	return sessions[0], sessions[1]
}

// TestTwentyMiB: a 20 MiB file goes from one Go peer to another through
// duet and arrives intact.
func TestTwentyMiB(t *testing.T) {
	a, b := pair(t)
	const size = 20 << 20
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(data)
	want := sha256.Sum256(data)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	sent := make(chan error, 1)
	go func() {
		_, err := transfer.Send(ctx, a, "blob.bin", size, bytes.NewReader(data), nil)
		sent <- err
	}()
	var got bytes.Buffer
	var lastProgress int64
	res, err := transfer.Receive(ctx, b, func(name string, n int64) (io.Writer, error) {
		if name != "blob.bin" || n != size {
			t.Errorf("header %q %d", name, n)
		}
		got.Grow(int(n))
		return &got, nil
	}, func(done, total int64) { lastProgress = done })
	if err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
	if res.SHA256 != hex.EncodeToString(want[:]) || !bytes.Equal(got.Bytes(), data) || lastProgress != size {
		t.Fatalf("received %d bytes sha256 %s (progress %d)", got.Len(), res.SHA256, lastProgress)
	}
	t.Logf("20 MiB in %v (%.1f MiB/s)", res.Duration, float64(size)/(1<<20)/res.Duration.Seconds())
}

// TestChecksumMismatch: a trailer that does not match the content fails
// the receiver with ErrChecksum and tells the sender so.
func TestChecksumMismatch(t *testing.T) {
	a, b := pair(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	go func() {
		a.SendText(ctx, `{"duet":"file","name":"x","size":3}`)
		a.Send(ctx, []byte("abc"))
		a.SendText(ctx, `{"duet":"end","size":3,"sha256":"00"}`)
	}()
	_, err := transfer.Receive(ctx, b, func(string, int64) (io.Writer, error) { return io.Discard, nil }, nil)
	if !errors.Is(err, transfer.ErrChecksum) {
		t.Fatalf("receive: %v, want ErrChecksum", err)
	}
	m, err := a.Recv(ctx)
	if err != nil || !bytes.Contains(m.Data, []byte(`"ok":false`)) {
		t.Fatalf("ack %s, %v", m.Data, err)
	}

	// And a sender told that the content differs reports it.
	go func() {
		for {
			m, err := b.Recv(ctx)
			if err != nil {
				return
			}
			if bytes.Contains(m.Data, []byte(`"end"`)) {
				b.SendText(ctx, `{"duet":"ack","ok":false,"size":1,"sha256":"00"}`)
				return
			}
		}
	}()
	if _, err := transfer.Send(ctx, a, "y", 1, bytes.NewReader([]byte("y")), nil); !errors.Is(err, transfer.ErrChecksum) {
		t.Fatalf("send: %v, want ErrChecksum", err)
	}
}
