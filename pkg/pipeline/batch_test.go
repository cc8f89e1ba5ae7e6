package pipeline_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/pipeline"
)

// batchRecorder is a BatchProcessor that records what it was handed.
type batchRecorder struct {
	sizes   []int
	indices []int
}

func (r *batchRecorder) Process(_ gocv.Mat, index int) error {
	r.sizes = append(r.sizes, 1)
	r.indices = append(r.indices, index)
	time.Sleep(20 * time.Millisecond) // slower than decoding: frames queue up for the next call
	return nil
}

func (r *batchRecorder) ProcessBatch(frames []gocv.Mat, indices []int) error {
	if len(frames) != len(indices) {
		panic("frames and indices differ")
	}
	r.sizes = append(r.sizes, len(frames))
	r.indices = append(r.indices, indices...)
	time.Sleep(20 * time.Millisecond) // slower than decoding: frames queue up for the next batch
	return nil
}

// A BatchProcessor gets what is ready, up to Batch frames, in order, every frame exactly once.
func TestRunBatches(t *testing.T) {
	in := testsrc(t, 160, 120, 2)
	want := countFrames(t, in)
	cfg := config(in, filepath.Join(t.TempDir(), "out.mp4"), 160, 120)
	cfg.InFlight, cfg.Batch, cfg.FirstFrame, cfg.Expect = 8, 3, 100, want
	r := &batchRecorder{}
	if _, err := pipeline.Run(context.Background(), cfg, r, nil); err != nil {
		t.Fatal(err)
	}
	if len(r.indices) != want {
		t.Fatalf("%d frames processed, want %d", len(r.indices), want)
	}
	for i, idx := range r.indices {
		if idx != 100+i {
			t.Fatalf("frame %d processed as index %d: out of order or repeated", i, idx)
		}
	}
	batched := 0
	for _, s := range r.sizes {
		if s > cfg.Batch {
			t.Fatalf("batch of %d over the limit %d", s, cfg.Batch)
		}
		if s > 1 {
			batched++
		}
	}
	if batched == 0 {
		t.Fatalf("no batch formed although the processor was slower than the decoder: %v", r.sizes)
	}
	t.Logf("batch sizes %v", r.sizes)
}
