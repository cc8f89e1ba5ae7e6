package worker

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/facefleet/facefleet/pkg/memory"
	"github.com/facefleet/facefleet/pkg/metrics"
	"github.com/facefleet/facefleet/pkg/ort"
)

// TestBudgetSample: what a scrape reads from the budget: the tree's RSS against the budget, the GPU's used memory
// against its plan when one was made (recorded NVML readings, as in TestBudgetGPU: no GPU here), and the
// governor's frames in flight while it runs; the models' load time is set once LoadFirst succeeds.
func TestBudgetSample(t *testing.T) {
	const mib = 1 << 20
	const total = 23028 * mib
	reading := func(usedMiB uint64) memory.GPUReading {
		return memory.GPUReading{Mem: memory.GPUMemory{Total: total, Used: usedMiB * mib, Free: total - usedMiB*mib}}
	}
	// TestBudgetGPU's A10G load and warm-ups, then the reading a scrape takes.
	a10g := []memory.GPUReading{reading(430), reading(1650), reading(1906), reading(2802), reading(5000)}
	tests := []struct {
		name     string
		cfg      BudgetConfig
		readings []memory.GPUReading
		gpu      bool // GPU gauges expected
		governed bool // a governor runs (a budget)
	}{
		{"CPU, no budget", BudgetConfig{Pipelines: 1, MaxBatch: 1}, nil, false, false},
		{"CPU, a budget", BudgetConfig{Pipelines: 2, MaxBatch: 2, MaxMemory: 4 << 30}, nil, false, true},
		{"GPU planned", BudgetConfig{Pipelines: 2, MaxBatch: 8, Session: ort.SessionConfig{Provider: ort.ProviderCUDA}},
			a10g, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			p := &fixedRSS{rss: 200 << 20}
			b, err := NewBudget(tt.cfg, BudgetDeps{Sample: p.sample, GPU: memory.NewRecordedGPU(tt.readings...),
				Metrics: metrics.NewWorker(reg)})
			if err != nil {
				t.Fatal(err)
			}
			if err := b.LoadFirst(func() error { p.set(900 << 20); return nil }, func(int) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if err := b.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer b.Stop()
			s := b.sample()
			if !s.MemoryOK || s.RSS != 900<<20 || s.Budget != b.Total() {
				t.Errorf("memory: ok %v rss %d budget %d, want 900 MiB against %d", s.MemoryOK, s.RSS, s.Budget, b.Total())
			}
			if s.GPU != tt.gpu {
				t.Fatalf("GPU gauges %v, want %v", s.GPU, tt.gpu)
			}
			if tt.gpu {
				plan, _ := b.GPUPlan()
				if s.GPUPlanned != plan.Planned || !s.GPUUsedOK || s.GPUUsed != 5000*mib {
					t.Errorf("GPU: planned %d used %d (read %v), want %d and 5000 MiB", s.GPUPlanned, s.GPUUsed,
						s.GPUUsedOK, plan.Planned)
				}
			}
			if s.Governed != tt.governed || (tt.governed && s.InFlightMax < 1) {
				t.Errorf("governed %v limit %d, want governed %v", s.Governed, s.InFlightMax, tt.governed)
			}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			load := 0.0
			for _, mf := range mfs {
				if mf.GetName() == "facefleet_model_load_seconds" {
					load = mf.GetMetric()[0].GetGauge().GetValue()
				}
			}
			if load <= 0 {
				t.Errorf("facefleet_model_load_seconds %v: LoadFirst's time not set", load)
			}
		})
	}
}
