package worker

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/media"
)

// TestSimulationRun: a simulated segment reports its first frame, as a real worker does, then at most once every
// wake, the worker's ProgressEvery (before, it woke and reported once per frame: 25 wakes a second in each simulated
// worker), ends with every frame reported, and writes the piece as
// an MP4 whose frames are the task's; a piece that holds another count than the task's is refused.
func TestSimulationRun(t *testing.T) {
	dir := t.TempDir()
	piece := filepath.Join(dir, "segment.mkv") // 50 frames, as the split cuts them
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", piece).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	const wake = 100 * time.Millisecond
	for _, tc := range []struct {
		name   string
		cost   time.Duration
		frames int
		most   int // reports: the first frame's, one a wake at most after it, and the last (all frames)
		err    error
	}{
		{name: "no cost: one report", cost: 0, frames: 50, most: 1},
		{name: "1ms a frame: the first frame, then the end", cost: time.Millisecond, frames: 50, most: 2},
		{name: "2ms a frame: the first frame, then the end", cost: 2 * time.Millisecond, frames: 50, most: 2},
		{name: "4ms a frame: the first frame and two wakes", cost: 4 * time.Millisecond, frames: 50, most: 3},
		{name: "10ms a frame: the first frame and five wakes", cost: 10 * time.Millisecond, frames: 50, most: 6},
		{name: "a piece with more frames than its task", cost: 0, frames: 49, most: 1, err: media.ErrFrameCount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reports []int
			res := filepath.Join(t.TempDir(), "result.mp4")
			n, err := (&Simulation{FrameCost: tc.cost}).run(context.Background(), piece, res, tc.frames, wake, func(done int) {
				reports = append(reports, done)
			})
			rising := slices.IsSortedFunc(reports, func(a, b int) int { return a - b }) &&
				len(slices.Compact(slices.Clone(reports))) == len(reports)
			if len(reports) == 0 || len(reports) > tc.most || reports[len(reports)-1] != tc.frames || !rising || reports[0] < 1 {
				t.Errorf("reported %v, want at most %d rising reports ending at %d", reports, tc.most, tc.frames)
			}
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || n != tc.frames {
				t.Fatalf("run: %d frames, %v", n, err)
			}
			if got, err := media.CountFrames(context.Background(), res); err != nil || got != tc.frames {
				t.Errorf("the result holds %d frames (%v), want %d", got, err, tc.frames)
			}
		})
	}
}
