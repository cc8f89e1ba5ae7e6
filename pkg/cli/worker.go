package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/facefleet/facefleet/models"
	"github.com/facefleet/facefleet/pkg/cluster"
	"github.com/facefleet/facefleet/pkg/engine"
	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/health"
	"github.com/facefleet/facefleet/pkg/memory"
	"github.com/facefleet/facefleet/pkg/metrics"
	"github.com/facefleet/facefleet/pkg/ort"
	"github.com/facefleet/facefleet/pkg/standalone"
	"github.com/facefleet/facefleet/pkg/version"
	"github.com/facefleet/facefleet/pkg/worker"
)

// workerOptions are the worker command's settings.
type workerOptions struct {
	cc                             cluster.Config
	modelsDir, ortLib, workDir, id string
	detector                       string
	session                        ort.SessionConfig
	threads                        int
	budget                         worker.BudgetConfig // --slots, --batch-size, --memory-optimization
	maxMemoryGB, maxGPUMemoryGB    float64
	logs                           logFlags
	grace                          time.Duration
	ahead                          bool
	httpAddr                       string
	simulateFrameCost              time.Duration // hidden: the control-plane benchmark's synthetic processor
}

// budgetConfig is the worker's memory budget: its flags mean what `run`'s do (standalone.Config.BudgetConfig).
func (o *workerOptions) budgetConfig() worker.BudgetConfig {
	b := o.budget
	b.MaxMemory, b.MaxGPUMemory = memory.Bytes(o.maxMemoryGB), memory.Bytes(o.maxGPUMemoryGB)
	b.Session = o.session
	return b
}

// newWorkerOptions are the worker's defaults, before its flags.
func newWorkerOptions() *workerOptions {
	return &workerOptions{session: ort.SessionConfig{Provider: ort.ProviderCPU}}
}

// Worker is the `worker` command: a daemon that pulls segment tasks from NATS JetStream, with the blob store the
// coordinator shares (S3, or a directory on one machine).
func Worker() *cobra.Command {
	o := newWorkerOptions()
	c := workerCommand(o)
	c.RunE = func(cmd *cobra.Command, _ []string) error { return runWorker(cmd, o) }
	c.AddCommand(drainCmd())
	return withHelp(withConfig(withVersion(c)), nil)
}

// workerCommand is the worker command with its flags bound to o, without its action.
func workerCommand(o *workerOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "worker --nats URL --s3-endpoint HOST:PORT",
		Short: "Process Facefleet segment tasks from NATS JetStream",
		Example: examples("worker --nats nats://127.0.0.1:4222 --s3-endpoint 127.0.0.1:7070 --slots 2 --max-memory 8",
			"worker --config cluster.yaml --execution-provider cuda --max-gpu-memory 20"),
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := c.Flags()
	clusterFlags(f, &o.cc)
	f.StringVar(&o.modelsDir, "models-dir", models.DefaultDir(), "directory of model files")
	f.StringVar(&o.ortLib, "onnxruntime-library", "", "path of libonnxruntime (default: the one make setup installs)")
	f.StringVar(&o.workDir, "work-dir", filepath.Join(os.TempDir(), "facefleet-worker"), "scratch directory")
	f.StringVar(&o.id, "id", "", "worker id (default host-pid)")
	f.IntVar(&o.budget.Pipelines, "slots", 1, "segments processed at once")
	f.IntVar(&o.budget.MaxBatch, "batch-size", 1, batchSizeHelp)
	f.Var(sizeGB{&o.maxMemoryGB}, "max-memory", "memory budget in GB for this worker process and any children (0 = none): tasks that do not fit are handed to bigger workers")
	f.Var(sizeGB{&o.maxGPUMemoryGB}, "max-gpu-memory", maxGPUMemoryUsage)
	f.BoolVar(&o.budget.MemoryOptimization, "memory-optimization", false, memoryOptimizationHelp)
	f.DurationVar(&o.grace, "grace", 30*time.Second, "on SIGTERM, how long in-flight segments may finish before they go back to the queue")
	f.BoolVar(&o.ahead, "ahead", true, "take each slot's next task ahead: download it during the current frames, upload the last result beside the next frames")
	f.StringVar(&o.detector, "face-detector-model", engine.DefaultDetector, "face detector: a manifest name or a file")
	sessionFlags(f, &o.session, &o.threads)
	httpAddrFlag(f, &o.httpAddr)
	o.logs.register(f, "info")
	// Hidden, and refused unless FACEFLEET_SIMULATE=1 (worker.NewSimulation): a benchmark's switch, not a feature.
	f.DurationVar(&o.simulateFrameCost, simulateFlag, 0, "synthetic cost per frame instead of the frame work (benchmarks only)")
	_ = f.MarkHidden(simulateFlag)
	return c
}

// simulateFlag names the worker's hidden flag that selects the synthetic frame processor.
const simulateFlag = "simulate-frame-cost"

// simulation is the worker's Simulation when its flag is set, refused without the environment's switch.
func simulation(cmd *cobra.Command, o *workerOptions, getenv func(string) string) (*worker.Simulation, error) {
	if !cmd.Flags().Changed(simulateFlag) {
		return nil, nil
	}
	sim, err := worker.NewSimulation(o.simulateFrameCost, getenv)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", simulateFlag, err)
	}
	return sim, nil
}

func runWorker(cmd *cobra.Command, o *workerOptions) error {
	if err := checkWorker(o.budget.Pipelines, o.budget.MaxBatch, o.threads, o.grace); err != nil {
		return err
	}
	if err := o.session.Validate(); err != nil {
		return err
	}
	if err := standalone.CheckMaxGPUMemory(o.maxGPUMemoryGB, o.session); err != nil {
		return err
	}
	sim, err := simulation(cmd, o, os.Getenv)
	if err != nil {
		return err
	}
	log, err := o.logs.logger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer log.Sync()
	memory.ReduceFragmentation()
	ctx, stop := signalContext(cmd.Context())
	defer stop()
	// The budget samples the process before any model is loaded.
	reg := metricsRegistry(o.httpAddr)
	m := metrics.NewWorker(reg)
	budget, err := worker.NewBudget(o.budgetConfig(), worker.BudgetDeps{Log: log, Cgroup: &memory.CgroupReader{}, Metrics: m})
	if err != nil {
		return err
	}
	cl, err := openCluster(ctx, o.cc, "facefleet-worker", log)
	if err != nil {
		return err
	}
	defer cl.Close()
	// Probes are served while the models load: alive, not ready. w is set once the worker exists.
	var w atomic.Pointer[worker.Worker]
	beat := health.NewBeat(0, nil)
	probes, stopProbes, err := startProbes(o.httpAddr, cl, beat, workerChecks(&w)...)
	if err != nil {
		return err
	}
	defer stopProbes()
	serveMetrics(probes, reg, cl, m.Store())
	// The first engine is loaded here so its footprint is measured; the worker gets it for its first slot. The
	// engines made after it run the budget's plan: its slots, and on a GPU its arena limit.
	newEngine := func() (*engine.Engine, error) {
		s := budget.Session(o.session)
		s.IntraOpThreads = ort.ShareThreads(o.threads, budget.Pipelines())
		return engine.New(engine.Config{ORTLibrary: o.ortLib, ModelsDir: o.modelsDir, Detector: o.detector, Session: s,
			Batch: o.budget.MaxBatch, MemoryOptimization: o.budget.MemoryOptimization, OnOOM: budget.OOM})
	}
	var engines func() (worker.Engine, error)
	if sim != nil { // no models: the synthetic processor never runs one
		engines = func() (worker.Engine, error) { return worker.SimulatedEngine{}, nil }
	} else {
		first, err := newEngine()
		if err != nil {
			return err
		}
		if err := budget.LoadFirst(first.Preload, first.WarmUp); err != nil {
			_ = first.Close()
			return err
		}
		var release func()
		engines, release = worker.ReuseFirst(first, func() (worker.Engine, error) { return newEngine() })
		defer release()
	}
	slots := budget.Pipelines()
	if err := budget.Start(ctx); err != nil {
		return err
	}
	defer budget.Stop()
	wcfg := worker.Config{ID: o.id, WorkDir: o.workDir, Slots: slots, Budget: budget, Grace: o.grace, NoAhead: !o.ahead,
		MaxDeliver: cluster.TasksConfig().MaxDeliver, Simulation: sim}
	host, _ := os.Hostname()
	started := time.Now().UTC()
	fit := budget.Batch1080p() // what a 1080p segment runs with here: the start line and the heartbeat say the same
	// The publisher is made before the worker (which owns the engines from then on) so that nothing can fail
	// between the worker's creation and its Run, which closes them.
	var wk *worker.Worker
	pub, err := fleet.NewPublisher(fleet.PublisherConfig{Interval: o.cc.Heartbeat}, cl.Fleet, func() fleet.Heartbeat {
		cpus, total, free, gpus := fleet.HostInfo()
		if p, ok := budget.GPUPlan(); ok {
			gpus = fleet.WithGPUPlan(gpus, p)
		}
		tasks, fps := wk.Stats()
		return fleet.Heartbeat{Kind: fleet.KindWorker, ID: wk.ID(), Host: host, PID: os.Getpid(), Version: version.String(), CPUs: cpus,
			RAMTotal: total, RAMFree: free, GPUs: gpus, Providers: []string{o.session.Provider}, Slots: slots,
			MemoryBudget: budget.Total(), RSS: memory.TreeRSS(os.Getpid()), Batch1080p: fit, FitPixels: budget.FitPixels(), Tasks: tasks, FPS: fps, Trouble: wk.Trouble(),
			Started: started}
	}, log)
	if err != nil {
		return err
	}
	wk, err = worker.New(wcfg, worker.Deps{Tasks: cl.Tasks, State: cl.State, Blob: cl.Blob, Log: log, NewEngine: engines,
		Tick: beat.Tick, Metrics: m})
	if err != nil {
		return err
	}
	w.Store(wk)
	if o.httpAddr != "" {
		probes.Handle(health.DrainPath, health.DrainHandler(wk))
	}
	defer pub.Start(ctx)()
	gpuLine := ""
	if p, ok := budget.GPUPlan(); ok {
		gpuLine = ", " + p.String()
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "worker %s: %d slot(s), models %s, budget %s, batch at 1080p %d%s\n",
		wk.ID(), slots, memory.FormatGB(budget.ModelBytes()), budget, fit, gpuLine)
	return wk.Run(ctx)
}

// workerChecks are a worker's own readiness checks: its models loaded (the worker exists), not draining, and not
// in trouble of its own (a full disk, memory, a model, storage or NATS: it takes no tasks meanwhile).
func workerChecks(w *atomic.Pointer[worker.Worker]) []health.Check {
	return []health.Check{
		{Name: "models", Err: func() error {
			if w.Load() == nil {
				return errors.New("loading")
			}
			return nil
		}},
		{Name: "draining", Err: func() error {
			if wk := w.Load(); wk != nil && wk.Draining() {
				return errors.New("taking no tasks (POST /drain)")
			}
			return nil
		}},
		{Name: "trouble", Err: func() error {
			if wk := w.Load(); wk != nil && wk.Trouble() != "" {
				return errors.New(wk.Trouble())
			}
			return nil
		}},
	}
}

// checkWorker refuses worker settings that cannot run, with the flag's name: a value is never changed silently.
func checkWorker(slots, batch, threads int, grace time.Duration) error {
	switch {
	case slots < 1:
		return fmt.Errorf("--slots %d: want at least 1", slots)
	case batch < 1:
		return fmt.Errorf("--batch-size %d: want at least 1", batch)
	case threads < 0:
		return fmt.Errorf("--execution-threads %d: want >= 0 (0 = ONNX Runtime's default)", threads)
	case grace < 0:
		return fmt.Errorf("--grace %s: want >= 0", grace)
	}
	return nil
}
