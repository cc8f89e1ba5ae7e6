package backoff_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/backoff"
)

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		name   string
		jitter float64
		want   []time.Duration
	}{
		// Without jitter the delay doubles and stops at the cap.
		{"top of the range", 0.999999999, []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}},
		{"bottom of the range", 0, []time.Duration{50, 100, 200, 400, 500, 500, 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := backoff.Backoff{Base: 100 * time.Millisecond, Max: time.Second, Jitter: func() float64 { return tc.jitter }}
			for i, w := range tc.want {
				w *= time.Millisecond
				got := b.Next()
				if got < w-time.Millisecond || got > w {
					t.Fatalf("failure %d: delay %v, want %v", i+1, got, w)
				}
			}
			if b.Failures() != len(tc.want) {
				t.Fatalf("%d failures counted", b.Failures())
			}
			b.Reset()
			if d := b.Next(); d > 100*time.Millisecond {
				t.Fatalf("after Reset: %v", d)
			}
		})
	}
}

// Many failures never overflow past the cap, and real jitter stays in [Max/2, Max).
func TestNextNeverExceedsMax(t *testing.T) {
	b := backoff.Backoff{Base: time.Second, Max: time.Minute}
	for i := 0; i < 200; i++ {
		if d := b.Next(); d < 0 || d >= time.Minute || (i > 10 && d < 30*time.Second) {
			t.Fatalf("failure %d: %v", i+1, d)
		}
	}
}

// fakeClock fires After at once when told to; Sleep must return on either the clock or the context.
type fakeClock struct{ fire chan time.Time }

func (f fakeClock) Now() time.Time                       { return time.Unix(0, 0) }
func (f fakeClock) After(time.Duration) <-chan time.Time { return f.fire }

func TestSleep(t *testing.T) {
	c := fakeClock{fire: make(chan time.Time, 1)}
	c.fire <- time.Unix(1, 0)
	if err := backoff.Sleep(context.Background(), c, time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := backoff.Sleep(ctx, c, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled sleep: %v", err)
	}
}
