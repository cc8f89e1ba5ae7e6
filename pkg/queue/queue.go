// Package queue owns NATS: the embedded server, JetStream work-queue streams with pull consumers, and KV buckets for
// state. It moves bytes and knows nothing about frames or faces.
//
// Tasks is an at-least-once work queue: a fetched Lease must be acked, and one that is not (a crash, a missed
// AckWait) is delivered again, up to MaxDeliver times. An ack sent after its AckWait can ack another worker's
// redelivery of the same message, so callers fence results with a State compare-and-set before acking.
//
// State is a key-value bucket with compare-and-set (Create, Update with a revision, Modify) and Watch.
package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/facefleet/facefleet/pkg/fault"
)

// ErrUnavailable is returned (wrapped) when the server cannot be reached or does not answer in time: a worker's
// own trouble, not a task's (fault.ErrQueue), retried and never counted as a segment's failure.
var ErrUnavailable = fault.New("server unavailable", fault.ErrQueue)

// unavailable wraps err with ErrUnavailable when it says the server is gone or silent. A deadline of the caller's
// own context is the caller's business, not an outage.
func unavailable(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	for _, e := range []error{nats.ErrTimeout, context.DeadlineExceeded, nats.ErrNoResponders, nats.ErrConnectionClosed,
		nats.ErrDisconnected, nats.ErrConnectionReconnecting, nats.ErrNoServers, jetstream.ErrNoHeartbeat,
		jetstream.ErrServerShutdown, jetstream.ErrJetStreamNotEnabled} {
		if errors.Is(err, e) {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	return err
}

// Storage names accepted in TasksConfig.Storage and StateConfig.Storage.
const (
	StorageFile   = "file"
	StorageMemory = "memory"
)

func parseStorage(s string) (jetstream.StorageType, error) {
	switch s {
	case "", StorageFile:
		return jetstream.FileStorage, nil
	case StorageMemory:
		return jetstream.MemoryStorage, nil
	}
	return 0, fmt.Errorf("storage %q is not %q or %q", s, StorageFile, StorageMemory)
}

// defaultRequestTimeout bounds requests made with a context that has no deadline and that the jetstream package
// would otherwise wait on forever (consumer creation for watchers and key listers).
const defaultRequestTimeout = 10 * time.Second

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, defaultRequestTimeout)
}

// validName reports whether s can name a stream, consumer or bucket: no whitespace, dots, wildcards or path
// separators (JetStream uses names inside subjects and file names).
func validName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}
