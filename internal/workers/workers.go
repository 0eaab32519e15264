// Package workers holds what duet's background senders (webhooks, push
// notifications) share about stopping.
package workers

import (
	"context"
	"sync"
)

// Wait waits for the workers of wg to return, until ctx ends; then it
// cancels their context, so that requests in flight give up, and waits for
// them. Either way the workers' context is cancelled on return.
func Wait(ctx context.Context, wg *sync.WaitGroup, cancel context.CancelFunc) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		cancel()
		<-done
	}
	cancel()
}
