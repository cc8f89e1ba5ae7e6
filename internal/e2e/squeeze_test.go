package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/memory"
)

// TestWorkerMemorySqueeze is issue 13's test of the worker's memory path: `bin/worker` processes (real nats-server,
// versitygw, `coordinator serve`), started without -v, each run a one-segment job with a --max-memory budget.
//   - control: a roomy budget and nothing else in the tree: no memory alert. Its tree's RSS, idle with the models
//     loaded and at its peak during the job, sizes the squeezed worker's budget.
//   - squeezed: a ballast process in the worker's tree (started by the shell that then execs the worker, so the
//     ballast is the worker's child) fills the tree to 86% of a budget in which the job alone stays under 60% and
//     its own growth under 5% (so below the 95% that stops admission): the governor alerts (a warning, which a
//     worker without -v now prints), its limit on frames in flight goes down (an Info line), and the segment still
//     commits with every frame of the target.
//
// Both workers' heartbeats carry the binaries' version line.
func TestWorkerMemorySqueeze(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and processes")
	}
	start := time.Now()
	e := newEnv(t)
	e.coordinator("coord-squeeze")
	dir := t.TempDir()
	target := makeTarget(t, dir, 4)
	face := testenv.Face(t, "astronaut_eileen_collins.png")
	frames := countMedia(t, target).frames
	b, err := exec.Command(e.wrk, "--version").Output()
	out := string(b)
	if err != nil || !strings.HasPrefix(out, "facefleet ") {
		t.Fatalf("worker --version: %v %q", err, out)
	}
	version, _, _ := strings.Cut(out, "\n")
	if c, _, _ := e.cli(10*time.Second, "version"); !strings.HasPrefix(c, version+"\n") {
		t.Errorf("coordinator version %q, worker --version %q: want the same build line", c, version)
	}

	// A job of one segment, followed to its end and downloaded: every frame of the target, each committed once.
	runJob := func(t *testing.T, w *proc) {
		t.Helper()
		id := strings.TrimSpace(e.mustCLI(30*time.Second, "submit", "-s", face, "-t", target, "--segment-seconds", "10"))
		rec := e.waitFor(id, 2*time.Minute, "done", func(r job.Record) bool { return r.State == job.Done })
		if rec.Segments != 1 || rec.TotalFrames != frames || rec.FramesDone != frames {
			t.Errorf("done record: %d segment(s), %d/%d frames: want 1 segment of %d frames", rec.Segments, rec.FramesDone, rec.TotalFrames, frames)
		}
		got := filepath.Join(t.TempDir(), "out.mp4")
		e.mustCLI(30*time.Second, "download", id, "-o", got)
		if n := countMedia(t, got).frames; n != frames {
			t.Errorf("output has %d frames, the target %d", n, frames)
		}
		if n := logCount(w.log, `"level":"info"`, `"msg":"segment committed"`, id); n != 1 {
			t.Errorf("%s logged %d commits of job %s, want 1 (an Info line, without -v)", w.name, n, id)
		}
	}
	workerArgs := func(id string, budget uint64) []string {
		return []string{"--id", id, "--work-dir", t.TempDir(), "--execution-threads", "1", "--grace", "1s",
			"--max-memory", strconv.FormatFloat(float64(budget)/memory.GB, 'f', 3, 64)}
	}

	var idle, peak uint64
	t.Run("control", func(t *testing.T) {
		w := e.start("worker-control", e.wrk, workerArgs("control", 8*memory.GB)...)
		defer w.stop(syscall.SIGTERM, 20*time.Second)
		e.heartbeat(t, w, "control", version)
		idle = memory.TreeRSS(w.cmd.Process.Pid)
		stop := peakRSS(w.cmd.Process.Pid, &peak)
		runJob(t, w)
		stop()
		if n := logCount(w.log, `"alert"`); n != 0 {
			t.Errorf("%d memory alerts without a ballast:\n%s", n, tail(w.log, 10))
		}
		t.Logf("control worker: tree %s idle, %s at its peak", memory.FormatGB(idle), memory.FormatGB(peak))
	})
	if t.Failed() || peak <= idle {
		t.Fatalf("no measurement to size the budget from (idle %d, peak %d)", idle, peak)
	}

	t.Run("squeezed", func(t *testing.T) {
		// The peak is sampled every 100 ms and may be missed: the job's growth is taken as at least 64 MiB.
		budget := max(peak*10/6, max(peak-idle, 64<<20)*100/5)
		fill := filepath.Join(t.TempDir(), "ballast-bytes")
		self, err := os.Executable() // this test binary, run as TestBallastProcess
		if err != nil {
			t.Fatal(err)
		}
		w := e.start("worker-squeezed", "sh", append([]string{"-c", ballastEnv + `="$1" "$0" -test.run='^TestBallastProcess$' & shift; exec "$@"`,
			self, fill, e.wrk}, workerArgs("squeezed", budget)...)...)
		defer w.stop(syscall.SIGTERM, 20*time.Second)
		e.heartbeat(t, w, "squeezed", version)
		rss := memory.TreeRSS(w.cmd.Process.Pid)
		want := budget * 86 / 100
		if rss >= want {
			t.Fatalf("the worker's tree already uses %s of a %s budget", memory.FormatGB(rss), memory.FormatGB(budget))
		}
		if err := os.WriteFile(fill+".tmp", []byte(strconv.FormatUint(want-rss, 10)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(fill+".tmp", fill); err != nil {
			t.Fatal(err)
		}
		t.Logf("squeezed worker: tree %s, ballast %s, budget %s", memory.FormatGB(rss), memory.FormatGB(want-rss), memory.FormatGB(budget))
		if !until(30*time.Second, func() bool { return memory.TreeRSS(w.cmd.Process.Pid) >= want*98/100 }) {
			t.Fatalf("the ballast never filled: tree at %s", memory.FormatGB(memory.TreeRSS(w.cmd.Process.Pid)))
		}
		// The job goes in once the governor has alerted: its segment runs under the lowered limit.
		if !until(30*time.Second, func() bool { return logCount(w.log, `"alert"`) > 0 }) {
			t.Fatalf("no memory alert with the tree at %s of a %s budget:\n%s", memory.FormatGB(memory.TreeRSS(w.cmd.Process.Pid)),
				memory.FormatGB(budget), tail(w.log, 10))
		}
		runJob(t, w)
		alert, shrunk := false, false
		b, _ := os.ReadFile(w.log)
		for _, line := range strings.Split(string(b), "\n") {
			var rec struct {
				Level, Msg, Alert string
				Limit, Was        int
			}
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			alert = alert || rec.Level == "warn" && rec.Msg == "memory" && strings.Contains(rec.Alert, "frames in flight")
			shrunk = shrunk || rec.Level == "info" && rec.Msg == "memory: frames in flight" && rec.Limit < rec.Was
			if strings.HasPrefix(rec.Msg, "memory") {
				t.Log(line)
			}
		}
		if !alert || !shrunk {
			t.Errorf("memory alert logged %v, limit on frames in flight lowered %v:\n%s", alert, shrunk, tail(w.log, 15))
		}
	})
	t.Logf("%.0f s", time.Since(start).Seconds())
}

// heartbeat waits for worker id's heartbeat (it comes once the models are loaded) and checks its version.
func (e *env) heartbeat(t *testing.T, w *proc, id, version string) {
	t.Helper()
	var h fleet.Heartbeat
	if !until(time.Minute, func() bool {
		hs, _, _ := fleet.List(context.Background(), e.cl.Fleet, fleet.KindWorker)
		for _, x := range hs {
			if x.ID == id {
				h = x
				return true
			}
		}
		return false
	}) {
		t.Fatalf("worker %s never started:\n%s", id, tail(w.log, 10))
	}
	if h.Version != version {
		t.Errorf("worker %s's heartbeat version %q, want %q", id, h.Version, version)
	}
}

// peakRSS samples the process tree of pid into *peak until stop is called.
func peakRSS(pid int, peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			*peak = max(*peak, memory.TreeRSS(pid))
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
