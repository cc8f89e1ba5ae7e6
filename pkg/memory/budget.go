package memory

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
)

// GB is the unit of --max-memory and of the live line: 2^30 bytes.
const GB = 1 << 30

const mib = 1 << 20

// Bytes converts a size in GB (--max-memory's unit) to bytes.
func Bytes(gb float64) uint64 { return uint64(gb * GB) }

// ErrBudgetTooSmall is wrapped by the *BudgetError that Plan returns when even the smallest settings (2 frames in
// flight, batch 1, one thread per ffmpeg, short lookahead) do not fit the budget.
var ErrBudgetTooSmall = errors.New("memory budget too small")

// BudgetError says how large a budget would have been enough. Its message is one line for the user.
type BudgetError struct {
	Budget, Need  uint64 // bytes; Need is rounded up to 0.1 GB
	Width, Height int
	Workers       int
	Image         bool // an image target (PlanImage): no workers
}

func (e *BudgetError) Error() string {
	if e.Image {
		return fmt.Sprintf("--max-memory %s GB is too small for the %dx%d image: needs at least %s GB",
			gbString(e.Budget), e.Width, e.Height, gbString(e.Need))
	}
	workers := "1 worker"
	if e.Workers != 1 {
		workers = fmt.Sprintf("%d workers", e.Workers)
	}
	return fmt.Sprintf("--max-memory %s GB is too small for %dx%d with %s: needs at least %s GB",
		gbString(e.Budget), e.Width, e.Height, workers, gbString(e.Need))
}

// Unwrap makes errors.Is(err, ErrBudgetTooSmall) true.
func (e *BudgetError) Unwrap() error { return ErrBudgetTooSmall }

// gbString renders bytes in GB with at most two decimals and no trailing zeros: 0.5, 1.25, 2.
func gbString(b uint64) string {
	s := strconv.FormatFloat(math.Round(float64(b)/GB*100)/100, 'f', 2, 64)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// Budget is the memory a whole job may use: every process of it (this one, every ffmpeg child) together, as the
// process-tree Sampler measures it. Total 0 means no budget.
type Budget struct {
	Total uint64 // bytes
}

// Model constants that are not ffmpeg's (see the ffmpeg tables in ffmpeg_model.go).
const (
	// PlanFraction is the share of the budget a plan may fill: the rest covers what the model misses, below the
	// governor's alert line (AlertFraction), so a job that goes as planned never sees an alert.
	PlanFraction = 0.80
	// DefaultProcessBytes is the RSS of the job's own process before workers load models: the binary and its
	// libraries (OpenCV, ONNX Runtime, libav*: ~107 MiB of file-backed pages in `coordinator run`), the Go runtime
	// and nats-server. Callers should measure it (a Sampler on os.Getpid() before the workers load models) and pass
	// it as ProcessBytes.
	DefaultProcessBytes = 128 * mib
	// GoHeapBytes is what the Go runtime may grow by during a job (JetStream buffers, messages, logs). A 20 s
	// 400x300 job's heap stayed at 3-7 MB live, 8 MB GC goal (GODEBUG=gctrace=1); the allowance is generous.
	// Budget.GoHeapLimit starts from it.
	GoHeapBytes = 32 * mib
	// DefaultBatchItemBytes is the working memory of one frame in a model call when the engine does not say:
	// the detector's resized copy and float input (at most 640x640) and ONNX Runtime's activations for it.
	DefaultBatchItemBytes = 16 * mib
	// DefaultScratchPerPixel is the default per-worker working memory per frame pixel: face crops and their
	// blend buffers, which grow to the largest face seen (a face filling a quarter of the frame, ~8 buffers).
	DefaultScratchPerPixel = 6
	// SmallLookahead is the encoder lookahead the plan falls back to (and --memory-optimization uses): x264 and
	// x265 rc-lookahead, VP9 lag-in-frames.
	SmallLookahead = 5
	// Caps on the thread counts a plan picks by itself (the measured range); callers may ask for more. Below them a
	// plan picks what libavcodec picks by itself: cores+1 decoder threads and, for x264, 1.5 per core (x264's own
	// default). On 2 cores that is 3 and 3, which made a no-op 20 s 1080p job 6% faster than 2 and 2 in side-by-side
	// runs (7.29-7.40 s vs 7.53-8.04 s; docs/BENCHMARKS.md), the encoder's frame threads keeping both cores busy.
	maxAutoDecoderThreads = 4
	maxAutoEncoderThreads = 8
)

// PlanInput describes a job to plan.
type PlanInput struct {
	Width, Height int
	// Workers is the number of segment pipelines that run at once: in-process workers times their slots. 0 is 1.
	Workers int
	// ModelBytes is the measured footprint of one worker's loaded models (RSS after load minus before).
	ModelBytes uint64
	// DecoderThreads and EncoderThreads are upper bounds on each ffmpeg's threads; 0 lets the plan choose
	// (up to min(CPUs, 4) for the decoder, min(CPUs, 8) for x264, min(CPUs, 4) for x265 and VP9).
	DecoderThreads, EncoderThreads int
	Encoder                        string // libx264 (default when ""), libx265, libvpx-vp9
	// MaxBatch is --batch-size, the most frames per model call; 0 is 1.
	MaxBatch int
	// MemoryOptimization starts from one thread per ffmpeg and the small lookahead.
	MemoryOptimization bool
	// CPUs is the machine's cores for the default thread counts; 0 is runtime.NumCPU().
	CPUs int
	// ProcessBytes is this process's RSS before workers load models; 0 is DefaultProcessBytes.
	ProcessBytes uint64
	// ScratchBytes is one worker's crop working memory; 0 is DefaultScratchPerPixel bytes per frame pixel.
	ScratchBytes uint64
	// BatchItemBytes is the working memory of one frame in a model call; 0 is DefaultBatchItemBytes.
	BatchItemBytes uint64
	// Frames is the most frames one pipeline encodes (the longest segment, or the whole target); 0 is unknown. An
	// encoder never holds more pictures than it is given: a short clip's plan counts only those.
	Frames int
}

// Item is one line of an estimate.
type Item struct {
	Name  string
	Bytes uint64
}

// Plan is what a job runs with.
type Plan struct {
	FramesInFlight int // each pipeline's frame pool (pipeline.Config.InFlight)
	Batch          int // frames per model call
	DecoderThreads int // never 0: ffmpeg's own default grows with the machine
	EncoderThreads int
	Lookahead      int // encoder lookahead frames (x264/x265 rc-lookahead, VP9 lag-in-frames)
	// OnePassPerProcessor runs a job's processors one pass each, unloading each one's models before the next
	// loads its own (--memory-optimization; worker.MultiPass): the peak holds one processor's models.
	OnePassPerProcessor bool
	EstimatedPeak       uint64
	Breakdown           []Item
}

// String is the line a worker prints about its plan.
func (p Plan) String() string {
	return fmt.Sprintf("%d frames in flight, batch %d, codec threads %d decode / %d encode, lookahead %d, estimated peak %s",
		p.FramesInFlight, p.Batch, p.DecoderThreads, p.EncoderThreads, p.Lookahead, FormatGB(p.EstimatedPeak))
}

// Estimate is the modelled peak of a job and what it is made of.
type Estimate struct {
	Peak      uint64
	Breakdown []Item
}

// Bytes returns the bytes of the item whose name starts with prefix (0 if none).
func (e Estimate) Bytes(prefix string) uint64 {
	for _, it := range e.Breakdown {
		if strings.HasPrefix(it.Name, prefix) {
			return it.Bytes
		}
	}
	return 0
}

// withDefaults fills the defaults, then checks what cannot be defaulted.
func (in PlanInput) withDefaults() (PlanInput, error) {
	if in.Encoder == "" {
		in.Encoder = "libx264"
	}
	in.Workers = max(in.Workers, 1)
	in.MaxBatch = max(in.MaxBatch, 1)
	if in.CPUs <= 0 {
		in.CPUs = runtime.NumCPU()
	}
	if in.ProcessBytes == 0 {
		in.ProcessBytes = DefaultProcessBytes
	}
	if in.ScratchBytes == 0 && in.Width > 0 && in.Height > 0 {
		in.ScratchBytes = uint64(in.Width) * uint64(in.Height) * DefaultScratchPerPixel
	}
	if in.BatchItemBytes == 0 {
		in.BatchItemBytes = DefaultBatchItemBytes
	}
	switch {
	case in.Width <= 0 || in.Height <= 0:
		return in, fmt.Errorf("memory: plan: frame size %dx%d", in.Width, in.Height)
	case in.DecoderThreads < 0 || in.EncoderThreads < 0:
		return in, fmt.Errorf("memory: plan: threads %d/%d", in.DecoderThreads, in.EncoderThreads)
	}
	if _, ok := encoderModels[in.Encoder]; !ok {
		return in, fmt.Errorf("memory: plan: encoder %q: want libx264, libx265 or libvpx-vp9", in.Encoder)
	}
	return in, nil
}

// Estimate models the peak RSS of the job in at settings p (FramesInFlight, Batch, threads, Lookahead). Inputs
// left 0 take PlanInput's defaults; an unknown encoder is modelled as x264.
func (in PlanInput) Estimate(p Plan) Estimate {
	in, _ = in.withDefaults() // Plan checks; here an unknown encoder is modelled as x264, a bad size as 0 pixels
	n := uint64(in.Workers)
	// A frame in flight is its bgr24 buffer and, for a yuv420p target, the decoded picture it was converted from
	// (1.5 bytes a pixel), kept so that the pixels no processor changed reach the encoder as decoded
	// (media.Decoder.ReadKeep): counted for every target, the other formats' frames being no larger.
	frame := uint64(max(in.Width, 0)) * uint64(max(in.Height, 0)) * 9 / 2
	items := []Item{
		{"process (binary, libraries, nats-server)", in.ProcessBytes},
		{"go heap", GoHeapBytes},
		{fmt.Sprintf("models x%d", n), n * in.ModelBytes},
		{fmt.Sprintf("frame pool x%d (%d frames of %dx%d bgr24 + yuv420p)", n, p.FramesInFlight, in.Width, in.Height),
			n * uint64(p.FramesInFlight) * frame},
		{fmt.Sprintf("crops x%d", n), n * in.ScratchBytes},
		{fmt.Sprintf("model inputs x%d (batch %d)", n, p.Batch), n * uint64(p.Batch) * in.BatchItemBytes},
		{fmt.Sprintf("decoder x%d (%d threads)", n, p.DecoderThreads),
			n * DecoderRSS(in.Width, in.Height, p.DecoderThreads)},
		{fmt.Sprintf("encoder x%d (%s, %d threads, lookahead %d)", n, in.Encoder, p.EncoderThreads, p.Lookahead),
			n * inProcess(EncoderRSSFrames(in.Encoder, in.Width, in.Height, p.EncoderThreads, p.Lookahead, in.Frames))},
	}
	var total uint64
	for _, it := range items {
		total += it.Bytes
	}
	return Estimate{Peak: total, Breakdown: items}
}

// Plan picks the settings for in that fit the budget: the peak estimate stays within PlanFraction of it.
//
// It starts from the preferred codec threads (the caller's, or the machine's up to the caps; one each with
// MemoryOptimization) and the encoder's default lookahead (SmallLookahead with MemoryOptimization). If 2 frames
// in flight and batch 1 do not fit, it gives up speed in this order until they do: the small lookahead, then
// halving the decoder's threads to 1, then the encoder's. Then it grows frames in flight while they fit, up to
// 2*MaxBatch+2; the batch is (frames-1)/2 (a batch in the model, the next one decoded, one frame encoding), at
// least 1 and at most MaxBatch. If even the smallest settings do not fit, the error is a *BudgetError (wrapping
// ErrBudgetTooSmall) naming the smallest budget that would.
func (b Budget) Plan(in PlanInput) (Plan, error) {
	in, err := in.withDefaults()
	if err != nil {
		return Plan{}, err
	}
	m := encoderModels[in.Encoder]
	p := Plan{FramesInFlight: 2, Batch: 1, Lookahead: m.defaultLookahead,
		DecoderThreads: min(in.CPUs+1, maxAutoDecoderThreads), EncoderThreads: min(m.autoThreads(in.CPUs), m.maxAutoThreads)}
	if in.DecoderThreads > 0 {
		p.DecoderThreads = in.DecoderThreads
	}
	if in.EncoderThreads > 0 {
		p.EncoderThreads = in.EncoderThreads
	}
	if in.MemoryOptimization {
		p.DecoderThreads, p.EncoderThreads, p.Lookahead = 1, 1, min(p.Lookahead, SmallLookahead)
	}
	maxFrames := 2*in.MaxBatch + 2
	fits := func(p Plan) bool {
		return b.Total == 0 || float64(in.Estimate(p).Peak) <= PlanFraction*float64(b.Total)
	}
	for !fits(p) {
		switch {
		case p.Lookahead > SmallLookahead:
			p.Lookahead = SmallLookahead
		case p.DecoderThreads > 1:
			p.DecoderThreads /= 2
		case p.EncoderThreads > 1:
			p.EncoderThreads /= 2
		default:
			need := float64(in.Estimate(p).Peak) / PlanFraction
			return Plan{}, &BudgetError{Budget: b.Total, Need: uint64(math.Ceil(need/(GB/10)-1e-9) * (GB / 10)),
				Width: in.Width, Height: in.Height, Workers: in.Workers}
		}
	}
	for p.FramesInFlight < maxFrames {
		next := p
		next.FramesInFlight++
		next.Batch = batchFor(next.FramesInFlight, in.MaxBatch)
		if !fits(next) {
			break
		}
		p = next
	}
	e := in.Estimate(p)
	p.EstimatedPeak, p.Breakdown = e.Peak, e.Breakdown
	p.OnePassPerProcessor = in.MemoryOptimization
	return p, nil
}

// GoHeapLimit is the process's soft Go heap limit (debug.SetMemoryLimit) under the budget; math.MaxInt64 without
// one. Frames, models and codecs live outside the Go heap, and every plan fills at most PlanFraction of the budget
// (its own GoHeapBytes included): the runtime may grow past its allowance by half of the rest, whatever the tasks
// a worker is given, so one limit serves the whole process.
func (b Budget) GoHeapLimit() int64 {
	if b.Total == 0 {
		return math.MaxInt64
	}
	return int64(GoHeapBytes + uint64(float64(b.Total)*(1-PlanFraction)/2))
}

func batchFor(frames, maxBatch int) int {
	return max(1, min(maxBatch, (frames-1)/2))
}
