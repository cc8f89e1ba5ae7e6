package engine

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/onnxtest"
	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/ort"
)

// TestWarmUp: on the CPU, with the real detector and landmarker and generated swap, recognition and enhancer graphs
// loaded as a job loads them, WarmUp runs every model at each batch without failing (on a GPU the worker's budget
// reads NVML around it), runs the batch-1 detector once per call, and refuses a batch below 1. An engine with
// nothing loaded warms nothing and does not fail.
func TestWarmUp(t *testing.T) {
	e, err := New(Config{ORTLibrary: testenv.ORTLib(t), ModelsDir: filepath.Join(testenv.SharedDir(t), "models"),
		Batch: 4, Session: ort.SessionConfig{IntraOpThreads: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.WarmUp(2); err != nil {
		t.Fatalf("nothing loaded: %v", err)
	}
	dir := t.TempDir()
	gfpgan := onnxtest.New("gfpgan").
		Input("input", onnxtest.Float, 1, 3, 512, 512).Output("output", onnxtest.Float, 1, 3, 512, 512).
		Node("Identity", []string{"input"}, []string{"output"}).
		Save(t, dir, "gfpgan_1.4.onnx")
	if err := e.Preload(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ForJob("warm", testenv.Face(t, "astronaut_eileen_collins.png"), job.FaceOptions{
		Processors: []string{job.ProcessorSwapper, job.ProcessorEnhancer}, Swapper: redInswapper(t, dir, -1),
		Recognizer: w600kGraph(t, dir), Enhancer: gfpgan, EnhancerBlend: 100}); err != nil {
		t.Fatal(err)
	}
	det := &countingDetector{Detector: mustDetector(t, e)}
	e.detector = det
	tests := []struct {
		batch   int
		wantErr string
	}{
		{batch: 1},
		{batch: 4},
		{batch: 6}, // past the engine's batch: the inswapper splits it into calls of 4 and 2
		{batch: 0, wantErr: "want at least 1"},
	}
	for _, tt := range tests {
		before := det.calls
		err := e.WarmUp(tt.batch)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("batch %d: error %v, want %q", tt.batch, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("batch %d: %v", tt.batch, err)
		}
		if got := det.calls - before; got != 1 {
			t.Errorf("batch %d: the detector ran %d times, want once", tt.batch, got)
		}
	}
	if m := strings.Join(e.Models(), ","); !strings.Contains(m, "inswapper_batch-1.onnx") || !strings.Contains(m, "gfpgan_1.4.onnx") {
		t.Errorf("models loaded: %s", m)
	}
}
