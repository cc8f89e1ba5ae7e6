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

// TestSimulationRun: a simulated segment reports its frames at most every simWake (before, it woke and reported once
// per frame: 25 wakes a second in each simulated worker), ends with every frame reported, and writes the piece as
// an MP4 whose frames are the task's; a piece that holds another count than the task's is refused.
func TestSimulationRun(t *testing.T) {
	dir := t.TempDir()
	piece := filepath.Join(dir, "segment.mkv") // 50 frames, as the split cuts them
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", piece).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	for _, tc := range []struct {
		name    string
		cost    time.Duration
		frames  int
		reports []int
		err     error
	}{
		{name: "no cost: one report", cost: 0, frames: 50, reports: []int{50}},
		{name: "1ms a frame: a report every 100 frames or at the end", cost: time.Millisecond, frames: 50, reports: []int{50}},
		{name: "2ms a frame: every 50", cost: 2 * time.Millisecond, frames: 50, reports: []int{50}},
		{name: "4ms a frame: every 25", cost: 4 * time.Millisecond, frames: 50, reports: []int{25, 50}},
		{name: "3ms a frame: every 33", cost: 3 * time.Millisecond, frames: 50, reports: []int{33, 50}},
		{name: "a piece with more frames than its task", cost: 0, frames: 49, reports: []int{49}, err: media.ErrFrameCount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reports []int
			res := filepath.Join(t.TempDir(), "result.mp4")
			n, err := (&Simulation{FrameCost: tc.cost}).run(context.Background(), piece, res, tc.frames, func(done int) {
				reports = append(reports, done)
			})
			if !slices.Equal(reports, tc.reports) {
				t.Errorf("reported %v, want %v", reports, tc.reports)
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
