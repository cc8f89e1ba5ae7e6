package cli

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/facefleet/facefleet/models"
	"github.com/facefleet/facefleet/pkg/cluster"
	"github.com/facefleet/facefleet/pkg/engine"
	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/memory"
	"github.com/facefleet/facefleet/pkg/ort"
	"github.com/facefleet/facefleet/pkg/version"
	"github.com/facefleet/facefleet/pkg/worker"
)

// Worker is the `worker` command: a daemon that pulls segment tasks from NATS JetStream, with the blob store the
// coordinator shares (S3, or a directory on one machine).
func Worker() *cobra.Command {
	var (
		cc                             cluster.Config
		modelsDir, ortLib, workDir, id string
		detector                       string
		session                        = ort.SessionConfig{Provider: ort.ProviderCPU}
		slots, threads, batch          int
		maxMemoryGB                    float64
		memoryOptimization             bool
		logs                           logFlags
		grace                          time.Duration
	)
	c := &cobra.Command{
		Use:           "worker --nats URL --s3-endpoint HOST:PORT",
		Short:         "Process Facefleet segment tasks from NATS JetStream",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkWorker(slots, batch, threads, grace); err != nil {
				return err
			}
			if err := session.Validate(); err != nil {
				return err
			}
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync()
			memory.ReduceFragmentation()
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			before, _ := memory.NewSampler(os.Getpid()).Sample()
			cl, err := openCluster(ctx, cc, "facefleet-worker", log)
			if err != nil {
				return err
			}
			defer cl.Close()
			// The first engine is loaded here so its footprint is measured; the worker gets it for its first slot.
			newEngine := func() (*engine.Engine, error) {
				s := session
				s.IntraOpThreads = ort.ShareThreads(threads, slots)
				return engine.New(engine.Config{ORTLibrary: ortLib, ModelsDir: modelsDir, Detector: detector, Session: s,
					Batch: batch, MemoryOptimization: memoryOptimization})
			}
			first, err := newEngine()
			if err != nil {
				return err
			}
			if err := first.Preload(); err != nil {
				_ = first.Close()
				return err
			}
			loaded, _ := memory.NewSampler(os.Getpid()).Sample()
			modelBytes := uint64(0)
			if loaded.RSS > before.RSS {
				modelBytes = loaded.RSS - before.RSS
			}
			engines, release := worker.ReuseFirst(first, func() (worker.Engine, error) { return newEngine() })
			defer release()
			budget := uint64(maxMemoryGB * memory.GB)
			wcfg := worker.Config{ID: id, WorkDir: workDir, Slots: slots, Batch: batch, MemoryBudget: budget,
				ModelBytes: modelBytes, Grace: grace, MaxDeliver: cluster.TasksConfig().MaxDeliver}
			if memoryOptimization {
				wcfg.DecoderThreads, wcfg.EncoderThreads, wcfg.Lookahead = 1, 1, 8
				wcfg.MemoryOptimization = true
			}
			if budget > 0 {
				// The governor holds the process tree to the budget at run time, as coordinator run's does: pressure the
				// plan did not foresee (another program's memory in the tree, a model bigger than measured) shrinks the
				// frames in flight instead of running past --max-memory. Each pipeline's pool is at most 2*batch+2.
				limit := slots * (2*batch + 2)
				gov, err := memory.NewGovernor(memory.GovernorConfig{Budget: budget, Sampler: memory.NewSampler(os.Getpid()).Sample,
					MaxInFlight: limit,
					Alert:       func(msg string) { log.Warn("memory", zap.String("alert", msg)) },
					Observe:     governorLog(log, limit)})
				if err != nil {
					return err
				}
				go gov.Run(ctx)
				wcfg.Admit = gov
			}
			host, _ := os.Hostname()
			started := time.Now().UTC()
			fit := fleet.FitBatch1080p(budget, slots, modelBytes)
			// The publisher is made before the worker (which owns the engines from then on) so that nothing can fail
			// between the worker's creation and its Run, which closes them.
			var w *worker.Worker
			pub, err := fleet.NewPublisher(fleet.PublisherConfig{Interval: cc.Heartbeat}, cl.Fleet, func() fleet.Heartbeat {
				cpus, total, free, gpus := fleet.HostInfo()
				tasks, fps := w.Stats()
				return fleet.Heartbeat{Kind: fleet.KindWorker, ID: w.ID(), Host: host, PID: os.Getpid(), Version: version.String(), CPUs: cpus,
					RAMTotal: total, RAMFree: free, GPUs: gpus, Providers: []string{session.Provider}, Slots: slots,
					MemoryBudget: budget, Batch1080p: min(fit, max(1, batch)), Tasks: tasks, FPS: fps, Trouble: w.Trouble(),
					Started: started}
			}, log)
			if err != nil {
				return err
			}
			w, err = worker.New(wcfg, worker.Deps{Tasks: cl.Tasks, State: cl.State, Blob: cl.Blob, Log: log, NewEngine: engines})
			if err != nil {
				return err
			}
			defer pub.Start(ctx)()
			fmt.Fprintf(cmd.ErrOrStderr(), "worker %s: %d slot(s), models %s, budget %s, batch at 1080p %d\n",
				w.ID(), slots, memory.FormatGB(modelBytes), budgetText(budget), fit)
			return w.Run(ctx)
		},
	}
	f := c.Flags()
	clusterFlags(f, &cc)
	f.StringVar(&modelsDir, "models-dir", models.DefaultDir(), "directory of model files")
	f.StringVar(&ortLib, "onnxruntime-library", "", "path of libonnxruntime (default: the one make setup installs)")
	f.StringVar(&workDir, "work-dir", filepath.Join(os.TempDir(), "facefleet-worker"), "scratch directory")
	f.StringVar(&id, "id", "", "worker id (default host-pid)")
	f.IntVar(&slots, "slots", 1, "segments processed at once")
	f.IntVar(&batch, "batch-size", 1, "upper bound on frames per model call")
	f.Var(sizeGB{&maxMemoryGB}, "max-memory", "memory budget in GB for this worker process and any children (0 = none): tasks that do not fit are handed to bigger workers")
	f.BoolVar(&memoryOptimization, "memory-optimization", false, "trade speed for memory (single-threaded ffmpeg, short lookahead)")
	f.DurationVar(&grace, "grace", 30*time.Second, "on SIGTERM, how long in-flight segments may finish before they go back to the queue")
	f.StringVar(&detector, "face-detector-model", engine.DefaultDetector, "face detector: a manifest name or a file")
	sessionFlags(f, &session, &threads)
	logs.register(f, "info")
	return withConfig(withVersion(c))
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

func budgetText(b uint64) string {
	if b == 0 {
		return "none"
	}
	return memory.FormatGB(b)
}

// governorLog logs the governor's limit on frames in flight whenever a sample changes it (the alert says why it
// fell; this says where it went and when it came back). Observe is called from the governor's one goroutine.
func governorLog(log *zap.Logger, limit int) func(memory.GovernorState) {
	return func(st memory.GovernorState) {
		if st.Limit == limit {
			return
		}
		log.Info("memory: frames in flight", zap.Int("limit", st.Limit), zap.Int("was", limit),
			zap.Float64("usage", math.Round(st.Usage*1000)/1000), zap.Uint64("rss", st.Last.RSS))
		limit = st.Limit
	}
}
