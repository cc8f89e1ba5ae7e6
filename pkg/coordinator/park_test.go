package coordinator

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/client"
	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/pipeline"
	"github.com/facefleet/facefleet/pkg/queue"
	"github.com/facefleet/facefleet/pkg/worker"
)

// TestMayFit: which live worker a parked job (3840x2160) is published again for.
func TestMayFit(t *testing.T) {
	const uhd = 3840 * 2160
	for _, tc := range []struct {
		name    string
		refused map[string]refusal
		parked  *job.Parking
		h       fleet.Heartbeat
		want    bool
	}{
		{"no budget", nil, nil, fleet.Heartbeat{ID: "big"}, true},
		{"says it fits", nil, nil, fleet.Heartbeat{ID: "big", MemoryBudget: 64 << 30, FitPixels: uhd}, true},
		{"says it fits less", nil, nil, fleet.Heartbeat{ID: "small", MemoryBudget: 2 << 30, FitPixels: 1920 * 1080}, false},
		{"fits nothing", nil, nil, fleet.Heartbeat{ID: "tiny", MemoryBudget: 1 << 20, FitPixels: -1}, false},
		{"does not say: trying tells", nil, nil, fleet.Heartbeat{ID: "old", MemoryBudget: 8 << 30}, true},
		{"does not say, and refused", map[string]refusal{"old": {}}, nil, fleet.Heartbeat{ID: "old", MemoryBudget: 8 << 30}, false},
		{"refused, no bigger now", map[string]refusal{"w": {fit: uhd}}, nil, fleet.Heartbeat{ID: "w", MemoryBudget: 8 << 30, FitPixels: uhd}, false},
		{"refused, restarted bigger", map[string]refusal{"w": {fit: 2073600}}, nil, fleet.Heartbeat{ID: "w", MemoryBudget: 64 << 30, FitPixels: 2 * uhd}, true},
		{"another of a size that refused", map[string]refusal{"a": {fit: uhd}}, nil, fleet.Heartbeat{ID: "b", MemoryBudget: 8 << 30, FitPixels: uhd}, false},
		{"bigger than the park's refusers", nil, &job.Parking{Width: 3840, Height: 2160, FitPixels: uhd}, fleet.Heartbeat{ID: "b", MemoryBudget: 64 << 30, FitPixels: uhd + 1}, true},
		{"no bigger than the park's refusers", nil, &job.Parking{Width: 3840, Height: 2160, FitPixels: uhd}, fleet.Heartbeat{ID: "b", MemoryBudget: 8 << 30, FitPixels: uhd}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &placement{pixels: uhd, refused: tc.refused, parked: tc.parked}
			if got := p.mayFit(tc.h); got != tc.want {
				t.Fatalf("mayFit(%+v) = %v, want %v", tc.h, got, tc.want)
			}
		})
	}
}

// TestParkedJob: a job whose segments no worker fits (a real pkg/worker with a 1 MiB budget hands them back) is
// parked once that worker's heartbeat is live (and ParkAfter has passed) (while no worker is live it stays pending: that is what wakes a fleet
// scaled to zero): the work queue's consumer has nothing pending (what KEDA reads), status says why, a coordinator
// restart keeps it parked and publishes nothing, `coordinator retry` queues it again (and it parks again), and a
// worker that fits joining gets it published, committed and stitched. Before parking, the handed-back tasks stayed
// pending forever. Real nats-server, store, workers and ffmpeg; only the face engine is a no-op (this is about
// placement, and the real engine needs model files).
func TestParkedJob(t *testing.T) {
	e, _ := newQueueEnvWith(t, queue.TasksConfig{Stream: "T", Subjects: []string{job.SubjectAll}, Consumer: "w",
		MaxDeliver: 10, AckWait: 5 * time.Second, Storage: queue.StorageMemory}, parkBeat, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli := client.Client{Tasks: e.tasks, State: e.state, Blob: e.blob}
	stopCoord := startCoordinator(t, ctx, e)

	id := job.NewID()
	sub := &job.Submission{SourceKey: job.InputKey(id, "source", ".png"), TargetKey: job.InputKey(id, "target", ".mp4"),
		SourceName: "face.png", TargetName: "clip.mp4", OutputExt: ".mp4", SegmentSeconds: 1,
		Spec: job.Spec{Face: job.FaceOptions{Processors: []string{job.ProcessorSwapper}}, Encoder: media.CodecH264, Quality: 35}}
	if err := e.blob.PutFile(ctx, sub.TargetKey, clip(t)); err != nil {
		t.Fatal(err)
	}
	if err := e.blob.Put(ctx, sub.SourceKey, strings.NewReader("face"), 4); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(job.Record{ID: id, State: job.Queued, Submission: sub})
	if _, err := e.state.Create(ctx, job.RecordKey(id), b); err != nil {
		t.Fatal(err)
	}

	// A worker too small for 64x48, without a heartbeat yet: it hands the segments back, but no worker is live.
	tiny := startParkWorker(t, ctx, e, "tiny", 1<<20)
	e.until(t, ctx, id, "handed back", func(r job.Record) bool { return strings.Contains(r.Waiting, "does not fit") })
	time.Sleep(time.Second) // five placement looks
	if r := e.record(t, ctx, id); r.Parked != nil {
		t.Fatalf("parked with no live worker: %q", r.Waiting)
	}
	if p, a := pending(t, ctx, e); p+a == 0 {
		t.Fatal("no live worker, and nothing pending: a fleet scaled to zero would never wake")
	}

	// Its heartbeat goes live: every live worker refused, so the job is parked and its tasks leave the queue.
	tiny.beat()
	r := e.until(t, ctx, id, "parked", func(r job.Record) bool { return r.Parked != nil })
	if want := "parked: no worker fits 64x48 (needs at least "; !strings.HasPrefix(r.Waiting, want) ||
		!strings.HasSuffix(r.Waiting, " GB); waiting for a bigger worker") || r.State != job.Running {
		t.Fatalf("parked job: %s, waiting %q; want running, %q...", r.State, r.Waiting, want)
	}
	t.Logf("status: %s", r.Waiting)
	waitNothingPending(t, ctx, e)

	// A restart keeps it parked: nothing is published again.
	stopCoord()
	stopCoord = startCoordinator(t, ctx, e)
	waitCoordinatorHolds(t, ctx, e, id)
	time.Sleep(time.Second)
	if r := e.record(t, ctx, id); r.Parked == nil || !strings.HasPrefix(r.Waiting, "parked: ") {
		t.Fatalf("after a restart: parked %v, waiting %q", r.Parked, r.Waiting)
	}
	if p, a := pending(t, ctx, e); p+a != 0 {
		t.Fatalf("after a restart: %d pending, %d unacked", p, a)
	}

	// The operator asks again: the job is published again under a new generation, handed back, parked again.
	if err := cli.Retry(ctx, id, -1); err != nil {
		t.Fatal(err)
	}
	r = e.until(t, ctx, id, "parked again after the retry", func(r job.Record) bool { return r.Generation == 1 && r.Parked != nil })
	waitNothingPending(t, ctx, e)

	// A worker that fits joins: the job is published again and finishes, its segments committed by that worker.
	big := startParkWorker(t, ctx, e, "big", 0)
	big.beat()
	r = e.until(t, ctx, id, "done", func(r job.Record) bool { return r.State == job.Done })
	if r.Parked != nil || r.Waiting != "" || r.Generation != 2 {
		t.Fatalf("done: parked %v, waiting %q, generation %d", r.Parked, r.Waiting, r.Generation)
	}
	for n := 0; n < r.Segments; n++ {
		en, err := e.state.Get(ctx, job.CommitKey(id, n))
		if err != nil {
			t.Fatal(err)
		}
		var c job.Commit
		if err := json.Unmarshal(en.Value, &c); err != nil || c.Worker != "big" || c.Generation != 2 {
			t.Fatalf("segment %d: commit %+v (%v)", n, c, err)
		}
	}
}

// parkBeat is the heartbeat interval of the parking test's processes: records live three of them.
const parkBeat = 300 * time.Millisecond

// startCoordinator runs a coordinator "coord-1" until the returned stop (or the test's end).
func startCoordinator(t *testing.T, ctx context.Context, e *serviceEnv) (stop func()) {
	t.Helper()
	svc, err := NewService(ServiceConfig{ID: "coord-1", WorkDir: t.TempDir(), Heartbeat: parkBeat, Scan: 200 * time.Millisecond,
		ParkAfter: 500 * time.Millisecond},
		ServiceDeps{Tasks: e.tasks, State: e.state, Fleet: e.fleet, Blob: e.blob})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = svc.Run(sctx); close(done) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

// parkWorker is a real worker with a no-op engine; beat starts its heartbeat, as `worker` publishes it.
type parkWorker struct{ beat func() }

// startParkWorker runs worker id with a budget of maxMemory bytes (0: none).
func startParkWorker(t *testing.T, ctx context.Context, e *serviceEnv, id string, maxMemory uint64) parkWorker {
	t.Helper()
	budget, err := worker.NewBudget(worker.BudgetConfig{MaxMemory: maxMemory, Pipelines: 1, MaxBatch: 1}, worker.BudgetDeps{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Config{ID: id, WorkDir: filepath.Join(t.TempDir(), id), Budget: budget,
		FetchWait: 200 * time.Millisecond, KeepAlive: time.Second, MaxDeliver: 10, Grace: time.Second,
		PlacementDelay: 500 * time.Millisecond},
		worker.Deps{Tasks: e.tasks, State: e.state, Blob: e.blob, NewEngine: func() (worker.Engine, error) { return noopEngine{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = w.Run(wctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return parkWorker{beat: func() {
		pub, err := fleet.NewPublisher(fleet.PublisherConfig{Interval: parkBeat}, e.fleet, func() fleet.Heartbeat {
			return fleet.Heartbeat{Kind: fleet.KindWorker, ID: id, Slots: 1, MemoryBudget: budget.Total(),
				Batch1080p: budget.Batch1080p(), FitPixels: budget.FitPixels()}
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pub.Start(wctx))
	}}
}

type noopEngine struct{}

func (noopEngine) ForJob(string, string, job.FaceOptions) (pipeline.Processor, error) {
	return pipeline.ProcessorFunc(func(gocv.Mat, int) error { return nil }), nil
}
func (noopEngine) Close() error { return nil }

// pending is the consumer's lag: tasks not yet delivered, and delivered but not acked (what KEDA's scaler reads).
func pending(t *testing.T, ctx context.Context, e *serviceEnv) (int, int) {
	t.Helper()
	p, a, err := e.tasks.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return p, a
}

func waitNothingPending(t *testing.T, ctx context.Context, e *serviceEnv) {
	t.Helper()
	for ctx.Err() == nil {
		if p, a := pending(t, ctx, e); p+a == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p, a := pending(t, ctx, e)
	t.Fatalf("the parked job's tasks stayed on the queue: %d pending, %d unacked", p, a)
}

// waitCoordinatorHolds waits until coord-1's heartbeat lists job id among its running jobs.
func waitCoordinatorHolds(t *testing.T, ctx context.Context, e *serviceEnv, id string) {
	t.Helper()
	for ctx.Err() == nil {
		hs, _, err := fleet.List(ctx, e.fleet, fleet.KindCoordinator)
		if err == nil && len(hs) == 1 && len(hs[0].Tasks) == 1 && hs[0].Tasks[0] == id {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the restarted coordinator never resumed the job")
}
