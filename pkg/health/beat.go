package health

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultStall is how long a main loop may go without a turn before /healthz says it is stuck. The loops turn every
// few seconds (a worker's fetch wait, a coordinator's scan); a request to an unreachable NATS gives up within 10 s.
// A failed liveness probe restarts the process and loses its work in flight, so the bound is generous.
const DefaultStall = 2 * time.Minute

// Beat is a main loop's pulse: the loop calls Tick on every turn. Before the first turn the process is starting
// (models loading): alive, not ready. Safe for concurrent use.
type Beat struct {
	stall time.Duration
	now   func() time.Time
	last  atomic.Int64 // UnixNano of the last tick; 0 before the first
}

// NewBeat returns a Beat that counts as stuck after stall without a tick (DefaultStall when 0); now is the clock
// (time.Now when nil).
func NewBeat(stall time.Duration, now func() time.Time) *Beat {
	if stall <= 0 {
		stall = DefaultStall
	}
	if now == nil {
		now = time.Now
	}
	return &Beat{stall: stall, now: now}
}

// Tick records a turn of the loop.
func (b *Beat) Tick() { b.last.Store(b.now().UnixNano()) }

// Alive is the liveness check: nil while starting or when the loop turned within the bound.
func (b *Beat) Alive() error {
	last := b.last.Load()
	if last == 0 {
		return nil
	}
	if d := b.now().Sub(time.Unix(0, last)); d > b.stall {
		return fmt.Errorf("main loop stuck: no turn for %s (bound %s)", d.Round(time.Second), b.stall)
	}
	return nil
}

// Serving is a readiness check: nil once the loop has turned.
func (b *Beat) Serving() error {
	if b.last.Load() == 0 {
		return errStarting
	}
	return nil
}

// DefaultRecheck is how often a Poll asks a remote service (the blob store) whether it answers, and how long one
// ask may take: probes read the last answer, so a probe every second costs the store nothing more.
const DefaultRecheck = 5 * time.Second

// errNotChecked is a Poll's answer before its first check ends.
var errNotChecked = errors.New("not checked yet")

// Poll asks check every interval in the background and keeps the last answer, for readiness probes that must not
// reach a remote service each time they are asked.
type Poll struct {
	mu   sync.Mutex
	err  error
	stop context.CancelFunc
	done chan struct{}
}

// StartPoll asks check at once, then every interval (DefaultRecheck when 0), each ask bounded by interval, until
// Stop.
func StartPoll(interval time.Duration, check func(context.Context) error) *Poll {
	if interval <= 0 {
		interval = DefaultRecheck
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Poll{err: errNotChecked, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			cctx, ccancel := context.WithTimeout(ctx, interval)
			err := check(cctx)
			ccancel()
			if ctx.Err() != nil {
				return
			}
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// Err is the last answer: nil when the service answered.
func (p *Poll) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Stop ends the polling and waits for an ask in flight.
func (p *Poll) Stop() {
	p.stop()
	<-p.done
}
