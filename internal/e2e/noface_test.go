package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/job"
)

// TestClusterNoFace: a cluster job on a target without a face finishes, and both `submit --wait` and `status` say
// in one line that no face was found: the workers count faces per segment, the coordinator sums them.
func TestClusterNoFace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and processes")
	}
	e := newEnv(t)
	e.coordinator("coord-nf")
	e.worker("w1")
	dir := t.TempDir()
	target := filepath.Join(dir, "testsrc.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=s=320x240:r=25:d=4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", target)
	want := job.NoFaceWarning(filepath.Base(target)) // the cluster knows the file by the name submit gave it
	out, stderr, err := e.cli(3*time.Minute, "submit", "-s", testenv.Face(t, "astronaut_eileen_collins.png"), "-t", target,
		"--segment-seconds", "2", "--wait", "-o", filepath.Join(dir, "out.mp4"))
	if err != nil {
		t.Fatalf("submit: %v\n%s%s", err, out, stderr)
	}
	if !strings.Contains(stderr, want+"\n") {
		t.Errorf("submit --wait printed %q, want the line %q", stderr, want)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	r := e.waitFor(id, 10*time.Second, "done", func(r job.Record) bool { return r.State == job.Done })
	if r.Segments < 2 {
		t.Errorf("%d segments, want several (the sum is under test)", r.Segments)
	}
	for n, c := range e.commits(id) {
		if !c.FacesCounted || c.Faces != 0 {
			t.Errorf("segment %d: %d faces (counted %v), want 0 counted", n, c.Faces, c.FacesCounted)
		}
	}
	if st := e.mustCLI(10*time.Second, "status", id); !strings.Contains(st, want) {
		t.Errorf("status %q does not say %q", st, want)
	}
}
