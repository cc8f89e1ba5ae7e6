package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
)

// TestRoopCommandLines runs the command lines the memory-optimized roop fork's README gives, unchanged, through the
// repository's run.py and run-memory-optimized.sh, on a real face and a short clip with audio: the first makes a
// frame-exact output (every frame, the target's duration, the audio kept as roop keeps it); the second, whose GFPGAN
// weights are not here, stops with the one line that names the missing model file (it named the cuda provider the
// CPU build lacks before, and the GFPGAN file only once cuda worked). The models are the shared mirror's, through
// FACEFLEET_MODELS_DIR, so that the command lines stay as users type them.
func TestRoopCommandLines(t *testing.T) {
	if testing.Short() {
		t.Skip("runs whole jobs")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("run.py needs python3:", err)
	}
	coord, _ := binaries(t)
	root := testenv.RepoRoot(t)
	env := []string{"XDG_CONFIG_HOME=" + t.TempDir(), "FACEFLEET_COORDINATOR=" + coord,
		"FACEFLEET_MODELS_DIR=" + filepath.Join(testenv.SharedDir(t), "models")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FACEFLEET_") || strings.HasPrefix(kv, "FACEFLEET_SHARED=") || strings.HasPrefix(kv, "FACEFLEET_CACHE=") {
			env = append(env, kv)
		}
	}
	clipDir := t.TempDir()
	target := makeTarget(t, clipDir, 2)
	want := streams(t, target)["video"]
	wantFrames := countMedia(t, target).frames
	face := testenv.Face(t, "grace_hopper.jpg")
	fork := func(a ...string) []string {
		return append([]string{"-s", "cara.jpg", "-t", "video.mp4", "-o", "resultado.mp4"}, a...)
	}
	for _, tc := range []struct {
		name   string
		script string
		args   []string
		source string // the inputs' names in the job's directory
		target string
		output string
		fails  string // the error line's text; "" when the job must succeed
	}{
		{"memory-optimized line", "run.py", fork("--memory-optimization", "--batch-size", "2", "--max-memory", "6"),
			"cara.jpg", "video.mp4", "resultado.mp4", ""},
		{"processors and cuda line", "run.py", fork("--frame-processor", "face_swapper", "face_enhancer",
			"--execution-provider", "cuda", "--execution-threads", "4"),
			"cara.jpg", "video.mp4", "resultado.mp4", "gfpgan_1.4.onnx: model file missing"},
		{"the fork's wrapper, the user's files", "run-memory-optimized.sh", fork(), "cara.jpg", "video.mp4", "resultado.mp4", ""},
		{"the fork's wrapper, its own example", "run-memory-optimized.sh", nil, "source.jpg", "target.mp4", "output.mp4", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyAs(t, face, dir, tc.source)
			copyAs(t, target, dir, tc.target)
			before := sha256File(t, filepath.Join(dir, tc.target))
			script := filepath.Join(root, tc.script)
			cmd := exec.Command("sh", append([]string{script}, tc.args...)...)
			if strings.HasSuffix(tc.script, ".py") {
				cmd = exec.Command(py, append([]string{script}, tc.args...)...)
			}
			cmd.Dir, cmd.Env = dir, env
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(5 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("%s did not end: %s", tc.script, stderr.String())
			}
			if sha256File(t, filepath.Join(dir, tc.target)) != before {
				t.Errorf("the target was changed")
			}
			out := filepath.Join(dir, tc.output)
			if tc.fails != "" {
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 1 {
					t.Fatalf("exit %v, want status 1 (the coordinator's)\n%s", err, stderr.String())
				}
				// One error line; notes said once at start (the content filter's, with no classifier installed) may
				// precede it.
				var errs []string
				for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
					if strings.HasPrefix(l, "error") {
						errs = append(errs, l)
					}
				}
				if len(errs) != 1 || !strings.HasPrefix(errs[0], "error: ") || !strings.Contains(errs[0], tc.fails) {
					t.Fatalf("stderr %q, want one error line with %q", stderr.String(), tc.fails)
				}
				if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s: %v, want no output", tc.output, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v\n%s%s", tc.script, err, stdout.String(), stderr.String())
			}
			if strings.Contains(stderr.String(), "no face found") {
				t.Errorf("no face swapped: %s", stderr.String())
			}
			got := countMedia(t, out)
			if got.frames != wantFrames || !got.audio {
				t.Errorf("%s: %d frames, audio %v; the target has %d frames and audio", tc.output, got.frames, got.audio, wantFrames)
			}
			if d := streams(t, out)["video"].Duration; d != want.Duration {
				t.Errorf("%s: video lasts %s s, the target %s s", tc.output, d, want.Duration)
			}
		})
	}
}
