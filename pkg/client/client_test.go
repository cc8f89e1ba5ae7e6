package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/client"
	"github.com/facefleet/facefleet/pkg/cluster"
	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/queue"
)

// newClient runs a client against a real embedded nats-server and a local-directory store.
func newClient(t *testing.T) *client.Client {
	t.Helper()
	srv, err := queue.StartEmbedded(queue.EmbeddedConfig{Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := cluster.Open(ctx, cluster.Config{NATS: queue.ConnConfig{URL: srv.URL()}, StoreDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &client.Client{Tasks: cl.Tasks, State: cl.State, Blob: cl.Blob, Fleet: cl.Fleet}
}

func file(t *testing.T, name string, size int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSubmitRefusesBadInputs(t *testing.T) {
	c := newClient(t)
	good := file(t, "face.png", 10)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, source, target string
		limit                int64
		want                 string
	}{
		{"missing source", filepath.Join(dir, "nope.png"), good, 0, "nope.png: file not found"},
		{"empty target", good, file(t, "empty.mp4", 0), 0, "empty.mp4: file is empty"},
		{"directory target", good, dir, 0, "(is a directory)"},
		{"over the size limit", good, file(t, "big.mp4", 2048), 1024, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Submit(context.Background(), client.SubmitRequest{Source: tc.source, Target: tc.target, MaxInputBytes: tc.limit})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if rs, _ := c.List(context.Background()); len(rs) != 0 {
		t.Fatalf("refused submissions left %d records", len(rs))
	}
}

// Complete runs beside the uploads: what it adds to the spec is queued with the job; its error, or a spec the record
// refuses, fails the submit and leaves neither a record nor an input behind.
func TestSubmitComplete(t *testing.T) {
	boom := errors.New("no face in the reference frame")
	for _, tc := range []struct {
		name     string
		complete func(context.Context, *job.Spec) error
		want     error // nil: queued
	}{
		{"adds to the spec", func(_ context.Context, s *job.Spec) error { s.Face.EnhancerBlend = 40; return nil }, nil},
		{"fails", func(context.Context, *job.Spec) error { return boom }, boom},
		{"breaks a rule", func(_ context.Context, s *job.Spec) error { s.Face.EnhancerBlend = 300; return nil }, job.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := newClient(t)
			id, err := c.Submit(ctx, client.SubmitRequest{Source: file(t, "face.png", 10), Target: file(t, "clip.mp4", 100),
				Complete: tc.complete})
			if tc.want == nil {
				r, gerr := c.Get(ctx, id)
				if err != nil || gerr != nil || r.Submission.Spec.Face.EnhancerBlend != 40 {
					t.Fatalf("submit %v, get %v: spec %+v", err, gerr, r.Submission)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("submit: %v, want %v", err, tc.want)
			}
			if rs, _ := c.List(ctx); len(rs) != 0 {
				t.Errorf("a failed submit left %d records", len(rs))
			}
			if blobs, err := c.Blob.List(ctx, ""); err != nil || len(blobs) != 0 {
				t.Errorf("a failed submit left %d blobs (%v)", len(blobs), err)
			}
		})
	}
}

// Whether any coordinator runs is read from the fleet's heartbeats, as `coordinator serve` publishes them.
func TestCoordinatorRunning(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	put := func(kind, id string) {
		key, _ := fleet.Key(kind, id)
		b, _ := json.Marshal(fleet.Heartbeat{Kind: kind, ID: id, Updated: time.Now().UTC()})
		if _, err := c.Fleet.Put(ctx, key, b); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		add  func()
		want bool
	}{
		{"nothing", func() {}, false},
		{"only a worker", func() { put(fleet.KindWorker, "w1") }, false},
		{"a coordinator", func() { put(fleet.KindCoordinator, "c1") }, true},
	} {
		tc.add()
		if got, err := c.CoordinatorRunning(ctx); err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if got, err := (&client.Client{}).CoordinatorRunning(ctx); err != nil || !got {
		t.Errorf("without a fleet bucket: %v, %v; want true (cannot tell)", got, err)
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	id, err := c.Submit(ctx, client.SubmitRequest{Source: file(t, "face.png", 10), Target: file(t, "clip.mp4", 100)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Get(ctx, id)
	if err != nil || r.State != job.Queued || r.Submission == nil || r.Submission.TargetName != "clip.mp4" ||
		!strings.HasPrefix(r.Submission.TargetKey, job.Prefix(id)) || r.Submission.Metadata["synthetic_media"] != "true" {
		t.Fatalf("submitted record %+v, %v", r, err)
	}
	if _, err := c.Get(ctx, "j000000-0000000000000000"); !errors.Is(err, client.ErrNoJob) {
		t.Errorf("unknown job: %v", err)
	}
	if _, err := c.Get(ctx, "../etc"); !errors.Is(err, job.ErrInvalidID) {
		t.Errorf("path-like id: %v", err)
	}
	if err := c.Retry(ctx, id, -1); !errors.Is(err, client.ErrNotEnded) {
		t.Errorf("retry of a queued job: %v", err)
	}
	if err := c.Download(ctx, id, filepath.Join(t.TempDir(), "o.mp4")); !errors.Is(err, client.ErrNotFinished) {
		t.Errorf("download of a queued job: %v", err)
	}

	// Pretend a coordinator finished it with three segments, then redo segment 1.
	_, err = c.State.Modify(ctx, job.RecordKey(id), func(old []byte) ([]byte, error) {
		var r job.Record
		_ = json.Unmarshal(old, &r)
		r.State, r.Segments, r.Owner, r.OutputKey = job.Done, 3, "coord-1", job.OutputKey(id, ".mp4")
		return json.Marshal(r)
	})
	if err != nil {
		t.Fatal(err)
	}
	for n := range 3 {
		b, _ := json.Marshal(job.Commit{Job: id, Segment: n})
		if _, err := c.State.Put(ctx, job.CommitKey(id, n), b); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Cancel(ctx, id); !errors.Is(err, client.ErrTerminal) {
		t.Errorf("cancel of a done job: %v", err)
	}
	if err := c.Retry(ctx, id, 3); err == nil || !strings.Contains(err.Error(), "segments 0-2") {
		t.Errorf("retry of segment 3 of 3: %v", err)
	}
	if err := c.Retry(ctx, id, 1); err != nil {
		t.Fatal(err)
	}
	r, _ = c.Get(ctx, id)
	if r.State != job.Queued || r.Generation != 1 || r.Owner != "" || r.OutputKey != "" {
		t.Errorf("after retry: %+v", r)
	}
	keys, _ := c.State.Keys(ctx, "commit."+id+".")
	if len(keys) != 2 || strings.HasSuffix(keys[0], ".1") || strings.HasSuffix(keys[1], ".1") {
		t.Errorf("commits after retrying segment 1: %v", keys)
	}

	// Cancel a queued job: the record says so and its tasks are gone.
	tk := job.Task{Job: id, Segment: job.Segment{Index: 1, End: 1}}
	b, _ := json.Marshal(tk)
	if err := c.Tasks.Publish(ctx, job.TaskSubject(id, 1), tk.MsgID(), b); err != nil {
		t.Fatal(err)
	}
	if err := c.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Get(ctx, id); r.State != job.Cancelled {
		t.Errorf("after cancel: %s", r.State)
	}
	if ok, err := c.Tasks.Has(ctx, job.TaskSubject(id, 1)); ok || err != nil {
		t.Errorf("task left after cancel: %v %v", ok, err)
	}
}

// TestDelete: an ended job can be deleted, and then nothing of it is left: not the uploaded face and target, the
// results, the output, nor a KV key; a queued job must be cancelled first.
func TestDelete(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	id, err := c.Submit(ctx, client.SubmitRequest{Source: file(t, "face.png", 10), Target: file(t, "clip.mp4", 100)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, id); !errors.Is(err, client.ErrNotEnded) {
		t.Fatalf("delete of a queued job: %v", err)
	}
	// What a finished job leaves: a plan, commits, progress, a results piece and the output with its provenance.
	_, err = c.State.Modify(ctx, job.RecordKey(id), func(old []byte) ([]byte, error) {
		var r job.Record
		_ = json.Unmarshal(old, &r)
		r.State, r.Segments, r.OutputKey = job.Done, 1, job.OutputKey(id, ".mp4")
		return json.Marshal(r)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{job.PlanKey(id), job.CommitKey(id, 0), job.ProgressKey(id, 0)} {
		if _, err := c.State.Put(ctx, k, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{job.ResultKey(id, 0, 0, 1), job.OutputKey(id, ".mp4"), job.ProvenanceKey(job.OutputKey(id, ".mp4"))} {
		if err := c.Blob.Put(ctx, k, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, id); !errors.Is(err, client.ErrNoJob) {
		t.Errorf("record after delete: %v", err)
	}
	if files, err := c.Blob.List(ctx, job.Prefix(id)); err != nil || len(files) != 0 {
		t.Errorf("files after delete: %v, %v", files, err)
	}
	for _, p := range append(job.SegmentKeyPrefixes(id), job.PlanKey(id)) {
		if keys, err := c.State.Keys(ctx, p); err != nil || len(keys) != 0 {
			t.Errorf("keys %s* after delete: %v, %v", p, keys, err)
		}
	}
	if err := c.Delete(ctx, id); !errors.Is(err, client.ErrNoJob) {
		t.Errorf("second delete: %v", err)
	}
}

// TestInvalidRecords writes hostile job records straight into a real nats-server's KV. Each must be listed as
// invalid with the reason, refused by Get, cancelled (replaced by a cancelled record) and deleted; a delete removes
// the id's own files and keys only, never an object the record names (here another job's inputs).
func TestInvalidRecords(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	for _, tc := range []struct {
		name  string
		value func(id, other string) string
		want  string
	}{
		{"garbage", func(string, string) string { return "{{{" }, "cannot decode"},
		{"NaN", func(id, _ string) string { return `{"id":"` + id + `","state":"queued","split_seconds":NaN}` }, "cannot decode"},
		{"unknown state", func(id, _ string) string { return `{"id":"` + id + `","state":"exploded"}` }, ": state "},
		{"another job's keys", func(id, other string) string {
			return `{"id":"` + id + `","state":"failed","submission":{"source_key":"` + job.InputKey(other, "source", ".png") +
				`","target_key":"` + job.InputKey(other, "target", ".mp4") + `","output_ext":".mp4"}}`
		}, "submission.source_key"},
		{"output_ext traversal", func(id, _ string) string {
			return `{"id":"` + id + `","state":"done","output_key":"jobs/` + id + `/output/../../x.mp4"}`
		}, "output_key"},
		{"another job's id", func(_, other string) string { return `{"id":"` + other + `","state":"done"}` }, ": id "},
		{"oversize", func(id, _ string) string {
			return `{"id":"` + id + `","state":"done","error":"` + strings.Repeat("x", 300<<10) + `"}`
		}, "bytes, more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, other := job.NewID(), job.NewID()
			for _, k := range []string{job.InputKey(id, "source", ".png"), job.InputKey(other, "source", ".png"), job.InputKey(other, "target", ".mp4")} {
				if err := c.Blob.Put(ctx, k, strings.NewReader("x"), 1); err != nil {
					t.Fatal(err)
				}
			}
			put := func() {
				if _, err := c.State.Put(ctx, job.RecordKey(id), []byte(tc.value(id, other))); err != nil {
					t.Fatal(err)
				}
			}
			put()
			rs, err := c.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			listed := false
			for _, r := range rs {
				if r.ID == id {
					listed = true
					if r.Invalid == nil || !errors.Is(r.Invalid, job.ErrInvalid) || !strings.Contains(r.Invalid.Error(), tc.want) {
						t.Errorf("listed with %v, want invalid naming %q", r.Invalid, tc.want)
					}
				}
			}
			if !listed {
				t.Fatalf("the invalid record is not listed: %d records", len(rs))
			}
			if _, err := c.Get(ctx, id); !errors.Is(err, job.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Get: %v", err)
			}
			if err := c.Cancel(ctx, id); err != nil {
				t.Fatalf("cancel: %v", err)
			}
			if r, err := c.Get(ctx, id); err != nil || r.State != job.Cancelled || !strings.Contains(r.Error, tc.want) {
				t.Fatalf("after cancel: %+v, %v", r, err)
			}
			put()
			if err := c.Delete(ctx, id); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if _, err := c.Get(ctx, id); !errors.Is(err, client.ErrNoJob) {
				t.Errorf("record after delete: %v", err)
			}
			if files, _ := c.Blob.List(ctx, job.Prefix(id)); len(files) != 0 {
				t.Errorf("the job's files after delete: %v", files)
			}
			if files, _ := c.Blob.List(ctx, job.Prefix(other)); len(files) != 2 {
				t.Errorf("delete followed the record to another job's files: %v left", files)
			}
		})
	}
}

// TestStrayRecordKeys: a record under a key that gives no valid job id is listed as invalid and deleted by the
// name status shows, that key alone; an id that names no such key stays refused.
func TestStrayRecordKeys(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	for _, tc := range []struct{ name, id string }{{"upper case", "UPPER"}, {"too short", "ab"}, {"a slash", "a/b"}, {"two tokens", "a.b"}} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.State.Put(ctx, job.RecordKey(tc.id), []byte(`{"id":"`+tc.id+`","state":"done"}`)); err != nil {
				t.Fatal(err)
			}
			rs, err := c.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			listed := false
			for _, r := range rs {
				listed = listed || r.ID == tc.id && errors.Is(r.Invalid, job.ErrInvalidID)
			}
			if !listed {
				t.Fatalf("%s not listed as invalid: %+v", tc.id, rs)
			}
			if err := c.Delete(ctx, tc.id); err != nil {
				t.Fatal(err)
			}
			if _, err := c.State.Get(ctx, job.RecordKey(tc.id)); !errors.Is(err, queue.ErrKeyNotFound) {
				t.Fatalf("key after delete: %v", err)
			}
		})
	}
	if err := c.Delete(ctx, "../etc"); !errors.Is(err, job.ErrInvalidID) {
		t.Errorf("delete of an id with no record: %v", err)
	}
}

// TestRetryParked: `retry` of a parked job queues it again as it stands (a new generation, its owner kept); a
// segment retry or a job not parked is refused as not ended; a parked job cancelled, then retried, is queued
// without its park (a stale park kept its segments off the queue after the retry before).
func TestRetryParked(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	parking := &job.Parking{Width: 3840, Height: 2160, Need: 5 << 30, Workers: []string{"tiny"}}
	for _, tc := range []struct {
		name    string
		parked  bool
		cancel  bool
		segment int
		err     error
		want    job.State
	}{
		{"parked", true, false, -1, nil, job.Running},
		{"parked, one segment", true, false, 1, client.ErrNotEnded, job.Running},
		{"running, not parked", false, false, -1, client.ErrNotEnded, job.Running},
		{"parked, then cancelled", true, true, -1, nil, job.Queued},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := c.Submit(ctx, client.SubmitRequest{Source: file(t, "face.png", 10), Target: file(t, "clip.mp4", 100)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.State.Modify(ctx, job.RecordKey(id), func(old []byte) ([]byte, error) {
				var r job.Record
				_ = json.Unmarshal(old, &r)
				r.State, r.Segments, r.Owner = job.Running, 3, "coord-1"
				if tc.parked {
					r.Parked, r.Waiting = parking, parking.Note()
				}
				return json.Marshal(r)
			})
			if err != nil {
				t.Fatal(err)
			}
			if tc.cancel {
				if err := c.Cancel(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Retry(ctx, id, tc.segment); !errors.Is(err, tc.err) {
				t.Fatalf("retry: %v, want %v", err, tc.err)
			}
			r, err := c.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if r.State != tc.want || (tc.err == nil && (r.Parked != nil || r.Waiting != "" || r.Generation != 1)) {
				t.Fatalf("after retry: %s, parked %v, waiting %q, generation %d", r.State, r.Parked, r.Waiting, r.Generation)
			}
			if tc.err == nil && tc.want == job.Running && r.Owner != "coord-1" {
				t.Fatalf("the parked job's owner changed to %q", r.Owner)
			}
		})
	}
}
