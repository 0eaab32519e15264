package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/client/transfer"
)

// streamHello is duet peer's hello (client.PeerOptions.Hello). A partner
// that sends it marks the end of its input with an empty binary message
// and acknowledges ours with an empty text message, so that both sides know
// when everything has arrived.
const streamHello = `{"peer":"duet","stream":1}`

func speaksStream(hello json.RawMessage) bool {
	var h struct {
		Stream int `json:"stream"`
	}
	return json.Unmarshal(hello, &h) == nil && h.Stream >= 1
}

// bridge copies stdin to the data channel and the data channel to stdout.
// With a duet partner it returns once both sides have reached the end of
// their input and each has acknowledged the other's; with any other
// partner, once stdin has ended and what it read has been delivered. It
// also returns when the partner leaves: nil for a partner that is not a
// duet peer (hanging up is how such calls end) or when both streams were
// complete, an error otherwise. interactive (stdin is a terminal) makes the
// partner's end also end ours.
//
// The goroutine reading stdin may stay blocked in Read after bridge
// returns; duet peer exits then.
func bridge(ctx context.Context, s *client.Session, stdin io.Reader, interactive bool, stdout io.Writer) error {
	duet := speaksStream(s.Hello())
	done := make(chan struct{})
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		close(done)
		cancel()
		wg.Wait()
	}()

	chunks := make(chan []byte)
	readErr := make(chan error, 1)
	go readChunks(stdin, chunks, readErr, done)

	msgs := make(chan webrtc.DataChannelMessage)
	recvErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			m, err := s.Recv(rctx)
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-done:
				return
			}
		}
	}()

	var localEOF, remoteEOF, acked bool
	in := chunks
	endInput := func() error {
		in, localEOF = nil, true
		if duet {
			if err := s.Send(ctx, nil); err != nil { // the end mark
				return err
			}
		}
		// A partner that leaves meanwhile is dealt with below.
		s.Flush(ctx)
		return nil
	}
	for {
		if localEOF && (!duet || remoteEOF && acked) {
			if !duet {
				// No end mark to wait for: write what has already come.
			drain:
				for {
					select {
					case m := <-msgs:
						stdout.Write(m.Data)
					default:
						break drain
					}
				}
			}
			return flushBriefly(ctx, s)
		}
		select {
		case b, ok := <-in:
			if !ok {
				if err := <-readErr; err != nil {
					return fmt.Errorf("reading stdin: %w", err)
				}
				if err := endInput(); err != nil {
					return err
				}
				continue
			}
			var err error
			if utf8.Valid(b) {
				err = s.SendText(ctx, string(b))
			} else {
				err = s.Send(ctx, b)
			}
			if err != nil {
				return err
			}
		case m := <-msgs:
			switch {
			case duet && !m.IsString && len(m.Data) == 0: // the partner's end
				remoteEOF = true
				if err := s.SendText(ctx, ""); err != nil {
					return err
				}
				if interactive && !localEOF {
					if err := endInput(); err != nil {
						return err
					}
				}
			case duet && m.IsString && len(m.Data) == 0: // our end acknowledged
				acked = true
			default:
				if _, err := stdout.Write(m.Data); err != nil {
					return fmt.Errorf("writing stdout: %w", err)
				}
			}
		case err := <-recvErr:
			left := errors.Is(err, io.EOF) || errors.Is(err, client.ErrPeerLeft)
			switch {
			case left && !duet:
				return nil // the partner hung up: that is how such a call ends
			case left && localEOF && remoteEOF:
				return nil // both streams were complete; only an acknowledgement was missing
			case left:
				return fmt.Errorf("the peer left before the end of the stream: %w", err)
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// flushBriefly lets the last acknowledgement leave before duet peer leaves.
func flushBriefly(ctx context.Context, s *client.Session) error {
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s.Flush(fctx)
	return nil
}

// readChunks reads r into messages of at most transfer.ChunkSize bytes that
// never split a UTF-8 sequence, so text stays text. It closes out at the
// end of r, after putting the read error (nil at EOF) in errc.
func readChunks(r io.Reader, out chan<- []byte, errc chan<- error, done <-chan struct{}) {
	defer close(out)
	buf := make([]byte, transfer.ChunkSize)
	var carry []byte
	send := func(b []byte) bool {
		select {
		case out <- append([]byte(nil), b...):
			return true
		case <-done:
			return false
		}
	}
	for {
		n := copy(buf, carry)
		m, err := r.Read(buf[n:])
		head, tail := splitIncomplete(buf[:n+m])
		carry = append(carry[:0], tail...)
		if len(head) > 0 && !send(head) {
			errc <- nil
			return
		}
		if err != nil {
			if len(carry) > 0 && !send(carry) {
				errc <- nil
				return
			}
			if err == io.EOF {
				err = nil
			}
			errc <- err
			return
		}
	}
}

// splitIncomplete splits b before a UTF-8 sequence cut off at its end.
func splitIncomplete(b []byte) (head, tail []byte) {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i], b[i:]
			}
			break
		}
	}
	return b, nil
}
