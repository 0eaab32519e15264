package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duet-rtc/duet/cluster/kv"
)

// openBucket opens the membership bucket, creating it when it does not
// exist. Several nodes may race to create it (three nodes started
// together): the losers open the winner's. created reports whether this
// call made it.
func openBucket(ctx context.Context, nc *nats.Conn, opt Options) (store kv.Store, created bool, err error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, false, err
	}
	b, err := js.KeyValue(ctx, opt.Bucket)
	if err == nil {
		return kv.JetStream{KV: b}, false, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, false, err
	}
	storage := jetstream.FileStorage
	if opt.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	b, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      opt.Bucket,
		Description: "duet room membership: member ids per room",
		History:     1,
		Storage:     storage,
		Replicas:    opt.Replicas,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		b, err = js.KeyValue(ctx, opt.Bucket)
	} else if err == nil {
		created = true
	}
	if err != nil {
		return nil, false, err
	}
	return kv.JetStream{KV: b}, created, nil
}

// waitBucket opens (or creates) the bucket at start-up, retrying until it
// works or StartTimeout passes: a NATS server, or a NATS cluster that has
// just started, answers JetStream requests only once it has elected its
// leaders, which takes seconds.
func (c *Cluster) waitBucket(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.opt.StartTimeout)
	defer cancel()
	began := time.Now()
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		var err error
		if !c.ctl.Connected() {
			err = ErrNotConnected
		} else if err = c.ctl.Flush(ctx); err == nil {
			actx, acancel := c.opCtx(ctx)
			var created bool
			var store kv.Store
			store, created, err = c.openStore(actx)
			acancel()
			if err == nil {
				c.kv.Store(&kvBox{store})
				if created {
					c.log.Info("membership bucket created", "bucket", c.opt.Bucket, "replicas", c.opt.Replicas)
				}
				if attempt > 1 {
					c.log.Info("JetStream ready", "after", time.Since(began).Round(time.Millisecond))
				}
				return nil
			}
		}
		if isAPIError(err, jsReplicasNotSupported) {
			// A configuration NATS will never accept: say so now
			// rather than after StartTimeout.
			return fmt.Errorf("%w: %d replicas of the membership bucket need a NATS cluster of %d JetStream servers (%w)",
				ErrReplicasUnsupported, c.opt.Replicas, c.opt.Replicas, err)
		}
		hint := startHint(err)
		if ctx.Err() != nil {
			return fmt.Errorf("cluster: membership bucket %q not ready after %v: %w (%s)",
				c.opt.Bucket, time.Since(began).Round(100*time.Millisecond), err, hint)
		}
		c.log.Warn("waiting for NATS JetStream", "attempt", attempt, "err", err, "hint", hint)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// startHint says what an error at start-up most likely means.
func startHint(err error) string {
	switch {
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return "JetStream is not enabled on the NATS server or for this account"
	case errors.Is(err, ErrNotConnected), errors.Is(err, nats.ErrNoServers), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected):
		return "no NATS server reachable at nats_url"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders):
		return "JetStream does not answer yet: a NATS cluster that has just started elects its leaders first, " +
			"and a replicated bucket needs a majority of its servers"
	case isAPIError(err, jsInsufficientResources):
		return "the NATS cluster cannot place the bucket: check nats_kv_replicas against the number of JetStream servers"
	}
	return "see the NATS server's log"
}

// jsReplicasNotSupported is JetStream's error code for a replicated stream
// asked of a server that is not part of a cluster.
const jsReplicasNotSupported jetstream.ErrorCode = 10074

// jsInsufficientResources is JetStream's error code for a stream it cannot
// place (more replicas than servers, or no space).
const jsInsufficientResources jetstream.ErrorCode = 10023

func isAPIError(err error, code jetstream.ErrorCode) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && api.ErrorCode == code
}
