package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// pair is two connected sockets, a and b.
type pair struct {
	idx  int
	a, b *peer
}

// expect reads messages until one of kind want arrives, skipping those in
// skip. An error message or any other kind fails.
func expect(d dialect, c *conn, want kind, skip ...kind) ([]byte, error) {
	for {
		msg, err := c.read()
		if err != nil {
			return nil, err
		}
		k := d.classify(msg)
		if k == want {
			return msg, nil
		}
		ok := k == kOther
		for _, s := range skip {
			ok = ok || k == s
		}
		if !ok {
			return nil, fmt.Errorf("bench: waiting for %s, got %.200s", kindName(want), msg)
		}
	}
}

func kindName(k kind) string {
	return [...]string{"other", "joined", "start", "stop", "leaved", "configuration", "candidate", "OPEN", "paired", "error"}[k]
}

// dialer opens sockets for one worker, spreading pairs over the target URLs
// and binding its source address.
type dialer struct {
	d      dialect
	urls   []string
	cross  bool
	src    net.IP
	tls    *tls.Config // for wss:// URLs
	run    string
	worker int
}

func (dl *dialer) name(p, side int) string {
	return fmt.Sprintf("%s-w%d-p%d-%c", dl.run, dl.worker, p, "ab"[side])
}

// connectPair dials both sides of pair p and waits for the server's
// greeting on each. With cross set, b goes to the next URL after a's.
func (dl *dialer) connectPair(ctx context.Context, p int) (*pair, error) {
	pr := &pair{idx: p}
	for side := 0; side < 2; side++ {
		ui := p % len(dl.urls)
		if side == 1 && dl.cross {
			ui = (ui + 1) % len(dl.urls)
		}
		self, other := dl.name(p, side), dl.name(p, 1-side)
		u, err := dl.d.socketURL(dl.urls[ui], self, other)
		if err != nil {
			return nil, err
		}
		c, err := dialWS(ctx, u, dl.src, dl.tls)
		if err != nil {
			if pr.a != nil {
				pr.a.c.close()
			}
			return nil, err
		}
		pe := &peer{c: c, self: self, other: other}
		if side == 0 {
			pr.a = pe
		} else {
			pr.b = pe
		}
	}
	if g := dl.d.greeted(); g != kOther {
		for _, pe := range []*peer{pr.a, pr.b} {
			if err := withDeadline(ctx, pe.c, func() error { _, err := expect(dl.d, pe.c, g); return err }); err != nil {
				pr.close()
				return nil, err
			}
		}
	}
	return pr, nil
}

// join puts both sides into room: a first, so that a gets start.
func (pr *pair) join(ctx context.Context, d dialect, room string, buf []byte) ([]byte, error) {
	pr.a.room, pr.b.room = room, room
	if !d.rooms() {
		return buf, nil
	}
	err := withDeadline(ctx, pr.a.c, func() error {
		buf = d.appendJoin(buf[:0], room)
		if err := pr.a.c.send(buf); err != nil {
			return err
		}
		if _, err := expect(d, pr.a.c, kJoined); err != nil {
			return err
		}
		if err := pr.b.c.send(buf); err != nil {
			return err
		}
		if _, err := expect(d, pr.b.c, kJoined); err != nil {
			return err
		}
		_, err := expect(d, pr.a.c, kStart)
		return err
	}, pr.b.c)
	return buf, err
}

func (pr *pair) close() {
	if pr.a != nil {
		pr.a.c.close()
	}
	if pr.b != nil {
		pr.b.c.close()
	}
}

// withDeadline runs f with the context's deadline (or 30 s) set on conns.
func withDeadline(ctx context.Context, c *conn, f func() error, more ...*conn) error {
	dl, ok := ctx.Deadline()
	if !ok || time.Until(dl) > 30*time.Second {
		dl = time.Now().Add(30 * time.Second)
	}
	all := append([]*conn{c}, more...)
	for _, x := range all {
		_ = x.nc.SetReadDeadline(dl)
	}
	err := f()
	for _, x := range all {
		_ = x.nc.SetReadDeadline(time.Time{})
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// connectAll opens and pairs n pairs (indices from first) with at most
// parallel dials in flight, counting progress in connected (sockets). It
// returns the pairs that made it and the first error of those that did not.
func (dl *dialer) connectAll(ctx context.Context, first, n, parallel int, join bool, connected *atomic.Int64, errs *errCount) []*pair {
	pairs := make([]*pair, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < parallel && w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				pr, err := dl.connectPair(ctx, first+i)
				if err == nil && join {
					buf, err = pr.join(ctx, dl.d, fmt.Sprintf("%s-w%d-r%d", dl.run, dl.worker, first+i), buf)
					if err != nil {
						pr.close()
					}
				}
				if err != nil {
					errs.add(err)
					continue
				}
				pr.a.c.shrink()
				pr.b.c.shrink()
				pairs[i] = pr
				connected.Add(2)
			}
		}()
	}
	wg.Wait()
	out := pairs[:0]
	for _, p := range pairs {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// errCount counts errors and keeps the first.
type errCount struct {
	mu    sync.Mutex
	n     int64
	first string
}

func (e *errCount) add(err error) {
	if err == nil {
		return
	}
	e.mu.Lock()
	e.n++
	if e.first == "" {
		e.first = err.Error()
	}
	e.mu.Unlock()
}

func (e *errCount) get() (int64, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n, e.first
}

// isClosing reports errors that only mean the run ended.
func isClosing(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, errClosed)
}
