package worker

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/queue"
)

// TestAhead runs a one-slot worker on the real queue and store, its first segment blocked on one of its 25 frames,
// and a second task published meanwhile. Taking ahead, the worker fetches the second task and downloads its segment
// while the first one's frames are still running (its engine not yet asked for it), once they are half done; before
// that, and with NoAhead, it leaves the task in the queue. A drain then hands the held task back at once (the
// AckWait is far longer than the test waits): a second worker commits it, while the first worker finishes and
// commits only the segment it was running.
func TestAhead(t *testing.T) {
	tests := []struct {
		name    string
		blockAt int // the frame the first segment waits on
		noAhead bool
		drain   bool
	}{
		{name: "next segment downloaded during the frames", blockAt: 24},
		{name: "drain hands the held task back", blockAt: 24, drain: true},
		{name: "before half the frames: the next task stays queued", blockAt: 5},
		{name: "off: the next task stays queued", blockAt: 24, noAhead: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 5*time.Minute)
			first := e.publish(t, "job-first")
			release, entered := make(chan struct{}), make(chan struct{})
			var once atomic.Bool
			eng := &fakeEngine{hook: func(attempt int32, frame int) error {
				if attempt == 1 && frame == tc.blockAt && once.CompareAndSwap(false, true) {
					close(entered)
					<-release
				}
				return nil
			}}
			var ticks atomic.Int64
			e.tick = func() { ticks.Add(1) }
			_, w := e.startWith(t, eng, func(c *Config) { c.NoAhead = tc.noAhead; c.Slots = 1; c.Grace = time.Minute })
			e.tick = nil
			var closeOnce sync.Once
			letGo := func() { closeOnce.Do(func() { close(release) }) }
			defer letGo()
			<-entered
			second := e.publish(t, "job-second")
			held := filepath.Join(w.segmentDir(second, 1), "segment.mkv")
			if tc.noAhead || 2*tc.blockAt < 25 {
				n := ticks.Load()
				waitFor(t, "the fetch loop to turn while the slot is busy", func() bool { return ticks.Load() >= n+3 })
				if p, _, err := e.tasks.Pending(context.Background()); err != nil || p != 1 {
					t.Fatalf("pending %d (%v): the next task was fetched", p, err)
				}
			} else {
				waitFor(t, "the next segment downloaded during the current one's frames", func() bool {
					_, err := os.Stat(held)
					return err == nil
				})
				if got := eng.calls.Load(); got != 1 {
					t.Fatalf("the engine was asked for %d segments while the first one's frames run, want 1", got)
				}
			}
			if tc.drain {
				w.Drain()
				// Another worker takes the handed-back task at once: far sooner than its AckWait.
				other := &fakeEngine{}
				e.startWith(t, other, func(c *Config) { c.ID = "w-other"; c.WorkDir = filepath.Join(e.dir, "work-other") })
				if c := e.commit(t, second.Job); c.Worker != "w-other" || c.Attempt != 2 {
					t.Fatalf("held task's commit %+v, want the other worker's, attempt 2", c)
				}
			}
			letGo()
			if c := e.commit(t, first.Job); c.Frames != 25 || c.Attempt != 1 {
				t.Fatalf("first commit %+v", c)
			}
			if !tc.drain {
				if c := e.commit(t, second.Job); c.Attempt != 1 || c.Worker != w.ID() {
					t.Fatalf("second commit %+v, want this worker's first attempt", c)
				}
			} else {
				<-w.Drained()
				if got := eng.calls.Load(); got != 1 {
					t.Fatalf("the draining worker ran %d segments, want only the one it was running", got)
				}
			}
			if _, err := e.state.Get(context.Background(), job.CommitKey(second.Job, 0)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestAheadKilledWorker kills a worker (its NATS connection closed: no ack, Nak or InProgress is sent any more)
// while it runs one segment and holds the next ahead: both leases expire after AckWait like any other, and another
// worker commits both segments as their second delivery.
func TestAheadKilledWorker(t *testing.T) {
	e := newEnv(t, 2*time.Second)
	ctx := context.Background()
	conn, err := queue.Connect(ctx, queue.ConnConfig{URL: e.url})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	killed := *e // the doomed worker's own connection
	if killed.tasks, err = conn.Tasks(ctx, queue.TasksConfig{Stream: "T", Subjects: []string{job.SubjectAll}, Consumer: "w",
		AckWait: 2 * time.Second, MaxDeliver: maxDeliver, Storage: queue.StorageMemory}); err != nil {
		t.Fatal(err)
	}
	if killed.state, err = conn.State(ctx, queue.StateConfig{Bucket: "s", Storage: queue.StorageMemory}); err != nil {
		t.Fatal(err)
	}
	first := e.publish(t, "job-first")
	release, entered := make(chan struct{}), make(chan struct{})
	var once sync.Once
	defer close(release)
	eng := &fakeEngine{hook: func(_ int32, frame int) error {
		if frame == 24 { // the last of 25: past half, when a task is taken ahead
			once.Do(func() { close(entered); <-release })
		}
		return nil
	}}
	_, w := killed.startWith(t, eng, func(c *Config) { c.Slots = 1 })
	<-entered
	second := e.publish(t, "job-second")
	waitFor(t, "the next segment held ahead", func() bool {
		_, err := os.Stat(filepath.Join(w.segmentDir(second, 1), "segment.mkv"))
		return err == nil
	})
	conn.Close() // killed
	e.startWith(t, &fakeEngine{}, func(c *Config) { c.ID = "w-other"; c.WorkDir = filepath.Join(e.dir, "work-other") })
	for _, task := range []job.Task{first, second} {
		if c := e.commit(t, task.Job); c.Worker != "w-other" || c.Attempt != 2 {
			t.Fatalf("%s: commit %+v, want the other worker's, attempt 2", task.Job, c)
		}
	}
}
