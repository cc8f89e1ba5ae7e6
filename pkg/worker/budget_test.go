package worker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"testing"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/memory"
	"github.com/facefleet/facefleet/pkg/ort"
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

// TestBudgetFitPixels: the largest frame the heartbeat advertises fits, the next size up does not, and it agrees with
// the plan of a task at that size; no budget says 0, a budget below the process says -1, a huge one the largest.
func TestBudgetFitPixels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		total uint64
		slots int
		want  string // "none" (0), "nothing" (-1), "max", or "some"
	}{
		{"no budget", 0, 1, "none"},
		{"below the process", 64 << 20, 1, "nothing"},
		{"1 GB", 1 << 30, 1, "some"},
		{"4 GB, 2 slots", 4 << 30, 2, "some"},
		{"1 TB", 1 << 40, 1, "max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &fixedRSS{rss: 128 << 20}
			b, err := NewBudget(BudgetConfig{MaxMemory: tc.total, Pipelines: tc.slots, MaxBatch: 4}, BudgetDeps{Sample: p.sample})
			if err != nil {
				t.Fatal(err)
			}
			p.set(328 << 20)
			b.MeasureModels()
			got := b.FitPixels()
			switch tc.want {
			case "none", "nothing", "max":
				want := map[string]int64{"none": 0, "nothing": -1, "max": int64(job.MaxDimension) * (job.MaxDimension * 9 / 16)}[tc.want]
				if got != want {
					t.Fatalf("FitPixels %d, want %d", got, want)
				}
				return
			}
			if got <= 0 {
				t.Fatalf("FitPixels %d", got)
			}
			// Its 16:9 frame fits; one 64 rows taller does not.
			h := 2
			for int64((h*16/9+1)&^1)*int64(h) < got {
				h += 2
			}
			if _, err := b.Plan((h*16/9+1)&^1, h, "libx264", 0); err != nil {
				t.Errorf("the advertised %dx%d does not fit: %v", (h*16/9+1)&^1, h, err)
			}
			if _, err := b.Plan(((h+64)*16/9+1)&^1, h+64, "libx264", 0); err == nil {
				t.Errorf("%d pixels advertised, but a frame 64 rows taller fits too", got)
			}
		})
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

// TestBudgetGPU: on a GPU provider the first pipeline's load is measured on the device and the GPU is planned: the
// slots and batch the budget runs, and each session's arena limit. The readings are recorded NVML figures (stand-ins
// for an inswapper slot on an A10G, as in pkg/memory's GPU tests, until a device check records real ones).
func TestBudgetGPU(t *testing.T) {
	const mib = 1 << 20
	const total = 23028 * mib
	reading := func(usedMiB uint64) memory.GPUReading {
		return memory.GPUReading{Mem: memory.GPUMemory{Total: total, Used: usedMiB * mib, Free: total - usedMiB*mib}}
	}
	// Load +1220 MiB, a batch-1 call +256, a batch-8 call +896 more: 1348 MiB a slot, 128 a frame.
	a10g := []memory.GPUReading{reading(430), reading(1650), reading(1906), reading(2802)}
	cuda := ort.SessionConfig{Provider: ort.ProviderCUDA}
	tests := []struct {
		name            string
		cfg             BudgetConfig
		readings        []memory.GPUReading
		slots, batch    int  // what the budget runs
		planned, tooBig bool // a GPU plan was made; the budget is too small for one slot
	}{
		{"CPU provider: nothing read, nothing planned", BudgetConfig{Pipelines: 2, MaxBatch: 8}, nil, 2, 8, false, false},
		{"A10G, 8 slots at batch 8 fit", BudgetConfig{Pipelines: 8, MaxBatch: 8, Session: cuda}, a10g, 8, 8, true, false},
		{"A10G, --max-gpu-memory 2: one slot at batch 5", BudgetConfig{Pipelines: 4, MaxBatch: 8, Session: cuda,
			MaxGPUMemory: 2 << 30}, a10g, 1, 5, true, false},
		{"A10G, --max-gpu-memory 1: too small", BudgetConfig{Pipelines: 1, MaxBatch: 1, Session: cuda,
			MaxGPUMemory: 1 << 30}, a10g, 0, 0, true, true},
		{"NVML fails before load: loaded, planned as no GPU", BudgetConfig{Pipelines: 3, MaxBatch: 2, Session: cuda},
			[]memory.GPUReading{{Err: errors.New("NVML: GPU is lost")}}, 3, 2, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fixedRSS{rss: 200 << 20}
			b, err := NewBudget(tt.cfg, BudgetDeps{Sample: p.sample, GPU: memory.NewRecordedGPU(tt.readings...)})
			if err != nil {
				t.Fatal(err)
			}
			loads, warms := 0, []int{}
			err = b.LoadFirst(func() error { loads++; p.set(900 << 20); return nil },
				func(n int) error { warms = append(warms, n); return nil })
			if loads != 1 || b.ModelBytes() != 700<<20 {
				t.Fatalf("loaded %d times, models %d", loads, b.ModelBytes())
			}
			if tt.tooBig {
				var ge *memory.GPUBudgetError
				if !errors.As(err, &ge) {
					t.Fatalf("err %v, want a GPUBudgetError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gp, ok := b.GPUPlan()
			if ok != tt.planned {
				t.Fatalf("GPU plan %v made %v, want %v", gp, ok, tt.planned)
			}
			if tt.planned && !slices.Equal(warms, []int{1, max(2, tt.cfg.MaxBatch)}) {
				t.Errorf("warm-ups %v", warms)
			}
			if b.Pipelines() != tt.slots {
				t.Errorf("pipelines %d, want %d", b.Pipelines(), tt.slots)
			}
			plan, err := b.Plan(640, 360, "libx264", 0)
			if err != nil {
				t.Fatal(err)
			}
			if plan.Batch != tt.batch {
				t.Errorf("batch %d, want %d (plan %v)", plan.Batch, tt.batch, plan)
			}
			s := b.Session(tt.cfg.Session)
			switch {
			case !tt.cfg.Session.OnGPU():
				if s != tt.cfg.Session {
					t.Errorf("CPU session changed: %+v", s)
				}
			case tt.planned && (s.GPUMemLimit != gp.ArenaLimit || s.ArenaExtendStrategy != ort.ArenaSameAsRequested):
				t.Errorf("session %+v, want the arena limit %d grown as requested", s, gp.ArenaLimit)
			case !tt.planned && s.GPUMemLimit != 0:
				t.Errorf("no plan, yet an arena limit %d", s.GPUMemLimit)
			}
			// A lower --execution-gpu-mem-limit the user asked for stays.
			if tt.planned {
				low := tt.cfg.Session
				low.GPUMemLimit = 1 << 20
				if got := b.Session(low).GPUMemLimit; got != 1<<20 {
					t.Errorf("the user's lower arena limit became %d", got)
				}
			}
		})
	}
}

// TestBudgetContainer: in a container with a memory limit (a cgroup v2 tree the test writes: the real hierarchy
// cannot be changed here) a budget with no --max-memory is the limit less the margin, and one above it is lowered
// to that with a warning. Before, a worker in a pod without --max-memory had no budget at all.
func TestBudgetContainer(t *testing.T) {
	const limit = 4 << 30
	dir := t.TempDir()
	mount := filepath.Join(dir, "sys")
	if err := os.MkdirAll(mount, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"memory.max": fmt.Sprint(limit), "memory.current": "104857600",
		"memory.stat": "anon 100000000\ninactive_file 0\n"} {
		if err := os.WriteFile(filepath.Join(mount, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	proc := filepath.Join(dir, "cgroup")
	if err := os.WriteFile(proc, []byte("0::/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cg := &memory.CgroupReader{ProcCgroup: proc, Mount: mount, RAM: 64 << 30}
	inPod := uint64(limit) - memory.ContainerMargin(limit)
	tests := []struct {
		name      string
		maxMemory uint64
		cg        *memory.CgroupReader
		want      uint64
		warned    bool
	}{
		{"no container, no --max-memory: none", 0, nil, 0, false},
		{"in a pod, no --max-memory: the limit less the margin", 0, cg, inPod, false},
		{"in a pod, --max-memory 2: as asked", 2 << 30, cg, 2 << 30, false},
		{"in a pod, --max-memory 8: the limit wins, with a warning", 8 << 30, cg, inPod, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var alerts []string
			b, err := NewBudget(BudgetConfig{MaxMemory: tt.maxMemory, Pipelines: 1, MaxBatch: 1},
				BudgetDeps{Cgroup: tt.cg, Sample: (&fixedRSS{rss: 1}).sample, Alert: func(m string) { alerts = append(alerts, m) }})
			if err != nil {
				t.Fatal(err)
			}
			if b.Total() != tt.want || (len(alerts) > 0) != tt.warned {
				t.Errorf("budget %d (alerts %q), want %d (warned %v)", b.Total(), alerts, tt.want, tt.warned)
			}
		})
	}
}
