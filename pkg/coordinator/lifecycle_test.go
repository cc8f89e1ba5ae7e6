package coordinator

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/client"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
)

// A client's cancel written while a local run's job waits for its workers is not lost: the job record is written
// only with compare-and-set, so the run's next state change sees the cancel and stops instead of overwriting it.
// (Coordinator.Run, run's own lifecycle before, wrote the record with a plain Put: the job went on to
// "stitching" and ended "failed".)
func TestLocalJobKeepsConcurrentCancel(t *testing.T) {
	e, ctx := newQueueEnv(t)
	dir := t.TempDir()
	face := filepath.Join(dir, "face.png")
	if err := os.WriteFile(face, []byte("face"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := clip(t)
	info, err := media.Probe(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(ServiceConfig{ID: "run", WorkDir: t.TempDir()},
		ServiceDeps{Tasks: e.tasks, State: e.state, Fleet: e.fleet, Blob: e.blob})
	if err != nil {
		t.Fatal(err)
	}
	id := job.NewID()
	done := make(chan error, 1)
	go func() {
		_, err := svc.RunLocal(ctx, LocalJob{ID: id, Source: face, Target: target, Info: info, Output: filepath.Join(dir, "out.mp4"),
			SegmentSeconds: 1, Spec: job.Spec{Face: job.FaceOptions{Processors: []string{job.ProcessorNone}}, Encoder: media.CodecH264}})
		done <- err
	}()
	// Playing the workers: once a task is queued, the job is running and waits for commits.
	for {
		msgs, err := e.tasks.Fetch(ctx, 1, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) > 0 {
			break
		}
	}
	cli := client.Client{Tasks: e.tasks, State: e.state, Blob: e.blob}
	if err := cli.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	// A late worker commits both segments anyway; the cancel still stands.
	for n := 0; n < 2; n++ {
		b, _ := json.Marshal(job.Commit{Job: id, Segment: n, Attempt: 1, Worker: "w", ResultKey: job.ResultKey(id, n, 0, 1), Frames: 25})
		if _, err := e.state.Create(ctx, job.CommitKey(id, n), b); err != nil {
			t.Fatal(err)
		}
	}
	err = <-done
	r, gerr := cli.Get(ctx, id)
	if gerr != nil {
		t.Fatal(gerr)
	}
	if r.State != job.Cancelled || !errors.Is(err, ErrCancelled) {
		t.Fatalf("after a concurrent cancel: record %s (%q), run returned %v; want cancelled and ErrCancelled", r.State, r.Error, err)
	}
}
