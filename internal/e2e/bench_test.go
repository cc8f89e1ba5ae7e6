package e2e

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/benchdoc"
	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/job"
)

// BenchmarkPinnedWorkers is issue 16's "real scaling on this machine": the same job (a 2-minute 400x300 target in
// 10-second segments, default engine) on one worker pinned to one core and on two workers each pinned to its own
// core (taskset), the servers and the coordinator unpinned, rounds alternating 1, 2, 1, 2, ... in one run so both see
// the same machine noise. It reports the wall time of each, their ratio, the job's fixed costs (submit to first task,
// last commit to done) and split + stitch as a share of the job, and writes the table into docs/BENCHMARKS.md's
// "pinned" section under make bench. Run it with -benchtime 1x; FACEFLEET_PINNED_ROUNDS sets the rounds (default 3).
func BenchmarkPinnedWorkers(b *testing.B) {
	if runtime.NumCPU() < 2 {
		b.Skip("needs two cores")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		b.Skip("no taskset")
	}
	rounds := 3
	if v := os.Getenv("FACEFLEET_PINNED_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("FACEFLEET_PINNED_ROUNDS: %q", v)
		}
		rounds = n
	}
	// Another target, other worker counts or segments (e.g. issue 16's share of split + stitch in a 10-minute
	// 1080p job with two workers) are printed only: the document's section holds the default run.
	target, ns, seconds := os.Getenv("FACEFLEET_PINNED_TARGET"), []int{1, 2}, os.Getenv("FACEFLEET_PINNED_SEGMENT_SECONDS")
	custom := target != "" || seconds != "" || os.Getenv("FACEFLEET_PINNED_N") != ""
	if seconds == "" {
		seconds = "10"
	}
	if v := os.Getenv("FACEFLEET_PINNED_N"); v != "" {
		ns = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 || n > runtime.NumCPU() {
				b.Fatalf("FACEFLEET_PINNED_N: %q: worker counts from 1 to the cores (%d)", v, runtime.NumCPU())
			}
			ns = append(ns, n)
		}
	}
	loadBefore := loadAvg()
	e := newEnv(b)
	if target == "" {
		target = makeTarget(b, b.TempDir(), 120)
	}
	face := testenv.Face(b, "astronaut_eileen_collins.png")
	walls := map[int][]float64{}
	var lines []string
	for round := 0; round < rounds; round++ {
		for _, n := range ns {
			coord := e.coordinator(fmt.Sprintf("bench-%d-%d", round, n))
			var ws []*proc
			for i := 0; i < n; i++ {
				id := fmt.Sprintf("bench-%d-%d-%d", round, n, i)
				args := []string{"-c", strconv.Itoa(i), e.wrk, "--id", id, "--work-dir", b.TempDir(), "--execution-threads", "1", "--grace", "5s"}
				ws = append(ws, e.start("worker-"+id, "taskset", args...))
			}
			e.waitWorkers(b, ws, n)
			tw := e.watchTasks(b)
			start := time.Now()
			id := strings.TrimSpace(e.mustCLI(time.Minute, "submit", "-s", face, "-t", target, "--segment-seconds", seconds))
			submitted := time.Now()
			r := e.waitFor(id, 20*time.Minute, "done", func(r job.Record) bool { return r.State == job.Done })
			wall := time.Since(start).Seconds()
			walls[n] = append(walls[n], wall)
			share := (r.SplitSeconds + r.StitchSeconds) / wall
			lines = append(lines, fmt.Sprintf("| %d | %d | %d | %.1f | %.0f | %s | %.2f | %.2f | %.2f | %.2f | %.1f%% |", round+1, n, r.TotalFrames,
				wall, float64(r.TotalFrames)/wall, perWorker(e.commits(id)), tw.firstTask(id).Sub(submitted).Seconds(), e.tail(b, id).Seconds(),
				r.SplitSeconds, r.StitchSeconds, 100*share))
			if os.Getenv("FACEFLEET_PINNED_VERBOSE") != "" { // the coordinator's debug timings of the split and the tail
				lb, _ := os.ReadFile(coord.log)
				for _, l := range strings.Split(string(lb), "\n") {
					for _, m := range []string{"target ready", "target scanned", "segment queued", "job planned", "target downloaded", "progressive stitch", "job done"} {
						if strings.Contains(l, m) {
							fmt.Println(l)
							break
						}
					}
				}
			}
			for _, w := range ws {
				w.stop(syscall.SIGTERM, 20*time.Second)
			}
			coord.stop(syscall.SIGTERM, 20*time.Second)
		}
	}
	one, two := median(walls[1]), median(walls[2])
	b.ReportMetric(one, "s/job-1worker")
	b.ReportMetric(two, "s/job-2workers")
	if one > 0 && two > 0 {
		b.ReportMetric(one/two, "speedup")
	}
	host, _ := os.Hostname()
	var doc strings.Builder
	fmt.Fprintf(&doc, "%s, %d CPUs, %s, %d rounds, load average %s before and %s after:\n\n```\nFACEFLEET_PINNED_ROUNDS=%d go test -run '^$' -bench '^BenchmarkPinnedWorkers$' -benchtime 1x -timeout 60m ./internal/e2e\n```\n\n",
		host, runtime.NumCPU(), time.Now().UTC().Format("2006-01-02 15:04 UTC"), rounds, loadBefore, loadAvg(), rounds)
	doc.WriteString("| round | workers (pinned) | frames | wall (s) | frames/s | segments per worker | submit -> first task (s) | last commit -> done (s) | split (s) | stitch (s) | split + stitch |\n")
	doc.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, l := range lines {
		doc.WriteString(l + "\n")
	}
	if one > 0 && two > 0 {
		fmt.Fprintf(&doc, "\nMedian wall: 1 worker on one core %.1f s, 2 workers on two cores %.1f s: **%.2fx**.\n", one, two, one/two)
	}
	fmt.Printf("\n### Pinned workers (issue 16)\n\n%s", doc.String())
	if custom {
		fmt.Printf("(FACEFLEET_PINNED_TARGET=%s FACEFLEET_PINNED_N=%s FACEFLEET_PINNED_SEGMENT_SECONDS=%s: not written into the document)\n",
			os.Getenv("FACEFLEET_PINNED_TARGET"), os.Getenv("FACEFLEET_PINNED_N"), seconds)
		return
	}
	if err := benchdoc.Write("pinned", doc.String()); err != nil {
		b.Fatal(err)
	}
}

// perWorker is how many segments each worker committed, most first ("7/5"): segments are whole, so two workers end
// apart by up to one segment's time when their counts differ.
func perWorker(commits map[int]job.Commit) string {
	by := map[string]int{}
	for _, c := range commits {
		by[c.Worker]++
	}
	counts := slices.Collect(maps.Values(by))
	slices.Sort(counts)
	slices.Reverse(counts)
	parts := make([]string, len(counts))
	for i, n := range counts {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, "/")
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
