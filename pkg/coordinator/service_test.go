package coordinator

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/queue"
	"github.com/facefleet/facefleet/pkg/store"
)

// serviceEnv is a coordinator daemon on a real embedded nats-server and a local store, with a work queue that
// gives up after two deliveries.
type serviceEnv struct {
	tasks        *queue.Tasks
	state, fleet *queue.State
	blob         store.Blob
}

func newServiceEnv(t *testing.T, configure ...func(*ServiceConfig)) (*serviceEnv, context.Context) {
	t.Helper()
	return newServiceEnvBlob(t, nil, configure...)
}

// newServiceEnvBlob is newServiceEnv with the given store (a local one when nil).
func newServiceEnvBlob(t *testing.T, blob store.Blob, configure ...func(*ServiceConfig)) (*serviceEnv, context.Context) {
	t.Helper()
	e, ctx := newQueueEnvBlob(t, blob)
	cfg := ServiceConfig{ID: "coord-1", WorkDir: t.TempDir(), Heartbeat: 200 * time.Millisecond, Scan: 200 * time.Millisecond}
	for _, c := range configure {
		c(&cfg)
	}
	svc, err := NewService(cfg, ServiceDeps{Tasks: e.tasks, State: e.state, Fleet: e.fleet, Blob: e.blob})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = svc.Run(sctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	return e, ctx
}

// newQueueEnv is a real embedded nats-server with the work queue and buckets, and a local store: no service runs.
func newQueueEnv(t *testing.T) (*serviceEnv, context.Context) {
	t.Helper()
	return newQueueEnvBlob(t, nil)
}

func newQueueEnvBlob(t *testing.T, blob store.Blob) (*serviceEnv, context.Context) {
	t.Helper()
	return newQueueEnvWith(t, queue.TasksConfig{Stream: "T", Subjects: []string{job.SubjectAll}, Consumer: "w",
		MaxDeliver: 2, AckWait: 200 * time.Millisecond, Storage: queue.StorageMemory}, 200*time.Millisecond, blob)
}

// newQueueEnvWith is newQueueEnv with the work queue's settings, the fleet's heartbeat interval and a store (nil: a
// local one in a temporary directory).
func newQueueEnvWith(t *testing.T, tc queue.TasksConfig, beat time.Duration, blob store.Blob) (*serviceEnv, context.Context) {
	t.Helper()
	srv, err := queue.StartEmbedded(queue.EmbeddedConfig{Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	conn, err := queue.Connect(ctx, queue.ConnConfig{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	e := &serviceEnv{}
	if e.tasks, err = conn.Tasks(ctx, tc); err != nil {
		t.Fatal(err)
	}
	if e.state, err = conn.State(ctx, queue.StateConfig{Bucket: "jobs", Storage: queue.StorageMemory}); err != nil {
		t.Fatal(err)
	}
	if e.fleet, err = conn.State(ctx, fleet.BucketConfig(beat)); err != nil {
		t.Fatal(err)
	}
	e.blob = blob
	if blob == nil {
		if e.blob, err = store.NewLocal(store.LocalConfig{Dir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
	}
	return e, ctx
}

func (e *serviceEnv) record(t *testing.T, ctx context.Context, id string) job.Record {
	t.Helper()
	en, err := e.state.Get(ctx, job.RecordKey(id))
	if err != nil {
		t.Fatal(err)
	}
	var r job.Record
	if err := json.Unmarshal(en.Value, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// A queued job is claimed, and a target that is not a video fails it with a reason naming the file.
func TestServiceClaimsAndFailsBadTarget(t *testing.T) {
	e, ctx := newServiceEnv(t)
	id := job.NewID()
	bad := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(bad, []byte("not a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := &job.Submission{SourceKey: job.InputKey(id, "source", ".png"), TargetKey: job.InputKey(id, "target", ".mp4"),
		SourceName: "face.png", TargetName: "notes.mp4", OutputExt: ".mp4"}
	if err := e.blob.PutFile(ctx, sub.TargetKey, bad); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(job.Record{ID: id, State: job.Queued, Submission: sub})
	if _, err := e.state.Create(ctx, job.RecordKey(id), b); err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil {
		r := e.record(t, ctx, id)
		if r.State == job.Failed {
			if r.Owner != "coord-1" || !strings.HasPrefix(r.Error, "notes.mp4: ") {
				t.Fatalf("failed record: owner %q, error %q", r.Owner, r.Error)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the job never failed")
}

// A task no worker ever settles reaches MaxDeliver: the coordinator records the job's failure and removes it.
func TestServiceDeadLetter(t *testing.T) {
	e, ctx := newServiceEnv(t)
	id := job.NewID()
	task := job.Task{Job: id, Segment: job.Segment{Index: 2, Start: 20, End: 30}, SegmentKey: job.SegmentKey(id, 2),
		Spec: job.Spec{SourceKey: job.InputKey(id, "source", ".png"), FrameRateNum: 25, FrameRateDen: 1, Width: 64, Height: 48}}
	b, _ := json.Marshal(task)
	if err := e.tasks.Publish(ctx, job.TaskSubject(id, 2), task.MsgID(), b); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // two deliveries left to expire, then the attempt that finds MaxDeliver reached
		if _, err := e.tasks.Fetch(ctx, 1, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for ctx.Err() == nil {
		en, err := e.state.Get(ctx, job.FailureKey(id))
		if err == nil {
			var f job.Failure
			_ = json.Unmarshal(en.Value, &f)
			if f.Segment != 2 || !strings.Contains(f.Reason, "delivered 2 times") {
				t.Fatalf("failure %+v", f)
			}
			for ctx.Err() == nil {
				if ok, _ := e.tasks.Has(ctx, job.TaskSubject(id, 2)); !ok {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no failure record for the dead-lettered segment, or the task stayed")
}

// With KeepEnded, a job that ended longer ago than that is deleted with its files; a job that ended since, or one
// still running, stays.
func TestServiceRetention(t *testing.T) {
	e, ctx := newServiceEnv(t, func(c *ServiceConfig) { c.KeepEnded, c.Sweep = time.Hour, 100*time.Millisecond })
	now := time.Now().UTC()
	jobs := map[string]job.Record{}
	for _, r := range []job.Record{
		{State: job.Done, Updated: now.Add(-2 * time.Hour)},
		{State: job.Failed, Updated: now.Add(-3 * time.Hour)},
		{State: job.Done, Updated: now.Add(-time.Minute)},
		{State: job.Running, Owner: "coord-elsewhere", Updated: now.Add(-5 * time.Hour)},
	} {
		r.ID, r.Created = job.NewID(), r.Updated
		// The file first: a sweep may delete the job as soon as its record is there.
		if err := e.blob.Put(ctx, job.InputKey(r.ID, "source", ".png"), strings.NewReader("face"), 4); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(r)
		if _, err := e.state.Put(ctx, job.RecordKey(r.ID), b); err != nil {
			t.Fatal(err)
		}
		jobs[r.ID] = r
	}
	gone := func(id string) bool { _, err := e.state.Get(ctx, job.RecordKey(id)); return err != nil }
	for ctx.Err() == nil {
		n := 0
		for id, r := range jobs {
			if gone(id) {
				n++
				if r.Updated.After(now.Add(-time.Hour)) || !r.State.Terminal() {
					t.Fatalf("job %s (%s, updated %s ago) deleted", id, r.State, now.Sub(r.Updated).Round(time.Minute))
				}
				if files, _ := e.blob.List(ctx, job.Prefix(id)); len(files) != 0 {
					t.Fatalf("job %s deleted, its files left: %v", id, files)
				}
			}
		}
		if n == 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ctx.Err() != nil {
		t.Fatal("the two old ended jobs were not deleted")
	}
	time.Sleep(300 * time.Millisecond) // more sweeps: the others stay
	for id, r := range jobs {
		if (r.Updated.After(now.Add(-time.Hour)) || !r.State.Terminal()) && gone(id) {
			t.Errorf("job %s (%s) deleted", id, r.State)
		}
	}
}
