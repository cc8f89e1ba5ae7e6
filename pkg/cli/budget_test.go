package cli

import (
	"reflect"
	"testing"

	"github.com/spf13/pflag"

	"github.com/facefleet/facefleet/pkg/memory"
	"github.com/facefleet/facefleet/pkg/standalone"
	"github.com/facefleet/facefleet/pkg/worker"
)

// TestRunAndWorkerPlanAlike: the same memory flags on `run` and on `worker` give the same budget and, for every
// task, the same plan. Before one budget path, --memory-optimization meant lookahead 5 under run, 8 for a worker
// without a budget and 10 for one with a budget, and a worker's start line and heartbeat disagreed on its batch.
func TestRunAndWorkerPlanAlike(t *testing.T) {
	tests := []struct {
		name             string
		shared           []string
		runArgs, wrkArgs []string
	}{
		{"defaults", nil, nil, nil},
		{"a budget", []string{"--max-memory", "3.5"}, nil, nil},
		{"memory optimization, no budget", []string{"--memory-optimization", "--batch-size", "4"}, nil, nil},
		{"memory optimization and a budget", []string{"--memory-optimization", "--max-memory", "2", "--batch-size", "3"}, nil, nil},
		{"two pipelines", []string{"--max-memory", "6", "--batch-size", "8"}, []string{"--workers", "2"}, []string{"--slots", "2"}},
		{"on a GPU", []string{"--execution-provider", "cuda", "--max-gpu-memory", "10", "--batch-size", "2"}, nil, nil},
	}
	// Both sides measure the same process: 150 MiB before the models, 700 MiB with them.
	rss := []uint64{150 << 20, 850 << 20}
	sampler := func() func() (memory.Sample, error) {
		i := 0
		return func() (memory.Sample, error) {
			s := memory.Sample{RSS: rss[min(i, len(rss)-1)]}
			i++
			return s, nil
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := standalone.Default()
			fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
			runFlags(fs, &cfg, new(logFlags), new(bool))
			if err := fs.Parse(append(append([]string{}, tt.shared...), tt.runArgs...)); err != nil {
				t.Fatal(err)
			}
			o := newWorkerOptions()
			if err := workerCommand(o).Flags().Parse(append(append([]string{}, tt.shared...), tt.wrkArgs...)); err != nil {
				t.Fatal(err)
			}
			run, wrk := cfg.BudgetConfig(), o.budgetConfig()
			if !reflect.DeepEqual(run, wrk) {
				t.Fatalf("budgets differ:\nrun    %+v\nworker %+v", run, wrk)
			}
			rb, err := worker.NewBudget(run, worker.BudgetDeps{Sample: sampler()})
			if err != nil {
				t.Fatal(err)
			}
			wb, err := worker.NewBudget(wrk, worker.BudgetDeps{Sample: sampler()})
			if err != nil {
				t.Fatal(err)
			}
			rb.MeasureModels()
			wb.MeasureModels()
			for _, task := range []struct {
				w, h   int
				enc    string
				frames int
			}{{1920, 1080, "libx264", 0}, {1280, 720, "libx265", 750}, {640, 360, "libvpx-vp9", 30}, {3840, 2160, "libx264", 0}} {
				rp, rerr := rb.Plan(task.w, task.h, task.enc, task.frames)
				wp, werr := wb.Plan(task.w, task.h, task.enc, task.frames)
				if !reflect.DeepEqual(rp, wp) || (rerr == nil) != (werr == nil) {
					t.Errorf("%dx%d %s: run %v (%v), worker %v (%v)", task.w, task.h, task.enc, rp, rerr, wp, werr)
				}
				if rerr == nil && cfg.MemoryOptimization && (rp.Lookahead != memory.SmallLookahead || !rp.OnePassPerProcessor) {
					t.Errorf("%dx%d: --memory-optimization planned %v", task.w, task.h, rp)
				}
			}
			if rb.Batch1080p() != wb.Batch1080p() {
				t.Errorf("batch at 1080p: run %d, worker %d", rb.Batch1080p(), wb.Batch1080p())
			}
		})
	}
}
