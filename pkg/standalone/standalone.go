// Package standalone runs the whole cluster in one process for `coordinator run`: an embedded NATS server with
// JetStream in a work directory, a local-directory blob store, in-process workers and the coordinator. It is the
// same code path a cluster runs, wired to embedded parts. It holds no algorithms.
package standalone

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/models"
	"github.com/facefleet/facefleet/pkg/bgrframe"
	"github.com/facefleet/facefleet/pkg/cluster"
	"github.com/facefleet/facefleet/pkg/contentfilter"
	"github.com/facefleet/facefleet/pkg/coordinator"
	"github.com/facefleet/facefleet/pkg/engine"
	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/imagefile"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/memory"
	"github.com/facefleet/facefleet/pkg/ort"
	"github.com/facefleet/facefleet/pkg/pipeline"
	"github.com/facefleet/facefleet/pkg/provenance"
	"github.com/facefleet/facefleet/pkg/queue"
	"github.com/facefleet/facefleet/pkg/watermark"
	"github.com/facefleet/facefleet/pkg/worker"
)

// Generator names the product in every output's label.
const Generator = provenance.Generator

// Config holds `coordinator run`'s settings; the flag names are roop's.
type Config struct {
	Source, Target, Output string

	// Face holds the frame processors and their options (--frame-processor, --face-swapper-model, ...).
	Face job.FaceOptions
	// ManyFaces is roop's --many-faces: the same as --face-selector-mode many.
	ManyFaces bool
	// ReferencePosition and ReferenceFrame pick the reference face for --face-selector-mode reference: the
	// face at that position, counted left to right, in that frame of the target.
	ReferencePosition int
	ReferenceFrame    int

	// Detector is --face-detector-model (a manifest name or a file), with --face-detector-size and -score.
	Detector      string
	DetectorSize  int
	DetectorScore float32

	// Watermark draws the visible "AI-generated" mark on every output frame, after the swap (--watermark).
	Watermark bool

	KeepFPS          bool // accepted for roop compatibility: the source rate is always kept
	SkipAudio        bool
	KeepFrames       bool
	TempFrameFormat  string
	TempFrameQuality int
	Encoder          string
	Quality          int

	// Session is the execution provider and its options; ExecutionThreads is shared among the workers.
	Session            ort.SessionConfig
	ExecutionThreads   int
	MemoryOptimization bool
	BatchSize          int
	MaxMemoryGB        float64
	// MaxGPUMemoryGB is --max-gpu-memory: the GPU memory the workers' sessions may take on Session.DeviceID, in GB;
	// 0 is the device's free memory at start less memory.GPUMargin (memory.PlanGPU). Only with a GPU provider.
	MaxGPUMemoryGB float64

	SegmentSeconds float64
	Workers        int

	ModelsDir  string
	ORTLibrary string
	WorkDir    string // parent of the job's temporary work directory; default the system temp dir

	// Limits bound a video target's resolution and duration, as the cluster's coordinator does (its size limit is
	// an upload's: unset here). A frame's buffers grow with its size: a 16384x8640 frame took 3.35 GB.
	Limits coordinator.Limits

	// ContentFilter screens the target before any face is swapped (--content-filter-*); its models directory and
	// ONNX Runtime library are the run's own.
	ContentFilter contentfilter.Config

	Progress io.Writer // the live line; nil = none
	Terminal bool      // redraw the live line in place
	Log      *zap.Logger
}

// Default returns a Config with roop's defaults.
func Default() Config {
	return Config{
		Face: job.FaceOptions{Processors: []string{job.ProcessorSwapper}, Swapper: engine.DefaultSwapper,
			Selector: face.SelectOne, SimilarDistance: face.DefaultSimilarDistance, Blend: engine.BlendFeather,
			Enhancer: engine.DefaultEnhancer, EnhancerBlend: 80, Recognizer: engine.DefaultRecognizer},
		Detector: engine.DefaultDetector, TempFrameFormat: "png", Encoder: "libx264", Quality: 35,
		Session: ort.SessionConfig{Provider: ort.ProviderCPU}, ExecutionThreads: runtime.NumCPU(), BatchSize: 1,
		SegmentSeconds: cluster.DefaultSegmentSeconds, Workers: 1, ModelsDir: models.DefaultDir(), Limits: runLimits(),
		ContentFilter: contentfilter.Default(),
	}
}

// CheckMaxGPUMemory refuses --max-gpu-memory gb that no plan could use: negative, or with a provider that runs no
// model on a GPU (a budget there would plan nothing and say nothing). `run` and `worker` share it.
func CheckMaxGPUMemory(gb float64, s ort.SessionConfig) error {
	switch {
	case gb < 0:
		return fmt.Errorf("--max-gpu-memory %g: want >= 0", gb)
	case gb > 0 && !s.OnGPU():
		return fmt.Errorf("--max-gpu-memory %g: applies to the %s and %s execution providers, not %s", gb,
			ort.ProviderCUDA, ort.ProviderTensorRT, cmp.Or(s.Provider, ort.ProviderCPU))
	}
	return nil
}

// Validate checks flag values (not the files: Run reports those with their paths).
func (c *Config) Validate() error {
	switch {
	case c.Source == "":
		return errors.New("missing source: -s/--source is required")
	case c.Target == "":
		return errors.New("missing target: -t/--target is required")
	case c.Output == "":
		return errors.New("missing output: -o/--output is required")
	}
	return c.ValidateOptions()
}

// ValidateOptions checks the values of everything but the files: how the job is processed and run. `submit` checks
// a cluster job's options with it too, so that both refuse the same values before any work.
func (c *Config) ValidateOptions() error {
	switch {
	case c.Quality < 0 || c.Quality > 100:
		return fmt.Errorf("--output-video-quality %d: want 0-100", c.Quality)
	case c.TempFrameQuality < 0 || c.TempFrameQuality > 100:
		return fmt.Errorf("--temp-frame-quality %d: want 0-100", c.TempFrameQuality)
	case c.Workers < 1:
		return fmt.Errorf("--workers %d: want at least 1", c.Workers)
	case c.BatchSize < 1:
		return fmt.Errorf("--batch-size %d: want at least 1", c.BatchSize)
	case c.SegmentSeconds < 0:
		return fmt.Errorf("--segment-seconds %g: want >= 0", c.SegmentSeconds)
	case c.MaxMemoryGB < 0:
		return fmt.Errorf("--max-memory %g: want >= 0", c.MaxMemoryGB)
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	if err := c.ContentFilter.Validate(); err != nil {
		return err
	}
	switch c.Encoder {
	case media.CodecH264, media.CodecH265, media.CodecVP9:
	default:
		return fmt.Errorf("--output-video-encoder %q: want libx264, libx265 or libvpx-vp9", c.Encoder)
	}
	switch c.TempFrameFormat {
	case "png", "jpg":
	default:
		return fmt.Errorf("--temp-frame-format %q: want png or jpg", c.TempFrameFormat)
	}
	if c.ExecutionThreads < 0 {
		return fmt.Errorf("--execution-threads %d: want >= 0 (0 = ONNX Runtime's default)", c.ExecutionThreads)
	}
	if err := c.Session.Validate(); err != nil {
		return err
	}
	if err := CheckMaxGPUMemory(c.MaxGPUMemoryGB, c.Session); err != nil {
		return err
	}
	if c.ManyFaces {
		c.Face.Selector = face.SelectMany
	}
	if err := c.checkReference(); err != nil {
		return err
	}
	if c.Face.Selector == face.SelectMany && (c.ReferencePosition != 0 || c.ReferenceFrame != 0) {
		// roop ignores them with --many-faces; here they would be ignored silently too, so they are refused.
		return fmt.Errorf("--reference-face-position and --reference-frame-number pick one person: they apply to " +
			"--face-selector-mode one (the default) and reference, not many (--many-faces)")
	}
	if len(c.Face.Processors) == 0 {
		c.Face.Processors = []string{job.ProcessorSwapper}
	}
	// Reference selection is checked once the reference is known.
	check := c.Face
	if check.Selector == face.SelectReference {
		check.Reference = []float32{1}
	}
	if err := engine.CheckOptions(check); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), engine.ErrBadInput.Error()+": "))
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	return nil
}

// runLimits are the coordinator's default resolution limits; a local run has no upload to bound and its memory
// does not grow with the duration.
func runLimits() coordinator.Limits {
	l := coordinator.DefaultLimits()
	l.MaxInputBytes, l.MaxDuration = 0, 0
	return l
}

// Result is what a run produced.
type Result struct {
	Output     string
	Frames     int
	Segments   int
	PeakRSS    uint64
	Wall       time.Duration
	SplitTime  time.Duration
	StitchTime time.Duration
	// Warning is one line for the user when the output is not what they asked for: no face found in the target.
	Warning string

	provenance provenance.Record // a video's, from the job's lifecycle
}

// ResolveOutput applies roop's rule: an output directory means <source>-<target>.<target ext> inside it.
func ResolveOutput(source, target, output string) string {
	if st, err := os.Stat(output); err == nil && st.IsDir() {
		stem := func(p string) string { b := filepath.Base(p); return strings.TrimSuffix(b, filepath.Ext(b)) }
		return filepath.Join(output, stem(source)+"-"+stem(target)+filepath.Ext(target))
	}
	return output
}

// Run checks every input, then swaps faces into the output. Inputs are never modified; the output appears under
// its final name only when complete, with its provenance sidecar.
func Run(ctx context.Context, cfg Config) (Result, error) {
	start := time.Now()
	var res Result
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	memory.ReduceFragmentation()
	// The budget samples the process before any model or ffmpeg: the plan's base, and the baseline of the models'
	// footprint.
	budget, err := worker.NewBudget(cfg.BudgetConfig(), worker.BudgetDeps{Log: cfg.Log, Cgroup: &memory.CgroupReader{}, Alert: func(msg string) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "\n%s\n", msg)
		}
	}})
	if err != nil {
		return res, err
	}
	if err := media.CheckInput(cfg.Source); err != nil {
		return res, err
	}
	out := ResolveOutput(cfg.Source, cfg.Target, cfg.Output)
	// Nothing is opened before it is known to be a file: a named pipe would block the header read below.
	if err := media.CheckInput(cfg.Target); err != nil {
		return res, err
	}
	// A picture too large for the budget is refused from its header: FFmpeg's probe would decode it whole.
	if w, h, ok, err := imagefile.Size(cfg.Target); err != nil {
		return res, err
	} else if ok {
		if _, err := imagePlan(cfg, budget, out, w, h); err != nil {
			return res, err
		}
	}
	info, err := media.Probe(ctx, cfg.Target)
	if err != nil {
		return res, err
	}
	if !info.IsImage {
		if err := cfg.Limits.Check(cfg.Target, 0, info); err != nil {
			return res, err
		}
	}
	// An odd size the codec cannot code is padded, never silently.
	if note := (media.EncoderConfig{Width: info.Width, Height: info.Height, Codec: cfg.Encoder}).SizeNote(); note != "" &&
		!info.IsImage && cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "%s: %s\n", cfg.Target, note)
	}
	if err := CheckOutput(out, cfg.Source, cfg.Target); err != nil {
		return res, err
	}
	if err := CheckOutputFormat(out, cfg.Target, info.IsImage); err != nil {
		return res, err
	}
	screen, err := cfg.openFilter()
	if err != nil {
		return res, err
	}
	if screen != nil && info.IsImage { // a video's is screened by the job's lifecycle, before it is split
		if err := screen.Screen(ctx, cfg.Target, cfg.Target, info); err != nil {
			return res, err
		}
	}
	me, _ := self() // without /proc the names carry pid 0: nothing will judge them
	cleanLeftovers(cfg, out)
	// Creating the temporary output now proves the directory is writable before any work is done.
	tmp, err := tempOutput(out, me)
	if err != nil {
		return res, err
	}
	keep := false
	defer func() {
		if !keep {
			_ = os.Remove(tmp)
		}
	}()

	// The engines made after the first run the budget's plan: its workers, and on a GPU its arena limit.
	newEngine := func() (*engine.Engine, error) {
		session := budget.Session(cfg.Session)
		session.IntraOpThreads = ort.ShareThreads(cfg.ExecutionThreads, budget.Pipelines())
		ec := cfg.engineConfig()
		ec.Session, ec.OnOOM = session, budget.OOM
		return engine.New(ec)
	}
	first, err := newEngine()
	if err != nil {
		return res, err
	}
	// Everything that can fail before the work starts fails here: a faceless source, a missing model, a
	// reference face that is not there.
	jobID := job.NewID()
	if cfg.Face.Selector == face.SelectReference {
		if cfg.Face.Reference, err = reference(ctx, first, cfg, info); err != nil {
			_ = first.Close()
			return res, err
		}
	}
	if Follows(cfg.Face) {
		if err := followReference(ctx, first, &cfg, info); err != nil {
			_ = first.Close()
			return res, err
		}
	}
	var proc pipeline.Processor
	if err := budget.LoadFirst(func() error {
		proc, err = check(first, budget, jobID, cfg, info)
		return err
	}, first.WarmUp); err != nil {
		_ = first.Close()
		return res, err
	}

	rec := provenance.New(out, cfg.Face.Processors)
	models := first.Models() // a video's engines are closed by the time its record is written
	if info.IsImage {
		est, err := imagePlan(cfg, budget, out, info.Width, info.Height)
		if err != nil {
			_ = first.Close()
			return res, err
		}
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "Memory plan: image %dx%d, estimated peak %s (models %s)\n", info.Width, info.Height,
				memory.FormatGB(est.Peak), memory.FormatGB(budget.ModelBytes()))
		}
		err = swapImage(proc, cfg, tmp)
		_ = first.Close()
		if err != nil {
			return res, err
		}
		res.Frames = 1
		rec.Watermark = cfg.Watermark
		rec.SourceSHA256, _ = provenance.FileSHA256(cfg.Source)
		rec.TargetSHA256, _ = provenance.FileSHA256(cfg.Target)
		if fc, ok := proc.(worker.FaceCounter); ok {
			if n, counted := fc.Faces(); counted && n == 0 {
				res.Warning = job.NoFaceWarning(cfg.Target)
			}
		}
	} else {
		plan, err := memoryPlan(cfg, budget, info)
		if err != nil {
			_ = first.Close()
			return res, err
		}
		if err := budget.Start(ctx); err != nil {
			_ = first.Close()
			return res, err
		}
		defer budget.Stop()
		r, err := runVideo(ctx, cfg, info, jobID, tmp, out, me, first, plan, budget, screen,
			func() (worker.Engine, error) { return newEngine() })
		if err != nil {
			return res, err
		}
		res = r
		rec = r.provenance // the lifecycle's record of the stitched output
	}
	if err := os.Rename(tmp, out); err != nil {
		return res, fmt.Errorf("%s: %w", out, err)
	}
	keep = true
	rec.Output, rec.Models = out, models
	if abs, err := filepath.Abs(out); err == nil {
		rec.Output = abs
	}
	if info.IsImage {
		rec.OutputSHA256, _ = provenance.FileSHA256(out)
	}
	if err := provenance.WriteSidecar(rec); err != nil {
		return res, err
	}
	res.Output, res.Wall = out, time.Since(start)
	return res, nil
}

// openFilter opens the content filter on the run's models and ONNX Runtime: nil when the job alters no face
// (frame processor none) or when no classifier is installed, which it says in one line.
func (c Config) openFilter() (*contentfilter.Filter, error) {
	if !c.Face.AltersFaces() {
		return nil, nil
	}
	fc := c.ContentFilter
	fc.ModelsDir, fc.ORTLibrary, fc.Threads = c.ModelsDir, c.ORTLibrary, c.ExecutionThreads
	f, err := contentfilter.Open(fc)
	if errors.Is(err, contentfilter.ErrNotInstalled) {
		if c.Progress != nil {
			fmt.Fprintf(c.Progress, "content filter: %v\n", err)
		}
		return nil, nil
	}
	return f, err
}

// check prepares the job's processors on the first engine, so that everything that can fail before the work starts
// fails here, and has the budget measure the models' footprint. With --memory-optimization a video's processors run
// one pass each with only their own models loaded, so they are checked one at a time the same way, unloaded after,
// and the footprint is the largest of them; proc is then nil.
func check(first *engine.Engine, budget *worker.Budget, jobID string, cfg Config, info *media.Info) (proc pipeline.Processor, err error) {
	if !cfg.MemoryOptimization || len(cfg.Face.Processors) < 2 || info.IsImage {
		proc, err = first.ForJob(jobID, cfg.Source, cfg.Face)
		budget.MeasureModels()
		return proc, err
	}
	if err := first.CheckFiles(cfg.Face); err != nil { // every pass's files before the first pass loads any
		return nil, err
	}
	for _, p := range cfg.Face.Processors {
		opt := cfg.Face
		opt.Processors = []string{p}
		if _, err := first.ForJob(jobID, cfg.Source, opt); err != nil {
			return nil, err
		}
		budget.MeasureModels()
		first.Unload(p)
	}
	return nil, nil
}

// imagePlan checks that an image target of w x h fits --max-memory before it is decoded, with the models' footprint
// the budget has measured so far (none before they load).
func imagePlan(cfg Config, budget *worker.Budget, out string, w, h int) (memory.Estimate, error) {
	in := memory.ImageInput{Width: w, Height: h}
	if st, err := os.Stat(cfg.Target); err == nil {
		in.FileBytes = uint64(st.Size())
	}
	f, _ := imagefile.FormatOf(cfg.Target)
	in.JPEGIn = f == imagefile.JPEG
	f, _ = imagefile.FormatOf(out)
	in.JPEGOut = f == imagefile.JPEG
	est, err := budget.PlanImage(in)
	if err != nil {
		return est, fmt.Errorf("%s: %w", cfg.Target, err)
	}
	return est, nil
}

// frameBound is about how many frames the target has, from its duration and the higher of its frame rates, one more
// for rounding; 0 when unknown. A short clip's plan counts only the pictures its encoder can hold; a file whose
// duration lies is met by the governor.
func frameBound(info *media.Info) int {
	fps := max(info.FrameRate.Float(), info.AvgFrameRate.Float())
	if info.Duration <= 0 || fps <= 0 || info.Duration*fps > 1e6 {
		return 0
	}
	return int(math.Ceil(info.Duration*fps)) + 1
}

// memoryPlan is what the job's segments run with, from the budget's one planner (the workers plan each segment
// the same way): a budget that cannot hold even one frame at batch 1 fails here, before any ffmpeg runs.
func memoryPlan(cfg Config, budget *worker.Budget, info *media.Info) (memory.Plan, error) {
	plan, err := budget.Plan(info.Width, info.Height, cfg.Encoder, frameBound(info))
	if err != nil {
		return plan, fmt.Errorf("%s: %w", cfg.Target, err)
	}
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "Memory plan: %s (models %s)\n", plan, memory.FormatGB(budget.ModelBytes()))
		if gp, ok := budget.GPUPlan(); ok {
			fmt.Fprintf(cfg.Progress, "GPU plan: %s\n", gp)
		}
	}
	cfg.Log.Info("memory plan", zap.String("plan", plan.String()), zap.Uint64("model_bytes", budget.ModelBytes()))
	return plan, nil
}

func runVideo(ctx context.Context, cfg Config, info *media.Info, jobID, tmp, out string, me owner, first *engine.Engine,
	plan memory.Plan, budget *worker.Budget, screen *contentfilter.Filter, newEngine func() (worker.Engine, error)) (Result, error) {
	var res Result
	// In-process workers: the first reuses the engine that checked the source; release closes it if none took it.
	engines, release := worker.ReuseFirst(first, newEngine)
	defer release()
	work, err := os.MkdirTemp(cfg.WorkDir, workDirPrefix+me.String()+"-") // 0700
	if err != nil {
		return res, fmt.Errorf("work dir: %w", err)
	}
	defer os.RemoveAll(work)

	srv, err := queue.StartEmbedded(queue.EmbeddedConfig{Dir: filepath.Join(work, "nats"), Port: -1})
	if err != nil {
		return res, err
	}
	defer srv.Shutdown()
	// The cluster's own stream, consumer, buckets and MaxDeliver, on the embedded server and a store in the work
	// directory that links files rather than copy them: a one-segment job's piece is the target itself, which the
	// store and a worker's download then share with the user's file instead of copying it twice. Deliveries include
	// the hand-backs of a worker's own trouble (a full disk); the workers' TroubleLimit ends such a wait, and their
	// three counted attempts end a segment that keeps failing.
	cl, err := cluster.Open(ctx, cluster.Config{NATS: queue.ConnConfig{URL: srv.URL(), Name: "facefleet-run"},
		StoreDir: filepath.Join(work, "blobs"), StoreLinks: true}, cfg.Log)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	tasks, state, blob := cl.Tasks, cl.State, cl.Blob

	framesDir := "" // this run's own workers keep frames where its user asked (never where a task says)
	if cfg.KeepFrames {
		framesDir = FramesDir(out)
	}
	// The workers check their media libraries as they start (worker.Run), where a failure would only stop them:
	// checked here first, it ends the run.
	if err := media.SelfCheck(ctx, work); err != nil {
		return res, err
	}
	wctx, stopWorkers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var startErr error
	for i := 0; i < budget.Pipelines(); i++ {
		w, err := worker.New(worker.Config{ID: fmt.Sprintf("local-%d", i+1), WorkDir: filepath.Join(work, fmt.Sprintf("worker-%d", i+1)),
			MaxDeliver: cluster.TasksConfig().MaxDeliver, RetryDelay: time.Second, FetchWait: time.Second, Grace: time.Second,
			TroubleLimit: 20 * time.Second, // one machine: a full disk ends the run, after a short wait
			Budget:       budget, FramesDir: framesDir},
			worker.Deps{Tasks: tasks, State: state, Blob: blob, NewEngine: engines, Log: cfg.Log})
		if err != nil {
			startErr = err
			break
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = w.Run(wctx) }()
	}
	release() // not handed to a worker: closed now rather than at the end
	defer func() { stopWorkers(); wg.Wait() }()
	if startErr != nil {
		return res, startErr
	}

	// The job takes the cluster's lifecycle (coordinator.Service), run here in process: the target read in place,
	// the output stitched straight into tmp.
	deps := coordinator.ServiceDeps{Tasks: tasks, State: state, Fleet: cl.Fleet, Blob: blob, Log: cfg.Log}
	if screen != nil {
		deps.Screen = screen
	}
	svc, err := coordinator.NewService(coordinator.ServiceConfig{ID: "run", WorkDir: filepath.Join(work, "coordinator"),
		Limits: cfg.Limits}, deps)
	if err != nil {
		return res, err
	}
	spec := job.Spec{Face: cfg.Face, Encoder: cfg.Encoder, Quality: cfg.Quality, Watermark: cfg.Watermark}
	if cfg.KeepFrames {
		spec.FrameFormat, spec.FrameQuality = cfg.TempFrameFormat, cfg.TempFrameQuality
	}
	gpu, _ := memory.NewGPUSampler(cfg.Session.DeviceID)
	rep := memory.NewReporter(memory.ReporterConfig{Out: cfg.Progress, Terminal: cfg.Terminal, GPU: gpu,
		Providers: []string{ort.ProviderName(cfg.Session)}, Threads: cfg.ExecutionThreads, Batch: plan.Batch})
	rep.Start(ctx) // samples even when quiet: the peak goes into the result
	r, err := svc.RunLocal(ctx, coordinator.LocalJob{ID: jobID, Source: cfg.Source, Target: cfg.Target, Info: info,
		Output: tmp, SkipAudio: cfg.SkipAudio, SegmentSeconds: cfg.SegmentSeconds, Spec: spec,
		Progress: func(done, total int) { rep.SetTotal(total); rep.SetDone(done) }})
	rep.Stop()
	if err != nil {
		return res, err
	}
	return Result{Frames: r.Frames, Segments: r.Segments, SplitTime: r.SplitTime, StitchTime: r.StitchTime,
		PeakRSS: rep.Peak(), Warning: r.Warning, provenance: r.Provenance}, nil
}

// FramesDir is where --keep-frames keeps an output's processed frames: a folder beside it, named after it without
// its extension (out.mp4: out-frames).
func FramesDir(output string) string {
	return strings.TrimSuffix(output, filepath.Ext(output)) + "-frames"
}

// ReferenceIdentity is --face-selector-mode reference's identity for a job that runs elsewhere (`submit`): the
// face at cfg.ReferencePosition in frame cfg.ReferenceFrame of cfg.Target, found by cfg.Detector and embedded by
// cfg.Face.Recognizer with this machine's models. The cluster's workers match faces against it with the recognizer
// the job names, so the job needs the same model file on both sides: the file's sha256 comes with the identity
// (FaceOptions.ReferenceModel), and a worker with another file refuses the job.
func ReferenceIdentity(ctx context.Context, cfg Config) (identity []float32, model string, err error) {
	if err := cfg.checkReference(); err != nil {
		return nil, "", err
	}
	info, err := media.Probe(ctx, cfg.Target)
	if err != nil {
		return nil, "", err
	}
	e, err := engine.New(cfg.engineConfig())
	if err != nil {
		return nil, "", err
	}
	defer e.Close()
	if identity, err = reference(ctx, e, cfg, info); err != nil {
		return nil, "", err
	}
	if model, err = e.RecognizerDigest(cfg.Face.Recognizer); err != nil {
		return nil, "", err
	}
	return identity, model, nil
}

func (c Config) checkReference() error {
	if c.ReferencePosition < 0 || c.ReferenceFrame < 0 {
		return fmt.Errorf("--reference-face-position and --reference-frame-number must be >= 0")
	}
	return nil
}

// BudgetConfig is the run's memory budget: its flags mean what a cluster worker's do (each in-process worker is
// one pipeline).
func (c Config) BudgetConfig() worker.BudgetConfig {
	return worker.BudgetConfig{MaxMemory: memory.Bytes(c.MaxMemoryGB), Pipelines: c.Workers, MaxBatch: c.BatchSize,
		MemoryOptimization: c.MemoryOptimization, Session: c.Session, MaxGPUMemory: memory.Bytes(c.MaxGPUMemoryGB)}
}

// engineConfig is the engine cfg asks for: its models, detector and ONNX Runtime session.
func (c Config) engineConfig() engine.Config {
	return engine.Config{ORTLibrary: c.ORTLibrary, ModelsDir: c.ModelsDir, Detector: c.Detector,
		DetectorSize: c.DetectorSize, DetectorScore: c.DetectorScore, Session: c.Session, Batch: c.BatchSize,
		MemoryOptimization: c.MemoryOptimization}
}

// Follows reports whether a job follows one person (selector one), whose person is found once, before the job
// runs, for every segment. Frame processor none looks at no face.
func Follows(opt job.FaceOptions) bool {
	if len(opt.Processors) == 1 && opt.Processors[0] == job.ProcessorNone {
		return false
	}
	return opt.Selector == face.SelectOne || opt.Selector == ""
}

// FollowReference finds selector one's person (followReference) for a job that runs elsewhere (`submit`), in
// cfg.Target with this machine's models, and sets it in cfg.Face.
func FollowReference(ctx context.Context, cfg *Config) error {
	if err := cfg.checkReference(); err != nil {
		return err
	}
	info, err := media.Probe(ctx, cfg.Target)
	if err != nil {
		return err
	}
	e, err := engine.New(cfg.engineConfig())
	if err != nil {
		return err
	}
	defer e.Close()
	return followReference(ctx, e, cfg, info)
}

// followReference finds selector one's person, the face at --reference-face-position in frame
// --reference-frame-number (roop's default: position 0 of frame 0), and sets cfg.Face.Follow (its box and
// geometry) and, when the job's recognizer is on this machine, cfg.Face.Reference and ReferenceModel (its
// embedding and the recognizer file's sha256), which every segment's worker re-identifies the person by. A
// reference frame without a face leaves Follow nil (each segment follows the largest face it meets first) when the
// flags are roop's defaults, and is bad input when the user named the frame or the position.
func followReference(ctx context.Context, e *engine.Engine, cfg *Config, info *media.Info) error {
	if err := e.CheckFiles(cfg.Face); err != nil { // the job's every missing file first, as ForJob does
		return err
	}
	img, err := referenceFrame(ctx, cfg, info)
	if err != nil {
		return err
	}
	defer img.Close()
	f, err := e.Follow(img, cfg.ReferenceFrame, cfg.ReferencePosition)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Target, err)
	}
	if f == nil {
		if cfg.ReferencePosition != 0 || cfg.ReferenceFrame != 0 {
			return fmt.Errorf("%s: %w: --reference-frame-number %d has no face", cfg.Target, engine.ErrBadInput, cfg.ReferenceFrame)
		}
		return nil
	}
	cfg.Face.Follow = f
	if !e.HasRecognizer(cfg.Face.Recognizer) {
		return nil
	}
	if cfg.Face.Reference, err = e.Reference(img, cfg.ReferencePosition, cfg.Face.Recognizer); err != nil {
		return fmt.Errorf("%s: %w", cfg.Target, err)
	}
	cfg.Face.ReferenceModel, err = e.RecognizerDigest(cfg.Face.Recognizer)
	return err
}

// reference finds the reference identity: the face at --reference-face-position in frame --reference-frame-number.
func reference(ctx context.Context, e *engine.Engine, cfg Config, info *media.Info) ([]float32, error) {
	if err := e.CheckFiles(cfg.Face); err != nil { // the job's every missing file first, as ForJob does
		return nil, err
	}
	img, err := referenceFrame(ctx, &cfg, info)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	emb, err := e.Reference(img, cfg.ReferencePosition, cfg.Face.Recognizer)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Target, err)
	}
	return emb, nil
}

// referenceFrame reads frame --reference-frame-number of the target (the picture itself for an image).
func referenceFrame(ctx context.Context, cfg *Config, info *media.Info) (gocv.Mat, error) {
	var img gocv.Mat
	if info.IsImage {
		var err error
		if img, err = imagefile.Read(cfg.Target); err != nil {
			return gocv.Mat{}, err
		}
	} else {
		var buf []byte
		var err error
		if img, buf, err = bgrframe.New(info.Width, info.Height); err != nil {
			return gocv.Mat{}, fmt.Errorf("%s: %w", cfg.Target, err)
		}
		if err := media.ReadFrame(ctx, cfg.Target, cfg.ReferenceFrame, buf); err != nil {
			img.Close()
			return gocv.Mat{}, fmt.Errorf("%s: --reference-frame-number %d: %w", cfg.Target, cfg.ReferenceFrame, err)
		}
	}
	if img.Empty() {
		img.Close()
		return gocv.Mat{}, fmt.Errorf("%s: cannot read the reference frame", cfg.Target)
	}
	return img, nil
}

// swapImage swaps faces in an image target and writes it, labelled, to tmp.
func swapImage(proc pipeline.Processor, cfg Config, tmp string) error {
	frame, err := imagefile.Read(cfg.Target)
	if err != nil {
		return err
	}
	defer frame.Close()
	if err := proc.Process(frame, 0); err != nil {
		return fmt.Errorf("%s: %w", cfg.Target, err)
	}
	if cfg.Watermark {
		watermark.Draw(frame)
	}
	f, err := imagefile.FormatOf(tmp)
	if err != nil {
		return err
	}
	// Keep the original quality: JPEG at quality 100 without chroma subsampling (4:4:4), PNG at level 3.
	quality, full := 3, false
	if f == imagefile.JPEG {
		quality, full = 100, true
	}
	data, err := imagefile.Encode(frame, f, quality, full)
	if err != nil {
		return fmt.Errorf("%s: %w", tmp, err)
	}
	labelled, err := provenance.LabelImage(data, provenance.Tags(Generator))
	if err != nil {
		return err
	}
	return os.WriteFile(tmp, labelled, 0o644)
}

// tempOutput creates the hidden temporary file the output is written to, keeping the extension so ffmpeg picks
// the container from it; its name carries its owner (leftovers.go).
func tempOutput(out string, me owner) (string, error) {
	dir := filepath.Dir(out)
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("%s: output directory does not exist", dir)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("%s: output directory is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, tempOutputPrefix(out)+me.String()+"-*"+filepath.Ext(out))
	if err != nil {
		return "", fmt.Errorf("%s: output directory is not writable (%v)", dir, errors.Unwrap(err))
	}
	f.Close()
	return f.Name(), nil
}

// nameMax is the longest file name Linux file systems take (NAME_MAX).
const nameMax = 255

// nameRoom is how much longer than an output's name the longest name written beside it is: run's hidden temporary
// output ("." + stem + ".tmp-" + up to 10 digits + ext: 16 more) holding the stitch's partial file ("." + name +
// ".partial": 9 more). The provenance record (".provenance.json", 16 more) fits within it.
const nameRoom = 16 + 9

// CheckOutputFormat refuses, before any work, an output whose name asks for a format the target cannot be written
// in: a picture's output is a picture (.png, .jpg), a video's one of the containers jobs write (job.OutputExts).
// Found after the work, it failed naming the hidden temporary file.
func CheckOutputFormat(out, target string, image bool) error {
	if image {
		if _, err := imagefile.FormatOf(out); err != nil {
			return fmt.Errorf("%s: the target %s is an image: its output must be .png or .jpg", out, target)
		}
		return nil
	}
	if !slices.Contains(job.OutputExts, strings.ToLower(filepath.Ext(out))) {
		return fmt.Errorf("%s: a video's output must be %s", out, strings.Join(job.OutputExts, ", "))
	}
	return nil
}

// CheckOutput is every command's check of an output path before any work: it must not be one of the inputs, by
// any path (a symlink or a hard link is the same file), and its directory must take a new file (one is created and
// removed: a read-only or missing directory is found now, not after the job).
func CheckOutput(out string, inputs ...string) error {
	if len(filepath.Base(out))+nameRoom > nameMax {
		// Found only when a name beside it was made: "output directory is not writable (file name too long)",
		// or "ffmpeg failed (File name too long)" after the whole job.
		return fmt.Errorf("%s: file name too long: at most %d bytes, to leave room for the files written beside it",
			out, nameMax-nameRoom)
	}
	for _, in := range inputs {
		if same(out, in) {
			return fmt.Errorf("%s: output would overwrite an input (%s)", out, in)
		}
	}
	me, _ := self()
	tmp, err := tempOutput(out, me)
	if err != nil {
		return err
	}
	return os.Remove(tmp)
}

// cleanLeftovers removes what killed runs left: temporary outputs of the same output, and work directories in the
// same work directory.
func cleanLeftovers(cfg Config, out string) {
	workParent := cfg.WorkDir
	if workParent == "" {
		workParent = os.TempDir()
	}
	removed := append(removeStale(filepath.Dir(out), tempOutputPrefix(out)), removeStale(workParent, workDirPrefix)...)
	for _, p := range removed {
		cfg.Log.Info("removed a leftover of an interrupted run", zap.String("path", p))
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "Removed %s, left by an interrupted run\n", p)
		}
	}
}

func same(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
