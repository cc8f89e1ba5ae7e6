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
	"github.com/facefleet/facefleet/pkg/provenance"
	"github.com/facefleet/facefleet/pkg/store"
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

// A local job reads its target where it is: a one-segment job's piece in a linking store is the user's file itself,
// not a copy, and the job ends with the output stitched into LocalJob.Output and its provenance record.
func TestLocalJobReadsTargetInPlace(t *testing.T) {
	blob, err := store.NewLocal(store.LocalConfig{Dir: filepath.Join(t.TempDir(), "blobs"), Link: true})
	if err != nil {
		t.Fatal(err)
	}
	e, ctx := newQueueEnvBlob(t, blob)
	dir := t.TempDir()
	face := filepath.Join(dir, "face.png")
	if err := os.WriteFile(face, []byte("face"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := clip(t)
	svc, err := NewService(ServiceConfig{ID: "run", WorkDir: t.TempDir()},
		ServiceDeps{Tasks: e.tasks, State: e.state, Fleet: e.fleet, Blob: e.blob})
	if err != nil {
		t.Fatal(err)
	}
	id, out := job.NewID(), filepath.Join(dir, "out.mp4")
	type result struct {
		r   LocalResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := svc.RunLocal(ctx, LocalJob{ID: id, Source: face, Target: target, Output: out,
			Spec: job.Spec{Face: job.FaceOptions{Processors: []string{job.ProcessorNone}}, Encoder: media.CodecH264}})
		done <- result{r, err}
	}()
	var task job.Task
	for task.Job == "" {
		msgs, err := e.tasks.Fetch(ctx, 1, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if task, err = job.DecodeTask(m.Data()); err != nil {
				t.Fatal(err)
			}
			_ = m.Ack(ctx)
		}
	}
	st, err := os.Stat(filepath.Join(blob.Dir(), filepath.FromSlash(task.SegmentKey)))
	if err != nil {
		t.Fatal(err)
	}
	tst, _ := os.Stat(target)
	if !os.SameFile(st, tst) {
		t.Error("the one segment is a copy of the target, not the target")
	}
	if task.Spec.SourceKey != job.InputKey(id, "source", ".png") {
		t.Errorf("source key %s, want the one scheme's %s", task.Spec.SourceKey, job.InputKey(id, "source", ".png"))
	}
	// Playing the worker: the target re-encoded is the segment's result.
	if err := e.blob.PutFile(ctx, job.ResultKey(id, 0, 0, 1), target); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(job.Commit{Job: id, Segment: 0, Attempt: 1, Worker: "w", ResultKey: job.ResultKey(id, 0, 0, 1), Frames: 50})
	if _, err := e.state.Create(ctx, job.CommitKey(id, 0), b); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	sum := func(p string) string { s, _ := provenance.FileSHA256(p); return s }
	p := res.r.Provenance
	if res.r.Frames != 50 || res.r.Segments != 1 || p.Frames != 50 || p.OutputSHA256 != sum(out) ||
		p.SourceSHA256 != sum(face) || p.TargetSHA256 != sum(target) || !p.SyntheticMedia {
		t.Fatalf("result %+v", res.r)
	}
	if r := e.record(t, ctx, id); r.State != job.Done || r.Owner != "run" {
		t.Fatalf("record %s owned by %q, want done by run", r.State, r.Owner)
	}
}
