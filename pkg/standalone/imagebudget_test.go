package standalone

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
)

// An image target is held to --max-memory like a video: one too large for the budget is refused in one line, from
// its header, before a pixel is decoded (the refused process never holds the 768 MB picture); one that fits runs.
// Before, a 16000x16000 PNG peaked at 2.9 GB under --max-memory 1.
func TestImageBudget(t *testing.T) {
	bin := buildCoordinator(t)
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.png") // 16000x16000: 768 MB decoded, 1.8 MB on disk
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=s=16000x16000", "-frames:v", "1", huge)
	small := filepath.Join(dir, "small.png")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=s=640x480", "-frames:v", "1", small)
	tests := []struct {
		name, target, budget string
		refused              bool
	}{
		{"16000x16000 PNG under 1 GB", huge, "1", true},
		{"640x480 PNG under 1 GB", small, "1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outDir := t.TempDir()
			var stderr strings.Builder
			cmd := exec.Command(bin, "run", "-q", "-s", testenv.Face(t, "astronaut_eileen_collins.png"), "-t", tc.target,
				"-o", filepath.Join(outDir, "out.png"), "--max-memory", tc.budget, "--work-dir", t.TempDir(),
				"--models-dir", filepath.Join(testenv.SharedDir(t), "models"), "--onnxruntime-library", testenv.ORTLib(t))
			cmd.Stderr = &stderr
			forgetOwnPeak(t)
			err := cmd.Run()
			msg := strings.TrimSpace(stderr.String())
			if !tc.refused {
				if err != nil {
					t.Fatalf("run: %v: %s", err, msg)
				}
				return
			}
			if err == nil {
				t.Fatal("a 16000x16000 image ran under --max-memory 1")
			}
			if strings.Contains(msg, "\n") || !strings.Contains(msg, tc.target) || !strings.Contains(msg, "needs at least") {
				t.Fatalf("error %q: want one line naming the target and the budget needed", msg)
			}
			const decoded = 16000 * 16000 * 3
			if rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024; rss >= decoded {
				t.Errorf("the refused run peaked at %d bytes: the picture was decoded", rss)
			}
			if entries, _ := os.ReadDir(outDir); len(entries) != 0 {
				t.Errorf("output directory holds %d entries after the refusal", len(entries))
			}
		})
	}
}

// forgetOwnPeak makes the peak RSS of the next child this test starts the child's own. Go starts a child in this
// process's memory (vfork), and Linux counts that memory's high-water mark into the child's peak when it execs
// (exec_mmap), so the picture-sized frames of a test run before in this process read as the refused run's: it failed
// under go test -count 2. Freed memory goes back to the system and this process's mark is reset to what it holds now
// (/proc/self/clear_refs, "5").
func forgetOwnPeak(t *testing.T) {
	t.Helper()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("resetting this process's peak RSS: %v", err)
	}
}
