package workers

import (
	"context"
	"sync"
	"testing"
)

func TestWaitGivesUpWithItsContext(t *testing.T) {
	wctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a worker that ends only when cancelled
		defer wg.Done()
		<-wctx.Done()
	}()
	ctx, stop := context.WithCancel(context.Background())
	stop()
	Wait(ctx, &wg, cancel)
	if wctx.Err() == nil {
		t.Fatal("the workers' context was not cancelled")
	}
}

func TestWaitLetsWorkersFinish(t *testing.T) {
	wctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	finished := false
	wg.Add(1)
	go func() {
		defer wg.Done()
		finished = wctx.Err() == nil // done before any cancel
	}()
	Wait(context.Background(), &wg, cancel)
	if !finished || wctx.Err() == nil {
		t.Fatalf("finished before the cancel: %v; cancelled after: %v", finished, wctx.Err() != nil)
	}
}
