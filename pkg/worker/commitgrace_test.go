package worker

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/queue"
	"github.com/facefleet/facefleet/pkg/store"
)

// lateStop is the real store with one fault the real thing cannot be made to show on demand: the worker's shutdown
// grace ending just as a result's upload ends, before its commit (the e2e fault drill met it once by chance).
type lateStop struct {
	store.Blob
	stop func() // ends the worker's Run: its grace starts
	wait time.Duration
}

func (b lateStop) PutFile(ctx context.Context, key, path string) error {
	err := b.Blob.PutFile(ctx, key, path)
	if strings.Contains(key, "/results/") {
		b.stop()
		time.Sleep(b.wait) // past the grace: the segment's context has ended when the commit comes
	}
	return err
}

// TestResultCommittedPastGrace: a worker whose shutdown grace ends between a result's upload and its commit still
// commits it. Before, the commit ran on the segment's ended context and failed, leaving the stored result with no
// commit naming it: a redo stored another, and the first stayed until the job was deleted.
func TestResultCommittedPastGrace(t *testing.T) {
	e := newEnv(t, 30*time.Second)
	task := e.publish(t, "job-late")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const grace = 100 * time.Millisecond
	cfg := Config{ID: "w-late", WorkDir: filepath.Join(e.dir, "work"), Slots: 1, FetchWait: 100 * time.Millisecond,
		KeepAlive: 200 * time.Millisecond, MaxDeliver: maxDeliver, MaxAttempts: maxAttempts, Grace: grace}
	eng := &fakeEngine{calls: &atomic.Int32{}}
	w, err := New(cfg, Deps{Tasks: e.tasks, State: e.state, Blob: lateStop{Blob: e.blob, stop: cancel, wait: 3 * grace},
		NewEngine: func() (Engine, error) { return eng, nil }})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(ctx) }()
	select {
	case err := <-runDone:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after its context ended")
	}
	en, err := e.state.Get(context.Background(), job.CommitKey(task.Job, 0))
	if errors.Is(err, queue.ErrKeyNotFound) {
		t.Fatal("the stored result was not committed: it stays in the store with no commit naming it")
	}
	if err != nil {
		t.Fatal(err)
	}
	c, err := job.DecodeCommit(task.Job, en.Value)
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	if err := e.blob.Get(context.Background(), c.ResultKey, &got); err != nil || got.Len() == 0 {
		t.Fatalf("the commit names %s, which the store does not hold (%v)", c.ResultKey, err)
	}
}
