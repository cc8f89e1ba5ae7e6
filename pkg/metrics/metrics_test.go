package metrics

import (
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// families is the names reg gathers.
func families(t *testing.T, reg *prometheus.Registry) map[string]bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, mf := range mfs {
		out[mf.GetName()] = true
	}
	return out
}

// TestNilCollectsNothing: library callers and `run` pass no registry; every method must then be a no-op.
func TestNilCollectsNothing(t *testing.T) {
	var c *Coordinator = NewCoordinator(nil)
	var w *Worker = NewWorker(nil)
	if c != nil || w != nil {
		t.Fatal("a nil registry gave metrics")
	}
	c.JobState("", "running")
	c.Committed(2)
	c.Failed()
	c.Redelivered(3)
	c.Split(time.Second)
	c.Stitch(time.Second)
	c.Queue(func() (QueueDepth, error) { return QueueDepth{}, nil })
	c.Store().Up(1)
	w.Segment(Committed)
	w.Frames(3)
	w.SegmentSeconds(time.Second)
	w.Alert()
	w.ModelLoad(time.Second)
	w.Sample(func() WorkerSample { return WorkerSample{} })
	w.Store().Down(1)
}

// TestWorkerSample: the sampled gauges appear only when they mean something (memory read, a GPU planned, a
// governor running), so a dashboard never shows a zero for "unknown".
func TestWorkerSample(t *testing.T) {
	always := []string{"facefleet_worker_frames_per_second", "facefleet_memory_budget_bytes", "facefleet_batch_size"}
	cases := []struct {
		name   string
		sample WorkerSample
		extra  []string
	}{
		{"nothing read", WorkerSample{}, nil},
		{"memory", WorkerSample{RSS: 1, MemoryOK: true},
			[]string{"facefleet_memory_rss_bytes", "facefleet_memory_system_used_ratio"}},
		{"GPU planned, unread", WorkerSample{GPU: true}, []string{"facefleet_gpu_memory_planned_bytes"}},
		{"GPU read", WorkerSample{GPU: true, GPUUsedOK: true},
			[]string{"facefleet_gpu_memory_planned_bytes", "facefleet_gpu_memory_used_bytes"}},
		{"governed", WorkerSample{Governed: true},
			[]string{"facefleet_frames_in_flight", "facefleet_frames_in_flight_limit"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			NewWorker(reg).Sample(func() WorkerSample { return tc.sample })
			got := families(t, reg)
			for _, n := range append(append([]string{}, always...), tc.extra...) {
				if !got[n] {
					t.Errorf("%s missing", n)
				}
				delete(got, n)
			}
			for _, n := range []string{"facefleet_worker_segments_total", "facefleet_frames_processed_total",
				"facefleet_memory_alerts_total", "facefleet_segment_seconds", "facefleet_model_load_seconds",
				"facefleet_store_bytes_total"} {
				delete(got, n) // the worker's counters, always there
			}
			var left []string
			for n := range got {
				left = append(left, n)
			}
			sort.Strings(left)
			if len(left) > 0 {
				t.Errorf("unexpected families %v", left)
			}
		})
	}
}

// TestJobState moves jobs between states as the coordinator's watch sees their records change.
func TestJobState(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewCoordinator(reg)
	moves := [][2]string{{"", "queued"}, {"", "queued"}, {"queued", "running"}, {"running", "done"}, {"queued", ""}}
	for _, m := range moves {
		c.JobState(m[0], m[1])
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "facefleet_jobs" {
			for _, m := range mf.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	want := map[string]float64{"queued": 0, "running": 0, "done": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("jobs{state=%q} = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
