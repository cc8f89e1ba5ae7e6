package worker

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/job"
)

// TestDrain runs a one-slot worker on the real queue and store with two tasks queued, and drains it while it is
// in the middle of the first: the first segment finishes and commits, the second (never fetched, or held ahead
// and handed back) stays queued for another worker, Drained closes, and Run keeps running, idle, until its context ends. Meanwhile the
// fetch loop keeps ticking, also while its only slot is busy (it used to block there for the whole segment, which
// a liveness probe would take for a stuck process).
func TestDrain(t *testing.T) {
	tests := []struct {
		name  string
		grace time.Duration
		// finish: the segment, blocked on its first frame, is let go after the drain; else its frames are slow and it
		// outlives the grace, and is handed back.
		finish bool
	}{
		{name: "in-flight segment finishes", grace: time.Minute, finish: true},
		{name: "in-flight segment past grace is handed back", grace: 300 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 30*time.Second)
			first := e.publish(t, "job-first")
			release, entered := make(chan struct{}), make(chan struct{}, 1)
			eng := &fakeEngine{calls: &atomic.Int32{}, hook: func(_ int32, frame int) error {
				if frame == 0 {
					select {
					case entered <- struct{}{}:
					default:
					}
				}
				if tc.finish && frame == 0 {
					<-release
				}
				if !tc.finish {
					time.Sleep(200 * time.Millisecond) // 5 s a segment: far past the grace
				}
				return nil
			}}
			var ticks atomic.Int64
			cfg := Config{ID: "w-drain", WorkDir: filepath.Join(e.dir, "work"), Slots: 1,
				FetchWait: 100 * time.Millisecond, KeepAlive: 200 * time.Millisecond, MaxDeliver: maxDeliver,
				MaxAttempts: maxAttempts, Grace: tc.grace}
			w, err := New(cfg, Deps{Tasks: e.tasks, State: e.state, Blob: e.blob, Tick: func() { ticks.Add(1) },
				NewEngine: func() (Engine, error) { return eng, nil }})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			runDone := make(chan error, 1)
			go func() { runDone <- w.Run(ctx) }()
			defer func() {
				select {
				case <-release:
				default:
					close(release)
				}
			}()

			waitFor(t, "the first segment to start", func() bool { return len(entered) == 1 })
			second := e.publish(t, "job-second") // queued while the only slot is busy
			n := ticks.Load()
			waitFor(t, "the loop to tick while its slot is busy", func() bool { return ticks.Load() >= n+3 })
			if w.Draining() {
				t.Fatal("draining before Drain")
			}

			w.Drain()
			w.Drain() // a second call does nothing
			if !w.Draining() {
				t.Fatal("not draining after Drain")
			}
			if tc.finish {
				close(release)
			}
			select {
			case <-w.Drained():
			case <-time.After(time.Minute):
				t.Fatal("not drained")
			}
			if tc.finish {
				if c := e.commit(t, first.Job); c.Frames != 25 {
					t.Fatalf("commit %+v", c)
				}
			} else {
				queued, err := e.tasks.Has(ctx, job.TaskSubject(first.Job, 0))
				if err != nil || !queued {
					t.Fatalf("the segment past the grace is not back in the queue (%v)", err)
				}
			}
			// The second task is back in the queue: never delivered, or taken ahead and handed back by the drain (a
			// handed-back task stays counted as awaiting its ack until it is delivered again); the first is acked, or
			// handed back past the grace.
			want := 2
			if tc.finish {
				want = 1
			}
			waitFor(t, "the second task queued and the first settled", func() bool {
				p, a, err := e.tasks.Pending(ctx)
				return err == nil && p+a == want
			})
			if _, err := e.state.Get(ctx, job.CommitKey(second.Job, 0)); err == nil {
				t.Fatal("the second segment was processed after the drain")
			}
			if got := eng.calls.Load(); got != 1 {
				t.Fatalf("the engine was asked for %d segments, want 1", got)
			}
			select {
			case err := <-runDone:
				t.Fatalf("Run returned after a drain, before its context ended: %v", err)
			default:
			}
			n = ticks.Load()
			waitFor(t, "a drained worker to keep ticking", func() bool { return ticks.Load() >= n+2 })
			cancel() // SIGTERM
			if err := <-runDone; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
