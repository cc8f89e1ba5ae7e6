package memory

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestLineShape(t *testing.T) {
	tests := []struct {
		name string
		l    Line
		want string
	}{
		{"seed example", Line{Done: 1276, Total: 1793, Elapsed: 23*time.Minute + 16*time.Second,
			Mem: Sample{RSS: 6925634764, SystemPct: 78, GPUPct: 65}, Providers: []string{"CUDAExecutionProvider"}, Threads: 15, Batch: 3},
			"Processing: 71%|███████   | 1276/1793 [23:16<09:26, 1.09s/frame, memory_usage=6.45GB (S:78%, G:65%), execution_providers=['CUDAExecutionProvider'], execution_threads=15, batch_size=3]"},
		{"no gpu, nothing done", Line{Total: 10, Mem: Sample{GPUPct: -1}, Providers: []string{"CPUExecutionProvider"}, Threads: 2, Batch: 1},
			"Processing: 0%|          | 0/10 [00:00<?, ?s/frame, memory_usage=0.00GB (S:0%, G:n/a), execution_providers=['CPUExecutionProvider'], execution_threads=2, batch_size=1]"},
	}
	for _, tc := range tests {
		if got := tc.l.String(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// The sampler must count children: a child that holds ~64 MiB shows up in the tree's RSS.
func TestSamplerCountsChildren(t *testing.T) {
	s := NewSampler(os.Getpid())
	before, err := s.Sample()
	if err != nil {
		t.Fatal(err)
	}
	// ffmpeg decoding a large lavfi frame pool keeps tens of MiB resident; a shell-free child that allocates is enough.
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=3840x2160:r=5",
		"-t", "30", "-f", "rawvideo", "-pix_fmt", "rgb48le", "-y", "/dev/null")
	if err := cmd.Start(); err != nil {
		t.Skipf("ffmpeg not available: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var after Sample
	for i := 0; i < 150; i++ { // up to 15 s: under load (parallel package tests) ffmpeg may take seconds to start
		time.Sleep(100 * time.Millisecond)
		after, _ = s.Sample()
		if after.RSS > before.RSS+32<<20 {
			break
		}
	}
	if after.RSS < before.RSS+32<<20 {
		t.Fatalf("child not counted: before %d after %d", before.RSS, after.RSS)
	}
	if after.PeakRSS < after.RSS || !strings.Contains(Line{Mem: after}.String(), "memory_usage=") {
		t.Fatal("peak not tracked")
	}
}
