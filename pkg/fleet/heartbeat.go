package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/facefleet/facefleet/pkg/queue"
)

// DefaultInterval is PublisherConfig.Interval's default.
const DefaultInterval = 5 * time.Second

// deleteTimeout bounds the delete of a publisher's record on the way out: a server that is gone must not hold up
// shutdown, and the TTL removes the record anyway.
const deleteTimeout = 2 * time.Second

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Interval is the time between writes; 0 means DefaultInterval. The bucket's TTL should be a few intervals
	// (BucketConfig uses TTLIntervals).
	Interval time.Duration
}

func (c PublisherConfig) withDefaults() PublisherConfig {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	return c
}

// Validate reports a configuration NewPublisher cannot use.
func (c PublisherConfig) Validate() error {
	if c.Interval < 0 {
		return fmt.Errorf("fleet: publisher: negative Interval %s", c.Interval)
	}
	return nil
}

// Publisher writes one process's heartbeat record.
type Publisher struct {
	cfg      PublisherConfig
	state    *queue.State
	snapshot func() Heartbeat
	log      *zap.Logger
}

// NewPublisher returns a publisher that writes what snapshot returns to state. snapshot is called once per write,
// from Run's goroutine; the first record's Kind and ID choose the key for the publisher's life. log may be nil.
func NewPublisher(cfg PublisherConfig, state *queue.State, snapshot func() Heartbeat, log *zap.Logger) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if state == nil || snapshot == nil {
		return nil, fmt.Errorf("fleet: publisher: state and snapshot are required")
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Publisher{cfg: cfg.withDefaults(), state: state, snapshot: snapshot, log: log}, nil
}

// Start runs Run on its own goroutine; wait blocks until it has returned (after ctx ends and the record is deleted).
func (p *Publisher) Start(ctx context.Context) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.Run(ctx); err != nil {
			p.log.Error("heartbeat stopped", zap.Error(err))
		}
	}()
	return func() { <-done }
}

// Run writes the record now and then every Interval, each time from a fresh snapshot with Updated set to now (and
// Started, if the snapshot leaves it zero, to when Run began). A failed write is logged and the next tick tries
// again: the record lives on for the bucket's TTL meanwhile. When ctx ends Run deletes the record, so the process
// leaves the list at once rather than after the TTL, and returns nil. The error is for a snapshot whose Kind or ID
// cannot make a key.
func (p *Publisher) Run(ctx context.Context) error {
	started := time.Now()
	h := p.snapshot()
	kind, id := h.Kind, h.ID
	key, err := Key(kind, id)
	if err != nil {
		return fmt.Errorf("fleet: publisher: %w", err)
	}
	log := p.log.With(zap.String("key", key))
	put := func(h Heartbeat) {
		if h.Kind != kind || h.ID != id {
			log.Warn("heartbeat snapshot changed kind or id; keeping the first", zap.String("kind", h.Kind),
				zap.String("id", h.ID))
			h.Kind, h.ID = kind, id
		}
		if h.Started.IsZero() {
			h.Started = started
		}
		h.Updated = time.Now()
		b, err := json.Marshal(h)
		if err != nil {
			log.Error("heartbeat encode failed", zap.Error(err))
			return
		}
		if _, err := p.state.Put(ctx, key, b); err != nil && ctx.Err() == nil {
			log.Warn("heartbeat write failed", zap.Error(err))
		}
	}
	ticker := time.NewTicker(p.cfg.Interval)
	defer ticker.Stop()
	for {
		put(h)
		select {
		case <-ticker.C:
			h = p.snapshot()
		case <-ctx.Done():
			// ctx is over, so the delete gets a context of its own. Writes on one connection reach the server in
			// order, so no earlier put can land after it.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
			defer cancel()
			if err := p.state.Delete(dctx, key); err != nil {
				log.Warn("heartbeat delete failed; the bucket's TTL will remove the record", zap.Error(err))
			}
			return nil
		}
	}
}
