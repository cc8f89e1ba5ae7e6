package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/fault"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/queue"
	"github.com/facefleet/facefleet/pkg/store"
)

// clip makes a 2-second 64x48 video with a keyframe every second (two segments of 1 s).
func clip(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clip.mp4")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	return p
}

// submit stores the target and queues a job for it, as a client does.
func (e *serviceEnv) submit(t *testing.T, ctx context.Context, target string) string {
	t.Helper()
	id := job.NewID()
	sub := &job.Submission{SourceKey: job.InputKey(id, "source", ".png"), TargetKey: job.InputKey(id, "target", ".mp4"),
		SourceName: "face.png", TargetName: "clip.mp4", OutputExt: ".mp4", SegmentSeconds: 1}
	if err := e.blob.PutFile(ctx, sub.TargetKey, target); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(job.Record{ID: id, State: job.Queued, Submission: sub})
	if _, err := e.state.Create(ctx, job.RecordKey(id), b); err != nil {
		t.Fatal(err)
	}
	return id
}

// until polls the job's record until ok says so.
func (e *serviceEnv) until(t *testing.T, ctx context.Context, id, what string, ok func(job.Record) bool) job.Record {
	t.Helper()
	var r job.Record
	for ctx.Err() == nil {
		if r = e.record(t, ctx, id); ok(r) {
			return r
		}
		if r.State.Terminal() {
			t.Fatalf("job ended %s (%q) waiting for: %s", r.State, r.Error, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("never %s; last record %+v", what, r)
	return r
}

// TestServiceWaitsOutStorageOutage stops a real S3 server (versitygw) before the coordinator claims a job: the job
// does not fail but waits, its status saying "storage unreachable since ..., retrying", and once the server is
// back it is split and its segments queued.
func TestServiceWaitsOutStorageOutage(t *testing.T) {
	srv := testenv.StartS3(t, testenv.S3Options{})
	bctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s3, err := store.NewS3(bctx, store.S3Config{Endpoint: srv.Endpoint, Bucket: "outage", AccessKey: srv.AccessKey,
		SecretKey: srv.Secret, CreateBucket: true})
	if err != nil {
		t.Fatal(err)
	}
	id := job.NewID()
	sub := &job.Submission{SourceKey: job.InputKey(id, "source", ".png"), TargetKey: job.InputKey(id, "target", ".mp4"),
		TargetName: "clip.mp4", OutputExt: ".mp4", SegmentSeconds: 1}
	if err := s3.PutFile(bctx, sub.TargetKey, clip(t)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	e, ctx := newServiceEnvBlob(t, s3, func(c *ServiceConfig) { c.OutageBase, c.OutageMax = 50*time.Millisecond, 200*time.Millisecond })
	b, _ := json.Marshal(job.Record{ID: id, State: job.Queued, Submission: sub})
	if _, err := e.state.Create(ctx, job.RecordKey(id), b); err != nil {
		t.Fatal(err)
	}
	r := e.until(t, ctx, id, "waiting for storage", func(r job.Record) bool {
		return strings.HasPrefix(r.Waiting, "storage unreachable since ") && strings.HasSuffix(r.Waiting, ", retrying")
	})
	t.Logf("status while S3 is down: %s, waiting: %s", r.State, r.Waiting)
	srv.Restart(t)
	r = e.until(t, ctx, id, "running with its segments queued", func(r job.Record) bool { return r.State == job.Running })
	if r.Segments != 2 || r.Waiting != "" || r.Error != "" {
		t.Fatalf("record after the outage: %+v", r)
	}
	for i := 0; i < 2; i++ { // the record says running just before the tasks are published
		for ok := false; !ok; time.Sleep(20 * time.Millisecond) {
			var err error
			if ok, err = e.tasks.Has(ctx, job.TaskSubject(id, i)); err != nil || ctx.Err() != nil {
				t.Fatalf("segment %d not queued: %v (%v)", i, err, ctx.Err())
			}
		}
	}
}

// A worker's failure record fails the job with the user's name for the target, the segment, and the worker's
// reason (which names the segment's frames, never a scratch path).
func TestServiceFailureNamesTarget(t *testing.T) {
	e, ctx := newServiceEnv(t)
	id := e.submit(t, ctx, clip(t))
	e.until(t, ctx, id, "running", func(r job.Record) bool { return r.State == job.Running })
	b, _ := json.Marshal(job.Failure{Job: id, Segment: 1, Worker: "w", Reason: "frames 25-49 of the target: ffmpeg failed (Invalid data)"})
	if _, err := e.state.Create(ctx, job.FailureKey(id), b); err != nil {
		t.Fatal(err)
	}
	r := e.until(t, ctx, id, "failed", func(r job.Record) bool { return r.State == job.Failed || r.State.Terminal() })
	if want := "job failed: clip.mp4: segment 1: frames 25-49 of the target: ffmpeg failed (Invalid data)"; r.Error != want {
		t.Fatalf("error %q, want %q", r.Error, want)
	}
}

// A watch that ends under wait because the connection closed (not because ctx ended) is the queue's trouble, not a
// finished job: wait used to return no commits and no error, and the job went on to stitch nothing.
func TestWaitWatchEndedIsNotSuccess(t *testing.T) {
	srv, err := queue.StartEmbedded(queue.EmbeddedConfig{Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := queue.Connect(ctx, queue.ConnConfig{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	state, err := conn.State(ctx, queue.StateConfig{Bucket: "jobs", Storage: queue.StorageMemory})
	if err != nil {
		t.Fatal(err)
	}
	c := &Service{deps: ServiceDeps{State: state}}
	done := make(chan error, 1)
	go func() {
		commits, err := c.wait(ctx, "j1", "clip.mp4", []job.Segment{{Index: 0, Start: 0, End: 25}}, nil, nil)
		if err == nil && len(commits) != 1 {
			err = errors.New("no error and no commit")
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // the watches are set up
	conn.Close()
	if err := <-done; fault.Of(err) != fault.ErrQueue {
		t.Fatalf("wait after the connection closed: %v (class %v)", err, fault.Of(err))
	}
}
