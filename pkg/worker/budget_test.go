package worker

import (
	"context"
	"errors"
	"math"
	"runtime/debug"
	"sync"
	"testing"

	"github.com/facefleet/facefleet/pkg/memory"
)

// fixedRSS is a process whose RSS the test sets.
type fixedRSS struct {
	mu  sync.Mutex
	rss uint64
}

func (f *fixedRSS) set(b uint64) { f.mu.Lock(); f.rss = b; f.mu.Unlock() }
func (f *fixedRSS) sample() (memory.Sample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return memory.Sample{RSS: f.rss}, nil
}

// TestBudgetPlans: a Budget's plan is memory.Budget.Plan's for its flags and the footprint it measured.
func TestBudgetPlans(t *testing.T) {
	const before, models = 150 << 20, 600 << 20
	tests := []struct {
		name string
		cfg  BudgetConfig
	}{
		{"no budget, batch 1", BudgetConfig{Pipelines: 1, MaxBatch: 1}},
		{"no budget, memory optimization", BudgetConfig{Pipelines: 1, MaxBatch: 4, MemoryOptimization: true}},
		{"4 GB, 2 pipelines, batch 8", BudgetConfig{MaxMemory: 4 << 30, Pipelines: 2, MaxBatch: 8}},
		{"2 GB, memory optimization", BudgetConfig{MaxMemory: 2 << 30, Pipelines: 1, MaxBatch: 3, MemoryOptimization: true}},
		{"threads asked for", BudgetConfig{Pipelines: 1, MaxBatch: 1, DecoderThreads: 2, EncoderThreads: 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fixedRSS{rss: before}
			b, err := NewBudget(tt.cfg, BudgetDeps{Sample: p.sample})
			if err != nil {
				t.Fatal(err)
			}
			p.set(before + models/2)
			b.MeasureModels()
			p.set(before + models) // the largest of several loads counts
			b.MeasureModels()
			p.set(before + models/3)
			b.MeasureModels()
			if b.ModelBytes() != models {
				t.Fatalf("models %d, want %d", b.ModelBytes(), models)
			}
			got, gerr := b.Plan(1920, 1080, "libx265", 300)
			want, werr := memory.Budget{Total: tt.cfg.MaxMemory}.Plan(memory.PlanInput{Width: 1920, Height: 1080,
				Workers: tt.cfg.Pipelines, ModelBytes: models, ProcessBytes: before, Encoder: "libx265",
				MaxBatch: tt.cfg.MaxBatch, MemoryOptimization: tt.cfg.MemoryOptimization, Frames: 300,
				DecoderThreads: tt.cfg.DecoderThreads, EncoderThreads: tt.cfg.EncoderThreads})
			if gerr != nil || werr != nil || got.String() != want.String() {
				t.Fatalf("plan %v (%v), want %v (%v)", got, gerr, want, werr)
			}
			if got.OnePassPerProcessor != tt.cfg.MemoryOptimization {
				t.Errorf("one pass per processor %v with --memory-optimization %v", got.OnePassPerProcessor, tt.cfg.MemoryOptimization)
			}
			if tt.cfg.MemoryOptimization && (got.Lookahead != memory.SmallLookahead || got.DecoderThreads != 1 || got.EncoderThreads != 1) {
				t.Errorf("--memory-optimization planned %v", got)
			}
			p1080, err := b.Plan(1920, 1080, "libx264", 0)
			if err != nil {
				t.Fatal(err)
			}
			if b.Batch1080p() != p1080.Batch {
				t.Errorf("batch at 1080p %d, a 1080p task runs %d", b.Batch1080p(), p1080.Batch)
			}
		})
	}
}

// TestBudgetBatch1080p: what the heartbeat advertises is what the worker would run, 0 when it cannot, and never
// more with more pipelines in the same budget.
func TestBudgetBatch1080p(t *testing.T) {
	mk := func(total uint64, pipelines, batch int) *Budget {
		p := &fixedRSS{rss: 128 << 20}
		b, err := NewBudget(BudgetConfig{MaxMemory: total, Pipelines: pipelines, MaxBatch: batch}, BudgetDeps{Sample: p.sample})
		if err != nil {
			t.Fatal(err)
		}
		p.set(728 << 20)
		b.MeasureModels()
		return b
	}
	if got := mk(0, 4, 8).Batch1080p(); got != 8 {
		t.Errorf("no budget: %d, want --batch-size 8", got)
	}
	if got := mk(64<<30, 1, 1).Batch1080p(); got != 1 {
		t.Errorf("64 GB, --batch-size 1: %d (the start line said 8 and the heartbeat 1 before)", got)
	}
	if got := mk(1<<30, 1, 4).Batch1080p(); got != 0 {
		t.Errorf("1 GB cannot hold a 1080p pipeline: %d", got)
	}
	prev := 8
	for n := 1; n <= 8; n++ {
		b := mk(8<<30, n, 8).Batch1080p()
		if b > prev {
			t.Errorf("8 GB: %d pipelines batch %d > %d with fewer", n, b, prev)
		}
		prev = b
	}
}

// TestBudgetStartStop: with a budget the Go heap limit is set for it and restored after, the governor admits frames
// and a model's OOM halves the frames in flight; without one nothing runs.
func TestBudgetStartStop(t *testing.T) {
	p := &fixedRSS{rss: 100 << 20}
	none, err := NewBudget(BudgetConfig{Pipelines: 1, MaxBatch: 1}, BudgetDeps{Sample: p.sample})
	if err != nil {
		t.Fatal(err)
	}
	if err := none.Start(context.Background()); err != nil || none.Admitter() != nil {
		t.Fatalf("no budget: start %v, admitter %v", err, none.Admitter())
	}
	none.OOM() // logged, nothing to shrink
	none.Stop()

	prev := debug.SetMemoryLimit(-1)
	b, err := NewBudget(BudgetConfig{MaxMemory: 2 << 30, Pipelines: 2, MaxBatch: 3}, BudgetDeps{Sample: p.sample})
	if err != nil {
		t.Fatal(err)
	}
	b.OOM() // before Start (an engine loading): ignored, not a crash
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := debug.SetMemoryLimit(-1), (memory.Budget{Total: 2 << 30}).GoHeapLimit(); got != want || got == math.MaxInt64 {
		t.Errorf("Go heap limit %d, want %d", got, want)
	}
	g, ok := b.Admitter().(*memory.Governor)
	if !ok {
		t.Fatalf("admitter %T", b.Admitter())
	}
	if g.Limit() != 2*(2*3+2) {
		t.Errorf("frames in flight %d, want every pipeline's largest pool (16)", g.Limit())
	}
	b.OOM()
	if g.Limit() != 8 {
		t.Errorf("after an OOM %d frames in flight, want 8", g.Limit())
	}
	b.Stop()
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Errorf("Go heap limit %d after Stop, want %d back", got, prev)
	}
}

func TestBudgetConfigValidate(t *testing.T) {
	for _, c := range []BudgetConfig{{Pipelines: 0, MaxBatch: 1}, {Pipelines: 1, MaxBatch: 0}, {Pipelines: 1, MaxBatch: 1, EncoderThreads: -1}} {
		if _, err := NewBudget(c, BudgetDeps{}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	var be *memory.BudgetError
	b, _ := NewBudget(BudgetConfig{MaxMemory: 256 << 20, Pipelines: 1, MaxBatch: 1}, BudgetDeps{})
	if _, err := b.Plan(3840, 2160, "libx264", 0); !errors.As(err, &be) {
		t.Errorf("4K in 256 MB: %v, want a BudgetError", err)
	}
}
