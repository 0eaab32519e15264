// Package transfer sends one file over a duet Session's data channel and
// verifies it with SHA-256. It is what `duet peer --send-file/--recv-file`
// speak; any two programs using it interoperate.
//
// On the channel: the sender sends a text header
// {"duet":"file","name":NAME,"size":BYTES}, the content as binary messages
// of at most 16 KiB, and a text trailer {"duet":"end","sha256":HEX}. The
// receiver answers {"duet":"ack","ok":BOOL,"size":BYTES,"sha256":HEX} with
// what it got. The sender respects the channel's buffered amount
// (Session.Send), so a file of any size uses bounded memory.
package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/duet-rtc/duet/client"
)

// ChunkSize is the largest content message: browsers accept 16 KiB messages
// from any WebRTC stack.
const ChunkSize = 16 << 10

var (
	// ErrChecksum: what arrived differs from what was sent (size or
	// SHA-256).
	ErrChecksum = errors.New("transfer: checksum mismatch")
	// ErrProtocol: the partner sent something this protocol does not
	// expect at that point.
	ErrProtocol = errors.New("transfer: unexpected message")
)

// Result describes a finished transfer.
type Result struct {
	Name     string        // the name in the header
	Size     int64         // bytes transferred
	SHA256   string        // hex digest of the content
	Duration time.Duration // from the header to the acknowledgement
}

// Progress is called as bytes go out or come in: done of total bytes.
type Progress func(done, total int64)

type control struct {
	Duet   string `json:"duet"`
	Name   string `json:"name,omitempty"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
	OK     *bool  `json:"ok,omitempty"`
}

func sendControl(ctx context.Context, s *client.Session, c control) error {
	b, _ := json.Marshal(c)
	return s.SendText(ctx, string(b))
}

// Send sends size bytes from r as name, then waits for the receiver's
// acknowledgement. It returns ErrChecksum when the receiver got something
// else.
func Send(ctx context.Context, s *client.Session, name string, size int64, r io.Reader, progress Progress) (Result, error) {
	start := time.Now()
	if err := sendControl(ctx, s, control{Duet: "file", Name: name, Size: size}); err != nil {
		return Result{}, err
	}
	h := sha256.New()
	buf := make([]byte, ChunkSize)
	var sent int64
	for sent < size {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), size-sent)])
		if n > 0 {
			h.Write(buf[:n])
			if err := s.Send(ctx, buf[:n]); err != nil {
				return Result{}, err
			}
			sent += int64(n)
			if progress != nil {
				progress(sent, size)
			}
		}
		if err != nil {
			return Result{}, fmt.Errorf("transfer: read %s after %d of %d bytes: %w", name, sent, size, err)
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := sendControl(ctx, s, control{Duet: "end", Size: size, SHA256: sum}); err != nil {
		return Result{}, err
	}
	res := Result{Name: name, Size: size, SHA256: sum}
	for {
		m, err := s.Recv(ctx)
		if err != nil {
			return res, fmt.Errorf("transfer: waiting for the acknowledgement: %w", err)
		}
		var c control
		if !m.IsString || json.Unmarshal(m.Data, &c) != nil || c.Duet != "ack" {
			continue // not for us (e.g. a chat message)
		}
		res.Duration = time.Since(start)
		if c.OK == nil || !*c.OK || c.Size != size || c.SHA256 != sum {
			return res, fmt.Errorf("%w: sent %d bytes sha256 %s, the receiver got %d bytes sha256 %s",
				ErrChecksum, size, sum, c.Size, c.SHA256)
		}
		return res, nil
	}
}

// Receive waits for a header, writes the content to the writer open
// returns for the header's name and size, verifies it against the trailer
// and acknowledges it. It returns ErrChecksum when the content does not
// match (the acknowledgement tells the sender so too).
func Receive(ctx context.Context, s *client.Session, open func(name string, size int64) (io.Writer, error), progress Progress) (Result, error) {
	var (
		res       Result
		announced int64
		w         io.Writer
		h         hash.Hash
		start     time.Time
	)
	for {
		m, err := s.Recv(ctx)
		if err != nil {
			if w != nil {
				return res, fmt.Errorf("transfer: %s after %d of %d bytes: %w", res.Name, res.Size, announced, err)
			}
			return res, err
		}
		if !m.IsString {
			if w == nil {
				return res, fmt.Errorf("%w: data before the header", ErrProtocol)
			}
			h.Write(m.Data)
			if _, err := w.Write(m.Data); err != nil {
				return res, err
			}
			res.Size += int64(len(m.Data))
			if progress != nil {
				progress(res.Size, max(res.Size, announced))
			}
			continue
		}
		var c control
		if json.Unmarshal(m.Data, &c) != nil || c.Duet == "" {
			continue // text that is not ours
		}
		switch {
		case c.Duet == "file" && w == nil:
			if w, err = open(c.Name, c.Size); err != nil {
				return res, err
			}
			res.Name, announced, h, start = c.Name, c.Size, sha256.New(), time.Now()
		case c.Duet == "end" && w != nil:
			res.SHA256 = hex.EncodeToString(h.Sum(nil))
			res.Duration = time.Since(start)
			ok := res.SHA256 == c.SHA256 && res.Size == c.Size
			if err := sendControl(ctx, s, control{Duet: "ack", OK: &ok, Size: res.Size, SHA256: res.SHA256}); err != nil {
				return res, err
			}
			// Let the acknowledgement leave. The sender may leave as soon
			// as it has it, which ends the session: that is no error.
			s.Flush(ctx)
			if !ok {
				return res, fmt.Errorf("%w: got %d bytes sha256 %s, the sender sent %d bytes sha256 %s",
					ErrChecksum, res.Size, res.SHA256, c.Size, c.SHA256)
			}
			return res, nil
		default:
			return res, fmt.Errorf("%w: %q", ErrProtocol, c.Duet)
		}
	}
}
