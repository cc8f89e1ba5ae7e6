// Package backoff spaces out retries after failures, as tailscale's util/backoff does: the delay doubles with each
// failure from Base up to Max and is jittered, so workers that failed together do not retry together, and it waits
// on a Clock the caller passes in, so tests decide what time it is.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Clock is the time a Backoff reads and waits on.
type Clock interface {
	Now() time.Time
	// After is time.After on this clock.
	After(d time.Duration) <-chan time.Time
}

// System is the real clock.
type System struct{}

// Now implements Clock.
func (System) Now() time.Time { return time.Now() }

// After implements Clock.
func (System) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Backoff counts consecutive failures and says how long to wait after the last one. Not safe for concurrent use.
type Backoff struct {
	Base, Max time.Duration
	// Jitter returns a number in [0, 1); rand.Float64 when nil.
	Jitter func() float64
	n      int
}

// Next counts a failure and returns the delay before the next try: Base * 2^(failures-1), capped at Max, then
// jittered down by up to half (d/2 <= delay < d), so the cap is never exceeded.
func (b *Backoff) Next() time.Duration {
	b.n++
	d := b.Max
	if shift := b.n - 1; shift < 32 && b.Base<<shift > 0 && b.Base<<shift < b.Max {
		d = b.Base << shift
	}
	j := b.Jitter
	if j == nil {
		j = rand.Float64
	}
	return d/2 + time.Duration(j()*float64(d/2))
}

// Reset forgets the failures: the next delay is Base again.
func (b *Backoff) Reset() { b.n = 0 }

// Failures is how many failures have been counted since the last Reset.
func (b *Backoff) Failures() int { return b.n }

// Sleep waits d on clock, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, clock Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-clock.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
