package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/job"
)

// BenchmarkClusterWorkers runs the same job (a 2-minute 400x300 target in 10-second segments) on one and on two
// worker processes, alternating 1, 2, 1, 2, ... so both see the same machine noise, and reports the wall time of
// each, their ratio, and split + stitch as a share of the job. Run it with -benchtime 1x (make bench does); each
// worker gets one ONNX Runtime thread, so two workers use two cores.
func BenchmarkClusterWorkers(b *testing.B) {
	e := newEnv(b)
	dir := b.TempDir()
	target := makeTarget(b, dir, 120)
	face := testenv.Face(b, "astronaut_eileen_collins.png")
	const rounds = 2
	walls := map[int][]float64{}
	var lines []string
	for round := 0; round < rounds; round++ {
		for _, n := range []int{1, 2} {
			coord := e.coordinator(fmt.Sprintf("bench-%d-%d", round, n))
			var ws []*proc
			for i := 0; i < n; i++ {
				ws = append(ws, e.worker(fmt.Sprintf("bench-%d-%d-%d", round, n, i)))
			}
			time.Sleep(2 * time.Second) // models loaded, heartbeats out: the job measures work, not start-up
			start := time.Now()
			id := strings.TrimSpace(e.mustCLI(time.Minute, "submit", "-s", face, "-t", target, "--segment-seconds", "10"))
			r := e.waitFor(id, 20*time.Minute, "done", func(r job.Record) bool { return r.State == job.Done })
			wall := time.Since(start).Seconds()
			walls[n] = append(walls[n], wall)
			share := (r.SplitSeconds + r.StitchSeconds) / wall
			lines = append(lines, fmt.Sprintf("| %d | %d | %d | %.1f | %.0f | %.2f | %.2f | %.1f%% |", round+1, n, r.TotalFrames,
				wall, float64(r.TotalFrames)/wall, r.SplitSeconds, r.StitchSeconds, 100*share))
			for _, w := range ws {
				w.stop(syscall.SIGTERM, 20*time.Second)
			}
			coord.stop(syscall.SIGTERM, 20*time.Second)
		}
	}
	one, two := median(walls[1]), median(walls[2])
	b.ReportMetric(one, "s/job-1worker")
	b.ReportMetric(two, "s/job-2workers")
	b.ReportMetric(one/two, "speedup")
	host, _ := os.Hostname()
	fmt.Printf("\n### Cluster: the same job on 1 and 2 worker processes (%s, %s)\n\n", host, time.Now().Format(time.DateOnly))
	fmt.Println("| round | workers | frames | wall (s) | frames/s | split (s) | stitch (s) | split + stitch |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, l := range lines {
		fmt.Println(l)
	}
	fmt.Printf("\nMedian wall: 1 worker %.1f s, 2 workers %.1f s: 2 workers take %.2fx less time.\n", one, two, one/two)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	switch n := len(s); {
	case n == 0:
		return 0
	case n%2 == 0:
		return (s[n/2-1] + s[n/2]) / 2
	default:
		return s[n/2]
	}
}
