package standalone

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/job"
)

// A target in which no face is found anywhere finishes, and `run` says so in one line on stderr; a target with a
// face does not get the line.
func TestNoFaceWarning(t *testing.T) {
	bin := buildCoordinator(t)
	dir := t.TempDir()
	faceless := filepath.Join(dir, "testsrc.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=s=320x240:r=25:d=2", "-c:v", "libx264", "-preset", "ultrafast", faceless)
	facelessImage := filepath.Join(dir, "testsrc.png")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=s=320x240", "-frames:v", "1", facelessImage)
	withFace := scaledTarget(t, 400, 300, 1)
	tests := []struct {
		name, target, ext string
		warn              bool
		args              []string
	}{
		{"faceless video", faceless, ".mp4", true, nil},
		{"faceless video, two segments", faceless, ".mp4", true, []string{"--segment-seconds", "1"}},
		{"faceless image", facelessImage, ".png", true, nil},
		{"video with a face", withFace, ".mp4", false, nil},
		{"processor none looks for no face", faceless, ".mp4", false, []string{"--frame-processor", "none"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "-q", "-s", testenv.Face(t, "astronaut_eileen_collins.png"), "-t", tc.target,
				"-o", filepath.Join(t.TempDir(), "out"+tc.ext), "--work-dir", t.TempDir(),
				"--models-dir", filepath.Join(testenv.SharedDir(t), "models"), "--onnxruntime-library", testenv.ORTLib(t)},
				tc.args...)
			var stderr strings.Builder
			cmd := exec.Command(bin, args...)
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
			got := strings.TrimSpace(stderr.String())
			want := ""
			if tc.warn {
				want = job.NoFaceWarning(tc.target)
			}
			if got != want {
				t.Fatalf("stderr %q, want %q", got, want)
			}
		})
	}
}
