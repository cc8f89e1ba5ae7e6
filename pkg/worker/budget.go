package worker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/memory"
	"github.com/facefleet/facefleet/pkg/metrics"
	"github.com/facefleet/facefleet/pkg/ort"
	"github.com/facefleet/facefleet/pkg/pipeline"
)

// BudgetConfig is what a process's memory budget is made of: the flags `coordinator run` and `worker` share, with
// the same meaning on both paths.
type BudgetConfig struct {
	// MaxMemory is --max-memory in bytes: what the whole process tree (ffmpeg children included) may use. 0 = none.
	MaxMemory uint64
	// Pipelines is how many segments the process works on at once: run's --workers, a worker's --slots. Each loads
	// its own models.
	Pipelines int
	// MaxBatch is --batch-size, the most frames per model call.
	MaxBatch int
	// MemoryOptimization is --memory-optimization: one thread per ffmpeg, the small encoder lookahead, and a job's
	// processors one pass each. It is interpreted by the plan alone.
	MemoryOptimization bool
	// DecoderThreads and EncoderThreads bound each ffmpeg's threads; 0 lets the plan choose.
	DecoderThreads, EncoderThreads int
	// Session is the models' execution provider: on a GPU (cuda, tensorrt) the GPU is planned too.
	Session ort.SessionConfig
	// MaxGPUMemory is --max-gpu-memory in bytes: what every session of the process may hold on Session.DeviceID;
	// 0 = the device's free memory at start less memory.GPUMargin. Commands refuse it without a GPU provider
	// (standalone.CheckMaxGPUMemory).
	MaxGPUMemory uint64
}

// Validate checks c; it changes nothing.
func (c BudgetConfig) Validate() error {
	switch {
	case c.Pipelines < 1:
		return fmt.Errorf("worker: budget: %d pipelines: want at least 1", c.Pipelines)
	case c.MaxBatch < 1:
		return fmt.Errorf("--batch-size %d: want at least 1", c.MaxBatch)
	case c.DecoderThreads < 0 || c.EncoderThreads < 0:
		return fmt.Errorf("worker: budget: codec threads %d/%d: want >= 0", c.DecoderThreads, c.EncoderThreads)
	}
	return nil
}

// BudgetDeps are what a Budget measures with and reports to.
type BudgetDeps struct {
	// Sample reads the process tree's memory; memory.NewSampler(os.Getpid()).Sample when nil.
	Sample func() (memory.Sample, error)
	// GPU reads the execution device's memory when the session runs on one; memory.OpenGPU(Session.DeviceID)
	// (NVML) when nil.
	GPU memory.GPUDevice
	// Alert receives the governor's lines for people (the 85% alert, a model's OOM); they are logged at Warn too.
	Alert func(msg string)
	// Cgroup reads the container's memory limit; nil plans without one (tests). Processes pass
	// &memory.CgroupReader{}, the real files.
	Cgroup *memory.CgroupReader
	// Observe, when set, sees the governor's state after every sample (tests, the live line).
	Observe func(memory.GovernorState)
	Clock   memory.Clock
	Log     *zap.Logger
	// Metrics, when set, counts the governor's alerts and the models' load time; nil collects nothing.
	Metrics *metrics.Worker
}

// Budget is a process's one memory path, built once and shared by every pipeline in it, in `coordinator run` and in
// `bin/worker` alike: it measures the models' footprint, plans each task (memory.Budget.Plan), and, with a budget,
// keeps the process tree inside it at run time (the governor admits frames, a model's OOM halves the frames in
// flight) with the Go heap limit set for it.
type Budget struct {
	cfg   BudgetConfig
	deps  BudgetDeps
	total uint64

	mu     sync.Mutex
	before uint64 // the process tree's RSS before any model was loaded
	models uint64 // one pipeline's models: the largest RSS over before seen while they loaded
	gpu    *memory.GPUPlan
	gpuDev memory.GPUDevice // the device the plan was measured on, read again for the metrics

	sampleMu sync.Mutex // one sample at a time: the governor, the model measurement and a scrape share the sampler

	gov       atomic.Pointer[memory.Governor] // set by Start; engines may report an OOM before
	stop      context.CancelFunc
	done      chan struct{}
	heapLimit int64 // the Go heap limit before Start, restored by Stop
}

// NewBudget samples the process before any model is loaded: call it first.
func NewBudget(cfg BudgetConfig, deps BudgetDeps) (*Budget, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Sample == nil {
		deps.Sample = memory.NewSampler(os.Getpid()).Sample
	}
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	b := &Budget{cfg: cfg, deps: deps, total: cfg.MaxMemory}
	sample := deps.Sample
	b.deps.Sample = func() (memory.Sample, error) {
		b.sampleMu.Lock()
		defer b.sampleMu.Unlock()
		return sample()
	}
	if deps.Cgroup != nil {
		// In a container the kernel kills at its memory limit: with no --max-memory the budget is the limit less
		// a margin, and a --max-memory above that is lowered to it.
		info, err := deps.Cgroup.Read()
		if err != nil {
			deps.Log.Warn("cannot read the container's memory limit; planning without it", zap.Error(err))
		}
		var note string
		b.total, note = memory.ContainerBudget(cfg.MaxMemory, info)
		if note != "" {
			deps.Log.Warn(note)
			if deps.Alert != nil {
				deps.Alert(note)
			}
		}
	}
	if s, err := b.deps.Sample(); err == nil {
		b.before = s.RSS
	}
	return b, nil
}

// Total is the budget in bytes; 0 = none.
func (b *Budget) Total() uint64 { return b.total }

// Pipelines is how many segments the process works on at once: what was asked for, fewer when the GPU cannot hold
// that many slots' sessions.
func (b *Budget) Pipelines() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gpu != nil {
		return min(b.cfg.Pipelines, b.gpu.Slots)
	}
	return b.cfg.Pipelines
}

// maxBatch is --batch-size, less when the GPU cannot hold that batch in every slot.
func (b *Budget) maxBatch() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gpu != nil {
		return max(1, min(b.cfg.MaxBatch, b.gpu.Batch))
	}
	return b.cfg.MaxBatch
}

// LoadFirst loads the process's first pipeline's models with load and measures what they take: the RAM always
// (MeasureModels), and on a GPU the device's memory around load and two warm-up calls (warm, at batch 1 and 2 or
// --batch-size), from which the GPU is planned: the slots and batch that fit --max-gpu-memory, and each session's
// arena limit (Session). Call it once, before the other pipelines' engines are made. A GPU that cannot be read is
// logged and planned as none; a GPU budget too small for one slot at batch 1 is a *memory.GPUBudgetError.
func (b *Budget) LoadFirst(load func() error, warm func(batch int) error) (err error) {
	defer b.MeasureModels()
	t0 := time.Now()
	defer func() {
		if err == nil {
			b.deps.Metrics.ModelLoad(time.Since(t0))
		}
	}()
	if !b.cfg.Session.OnGPU() {
		return load()
	}
	dev := b.deps.GPU
	if dev == nil {
		var err error
		if dev, err = memory.OpenGPU(b.cfg.Session.DeviceID); err != nil {
			b.deps.Log.Warn("cannot read the GPU's memory: its use is not planned", zap.Error(err))
			return load()
		}
	}
	loaded, loadErr := false, error(nil)
	m, err := memory.MeasureGPU(dev, func() error { loaded, loadErr = true, load(); return loadErr }, warm,
		max(2, b.cfg.MaxBatch))
	switch {
	case loadErr != nil:
		return loadErr
	case err != nil:
		b.deps.Log.Warn("cannot measure the models' GPU memory: its use is not planned", zap.Error(err))
		if !loaded {
			return load()
		}
		return nil
	}
	p, err := memory.PlanGPU(memory.GPUPlanInput{Device: b.cfg.Session.DeviceID, Free: m.Start.Free,
		Max: b.cfg.MaxGPUMemory, Cost: m.Cost, Slots: b.cfg.Pipelines, MaxBatch: b.cfg.MaxBatch})
	if err != nil {
		return err
	}
	if p.Warning != "" {
		b.deps.Log.Warn(p.Warning)
	}
	b.deps.Log.Info("GPU plan", zap.String("plan", p.String()), zap.Uint64("session_bytes", m.Cost.SessionBytes),
		zap.Uint64("frame_bytes", m.Cost.FrameBytes))
	b.mu.Lock()
	b.gpu, b.gpuDev = &p, dev
	b.mu.Unlock()
	return nil
}

// GPUPlan is the GPU's plan; ok is false when none was made (no GPU provider, no readable GPU).
func (b *Budget) GPUPlan() (p memory.GPUPlan, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gpu == nil {
		return p, false
	}
	return *b.gpu, true
}

// Session is s as the plan runs it: on a GPU the arena grows by what is asked (the default doubling would make the
// measured deltas the chunk sizes, not the need), capped at the plan's share of each session unless a lower
// --execution-gpu-mem-limit was asked for.
func (b *Budget) Session(s ort.SessionConfig) ort.SessionConfig {
	if !s.OnGPU() {
		return s
	}
	if s.ArenaExtendStrategy == "" {
		s.ArenaExtendStrategy = ort.ArenaSameAsRequested
	}
	if p, ok := b.GPUPlan(); ok && (s.GPUMemLimit == 0 || p.ArenaLimit < s.GPUMemLimit) {
		s.GPUMemLimit = p.ArenaLimit
	}
	return s
}

// MeasureModels samples the process now, with one pipeline's models loaded: their footprint is the RSS over the
// one NewBudget saw. Called more than once (one processor's models at a time), it keeps the largest.
func (b *Budget) MeasureModels() {
	s, err := b.deps.Sample()
	if err != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.RSS > b.before {
		b.models = max(b.models, s.RSS-b.before)
	}
}

// ModelBytes is one pipeline's measured model footprint.
func (b *Budget) ModelBytes() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.models
}

// Plan is the settings a w x h segment of frames frames (0: unknown) coded with encoder runs with in each pipeline.
// Without a budget it is the fastest plan the flags allow. A budget too small for it fails with a
// *memory.BudgetError.
func (b *Budget) Plan(w, h int, encoder string, frames int) (memory.Plan, error) {
	b.mu.Lock()
	before, models := b.before, b.models
	b.mu.Unlock()
	return memory.Budget{Total: b.total}.Plan(memory.PlanInput{Width: w, Height: h, Workers: b.Pipelines(),
		ModelBytes: models, ProcessBytes: before, Encoder: encoder, MaxBatch: b.maxBatch(),
		MemoryOptimization: b.cfg.MemoryOptimization, DecoderThreads: b.cfg.DecoderThreads,
		EncoderThreads: b.cfg.EncoderThreads, Frames: frames})
}

// PlanImage checks that a w x h image target fits the budget; in carries what only the caller knows (the file's
// size and formats), the process and model bytes are the budget's.
func (b *Budget) PlanImage(in memory.ImageInput) (memory.Estimate, error) {
	b.mu.Lock()
	in.ProcessBytes, in.ModelBytes = b.before, b.models
	b.mu.Unlock()
	return memory.Budget{Total: b.total}.PlanImage(in)
}

// Batch1080p is the batch a 1920x1080 libx264 segment runs with here, the figure the fleet compares workers by;
// 0 when the budget cannot hold one.
func (b *Budget) Batch1080p() int {
	p, err := b.Plan(1920, 1080, "libx264", 0)
	if err != nil {
		return 0
	}
	return p.Batch
}

// FitPixels is the largest 16:9 frame (width x height) a libx264 segment of which fits here at batch 1, for the
// heartbeat: coordinators compare it with a parked job's resolution. 0 without a budget (everything fits), -1 when
// not even the smallest frame does. The plan's memory grows with the frame's size, so a binary search over the
// height finds it; frames up to job.MaxDimension wide are looked at.
func (b *Budget) FitPixels() int64 {
	if b.total == 0 {
		return 0
	}
	size := func(h int) (int, int) { return (h*16/9 + 1) &^ 1, h }
	fits := func(h int) bool { w, h := size(h); _, err := b.Plan(w, h, "libx264", 0); return err == nil }
	lo, hi := 2, job.MaxDimension*9/16 // lo..hi: even heights; w at hi is MaxDimension
	if !fits(lo) {
		return -1
	}
	if fits(hi) {
		w, h := size(hi)
		return int64(w) * int64(h)
	}
	for hi-lo > 2 { // fits(lo), !fits(hi)
		mid := (lo + hi) / 2 &^ 1
		if fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	w, h := size(lo)
	return int64(w) * int64(h)
}

// Start sets the Go heap limit for the budget and starts the governor; both live until Stop. Without a budget it
// does nothing.
func (b *Budget) Start(ctx context.Context) error {
	if b.total == 0 || b.gov.Load() != nil {
		return nil
	}
	alert := func(msg string) {
		b.deps.Metrics.Alert()
		b.deps.Log.Warn("memory", zap.String("alert", msg))
		if b.deps.Alert != nil {
			b.deps.Alert(msg)
		}
	}
	limit := b.Pipelines() * (2*b.maxBatch() + 2) // every pipeline's largest pool (memory.Budget.Plan)
	// The limit on frames in flight is logged whenever a sample changes it: the alert says why it fell, this says
	// where it went and when it came back. Observe is called from the governor's one goroutine.
	observe := func(st memory.GovernorState) {
		if st.Limit != limit {
			b.deps.Log.Info("memory: frames in flight", zap.Int("limit", st.Limit), zap.Int("was", limit),
				zap.Float64("usage", math.Round(st.Usage*1000)/1000), zap.Uint64("rss", st.Last.RSS))
			limit = st.Limit
		}
		if b.deps.Observe != nil {
			b.deps.Observe(st)
		}
	}
	g, err := memory.NewGovernor(memory.GovernorConfig{Budget: b.total, Sampler: b.deps.Sample, Clock: b.deps.Clock,
		MaxInFlight: limit, Alert: alert, Observe: observe})
	if err != nil {
		return err
	}
	b.gov.Store(g)
	b.heapLimit = debug.SetMemoryLimit(memory.Budget{Total: b.total}.GoHeapLimit())
	gctx, cancel := context.WithCancel(ctx)
	b.stop, b.done = cancel, make(chan struct{})
	go func() { defer close(b.done); g.Run(gctx) }()
	return nil
}

// Stop stops the governor and restores the Go heap limit: the limit is process-wide, and the next job in the same
// process (a test, a library caller) must not inherit this one's.
func (b *Budget) Stop() {
	if b.gov.Load() == nil {
		return
	}
	b.stop()
	<-b.done
	debug.SetMemoryLimit(b.heapLimit)
}

// Admitter is what every pipeline asks before decoding a frame: the governor, or nil without a budget.
func (b *Budget) Admitter() pipeline.Admitter {
	g := b.gov.Load()
	if g == nil {
		return nil // a nil *Governor must not become a non-nil interface
	}
	return g
}

// OOM takes a model's out-of-memory error (engine.Config.OnOOM): the frames in flight are halved at once.
func (b *Budget) OOM() {
	if g := b.gov.Load(); g != nil {
		g.OOM()
		return
	}
	b.deps.Log.Warn("a model ran out of memory; without --max-memory nothing shrinks the frames in flight")
}

// String is the budget for a start line: "4.00 GB" or "none".
func (b *Budget) String() string {
	if b.total == 0 {
		return "none"
	}
	return memory.FormatGB(b.total)
}

// sample is the budget's part of a worker's sampled metrics, read at scrape time: the process tree's memory against
// the budget, the GPU's against its plan, and the governor's frames in flight.
func (b *Budget) sample() metrics.WorkerSample {
	out := metrics.WorkerSample{Budget: b.total}
	if s, err := b.deps.Sample(); err == nil || errors.Is(err, memory.ErrCgroup) {
		out.RSS, out.SystemRatio, out.MemoryOK = s.RSS, s.SystemPct/100, true
	}
	b.mu.Lock()
	plan, dev := b.gpu, b.gpuDev
	b.mu.Unlock()
	if plan != nil {
		out.GPU, out.GPUPlanned = true, plan.Planned
		if m, err := dev.Memory(); err == nil {
			out.GPUUsed, out.GPUUsedOK = m.Used, true
		}
	}
	if g := b.gov.Load(); g != nil {
		st := g.State()
		out.InFlight, out.InFlightMax, out.Governed = st.InFlight, st.Limit, true
	}
	return out
}
