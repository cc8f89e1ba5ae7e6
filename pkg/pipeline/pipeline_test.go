package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/pipeline"
)

// TestRunRoundTrip runs clips through a no-op processor: the output has the input's frame count, size and rate,
// every output frame is its input frame (re-encoded), the processor sees every index once and in order, and the
// progress callback counts 1..n.
func TestRunRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		clip       func(testing.TB) string
		w, h       int
		firstFrame int
		inFlight   int
		expect     bool
		byRef      bool // the processor reads no pixels: the decoder's yuv420p pictures pass by reference
	}{
		{"testsrc2 320x240, default pool", func(tb testing.TB) string { return testsrc(tb, 320, 240, 2) }, 320, 240, 0, 0, false, false},
		{"webcam 400x300 from frame 250, pool 2, expect", func(tb testing.TB) string { return webcam(tb, 2) }, 400, 300, 250, 2, true, false},
		{"testsrc2 322x182, pool 7, expect", func(tb testing.TB) string { return testsrc(tb, 322, 182, 1.2) }, 322, 182, 1000, 7, true, false},
		{"testsrc2 320x240 by reference, pool 2, expect", func(tb testing.TB) string { return testsrc(tb, 320, 240, 2) }, 320, 240, 0, 2, true, true},
		{"webcam 400x300 by reference, default pool", func(tb testing.TB) string { return webcam(tb, 2) }, 400, 300, 0, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := tt.clip(t)
			want := countFrames(t, in)
			out := filepath.Join(t.TempDir(), "out.mp4")
			cfg := config(in, out, tt.w, tt.h)
			cfg.FirstFrame, cfg.InFlight = tt.firstFrame, tt.inFlight
			if tt.expect {
				cfg.Expect = want
			}
			var indices, progress []int
			var proc pipeline.Processor = pipeline.ProcessorFunc(func(m gocv.Mat, index int) error {
				switch {
				case tt.byRef && !m.Empty():
					return fmt.Errorf("frame by reference came as a %dx%d Mat, want an empty one", m.Cols(), m.Rows())
				case !tt.byRef && (m.Cols() != tt.w || m.Rows() != tt.h || m.Type() != gocv.MatTypeCV8UC3):
					return fmt.Errorf("frame is %dx%d type %v", m.Cols(), m.Rows(), m.Type())
				}
				indices = append(indices, index)
				return nil
			})
			if tt.byRef {
				cfg.SourcePixFmt, proc = media.PixFmtYUV420P, pixelsUnused{proc}
			}
			r := run(t, testCtx(t), cfg, proc, func(done int) { progress = append(progress, done) })
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.n != want {
				t.Errorf("Run returned %d frames, input has %d", r.n, want)
			}
			if got := countFrames(t, out); got != want {
				t.Errorf("output has %d frames (ScanFrames), input %d", got, want)
			}
			wantIdx := make([]int, want)
			wantProgress := make([]int, want)
			for i := range wantIdx {
				wantIdx[i] = tt.firstFrame + i
				wantProgress[i] = i + 1
			}
			if !slices.Equal(indices, wantIdx) {
				t.Errorf("processor saw %d indices %v..., want %d..%d in order", len(indices), head(indices), tt.firstFrame, tt.firstFrame+want-1)
			}
			if !slices.Equal(progress, wantProgress) {
				t.Errorf("progress %v..., want 1..%d", head(progress), want)
			}

			info, err := media.Probe(testCtx(t), out)
			if err != nil {
				t.Fatal(err)
			}
			if info.Width != tt.w || info.Height != tt.h || info.Codec != "h264" || info.PixFmt != "yuv420p" ||
				info.FrameRate != (media.Rational{Num: 25, Den: 1}) {
				t.Errorf("output %dx%d %s %s %s, want %dx%d h264 yuv420p 25/1", info.Width, info.Height, info.Codec,
					info.PixFmt, info.FrameRate, tt.w, tt.h)
			}
			// Frame by frame against the input: re-encoding at crf 18 costs 1-2.5 levels on average. Order: each
			// output frame is closer to its own input frame than to a neighbour that differs visibly from it
			// (testsrc2 moves 4-6 levels a frame; the webcam clip has near-duplicate frames, skipped).
			src, dst := decodeAll(t, in, tt.w, tt.h), decodeAll(t, out, tt.w, tt.h)
			if len(src) != want || len(dst) != want {
				t.Fatalf("decoded %d input and %d output frames, want %d", len(src), len(dst), want)
			}
			worst, ordered := 0.0, 0
			for i := range src {
				own := meanAbsDiff(src[i], dst[i])
				worst = max(worst, own)
				for _, j := range []int{i - 1, i + 1} {
					if j < 0 || j >= want || meanAbsDiff(src[i], src[j]) < 1 {
						continue
					}
					ordered++
					if d := meanAbsDiff(src[j], dst[i]); d <= own {
						t.Errorf("output frame %d is closer to input frame %d (%.2f) than to its own (%.2f)", i, j, d, own)
					}
				}
			}
			if worst > 3 {
				t.Errorf("worst frame differs from its input by %.2f levels on average, want <= 3", worst)
			}
			t.Logf("%d frames in %v; worst mean abs diff %.2f; order checked on %d neighbour pairs", r.n,
				r.elapsed.Round(time.Millisecond), worst, ordered)
		})
	}
}

func head(s []int) []int { return s[:min(len(s), 8)] }

// pixelsUnused says its processor reads no pixels (as frame processor none does).
type pixelsUnused struct{ pipeline.Processor }

func (pixelsUnused) PixelsUnused() bool { return true }

// TestRunProcessorChangesReachOutput paints a white rectangle on one frame (by its index in the whole target) and
// finds it in that output frame only, both in the encoded video and in the kept png of that frame.
func TestRunProcessorChangesReachOutput(t *testing.T) {
	t.Parallel()
	const (
		w, h       = 320, 240
		firstFrame = 40
		k          = 7 // the painted frame, relative to the segment
	)
	box := rect{64, 48, 160, 128} // even edges: no chroma bleed at 4:2:0 boundaries
	other := rect{200, 150, 300, 220}
	in := testsrc(t, w, h, 1)
	out := filepath.Join(t.TempDir(), "out.mp4")
	frames := filepath.Join(t.TempDir(), "frames")
	cfg := config(in, out, w, h)
	cfg.FirstFrame, cfg.FramesDir = firstFrame, frames
	painted := 0
	proc := pipeline.ProcessorFunc(func(m gocv.Mat, index int) error {
		if index == firstFrame+k {
			gocv.Rectangle(&m, image.Rect(box.x0, box.y0, box.x1, box.y1), color.RGBA{255, 255, 255, 0}, -1)
			painted++
		}
		return nil
	})
	r := run(t, testCtx(t), cfg, proc, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if painted != 1 {
		t.Fatalf("painted %d frames, want 1", painted)
	}
	src, dst := decodeAll(t, in, w, h), decodeAll(t, out, w, h)
	if len(dst) != len(src) || len(src) != 25 {
		t.Fatalf("%d output frames, %d input, want 25", len(dst), len(src))
	}
	if m := rectMean(src[k], w, box); m > 200 {
		t.Fatalf("input frame %d is already bright in the box (mean %.1f): pick another box", k, m)
	}
	for i := range dst {
		in, got := rectMean(src[i], w, box), rectMean(dst[i], w, box)
		if i == k {
			if got < 250 {
				t.Errorf("frame %d: box mean %.1f, want >= 250 (painted white)", i, got)
			}
		} else if d := got - in; d > 4 || d < -4 {
			t.Errorf("frame %d: box mean %.1f, input %.1f: changed though not painted", i, got, in)
		}
		if d := rectMean(dst[i], w, other) - rectMean(src[i], w, other); d > 4 || d < -4 {
			t.Errorf("frame %d: unpainted area mean moved by %.1f", i, d)
		}
	}
	// The kept frame is written after the processor: lossless, so the box is exactly white.
	kept, kw, _ := readImage(t, filepath.Join(frames, fmt.Sprintf("%06d.png", firstFrame+k+1)))
	if kw != w || rectMean(kept, w, box) != 255 {
		t.Errorf("kept png of frame %d: box mean %.2f, want 255", firstFrame+k, rectMean(kept, w, box))
	}
}

// bufAddr is the address of a frame's pixels: which pool buffer the pipeline handed over.
func bufAddr(t *testing.T, m gocv.Mat) uintptr {
	b, err := m.DataPtrUint8()
	if err != nil || len(b) == 0 {
		t.Errorf("frame data: %v", err)
		return 0
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))
}

// TestRunFramePool checks the pool through what a processor can see: frames arrive in exactly InFlight distinct
// buffers (0 means 4, 1 means 2); each buffer holds exactly the decoded input frame when it reaches the processor
// (the decoder never wrote into a buffer still in use); and a buffer comes back for frame k only after the frame it
// held before was encoded (progress, reported after each encoder write, has passed it), so decoded-but-not-encoded
// frames never exceed the pool.
func TestRunFramePool(t *testing.T) {
	t.Parallel()
	const w, h = 320, 240
	in := testsrc(t, w, h, 1.6) // 40 frames
	ref := decodeAll(t, in, w, h)
	tests := []struct{ inFlight, want int }{{0, 4}, {1, 2}, {2, 2}, {3, 3}, {7, 7}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("InFlight=%d", tt.inFlight), func(t *testing.T) {
			t.Parallel()
			cfg := config(in, filepath.Join(t.TempDir(), "out.mp4"), w, h)
			cfg.InFlight = tt.inFlight
			var encoded atomic.Int64
			lastUser := map[uintptr]int{} // buffer -> last frame it carried
			maxAhead, reused, overwritten := 0, 0, 0
			proc := pipeline.ProcessorFunc(func(m gocv.Mat, k int) error {
				if k == 0 {
					time.Sleep(50 * time.Millisecond) // let the decoder fill the pool
				}
				addr := bufAddr(t, m)
				if j, ok := lastUser[addr]; ok && encoded.Load() < int64(j+1) {
					if reused++; reused <= 3 {
						t.Errorf("frame %d got the buffer of frame %d before that was encoded (%d encoded)", k, j, encoded.Load())
					}
				}
				lastUser[addr] = k
				maxAhead = max(maxAhead, k+1-int(encoded.Load()))
				if d := meanAbsDiff(matBytes(t, m), ref[k]); d != 0 {
					if overwritten++; overwritten <= 3 {
						t.Errorf("frame %d differs from the decoded input by %.3f", k, d)
					}
				}
				return nil
			})
			r := run(t, testCtx(t), cfg, proc, func(done int) { encoded.Store(int64(done)) })
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.n != len(ref) {
				t.Errorf("%d frames, want %d", r.n, len(ref))
			}
			if len(lastUser) != tt.want {
				t.Errorf("frames came in %d distinct buffers, want %d", len(lastUser), tt.want)
			}
			if reused > 0 || overwritten > 0 {
				t.Errorf("%d buffers handed out again too early, %d frames not as decoded", reused, overwritten)
			}
			if maxAhead > tt.want {
				t.Errorf("up to %d frames decoded but not encoded, pool is %d", maxAhead, tt.want)
			}
		})
	}
}

// TestRunBackPressure blocks the processor on frame 0 and measures how far the ffmpeg decoder got: the bytes it
// has written (/proc/<pid>/io wchar, counted when a write call returns) can be at most the InFlight frames the
// pipeline has read plus what the pipe holds (64 KiB by default, 1 MiB at most). A pipeline that read ahead
// without waiting for a free buffer would let ffmpeg write the whole 50-frame clip (34.5 MB) meanwhile. With a
// governor whose limit is below the pool, the limit replaces InFlight in that bound.
func TestRunBackPressure(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/io"); err != nil {
		t.Skip("needs /proc/<pid>/io")
	}
	const w, h = 640, 360
	const frameSize = w * h * 3
	in := testsrc(t, w, h, 2)
	total := countFrames(t, in)
	for _, tt := range []struct{ pool, limit int }{{2, 0}, {4, 0}, {4, 1}} {
		name := fmt.Sprintf("InFlight=%d", tt.pool)
		inFlight := tt.pool // frames the decoder may fill while frame 0 is held
		if tt.limit > 0 {
			name += fmt.Sprintf(", governor limit %d", tt.limit)
			inFlight = tt.limit
		}
		t.Run(name, func(t *testing.T) {
			cfg := config(in, filepath.Join(t.TempDir(), "out.mp4"), w, h)
			cfg.InFlight = tt.pool
			if tt.limit > 0 {
				cfg.Admit = governor(t, tt.limit)
			}
			var calls, encoded atomic.Int64
			entered, release := make(chan struct{}), make(chan struct{})
			proc := pipeline.ProcessorFunc(func(_ gocv.Mat, k int) error {
				calls.Add(1)
				if k == 0 {
					close(entered)
					<-release
				}
				return nil
			})
			done := startRun(testCtx(t), cfg, proc, func(n int) { encoded.Store(int64(n)) })
			released := false
			defer func() {
				if !released {
					close(release)
					<-done
				}
			}()
			select {
			case <-entered:
			case r := <-done:
				t.Fatalf("Run ended before frame 0 was processed: %d, %v", r.n, r.err)
			case <-time.After(runTimeout):
				t.Fatal("frame 0 never reached the processor")
			}
			pid := childDecoder(in)
			if pid == 0 {
				t.Skip("decoder process not found in /proc")
			}
			upper := int64(inFlight*frameSize + 1<<20)
			lower := int64((inFlight - 1) * frameSize)
			// Wait until the decoder has filled the pool and stalls: wchar unchanged for 300 ms.
			var written int64
			for stable, start := 0, time.Now(); (stable < 6 || written < lower) && time.Since(start) < 10*time.Second; {
				time.Sleep(50 * time.Millisecond)
				n, err := wchar(pid)
				if err != nil {
					t.Skipf("read /proc/%d/io: %v", pid, err)
				}
				if n == written {
					stable++
				} else {
					stable, written = 0, n
				}
			}
			t.Logf("decoder wrote %d bytes = %.2f frames while frame 0 was held (%d may be in flight)", written,
				float64(written)/frameSize, inFlight)
			if written > upper {
				t.Errorf("decoder ran ahead: wrote %d bytes (%.1f frames) with frame 0 held, want <= %d (%d in flight + pipe)",
					written, float64(written)/frameSize, upper, inFlight)
			}
			if written < lower {
				t.Errorf("decoder wrote only %d bytes (%.1f frames): the %d allowed in flight were not filled", written,
					float64(written)/frameSize, inFlight)
			}
			if c, e := calls.Load(), encoded.Load(); c != 1 || e != 0 {
				t.Errorf("with frame 0 held: %d processor calls and %d frames encoded, want 1 and 0", c, e)
			}
			close(release)
			released = true
			r := <-done
			if r.err != nil || r.n != total || calls.Load() != int64(total) {
				t.Errorf("after release: %d frames, %d calls, %v; want %d", r.n, calls.Load(), r.err, total)
			}
		})
	}
}

// TestRunProcessorError fails the processor at frame 105 (the sixth of a segment starting at 100): Run returns
// promptly with an error that wraps the processor's and names the frame, and no frame is processed after it.
func TestRunProcessorError(t *testing.T) {
	t.Parallel()
	const w, h = 320, 240
	in := testsrc(t, w, h, 4) // 100 frames
	cfg := config(in, filepath.Join(t.TempDir(), "out.mp4"), w, h)
	cfg.FirstFrame = 100
	boom := errors.New("boom")
	var calls []int
	maxDone := 0
	proc := pipeline.ProcessorFunc(func(_ gocv.Mat, index int) error {
		calls = append(calls, index)
		if index == 105 {
			time.Sleep(100 * time.Millisecond) // let the decoder fill the pool: those frames must not be processed
			return boom
		}
		return nil
	})
	r := run(t, testCtx(t), cfg, proc, func(done int) { maxDone = done })
	if !errors.Is(r.err, boom) {
		t.Fatalf("Run: %v, want an error wrapping %v", r.err, boom)
	}
	if !strings.Contains(r.err.Error(), "frame 105") {
		t.Errorf("error %q does not name frame 105", r.err)
	}
	if !slices.Equal(calls, []int{100, 101, 102, 103, 104, 105}) {
		t.Errorf("processor called for %v, want 100..105 and nothing after the failure", calls)
	}
	if r.n > 5 || maxDone > 5 {
		t.Errorf("Run reports %d frames encoded (progress %d), want <= 5", r.n, maxDone)
	}
	if r.elapsed > 10*time.Second {
		t.Errorf("Run took %v to return after the failure", r.elapsed)
	}
	t.Logf("returned after %v with %d frames encoded: %v", r.elapsed.Round(time.Millisecond), r.n, r.err)
}

// TestRunContext cancels or times out the context before and during a run: Run returns the context's error
// (errors.Is) promptly and stops calling the processor.
func TestRunContext(t *testing.T) {
	t.Parallel()
	const w, h = 320, 240
	in := testsrc(t, w, h, 4) // 100 frames
	cancelAt10 := func() (context.Context, pipeline.Processor) {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		return ctx, pipeline.ProcessorFunc(func(_ gocv.Mat, index int) error {
			if index == 10 {
				time.Sleep(100 * time.Millisecond) // the decoder fills the pool meanwhile
				cancel()
			}
			return nil
		})
	}
	tests := []struct {
		name      string
		want      error
		wantCalls func(int) bool
		setup     func() (context.Context, pipeline.Processor)
		byRef     bool
	}{
		{"cancelled before Run", context.Canceled, func(n int) bool { return n == 0 }, func() (context.Context, pipeline.Processor) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, noop
		}, false},
		{"cancelled at frame 10", context.Canceled, func(n int) bool { return n == 11 }, cancelAt10, false},
		{"cancelled at frame 10, frames by reference", context.Canceled, func(n int) bool { return n == 11 }, cancelAt10, true},
		{"deadline during a slow run", context.DeadlineExceeded, func(n int) bool { return n < 100 }, func() (context.Context, pipeline.Processor) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second) // the run needs >= 2 s
			t.Cleanup(cancel)
			return ctx, pipeline.ProcessorFunc(func(gocv.Mat, int) error { time.Sleep(20 * time.Millisecond); return nil })
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, proc := tt.setup()
			var calls atomic.Int64
			var counted pipeline.Processor = pipeline.ProcessorFunc(func(m gocv.Mat, i int) error { calls.Add(1); return proc.Process(m, i) })
			cfg := config(in, filepath.Join(t.TempDir(), "out.mp4"), w, h)
			if tt.byRef {
				cfg.SourcePixFmt, counted = media.PixFmtYUV420P, pixelsUnused{counted}
			}
			r := run(t, ctx, cfg, counted, nil)
			if !errors.Is(r.err, tt.want) {
				t.Fatalf("Run: %v, want %v", r.err, tt.want)
			}
			if c := int(calls.Load()); !tt.wantCalls(c) {
				t.Errorf("processor called %d times", c)
			}
			if r.elapsed > 10*time.Second {
				t.Errorf("Run took %v", r.elapsed)
			}
			t.Logf("returned after %v, %d calls: %v", r.elapsed.Round(time.Millisecond), calls.Load(), r.err)
		})
	}
}

// TestRunExpect: a planned count other than the decoded one fails with ErrFrameCount and the real count.
func TestRunExpect(t *testing.T) {
	t.Parallel()
	const w, h = 320, 240
	in := testsrc(t, w, h, 1) // 25 frames
	for _, expect := range []int{24, 25, 26} {
		t.Run(fmt.Sprint(expect), func(t *testing.T) {
			t.Parallel()
			cfg := config(in, filepath.Join(t.TempDir(), "out.mp4"), w, h)
			cfg.Expect = expect
			r := run(t, testCtx(t), cfg, noop, nil)
			if r.n != 25 {
				t.Errorf("Run returned %d frames, want 25", r.n)
			}
			if expect == 25 {
				if r.err != nil {
					t.Errorf("Run: %v", r.err)
				}
				return
			}
			if !errors.Is(r.err, pipeline.ErrFrameCount) {
				t.Fatalf("Run: %v, want ErrFrameCount", r.err)
			}
			if want := fmt.Sprintf("decoded 25, planned %d", expect); !strings.Contains(r.err.Error(), want) {
				t.Errorf("error %q does not say %q", r.err, want)
			}
		})
	}
}

// TestRunBadInputs: inputs and settings that fail before or at the start of a run, without calling the processor.
func TestRunBadInputs(t *testing.T) {
	t.Parallel()
	const w, h = 320, 240
	good := testsrc(t, w, h, 1)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.mp4")
	text := filepath.Join(dir, "text.mp4")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(text, []byte(strings.Repeat("not a video\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*pipeline.Config)
		want error // nil: any error
	}{
		{"missing input", func(c *pipeline.Config) { c.Input = filepath.Join(dir, "missing.mp4") }, media.ErrNotFound},
		{"empty input", func(c *pipeline.Config) { c.Input = empty }, media.ErrEmpty},
		{"input is not media", func(c *pipeline.Config) { c.Input = text }, media.ErrFFmpeg},
		{"output directory missing", func(c *pipeline.Config) { c.Output = filepath.Join(dir, "no", "such", "out.mp4") }, media.ErrFFmpeg},
		{"output extension", func(c *pipeline.Config) { c.Output = filepath.Join(dir, "out.avi") }, nil},
		{"video quality 101", func(c *pipeline.Config) { c.Quality = 101 }, nil},
		{"video quality -1", func(c *pipeline.Config) { c.Quality = -1 }, nil},
		{"zero frame rate", func(c *pipeline.Config) { c.FrameRate = media.Rational{} }, nil},
		{"unknown encoder", func(c *pipeline.Config) { c.Encoder = "libfoo" }, nil},
		{"bad frame size", func(c *pipeline.Config) { c.Width = 0 }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := config(good, filepath.Join(t.TempDir(), "out.mp4"), w, h)
			tt.edit(&cfg)
			var calls atomic.Int64
			proc := pipeline.ProcessorFunc(func(gocv.Mat, int) error { calls.Add(1); return nil })
			r := run(t, testCtx(t), cfg, proc, nil)
			if r.err == nil {
				t.Fatalf("Run succeeded with %d frames", r.n)
			}
			if tt.want != nil && !errors.Is(r.err, tt.want) {
				t.Errorf("Run: %v, want %v", r.err, tt.want)
			}
			if tt.want == media.ErrFFmpeg && strings.Contains(tt.name, "output") {
				// The encoder's ffmpeg fails only once it has the first frame (it opens the output after reading
				// its input), so a frame or two may reach the processor and the pipe first.
				if c := calls.Load(); r.n > 4 || c > 8 {
					t.Errorf("Run went on after the encoder failed: %d frames written, %d processed", r.n, c)
				}
				return
			}
			if r.n != 0 {
				t.Errorf("Run reports %d frames encoded", r.n)
			}
			if c := calls.Load(); c != 0 {
				t.Errorf("processor called %d times", c)
			}
			t.Logf("%v", r.err)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := func() pipeline.Config {
		return pipeline.Config{Input: "in.mp4", Output: "out.mp4", Width: 320, Height: 240}
	}
	tests := []struct {
		name    string
		edit    func(*pipeline.Config)
		wantErr string // "" for valid
		check   func(pipeline.Config) bool
	}{
		{"defaults", func(*pipeline.Config) {}, "", func(c pipeline.Config) bool { return c.InFlight == 4 && c.FrameFormat == "png" }},
		{"InFlight 1 becomes 2", func(c *pipeline.Config) { c.InFlight = 1 }, "", func(c pipeline.Config) bool { return c.InFlight == 2 }},
		{"InFlight -3 becomes 4", func(c *pipeline.Config) { c.InFlight = -3 }, "", func(c pipeline.Config) bool { return c.InFlight == 4 }},
		{"InFlight 16 kept", func(c *pipeline.Config) { c.InFlight = 16 }, "", func(c pipeline.Config) bool { return c.InFlight == 16 }},
		{"jpg kept", func(c *pipeline.Config) { c.FrameFormat, c.FrameQuality = "jpg", 100 }, "", func(c pipeline.Config) bool { return c.FrameFormat == "jpg" }},
		{"no input", func(c *pipeline.Config) { c.Input = "" }, "input and output", nil},
		{"no output", func(c *pipeline.Config) { c.Output = "" }, "input and output", nil},
		{"zero width", func(c *pipeline.Config) { c.Width = 0 }, "bad frame size 0x240", nil},
		{"negative height", func(c *pipeline.Config) { c.Height = -2 }, "bad frame size 320x-2", nil},
		{"bmp frames", func(c *pipeline.Config) { c.FrameFormat = "bmp" }, `"bmp": want png or jpg`, nil},
		{"upper-case PNG", func(c *pipeline.Config) { c.FrameFormat = "PNG" }, "want png or jpg", nil},
		{"frame quality -1", func(c *pipeline.Config) { c.FrameQuality = -1 }, "quality -1: want 0-100", nil},
		{"frame quality 101", func(c *pipeline.Config) { c.FrameQuality = 101 }, "quality 101: want 0-100", nil},
		{"rotation 270 kept", func(c *pipeline.Config) { c.Rotation = 270 }, "", func(c pipeline.Config) bool { return c.Rotation == 270 }},
		{"rotation 45", func(c *pipeline.Config) { c.Rotation = 45 }, "rotation 45: want 0, 90, 180 or 270", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr == "":
				if !tt.check(c) {
					t.Errorf("after Validate: %+v", c)
				}
			case err == nil || !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("Validate: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	if got := (pipeline.Config{Width: 1280, Height: 720}).FrameBytes(); got != 1280*720*3 {
		t.Errorf("FrameBytes = %d", got)
	}
}

// TestRunKeepFrames keeps every frame of a segment starting at frame 20: exactly n files named %06d from 21, png
// equal to the decoded input pixel for pixel, jpg close to it and smaller at a worse temp-frame quality.
func TestRunKeepFrames(t *testing.T) {
	t.Parallel()
	const (
		w, h       = 320, 240
		firstFrame = 20
	)
	in := testsrc(t, w, h, 0.8) // 20 frames
	ref := decodeAll(t, in, w, h)
	n := len(ref)
	if n != 20 {
		t.Fatalf("clip has %d frames, want 20", n)
	}
	tests := []struct {
		format   string
		quality  int
		maxDiff  float64 // worst mean abs difference to the input frame
		wantFile string  // the first file
	}{
		{"png", 0, 0, "000021.png"},
		{"png", 100, 0, "000021.png"}, // compression level only: still lossless
		{"", 0, 0, "000021.png"},      // png by default
		{"jpg", 0, 4, "000021.jpg"},   // jpeg quality 100, 4:2:0 chroma: ~3 levels
		{"jpg", 90, 12, "000021.jpg"},
	}
	sizes := make([]int64, len(tests))
	var mu sync.Mutex
	t.Run("formats", func(t *testing.T) {
		for i, tt := range tests {
			t.Run(fmt.Sprintf("%s q%d", tt.format, tt.quality), func(t *testing.T) {
				t.Parallel()
				dir := filepath.Join(t.TempDir(), "nested", "frames") // created by Run
				cfg := config(in, filepath.Join(t.TempDir(), "out.mp4"), w, h)
				cfg.FirstFrame, cfg.FramesDir, cfg.FrameFormat, cfg.FrameQuality = firstFrame, dir, tt.format, tt.quality
				r := run(t, testCtx(t), cfg, noop, nil)
				if r.err != nil || r.n != n {
					t.Fatalf("Run: %d frames, %v", r.n, r.err)
				}
				entries, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				ext := filepath.Ext(tt.wantFile)
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				want := make([]string, n)
				for j := range want {
					want[j] = fmt.Sprintf("%06d%s", firstFrame+1+j, ext)
				}
				if !slices.Equal(names, want) {
					t.Fatalf("kept %d files %v, want %d: %s..%s", len(names), names, n, want[0], want[n-1])
				}
				var total int64
				worst := 0.0
				for j, name := range names {
					fi, err := os.Stat(filepath.Join(dir, name))
					if err != nil {
						t.Fatal(err)
					}
					total += fi.Size()
					b, fw, fh := readImage(t, filepath.Join(dir, name))
					if fw != w || fh != h {
						t.Fatalf("%s is %dx%d", name, fw, fh)
					}
					worst = max(worst, meanAbsDiff(b, ref[j]))
				}
				if worst > tt.maxDiff {
					t.Errorf("worst kept frame differs from its input frame by %.3f on average, want <= %.3f", worst, tt.maxDiff)
				}
				mu.Lock()
				sizes[i] = total
				mu.Unlock()
				t.Logf("%d files, %d bytes, worst mean abs diff %.3f", len(names), total, worst)
			})
		}
	})
	if t.Failed() {
		return
	}
	if sizes[3] <= sizes[4] {
		t.Errorf("jpg frames: %d bytes at quality 0 (best), %d at 90: want best to be larger", sizes[3], sizes[4])
	}
	if sizes[1] >= sizes[0] {
		t.Errorf("png frames: %d bytes at quality 0 (no compression), %d at 100: want 100 to be smaller", sizes[0], sizes[1])
	}
}

// TestRunTruncatedInput cuts a matroska clip short: the frames before the cut go through, then Run fails with the
// decoder's ErrTruncated instead of reporting a short segment as done.
func TestRunTruncatedInput(t *testing.T) {
	t.Parallel()
	const w, h = 320, 240
	dir := t.TempDir()
	full := filepath.Join(dir, "full.mkv")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2", "-c:v", "libx264", "-preset",
		"ultrafast", "-pix_fmt", "yuv420p", "-g", "25", full)
	b, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.mkv")
	if err := os.WriteFile(cut, b[:len(b)*6/10], 0o644); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	proc := pipeline.ProcessorFunc(func(gocv.Mat, int) error { calls.Add(1); return nil })
	r := run(t, testCtx(t), config(cut, filepath.Join(dir, "out.mp4"), w, h), proc, nil)
	if !errors.Is(r.err, media.ErrTruncated) {
		t.Fatalf("Run: %d frames, %v; want ErrTruncated", r.n, r.err)
	}
	if c := calls.Load(); c == 0 || c >= 50 {
		t.Errorf("processor called %d times, want some of the 50 frames", c)
	}
	t.Logf("%d frames processed, %d encoded: %v", calls.Load(), r.n, r.err)
}

// TestRunKeepsFrameTimes: with a TimeBase, every frame of a variable-rate segment reaches the output at its own time
// (relative to the first), on the BGR path and the by-reference YUV path, and the piece lasts Duration.
func TestRunKeepsFrameTimes(t *testing.T) {
	in := filepath.Join(t.TempDir(), "vfr.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30:duration=2",
		"-vf", "setpts='(if(lt(N,20),N/30,20/30+(N-20)/10))/TB'", "-fps_mode", "passthrough",
		"-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", in)
	want, err := media.ScanFrames(testCtx(t), in)
	if err != nil {
		t.Fatal(err)
	}
	tb := want.OutputTimeBase(media.Rational{Num: 30, Den: 1})
	if tb.IsZero() {
		t.Fatal("test clip has a constant rate")
	}
	duration := want.End - want.PTS[0] + 0.5 // the next segment starts half a second after the last frame ends
	for _, tc := range []struct {
		name string
		proc pipeline.Processor
	}{
		{"bgr24", pipeline.ProcessorFunc(func(gocv.Mat, int) error { return nil })},
		{"yuv420p by reference", pixelsUnused{pipeline.ProcessorFunc(func(gocv.Mat, int) error { return nil })}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.mp4")
			cfg := pipeline.Config{Input: in, Output: out, Width: 64, Height: 48, FrameRate: media.Rational{Num: 30, Den: 1},
				Encoder: media.CodecH264, Quality: 35, InFlight: 3, SourcePixFmt: media.PixFmtYUV420P,
				TimeBase: tb, Duration: duration}
			ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
			defer cancel()
			if _, err := pipeline.Run(ctx, cfg, tc.proc, nil); err != nil {
				t.Fatal(err)
			}
			got, err := media.ScanFrames(testCtx(t), out)
			if err != nil {
				t.Fatal(err)
			}
			if got.Count != want.Count {
				t.Fatalf("%d frames, want %d", got.Count, want.Count)
			}
			for i := range got.PTS {
				if d := (got.PTS[i] - got.PTS[0]) - (want.PTS[i] - want.PTS[0]); d > tb.Float() || d < -tb.Float() {
					t.Fatalf("frame %d at %.6f s, input's at %.6f s", i, got.PTS[i]-got.PTS[0], want.PTS[i]-want.PTS[0])
				}
			}
			if d := probeDuration(t, out); d < duration-tb.Float() || d > duration+tb.Float() {
				t.Errorf("output lasts %.6f s, want %.6f s", d, duration)
			}
		})
	}
}

// probeDuration is the first video stream's duration in seconds, as ffprobe reads it.
func probeDuration(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "V:0", "-show_entries", "stream=duration",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("%s: duration %q", path, out)
	}
	return d
}
