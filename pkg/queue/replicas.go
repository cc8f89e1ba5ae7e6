package queue

import (
	"context"
	"errors"
	"fmt"

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
func (c *Conn) replicasFor(ctx context.Context, stream string, want int) int {
	want = max(want, 1)
	if s, err := c.js.Stream(ctx, stream); err == nil {
		if have := s.CachedInfo().Config.Replicas; have > want {
			return have
		}
	}
	return want
}

// replicasError says in one line why a stream could not get its replicas, keeping the server's error in the chain.
func replicasError(err error) error {
	var api *jetstream.APIError
	if errors.As(err, &api) && api.ErrorCode == jsReplicasNotSupported {
		return fmt.Errorf("%w (%w)", ErrReplicasUnsupported, err)
	}
	return err
}
