package worker

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/facefleet/facefleet/pkg/job"
)

// TestJobWatchShared: the segments of a job that one worker runs share one watch of the job's record, and a cancel
// still stops the segment running and the job's segments after it.
func TestJobWatchShared(t *testing.T) {
	e := newEnv(t, 30*time.Second)
	ctx := context.Background()
	const id = "jwatch"
	for n := range 3 {
		e.publishSegment(t, id, n)
	}
	stop, w := e.startWith(t, &fakeEngine{}, nil)
	for n := range 3 {
		e.waitKey(t, job.CommitKey(id, n), 20*time.Second)
	}
	if got := w.watches.started.Load(); got != 1 {
		t.Errorf("3 segments of a job opened %d watches of its record, want 1", got)
	}
	stop()

	// A cancel stops the running segment, and the next one of the job is not done either.
	const cancelled = "jwatch-cancel"
	running, _ := json.Marshal(job.Record{ID: cancelled, State: job.Running})
	if _, err := e.state.Put(ctx, job.RecordKey(cancelled), running); err != nil {
		t.Fatal(err)
	}
	var frames atomic.Int32
	eng := &fakeEngine{hook: func(_ int32, _ int) error {
		frames.Add(1)
		time.Sleep(100 * time.Millisecond) // 2.5 s a segment: the cancel lands in the first
		return nil
	}}
	_, w = e.startWith(t, eng, nil)
	for n := range 2 {
		e.publishSegment(t, cancelled, n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for frames.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := json.Marshal(job.Record{ID: cancelled, State: job.Cancelled})
	if _, err := e.state.Put(ctx, job.RecordKey(cancelled), b); err != nil {
		t.Fatal(err)
	}
	e.queueEmpty(t) // within 2.5 s: the running segment's task is terminated, not finished
	if n := frames.Load(); n >= 25 {
		t.Errorf("%d frames processed after the cancel: the segment was not stopped", n)
	}
	for n := range 2 {
		if _, err := e.state.Get(ctx, job.CommitKey(cancelled, n)); err == nil {
			t.Errorf("segment %d of a cancelled job committed", n)
		}
	}
}

// TestJobWatchRevisions: a segment that joins a job's watch is stopped by a record that ended the job only when it
// is newer than the one its task's checks read: a job retried after it was done runs its new segments.
func TestJobWatchRevisions(t *testing.T) {
	e := newEnv(t, 30*time.Second)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	js := newJobWatches(ctx, e.state, zap.NewNop())
	const id = "jrev"
	put := func(s job.State) uint64 {
		t.Helper()
		b, _ := json.Marshal(job.Record{ID: id, State: s})
		rev, err := e.state.Put(ctx, job.RecordKey(id), b)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	waitCancel := func(c context.Context, want bool) {
		t.Helper()
		select {
		case <-c.Done():
			if !want {
				t.Fatal("a segment was stopped")
			}
		case <-time.After(2 * time.Second):
			if want {
				t.Fatal("a segment was not stopped")
			}
		}
	}
	running := put(job.Running)
	c1, cancel1 := context.WithCancel(ctx)
	ended1, leave1 := js.join(id, running, cancel1)
	done := put(job.Done)
	waitCancel(c1, true)
	if !ended1.Load() {
		t.Fatal("stopped, but not told the job ended")
	}
	leave1()
	// A task checked against the record before the one that ended the job: stopped at once.
	c2, cancel2 := context.WithCancel(ctx)
	if _, leave := js.join(id, running, cancel2); true {
		waitCancel(c2, true)
		leave()
	}
	// Retried: running again, and a new segment's checks read that record. The watch may not have delivered it yet.
	again := put(job.Running)
	if again <= done {
		t.Fatalf("revisions %d then %d", done, again)
	}
	c3, cancel3 := context.WithCancel(ctx)
	ended3, leave3 := js.join(id, again, cancel3)
	defer leave3()
	waitCancel(c3, false)
	if ended3.Load() {
		t.Fatal("a segment of the retried job was told the job ended")
	}
	if n := js.started.Load(); n != 1 {
		t.Errorf("%d watches for one job", n)
	}
}

// TestJobWatchConcurrentJoins: segments of a new job that join at once keep one watch (the others' are closed), and
// a cancel stops them all.
func TestJobWatchConcurrentJoins(t *testing.T) {
	e := newEnv(t, 30*time.Second)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	js := newJobWatches(ctx, e.state, zap.NewNop())
	const id, n = "jconc", 8
	running, _ := json.Marshal(job.Record{ID: id, State: job.Running})
	rev, err := e.state.Put(ctx, job.RecordKey(id), running)
	if err != nil {
		t.Fatal(err)
	}
	stopped := make([]context.Context, n)
	var wg sync.WaitGroup
	for i := range n {
		c, cancel := context.WithCancel(ctx)
		stopped[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, leave := js.join(id, rev, cancel)
			t.Cleanup(leave)
		}()
	}
	wg.Wait()
	if got := js.started.Load(); got != 1 {
		t.Errorf("%d segments joining at once kept %d watches, want 1", n, got)
	}
	cancelled, _ := json.Marshal(job.Record{ID: id, State: job.Cancelled})
	if _, err := e.state.Put(ctx, job.RecordKey(id), cancelled); err != nil {
		t.Fatal(err)
	}
	for i, c := range stopped {
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("segment %d not stopped by the cancel", i)
		}
	}
}
