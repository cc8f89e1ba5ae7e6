package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/queue"
	"github.com/facefleet/facefleet/pkg/store"
)

// gatedStore is a real store whose first PutFile of a key ending in suffix is held until its ctx ends (signalled
// on held): a coordinator caught in the middle of its split. Later puts of that key go through.
type gatedStore struct {
	store.Blob
	suffix string
	held   chan struct{}
	once   sync.Once
}

func (g *gatedStore) PutFile(ctx context.Context, key, path string) error {
	if strings.HasSuffix(key, g.suffix) {
		hold := false
		g.once.Do(func() { hold = true })
		if hold {
			close(g.held)
			<-ctx.Done()
			return ctx.Err()
		}
	}
	return g.Blob.PutFile(ctx, key, path)
}

// clip3 is a 3 s target at 25 fps with a keyframe every second: three segments of 25 frames at 1 s.
func clip3(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clip.mp4")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=3",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	return p
}

// playWorker takes one task from the queue, as a worker would: the segment's piece re-encoded is its result,
// committed with the segment's count. It returns the segment's index.
func playWorker(t *testing.T, ctx context.Context, e *serviceEnv) int {
	t.Helper()
	for {
		leases, err := e.tasks.Fetch(ctx, 1, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range leases {
			task, err := job.DecodeTask(l.Data())
			if err != nil {
				t.Fatal(err)
			}
			seg, dir := task.Segment, t.TempDir()
			piece, result := filepath.Join(dir, "piece.mkv"), filepath.Join(dir, "result.mp4")
			if err := e.blob.GetFile(ctx, task.SegmentKey, piece); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", piece,
				"-c:v", "libx264", "-preset", "ultrafast", result).CombinedOutput(); err != nil {
				t.Fatalf("ffmpeg: %v %s", err, out)
			}
			key := job.ResultKey(task.Job, seg.Index, task.Generation, 1)
			if err := e.blob.PutFile(ctx, key, result); err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(job.Commit{Job: task.Job, Segment: seg.Index, Attempt: 1, Generation: task.Generation,
				Worker: "w", ResultKey: key, Frames: seg.Frames()})
			if _, err := e.state.Create(ctx, job.CommitKey(task.Job, seg.Index), b); err != nil {
				t.Fatalf("segment %d committed twice: %v", seg.Index, err)
			}
			if err := l.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			return seg.Index
		}
	}
}

// startService runs a coordinator daemon until the returned stop is called (which waits for it to end).
func startService(t *testing.T, ctx context.Context, e *serviceEnv, blob store.Blob) (stop func()) {
	t.Helper()
	svc, err := NewService(ServiceConfig{ID: "coord-1", WorkDir: t.TempDir(), Heartbeat: 200 * time.Millisecond, Scan: 200 * time.Millisecond},
		ServiceDeps{Tasks: e.tasks, State: e.state, Fleet: e.fleet, Blob: blob})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = svc.Run(sctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// TestSplitQueuesAsItCuts: segments are queued as their pieces are stored, while the split goes on, and a
// coordinator that dies mid-split loses and duplicates nothing. The first coordinator's store holds the last
// piece's upload: segments 0 and 1 must be on the queue by then (before, nothing was queued until every piece was
// stored, and this test waited for segment 0 until its deadline). The first of them is then processed and
// committed, the other's task left queued, and the coordinator stopped mid-split (no plan in KV). Its restart splits again and
// queues only segment 2: each segment reaches a worker exactly once, and the output holds every target frame.
func TestSplitQueuesAsItCuts(t *testing.T) {
	e, ctx := newQueueEnv(t)
	gated := &gatedStore{Blob: e.blob, suffix: "/segments/00002.mkv", held: make(chan struct{})}
	id := e.submit(t, ctx, clip3(t))
	stopFirst := startService(t, ctx, e, gated)

	// Pieces are stored by a few goroutines at once, so segment 1 may be queued before segment 0.
	first := playWorker(t, ctx, e)
	if first != 0 && first != 1 {
		t.Fatalf("first task: segment %d, want 0 or 1", first)
	}
	other := 1 - first
	select {
	case <-gated.held:
	case <-ctx.Done():
		t.Fatal("the split never reached the last piece")
	}
	if has, err := e.tasks.Has(ctx, job.TaskSubject(id, other)); err != nil || !has {
		t.Fatalf("segment %d queued while the split goes on: %v %v, want true", other, has, err)
	}
	stopFirst() // dies mid-split: segment 2 not stored, no plan
	if _, err := e.state.Get(ctx, job.PlanKey(id)); !errors.Is(err, queue.ErrKeyNotFound) {
		t.Fatalf("plan after a split cut short: %v, want none", err)
	}

	startService(t, ctx, e, e.blob) // the restart (same id) resumes the job at once
	seen := map[int]int{first: 1}
	for len(seen) < 3 {
		seen[playWorker(t, ctx, e)]++
	}
	r := waitEnded(ctx, t, e, id)
	if r.State != job.Done {
		t.Fatalf("record %s (%s), want done", r.State, r.Error)
	}
	for n := 0; n < 3; n++ {
		if seen[n] != 1 {
			t.Errorf("segment %d reached a worker %d times, want once", n, seen[n])
		}
		if has, err := e.tasks.Has(ctx, job.TaskSubject(id, n)); err != nil || has {
			t.Errorf("segment %d still queued after the job: %v %v", n, has, err)
		}
	}
	out := filepath.Join(t.TempDir(), "out.mp4")
	if err := e.blob.GetFile(ctx, r.OutputKey, out); err != nil {
		t.Fatal(err)
	}
	if idx, err := media.ScanFrames(ctx, out); err != nil || idx.Count != 75 {
		t.Fatalf("output: %v, %v; want the target's 75 frames", idx, err)
	}
}
