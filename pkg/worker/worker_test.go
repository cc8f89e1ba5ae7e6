package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/engine"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/pipeline"
	"github.com/facefleet/facefleet/pkg/queue"
	"github.com/facefleet/facefleet/pkg/store"
)

// The worker runs here against a real embedded nats-server, a real local store and real ffmpeg. Only the face
// engine is replaced, by one whose processor can be told to fail, block or race: faults the real engine cannot be
// made to show on demand. The real engine runs in pkg/standalone's end-to-end tests.

type env struct {
	tasks *queue.Tasks
	state *queue.State
	blob  store.Blob
	dir   string
	url   string // the nats-server's, for a connection of a worker's own
	tick  func() // the next worker's Deps.Tick (startWith)
}

const (
	maxDeliver  = 3
	maxAttempts = 2
)

func newEnv(t *testing.T, ackWait time.Duration) *env {
	t.Helper()
	return newEnvDeliver(t, ackWait, maxDeliver)
}

// newEnvDeliver is newEnv with the consumer's MaxDeliver: hand-backs count as deliveries.
func newEnvDeliver(t *testing.T, ackWait time.Duration, deliver int) *env {
	t.Helper()
	dir := t.TempDir()
	srv, err := queue.StartEmbedded(queue.EmbeddedConfig{Dir: filepath.Join(dir, "nats"), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx := context.Background()
	conn, err := queue.Connect(ctx, queue.ConnConfig{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	tasks, err := conn.Tasks(ctx, queue.TasksConfig{Stream: "T", Subjects: []string{job.SubjectAll}, Consumer: "w",
		AckWait: ackWait, MaxDeliver: deliver, Storage: queue.StorageMemory})
	if err != nil {
		t.Fatal(err)
	}
	state, err := conn.State(ctx, queue.StateConfig{Bucket: "s", Storage: queue.StorageMemory})
	if err != nil {
		t.Fatal(err)
	}
	blob, err := store.NewLocal(store.LocalConfig{Dir: filepath.Join(dir, "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	return &env{tasks: tasks, state: state, blob: blob, dir: dir, url: srv.URL()}
}

// publish stores a 25-frame 64x48 segment and its task.
func (e *env) publish(t *testing.T, id string) job.Task {
	t.Helper()
	return e.publishSegment(t, id, 0)
}

// publishSegment is publish of segment n of the job, frames 25n to 25n+25.
func (e *env) publishSegment(t *testing.T, id string, n int) job.Task {
	t.Helper()
	seg := filepath.Join(e.dir, id+".mkv") // other tests read segment 0's piece there
	if n > 0 {
		seg = filepath.Join(e.dir, fmt.Sprintf("%s-%d.mkv", id, n))
	}
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=1",
		"-c:v", "libx264", "-preset", "ultrafast", seg).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	ctx := context.Background()
	task := job.Task{Job: id, Segment: job.Segment{Index: n, Start: 25 * n, End: 25*n + 25}, SegmentKey: job.SegmentKey(id, n),
		Spec: job.Spec{SourceKey: job.InputKey(id, "source", ".png"), Face: job.FaceOptions{Processors: []string{job.ProcessorSwapper}},
			Encoder: "libx264", Quality: 35, FrameRateNum: 25, FrameRateDen: 1, Width: 64, Height: 48}}
	if err := e.blob.PutFile(ctx, task.SegmentKey, seg); err != nil {
		t.Fatal(err)
	}
	if err := e.blob.Put(ctx, task.Spec.SourceKey, strings.NewReader("source"), 6); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(task)
	if err := e.tasks.Publish(ctx, job.TaskSubject(id, task.Segment.Index), task.MsgID(), b); err != nil {
		t.Fatal(err)
	}
	return task
}

// fakeEngine's processor runs hook on every frame; forJob can fail the job instead.
type fakeEngine struct {
	forJob func() error
	hook   func(attempt int32, frame int) error
	calls  *atomic.Int32 // ForJob calls: one per attempt
}

func (f *fakeEngine) ForJob(string, string, job.FaceOptions) (pipeline.Processor, error) {
	attempt := f.calls.Add(1)
	if f.forJob != nil {
		if err := f.forJob(); err != nil {
			return nil, err
		}
	}
	return pipeline.ProcessorFunc(func(_ gocv.Mat, i int) error {
		if f.hook != nil {
			return f.hook(attempt, i)
		}
		return nil
	}), nil
}
func (f *fakeEngine) Close() error { return nil }

func (e *env) start(t *testing.T, eng *fakeEngine, grace time.Duration) (stop func()) {
	t.Helper()
	stop, _ = e.startWith(t, eng, func(c *Config) { c.Grace = grace })
	return stop
}

// startWith runs a worker with the tests' settings, changed by mod.
func (e *env) startWith(t *testing.T, eng *fakeEngine, mod func(*Config)) (stop func(), w *Worker) {
	t.Helper()
	if eng.calls == nil {
		eng.calls = &atomic.Int32{}
	}
	cfg := Config{ID: "w-" + strings.ReplaceAll(t.Name(), "/", "-"), WorkDir: filepath.Join(e.dir, "work"),
		FetchWait: 200 * time.Millisecond, KeepAlive: 200 * time.Millisecond, RetryDelay: 100 * time.Millisecond,
		MaxDeliver: maxDeliver, MaxAttempts: maxAttempts, Grace: time.Second,
		TroubleBase: 20 * time.Millisecond, TroubleMax: 200 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	w, err := New(cfg, Deps{Tasks: e.tasks, State: e.state, Blob: e.blob, NewEngine: func() (Engine, error) { return eng, nil }, Tick: e.tick})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop, w
}

// waitKey polls the state for a key.
func (e *env) waitKey(t *testing.T, key string, within time.Duration) []byte {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if en, err := e.state.Get(context.Background(), key); err == nil {
			return en.Value
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not appear within %v", key, within)
	return nil
}

func (e *env) commit(t *testing.T, id string) job.Commit {
	t.Helper()
	var c job.Commit
	if err := json.Unmarshal(e.waitKey(t, job.CommitKey(id, 0), 20*time.Second), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) queueEmpty(t *testing.T) {
	t.Helper()
	for i := 0; i < 50; i++ {
		p, a, err := e.tasks.Pending(context.Background())
		if err == nil && p == 0 && a == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the task was not settled")
}

func TestCommitsAndAcks(t *testing.T) {
	e := newEnv(t, 30*time.Second)
	task := e.publish(t, "job-ok")
	e.start(t, &fakeEngine{}, time.Second)
	c := e.commit(t, task.Job)
	if c.Frames != 25 || c.Attempt != 1 || c.ResultKey != job.ResultKey(task.Job, 0, 0, 1) {
		t.Fatalf("commit %+v", c)
	}
	p := filepath.Join(e.dir, "result.mp4")
	if err := e.blob.GetFile(context.Background(), c.ResultKey, p); err != nil {
		t.Fatal(err)
	}
	idx, err := media.ScanFrames(context.Background(), p)
	if err != nil || idx.Count != 25 {
		t.Fatalf("result has %v frames: %v", idx, err)
	}
	e.queueEmpty(t)
	var prog job.Progress
	_ = json.Unmarshal(e.waitKey(t, job.ProgressKey(task.Job, 0), time.Second), &prog)
	if prog.Frames != 25 {
		t.Fatalf("progress %d, want 25", prog.Frames)
	}
}

func TestRetryableFailureIsRetried(t *testing.T) {
	e := newEnv(t, 30*time.Second)
	task := e.publish(t, "job-retry")
	e.start(t, &fakeEngine{hook: func(attempt int32, frame int) error {
		if attempt == 1 && frame == 10 {
			return errors.New("transient")
		}
		return nil
	}}, time.Second)
	c := e.commit(t, task.Job)
	if c.Attempt != 2 || c.Frames != 25 {
		t.Fatalf("commit %+v, want the second attempt", c)
	}
	if _, err := e.state.Get(context.Background(), job.FailureKey(task.Job)); err == nil {
		t.Fatal("a retried segment recorded a failure")
	}
}

func TestBadInputFailsTheJobWithoutRetry(t *testing.T) {
	e := newEnv(t, 30*time.Second)
	task := e.publish(t, "job-bad")
	eng := &fakeEngine{forJob: func() error { return fmt.Errorf("/x/face.png: %w in the source image", engine.ErrNoFace) }}
	e.start(t, eng, time.Second)
	var f job.Failure
	_ = json.Unmarshal(e.waitKey(t, job.FailureKey(task.Job), 10*time.Second), &f)
	if !strings.Contains(f.Reason, "no face found") {
		t.Fatalf("failure %+v", f)
	}
	e.queueEmpty(t)
	time.Sleep(300 * time.Millisecond)
	if n := eng.calls.Load(); n != 1 {
		t.Fatalf("bad input tried %d times, want 1", n)
	}
}

func TestLastDeliveryFailsTheJob(t *testing.T) {
	e := newEnv(t, 30*time.Second)
	task := e.publish(t, "job-max")
	eng := &fakeEngine{hook: func(int32, int) error { return errors.New("always broken") }}
	e.start(t, eng, time.Second)
	var f job.Failure
	_ = json.Unmarshal(e.waitKey(t, job.FailureKey(task.Job), 20*time.Second), &f)
	if !strings.Contains(f.Reason, "always broken") {
		t.Fatalf("failure %+v", f)
	}
	// The worker's own count of failures decides (fewer than the queue's deliveries would allow).
	if n := eng.calls.Load(); n != maxAttempts {
		t.Fatalf("%d attempts, want %d", n, maxAttempts)
	}
	if b, err := e.state.Get(context.Background(), job.FailsKey(task.Job, 0)); err != nil || string(b.Value) != "2" {
		t.Fatalf("failure count %v %v, want 2", b, err)
	}
}

// A result that loses the commit race is discarded and its upload deleted; the first commit stands.
func TestLateDuplicateIsDiscarded(t *testing.T) {
	e := newEnv(t, 30*time.Second)
	task := e.publish(t, "job-race")
	other := job.Commit{Job: task.Job, Attempt: 7, Worker: "other", ResultKey: "jobs/job-race/results/00000-7.mp4", Frames: 25}
	e.start(t, &fakeEngine{hook: func(_ int32, frame int) error {
		if frame == 20 { // another worker commits while this one is still encoding
			b, _ := json.Marshal(other)
			_, err := e.state.Create(context.Background(), job.CommitKey(task.Job, 0), b)
			return err
		}
		return nil
	}}, time.Second)
	e.queueEmpty(t)
	c := e.commit(t, task.Job)
	if c.Worker != "other" {
		t.Fatalf("commit %+v: the late result replaced the first", c)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := e.blob.Stat(context.Background(), job.ResultKey(task.Job, 0, 0, 1)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the discarded upload is still stored: %v", err)
	}
}

// A worker that took a task and died (never acked) loses it when AckWait runs out; another worker redoes it.
func TestAbandonedTaskIsRedelivered(t *testing.T) {
	e := newEnv(t, time.Second)
	task := e.publish(t, "job-crash")
	leases, err := e.tasks.Fetch(context.Background(), 1, 2*time.Second)
	if err != nil || len(leases) != 1 {
		t.Fatalf("crashed worker's fetch: %v %v", leases, err)
	}
	e.start(t, &fakeEngine{}, time.Second)
	c := e.commit(t, task.Job)
	if c.Attempt != 2 {
		t.Fatalf("commit %+v, want the redelivery (attempt 2)", c)
	}
}

// On shutdown an in-flight segment that outlives the grace period goes back to the queue at once, and the
// next worker commits it.
func TestShutdownReturnsInFlightWork(t *testing.T) {
	e := newEnv(t, 30*time.Second)
	task := e.publish(t, "job-drain")
	started := make(chan struct{})
	var once sync.Once
	stop := e.start(t, &fakeEngine{hook: func(int32, int) error {
		once.Do(func() { close(started) })
		time.Sleep(100 * time.Millisecond) // 25 frames: 2.5 s, longer than the grace
		return nil
	}}, 300*time.Millisecond)
	<-started
	t0 := time.Now()
	stop()
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	if _, err := e.state.Get(context.Background(), job.CommitKey(task.Job, 0)); err == nil {
		t.Fatal("an interrupted segment was committed")
	}
	e.start(t, &fakeEngine{}, time.Second)
	if c := e.commit(t, task.Job); c.Attempt != 2 {
		t.Fatalf("commit %+v, want attempt 2", c)
	}
}
