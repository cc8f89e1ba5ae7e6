package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// MaxReplicas is the most copies JetStream keeps of a stream (nats-server's StreamMaxReplicas).
const MaxReplicas = 5

// ErrReplicasUnsupported is returned (wrapped) when more than one replica is asked of a NATS server that is not
// part of a cluster: it keeps one copy of each stream and refuses more.
var ErrReplicasUnsupported = errors.New("the NATS server is not clustered: replicas > 1 need a NATS cluster with at least that many servers")

// kvStreamPrefix names a KV bucket's stream: bucket b is stream KV_b (nats.go's convention).
const kvStreamPrefix = "KV_"

// jsReplicasNotSupported is nats-server's error code for replicas > 1 on a single server (JSStreamReplicasNotSupportedErr).
const jsReplicasNotSupported jetstream.ErrorCode = 10074

func checkReplicas(n int) error {
	if n < 0 || n > MaxReplicas {
		return fmt.Errorf("Replicas %d out of 1..%d", n, MaxReplicas)
	}
	return nil
}

// replicasFor is how many replicas stream gets when created or updated: want (0 is 1), or what it has when that is
// more. Every process opens the stream and buckets, a client on an operator's laptop too, so a process started
// without the fleet's replica count must not scale the fleet's stream down; lowering is left to `nats stream edit`.
// raised says the stream exists with fewer: once updated, it moves to a new group of servers (waitReplicated).
func (c *Conn) replicasFor(ctx context.Context, stream string, want int) (n int, raised bool) {
	want = max(want, 1)
	if s, err := c.js.Stream(ctx, stream); err == nil {
		have := max(s.CachedInfo().Config.Replicas, 1)
		if have > want {
			return have, false
		}
		return want, have < want
	}
	return want, false
}

// replicateWait bounds waitReplicated.
const replicateWait = 30 * time.Second

// waitReplicated waits until a stream whose replicas were just raised has a leader and n current replicas. Until
// then the servers move it to its new group, and a write sent meanwhile got no answer at all (a KV create waited
// out its whole timeout right after R1 became R3).
func (c *Conn) waitReplicated(ctx context.Context, stream string, n int) error {
	ctx, cancel := context.WithTimeout(ctx, replicateWait)
	defer cancel()
	why := "no answer"
	for {
		if s, err := c.js.Stream(ctx, stream); err == nil {
			why = replicated(s.CachedInfo(), n)
			if why == "" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d replicas not in place after %s: %s", n, replicateWait, why)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// replicated says what a stream still lacks to run on n servers; "" when nothing.
func replicated(info *jetstream.StreamInfo, n int) string {
	cl := info.Cluster
	switch {
	case cl == nil || cl.Leader == "":
		return "no leader"
	case len(cl.Replicas)+1 < n:
		return fmt.Sprintf("%d of %d servers", len(cl.Replicas)+1, n)
	}
	for _, p := range cl.Replicas {
		if !p.Current {
			return p.Name + " catching up"
		}
	}
	return ""
}

// replicasError says in one line why a stream could not get its replicas, keeping the server's error in the chain.
func replicasError(err error) error {
	var api *jetstream.APIError
	if errors.As(err, &api) && api.ErrorCode == jsReplicasNotSupported {
		return fmt.Errorf("%w (%w)", ErrReplicasUnsupported, err)
	}
	return err
}
