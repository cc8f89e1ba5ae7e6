package worker

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

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
