package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/pkg/job"
)

// Off a terminal, progress is a line per change of state, note or error, not one per frame count.
func TestProgressPrinter(t *testing.T) {
	var b bytes.Buffer
	p := progressPrinter(&b)
	for _, r := range []job.Record{
		{ID: "j1", State: job.Running, TotalFrames: 100, FramesDone: 10},
		{ID: "j1", State: job.Running, TotalFrames: 100, FramesDone: 20},
		{ID: "j1", State: job.Running, TotalFrames: 100, FramesDone: 30, Waiting: "w1: 3840x2160 does not fit"},
		{ID: "j1", State: job.Stitching, TotalFrames: 100, FramesDone: 100},
		{ID: "j1", State: job.Done, TotalFrames: 100, FramesDone: 100},
	} {
		p(r)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "10/100") || !strings.Contains(lines[1], "waiting: w1") ||
		!strings.Contains(lines[3], "done") || strings.Contains(b.String(), "\r") {
		t.Fatalf("printed:\n%s", b.String())
	}
}
