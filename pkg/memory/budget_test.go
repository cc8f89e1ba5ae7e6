package memory

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestFFmpegModelCoversMeasurements: at every measured point (ffmpeg_model.go's table, MiB rounded, the largest
// of the repeated runs) the model is at or above the measurement, and at most 60 MiB above it.
func TestFFmpegModelCoversMeasurements(t *testing.T) {
	sizes := [3][2]int{{854, 480}, {1920, 1080}, {3840, 2160}}
	tests := []struct {
		codec              string // "" is the decoder
		threads, lookahead int
		mib                [3]uint64
	}{
		{"", 1, 0, [3]uint64{14, 31, 95}}, // the decoder in process
		{"", 2, 0, [3]uint64{17, 40, 126}},
		{"", 4, 0, [3]uint64{23, 56, 167}},
		{"", 8, 0, [3]uint64{32, 81, 260}},
		{"", 16, 0, [3]uint64{50, 133, 444}},
		{"libx264", 1, 10, [3]uint64{87, 221, 663}},
		{"libx264", 2, 10, [3]uint64{98, 272, 837}},
		{"libx264", 4, 10, [3]uint64{105, 314, 932}},
		{"libx264", 8, 10, [3]uint64{121, 389, 1149}},
		{"libx264", 1, 5, [3]uint64{79, 187, 540}},
		{"libx264", 2, 5, [3]uint64{90, 237, 713}},
		{"libx264", 4, 5, [3]uint64{96, 282, 811}},
		{"libx264", 8, 5, [3]uint64{113, 354, 1028}},
		{"libx265", 1, 15, [3]uint64{157, 406, 1295}},
		{"libx265", 2, 15, [3]uint64{160, 428, 1381}},
		{"libx265", 4, 15, [3]uint64{176, 486, 1578}},
		{"libx265", 1, 5, [3]uint64{130, 328, 1003}},
		{"libvpx-vp9", 1, 25, [3]uint64{130, 335, 1051}},
		{"libvpx-vp9", 2, 25, [3]uint64{135, 342, 1055}},
		{"libvpx-vp9", 4, 25, [3]uint64{145, 352, 1072}},
		{"libvpx-vp9", 1, 5, [3]uint64{103, 245, 756}},
	}
	for _, tt := range tests {
		for i, sz := range sizes {
			var got uint64
			name := "decoder"
			if tt.codec == "" {
				got = DecoderRSS(sz[0], sz[1], tt.threads)
			} else {
				got = EncoderRSS(tt.codec, sz[0], sz[1], tt.threads, tt.lookahead)
				name = fmt.Sprintf("%s lookahead %d", tt.codec, tt.lookahead)
			}
			want := tt.mib[i] * mib // rounded to the nearest MiB: allow half a MiB below
			if got+mib/2 < want || got > want+60*mib {
				t.Errorf("%s, %d threads, %dx%d: model %d MiB, measured %d MiB: want the model within [+0, +60] MiB",
					name, tt.threads, sz[0], sz[1], got/mib, tt.mib[i])
			}
		}
	}
}

// TestFFmpegModelShape: interpolation between measured thread counts, extrapolation past them, defaults.
func TestFFmpegModelShape(t *testing.T) {
	const w, h = 1920, 1080
	x264 := func(threads, lookahead int) uint64 { return EncoderRSS("libx264", w, h, threads, lookahead) }
	if a, b, c := x264(2, 0), x264(3, 0), x264(4, 0); !(a < b && b < c) || b != (a+c)/2 && b != (a+c)/2+1 {
		t.Errorf("x264 threads 2, 3, 4: %d, %d, %d MiB: want 3 halfway", a/mib, b/mib, c/mib)
	}
	if a, b := x264(8, 0), x264(16, 0); b <= a+(a-x264(4, 0)) {
		t.Errorf("x264 16 threads %d MiB: want the 4->8 growth (from %d MiB) extrapolated at least", b/mib, a/mib)
	}
	if x264(0, 0) != x264(1, 10) {
		t.Error("0 threads and lookahead 0 should model 1 thread and the default lookahead")
	}
	if x264(1, 2) != x264(1, SmallLookahead) {
		t.Error("lookaheads below SmallLookahead should not be modelled as smaller still")
	}
	if EncoderRSS("libfoo", w, h, 2, 0) != x264(2, 0) {
		t.Error("an unknown codec should be modelled as x264")
	}
	if d := DecoderRSS(w, h, 0); d != DecoderRSS(w, h, 1) {
		t.Errorf("decoder 0 threads: %d", d)
	}
	for codec, want := range map[string]int{"libx264": 10, "libx265": 15, "libvpx-vp9": 25, "libfoo": 0} {
		if got := DefaultLookahead(codec); got != want {
			t.Errorf("DefaultLookahead(%s) = %d, want %d", codec, got, want)
		}
	}
}

func gb(x float64) Budget { return Budget{Total: uint64(x * GB)} }

// base is the input of TestPlan's cases: 2 cores, 32 MiB of models per worker, defaults otherwise.
func base(w, h int) PlanInput {
	return PlanInput{Width: w, Height: h, Workers: 1, CPUs: 2, ModelBytes: 32 * mib, MaxBatch: 1}
}

// TestPlan: what Plan picks, case by case. The estimated peaks are the model's (budget.go, ffmpeg_model.go).
func TestPlan(t *testing.T) {
	tests := []struct {
		name            string
		budget          Budget
		edit            func(*PlanInput)
		frames, batch   int
		dec, enc, la    int
		peakMiB         uint64 // EstimatedPeak in MiB, rounded down
		unlimitedGoHeap bool
	}{
		{"1080p, 1 GB: the codecs' own threads for 2 cores (3 and 3), default lookahead, pool 2*1+2", gb(1), nil, 4, 1, 3, 3, 10, 551, false},
		{"1080p, 1 GB, --memory-optimization: 1 thread each, lookahead 5", gb(1),
			func(in *PlanInput) { in.MemoryOptimization = true }, 4, 1, 1, 1, 5, 432, false},
		{"1080p, 2 GB, --batch-size 4: pool 10, batch 4", gb(2), func(in *PlanInput) { in.MaxBatch = 4 }, 10, 4, 3, 3, 10, 652, false},
		{"1080p, 0.85 GB, --batch-size 8: the pool grows as far as it fits", gb(0.85), func(in *PlanInput) { in.MaxBatch = 8 },
			12, 5, 3, 3, 10, 686, false},
		{"1080p, 4 GB, 8 threads asked for and given", gb(4),
			func(in *PlanInput) { in.DecoderThreads, in.EncoderThreads = 8, 8 }, 4, 1, 8, 8, 10, 679, false},
		{"1080p, 16 cores: decoder capped at 4, x264 at 8", gb(4), func(in *PlanInput) { in.CPUs = 16 }, 4, 1, 4, 8, 10, 653, false},
		{"1080p, 16 cores, x265: capped at 4", gb(4), func(in *PlanInput) { in.CPUs, in.Encoder = 16, "libx265" },
			4, 1, 4, 4, 15, 751, false},
		{"4K, 2 GB: 4 frames fit with every default", gb(2), nil, 4, 1, 3, 3, 10, 1421, false},
		{"4K, 1.6 GB: lookahead 5 first", gb(1.6), nil, 4, 1, 3, 3, 5, 1303, false},
		{"4K, 1.45 GB: then the decoder's threads", gb(1.45), nil, 2, 1, 1, 3, 5, 1180, false},
		{"4K, 1.4 GB: then the encoder's", gb(1.4), nil, 4, 1, 1, 1, 5, 1020, false},
		{"4K, 4 GB, 2 workers", gb(4), func(in *PlanInput) { in.Workers = 2 }, 4, 1, 3, 3, 10, 2683, false},
		{"4K, VP9, 3 GB", gb(3), func(in *PlanInput) { in.Encoder = "libvpx-vp9" }, 4, 1, 3, 2, 25, 1582, false},
		{"480p, 1 GB, 2 workers", gb(1), func(in *PlanInput) { in.Workers = 2 }, 4, 1, 3, 3, 10, 476, false},
		{"no budget: the largest pool, no Go limit", Budget{}, func(in *PlanInput) { in.MaxBatch = 3 }, 8, 3, 3, 3, 10, 618, true},
		// The 10000x10000 job of the issue (5 frames: measured 6.18 GiB peak, /usr/bin/time -v; docs/BENCHMARKS.md):
		// the old model planned 16.41 GiB, counting a decoder measured through the ffmpeg command and a full encoder.
		{"10k, 5 frames, no budget: the encoder holds only the 5 pictures it is given", Budget{},
			func(in *PlanInput) { in.Frames = 5 }, 4, 1, 3, 3, 10, 8486, true},
		{"10k, a long video, no budget: the full encoder", Budget{}, nil, 4, 1, 3, 3, 10, 14256, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, h := 1920, 1080
			switch {
			case strings.HasPrefix(tt.name, "4K"):
				w, h = 3840, 2160
			case strings.HasPrefix(tt.name, "480p"):
				w, h = 854, 480
			case strings.HasPrefix(tt.name, "10k"):
				w, h = 10000, 10000
			}
			in := base(w, h)
			if tt.edit != nil {
				tt.edit(&in)
			}
			p, err := tt.budget.Plan(in)
			if err != nil {
				t.Fatal(err)
			}
			if p.FramesInFlight != tt.frames || p.Batch != tt.batch || p.DecoderThreads != tt.dec ||
				p.EncoderThreads != tt.enc || p.Lookahead != tt.la || p.EstimatedPeak/mib != tt.peakMiB {
				t.Errorf("plan %s (%d MiB)\nwant %d frames, batch %d, threads %d/%d, lookahead %d, %d MiB",
					p, p.EstimatedPeak/mib, tt.frames, tt.batch, tt.dec, tt.enc, tt.la, tt.peakMiB)
			}
			if (tt.budget.GoHeapLimit() == math.MaxInt64) != tt.unlimitedGoHeap {
				t.Errorf("GoHeapLimit %d", tt.budget.GoHeapLimit())
			}
			checkPlan(t, tt.budget, in, p)
		})
	}
}

// checkPlan asserts what every plan must satisfy.
func checkPlan(t *testing.T, b Budget, in PlanInput, p Plan) {
	t.Helper()
	maxBatch := max(in.MaxBatch, 1)
	if p.FramesInFlight < 2 || p.FramesInFlight > 2*maxBatch+2 || p.Batch < 1 || p.Batch > maxBatch ||
		p.DecoderThreads < 1 || p.EncoderThreads < 1 || p.Lookahead < 1 {
		t.Errorf("plan out of bounds: %s (max batch %d)", p, maxBatch)
	}
	var sum uint64
	for _, it := range p.Breakdown {
		sum += it.Bytes
	}
	if sum != p.EstimatedPeak || p.EstimatedPeak != in.Estimate(p).Peak {
		t.Errorf("breakdown sums to %d, peak %d, Estimate %d", sum, p.EstimatedPeak, in.Estimate(p).Peak)
	}
	if b.Total == 0 {
		return
	}
	if float64(p.EstimatedPeak) > PlanFraction*float64(b.Total) {
		t.Errorf("estimated peak %d above %.0f%% of the budget %d", p.EstimatedPeak, PlanFraction*100, b.Total)
	}
	if l := b.GoHeapLimit(); l < GoHeapBytes || p.EstimatedPeak+uint64(l)-GoHeapBytes > b.Total {
		t.Errorf("Go heap limit %d: with the rest of the plan (%d) it exceeds the budget %d", l, p.EstimatedPeak, b.Total)
	}
}

// TestPlanTooSmall: budgets below the smallest settings fail with the one-line error, which names a budget that
// works and is the smallest that does at 0.1 GB steps.
func TestPlanTooSmall(t *testing.T) {
	tests := []struct {
		budget  float64
		w, h    int
		workers int
		encoder string
		want    string
	}{
		{0.5, 3840, 2160, 1, "", "--max-memory 0.5 GB is too small for 3840x2160 with 1 worker: needs at least 1.2 GB"},
		{1, 3840, 2160, 1, "", "--max-memory 1 GB is too small for 3840x2160 with 1 worker: needs at least 1.2 GB"},
		{2, 3840, 2160, 2, "", "--max-memory 2 GB is too small for 3840x2160 with 2 workers: needs at least 2.2 GB"},
		{1.25, 3840, 2160, 1, "libx265", "--max-memory 1.25 GB is too small for 3840x2160 with 1 worker: needs at least 1.8 GB"},
		{0.4, 1920, 1080, 1, "", "--max-memory 0.4 GB is too small for 1920x1080 with 1 worker: needs at least 0.6 GB"},
		{0.1, 854, 480, 1, "", "--max-memory 0.1 GB is too small for 854x480 with 1 worker: needs at least 0.4 GB"},
		{0.6, 854, 480, 3, "", "--max-memory 0.6 GB is too small for 854x480 with 3 workers: needs at least 0.7 GB"},
	}
	for _, tt := range tests {
		in := base(tt.w, tt.h)
		in.Workers, in.Encoder = tt.workers, tt.encoder
		_, err := gb(tt.budget).Plan(in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Plan: %v\nwant %s", err, tt.want)
			continue
		}
		var be *BudgetError
		if !errors.Is(err, ErrBudgetTooSmall) || !errors.As(err, &be) {
			t.Fatalf("%v does not wrap ErrBudgetTooSmall in a *BudgetError", err)
		}
		if be.Need%(GB/10) != 0 {
			t.Errorf("Need %d is not a multiple of 0.1 GB", be.Need)
		}
		if _, err := (Budget{Total: be.Need}).Plan(in); err != nil {
			t.Errorf("the named budget %s GB fails: %v", gbString(be.Need), err)
		}
		if _, err := (Budget{Total: be.Need - GB/10}).Plan(in); !errors.Is(err, ErrBudgetTooSmall) {
			t.Errorf("%s GB, 0.1 GB less than named, fits: %v", gbString(be.Need-GB/10), err)
		}
	}
}

// TestPlanGrid: over sizes, budgets, workers, encoders and batch sizes every plan keeps the invariants, and a
// larger budget never gets fewer threads or a shorter lookahead, nor fewer frames with the same threads and
// lookahead (threads come first: a budget that affords more of them may give a frame back).
func TestPlanGrid(t *testing.T) {
	n := 0
	for _, sz := range [][2]int{{640, 360}, {854, 480}, {1280, 720}, {1920, 1080}, {2560, 1440}, {3840, 2160}} {
		for _, enc := range []string{"libx264", "libx265", "libvpx-vp9"} {
			for _, workers := range []int{1, 2, 3} {
				for _, batch := range []int{1, 2, 4} {
					for _, mo := range []bool{false, true} {
						in := PlanInput{Width: sz[0], Height: sz[1], Workers: workers, Encoder: enc, MaxBatch: batch,
							MemoryOptimization: mo, CPUs: 4, ModelBytes: 100 * mib}
						var prev Plan
						for x := 0.5; x <= 8; x += 0.25 {
							p, err := gb(x).Plan(in)
							if errors.Is(err, ErrBudgetTooSmall) {
								if prev.FramesInFlight != 0 {
									t.Fatalf("%+v: %.2f GB too small after a smaller budget fitted", in, x)
								}
								continue
							}
							if err != nil {
								t.Fatal(err)
							}
							n++
							checkPlan(t, gb(x), in, p)
							same := p.DecoderThreads == prev.DecoderThreads && p.EncoderThreads == prev.EncoderThreads &&
								p.Lookahead == prev.Lookahead
							if prev.FramesInFlight != 0 && (same && p.FramesInFlight < prev.FramesInFlight ||
								p.DecoderThreads < prev.DecoderThreads || p.EncoderThreads < prev.EncoderThreads ||
								p.Lookahead < prev.Lookahead) {
								t.Fatalf("%+v: %.2f GB gave %s after %s", in, x, p, prev)
							}
							prev = p
						}
						if prev.FramesInFlight == 0 {
							t.Errorf("%+v: not even 8 GB fits", in)
						}
					}
				}
			}
		}
	}
	t.Logf("%d plans checked", n)
}

func TestPlanBadInput(t *testing.T) {
	for _, in := range []PlanInput{
		{Width: 0, Height: 1080},
		{Width: 1920, Height: -1},
		{Width: 1920, Height: 1080, Encoder: "libfoo"},
		{Width: 1920, Height: 1080, DecoderThreads: -1},
	} {
		if _, err := gb(4).Plan(in); err == nil || errors.Is(err, ErrBudgetTooSmall) {
			t.Errorf("Plan(%+v): %v, want an input error", in, err)
		}
	}
}

func TestGBString(t *testing.T) {
	for b, want := range map[uint64]string{GB / 2: "0.5", GB: "1", GB + GB/4: "1.25", 17 * GB / 10: "1.7", 13 * GB / 10: "1.3", 1395864370: "1.3"} {
		if got := gbString(b); got != want {
			t.Errorf("gbString(%d) = %s, want %s", b, got, want)
		}
	}
}
