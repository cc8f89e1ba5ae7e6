package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/job"
)

// TestFaults is the fault drill: one cluster of real processes (nats-server with its JetStream file store, versitygw,
// `coordinator serve`, two `worker` processes), an 8-second 400x300 target with AAC audio in 2-second segments, and
// one fault per case. Every case either finishes with the fault-free run's output (every frame, audio in sync, the
// target untouched, nothing of the job left after delete) or fails the job with one line naming the target and the
// segment. The cases run in order on the shared cluster; each leaves it with the same processes running.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and processes, waits out 20 s and 60 s outages")
	}
	start := time.Now()
	d := newDrill(t)
	d.coordinator("c1")
	d.worker("w1")
	d.worker("w2")

	d.run(t, "baseline", func(t *testing.T) {
		id := d.submit(t, d.target)
		rec := d.wait(t, id, 3*time.Minute, "done", func(r job.Record) bool { return r.State == job.Done })
		if rec.Segments != 4 {
			t.Fatalf("%d segments, want 4", rec.Segments)
		}
		d.reference = filepath.Join(d.t.TempDir(), "reference.mp4")
		d.must(t, time.Minute, "download", id, "-o", d.reference)
		ref := d.reference
		d.reference = ""
		d.checkOutput(t, ref) // against the target: every frame there, audio in sync
		d.reference = ref
		d.deleteJob(t, id)
	})
	if d.reference == "" {
		t.Fatal("no fault-free output to compare with")
	}

	// A killed worker sends no Nak: its task comes back when the stream's AckWait (1 min) expires.
	d.run(t, "worker kill -9 mid-segment", func(t *testing.T) {
		id := d.submit(t, d.target)
		seg := d.downloaded(t, "w1", id, 2*time.Minute)
		d.workers["w1"].stop(syscall.SIGKILL, 0)
		if c, ok := d.commitsNow(id)[seg]; ok {
			t.Errorf("segment %d was committed before the kill landed: %+v", seg, c)
		}
		d.worker("w1")
		d.finished(t, id, 4*time.Minute, 0)
	})

	// The worker has uploaded its result and is about to commit it. The window is made wide, with no hook in the
	// product: S3 is paused once w1 has downloaded its first segment, so its upload waits; when its progress says
	// every frame is done, w1 itself is stopped (SIGSTOP) with its upload request sent, S3 resumed, so the object is
	// stored, and w1 killed before it could read the answer. (Pausing NATS instead does not work: the commit request
	// waits in the socket and lands after the kill.) The task comes back after AckWait and the segment is redone
	// under a new attempt; the killed worker's upload is an orphan until delete (which the check after the job
	// proves).
	d.run(t, "worker kill -9 after upload before commit", func(t *testing.T) {
		d.workers["w2"].stop(syscall.SIGTERM, 30*time.Second) // w1 alone
		id := d.submit(t, d.target)
		// A segment takes well under a second here: S3 is paused as soon as w1's downloads of it and of the job's
		// face land (downloaded), before its encode can end.
		seg := d.downloaded(t, "w1", id, 3*time.Minute)
		d.s3.Pause()
		// Whatever happens below, the next case finds the servers running.
		defer d.s3.Resume()
		planned := 50 // 2 s at 25 fps
		if !until(2*time.Minute, func() bool { p, _ := d.progress(id, seg); return p == planned }) {
			t.Fatalf("segment %d never reached %d frames", seg, planned)
		}
		time.Sleep(time.Second) // the encoder's flush; the upload's request then waits in the socket
		w1 := d.workers["w1"]
		_ = w1.cmd.Process.Signal(syscall.SIGSTOP)
		d.s3.Resume() // the object is stored and answered for, but w1 never reads the answer
		uploaded := until(time.Minute, func() bool { return len(d.results(id)) > 0 })
		w1.stop(syscall.SIGKILL, 0)
		if !uploaded {
			t.Fatal("w1's upload never completed")
		}
		if c := d.commitsNow(id); len(c) != 0 {
			t.Errorf("commits before the kill: %+v", c)
		}
		orphans := d.results(id)
		d.worker("w1")
		d.worker("w2")
		d.wait(t, id, 4*time.Minute, "done", func(r job.Record) bool { return r.State == job.Done })
		c := d.commitsNow(id)[seg]
		t.Logf("segment %d: killed worker's upload %v; committed %+v", seg, orphans, c)
		if len(orphans) != 1 || strings.HasSuffix(orphans[0], filepath.Base(c.ResultKey)) {
			t.Errorf("segment %d was not redone: the commit names the killed worker's upload %v", seg, orphans)
		}
		d.finished(t, id, time.Minute, 1)
	})

	d.run(t, "coordinator kill -9 mid-job", func(t *testing.T) {
		id := d.submit(t, d.target)
		d.wait(t, id, 2*time.Minute, "frames", func(r job.Record) bool { return r.State == job.Running && r.FramesDone > 0 })
		d.coords["c1"].stop(syscall.SIGKILL, 0)
		d.coordinator("c1")
		rec := d.finished(t, id, 3*time.Minute, 0)
		if rec.Owner != "c1" {
			t.Errorf("owner %s, want c1 (restarted)", rec.Owner)
		}
	})

	// The coordinator has started stitching and cannot finish. Results are fetched as their commits arrive, and the
	// stitch of this small job then takes milliseconds, so the window is made wide, with no hook in the product: once
	// every task is queued the coordinator is stopped (SIGSTOP) while the workers commit every segment, S3 is paused,
	// and the coordinator continued: it sees the last commits, says Stitching, and waits for results it cannot fetch.
	// It is killed there, S3 resumed, the coordinator restarted. No output may appear under the final key before the
	// restarted one stitches again.
	d.run(t, "coordinator kill -9 mid-stitch", func(t *testing.T) {
		id := d.submit(t, d.target)
		d.wait(t, id, 2*time.Minute, "every task queued", func(r job.Record) bool { return r.State == job.Running && r.Segments == 4 })
		c1 := d.coords["c1"]
		_ = c1.cmd.Process.Signal(syscall.SIGSTOP)
		defer func() { _ = c1.cmd.Process.Signal(syscall.SIGCONT) }() // whatever happens below, no stopped process is left
		if !until(3*time.Minute, func() bool { return len(d.commitsNow(id)) == 4 }) {
			t.Fatalf("the workers committed %d of 4 segments with the coordinator stopped", len(d.commitsNow(id)))
		}
		d.s3.Pause()
		defer d.s3.Resume()
		_ = c1.cmd.Process.Signal(syscall.SIGCONT)
		d.wait(t, id, time.Minute, "stitching", func(r job.Record) bool { return r.State == job.Stitching })
		c1.stop(syscall.SIGKILL, 0)
		d.s3.Resume()
		if out, _ := filepath.Glob(filepath.Join(d.s3.Dir, "facefleet", "jobs", id, "output*")); len(out) != 0 {
			t.Errorf("output stored by a coordinator killed mid-stitch: %v", out)
		}
		d.coordinator("c1")
		d.finished(t, id, 3*time.Minute, 0)
	})

	// nats-server is killed (SIGKILL) and started again 20 s later on the same port with the same file store: streams,
	// buckets, the plan and commits survive; every process reconnects.
	d.run(t, "NATS down 20 s mid-job", func(t *testing.T) {
		id := d.submit(t, d.target)
		d.wait(t, id, 2*time.Minute, "frames", func(r job.Record) bool { return r.State == job.Running && r.FramesDone > 0 })
		d.nats.Kill()
		time.Sleep(20 * time.Second)
		d.nats.Restart(d.t) // the parent: the server outlives this case
		// The fleet's heartbeat bucket lives in memory and is lost; the running processes' next heartbeats make it
		// again (before, they failed until some process started: every coordinator looked dead meanwhile).
		if !until(30*time.Second, func() bool {
			alive, _ := fleet.Alive(context.Background(), d.cl.Fleet, fleet.KindCoordinator, "c1")
			hs, _, _ := fleet.List(context.Background(), d.cl.Fleet, fleet.KindWorker)
			return alive && len(hs) == 2
		}) {
			t.Errorf("heartbeats did not come back after the NATS restart")
		}
		d.finished(t, id, 4*time.Minute, 0)
	})

	d.run(t, "S3 down 60 s mid-job", func(t *testing.T) {
		id := d.submit(t, d.target)
		d.wait(t, id, 2*time.Minute, "frames", func(r job.Record) bool { return r.State == job.Running && r.FramesDone > 0 })
		d.s3.Stop()
		time.Sleep(60 * time.Second)
		d.s3.Restart(d.t)
		d.finished(t, id, 4*time.Minute, 0)
	})

	// SIGTERM: the worker stops fetching, gives its segment --grace (1 s here), hands it back and exits 0.
	d.run(t, "worker SIGTERM mid-segment", func(t *testing.T) {
		id := d.submit(t, d.target)
		d.downloaded(t, "w1", id, 2*time.Minute)
		w1 := d.workers["w1"]
		w1.stop(syscall.SIGTERM, 30*time.Second)
		if code := w1.exitCode(); code != 0 {
			t.Errorf("worker exit status %d after SIGTERM, want 0", code)
		}
		if logCount(w1.log, "grace period over")+logCount(w1.log, `"segment committed"`) == 0 {
			t.Errorf("w1's log shows neither a hand-back nor a commit after SIGTERM:\n%s", tail(w1.log, 10))
		}
		d.worker("w1")
		d.finished(t, id, 3*time.Minute, 0)
	})

	// Frames 101-149 are noise: every worker's decoder fails on their segment. The job fails once it has failed
	// three times, with one line naming the target and the segment; nothing of it stays queued or in work. The
	// keyframe at 100 stays whole: the coordinator plans a stored MP4 from its index, which still lists it, and a
	// cut that finds no keyframe there fails the split instead (TestSplitReadsStoredTargetInPlace).
	d.run(t, "poison segment", func(t *testing.T) {
		poison := filepath.Join(t.TempDir(), "poison.mp4")
		poisonTarget(t, d.target, poison, 101, 150)
		id := d.submit(t, poison)
		rec := d.wait(t, id, 4*time.Minute, "failed", func(r job.Record) bool { return r.State == job.Failed })
		t.Logf("job failed: %s", rec.Error)
		// The failure must name the segment holding frames 101-149.
		var seg, from, to int
		if _, err := fmt.Sscanf(rec.Error[strings.Index(rec.Error, "segment "):], "segment %d: frames %d-%d", &seg, &from, &to); err != nil ||
			strings.Contains(rec.Error, "\n") || !strings.Contains(rec.Error, "poison.mp4") || from > 101 || to < 149 {
			t.Errorf("failure %q: want one line naming poison.mp4 and the segment of frames 101-149", rec.Error)
		}
		if c, ok := d.commitsNow(id)[seg]; ok {
			t.Errorf("the poison segment was committed: %+v", c)
		}
		if !until(30*time.Second, func() bool {
			for seg := range 4 {
				if ok, _ := d.cl.Tasks.Has(context.Background(), job.TaskSubject(id, seg)); ok {
					return false
				}
			}
			hs, _, _ := fleet.List(context.Background(), d.cl.Fleet, fleet.KindWorker)
			for _, h := range hs {
				for _, task := range h.Tasks {
					if strings.HasPrefix(task, id+"/") {
						return false
					}
				}
			}
			return true
		}) {
			t.Errorf("tasks of the failed job still queued or in work")
		}
		if out, _, err := d.cli(30*time.Second, "status", id); err != nil || !strings.Contains(out, fmt.Sprintf("segment %d", seg)) {
			t.Errorf("status of the failed job: %v %q", err, out)
		}
		d.deleteJob(t, id)
	})

	// A third worker works on a 64 KiB tmpfs: its downloads fail with ENOSPC, it hands tasks back uncounted and
	// steps aside; the healthy workers finish the job.
	d.run(t, "full work disk on one worker", func(t *testing.T) {
		small := testenv.SmallDisk(t, 64<<10)
		w3 := d.start("worker-w3", d.wrk, "--id", "w3", "--work-dir", small, "--execution-threads", "1", "--grace", "1s", "-v")
		id := d.submit(t, d.target)
		d.finished(t, id, 3*time.Minute, 0)
		w3.stop(syscall.SIGTERM, 20*time.Second)
		t.Logf("w3: %d uncounted hand-backs", logCount(w3.log, "not the segment's"))
	})

	// Two coordinators serve at once: each of two jobs is stitched by exactly one of them.
	d.run(t, "two coordinators", func(t *testing.T) {
		c2 := d.coordinator("c2")
		a, b := d.submit(t, d.target), d.submit(t, d.target)
		for _, id := range []string{a, b} {
			d.wait(t, id, 4*time.Minute, "done", func(r job.Record) bool { return r.State == job.Done })
			stitched := logCount(d.coords["c1"].log, `"job done"`, id) + logCount(c2.log, `"job done"`, id)
			if stitched != 1 {
				t.Errorf("job %s stitched %d times", id, stitched)
			}
			d.finished(t, id, time.Minute, 0)
		}
		c2.stop(syscall.SIGTERM, 20*time.Second)
	})

	// The worker memory squeeze that was here is TestWorkerMemorySqueeze, which sizes its budget from a measurement.

	t.Logf("fault drill: %.0f s", time.Since(start).Seconds())
}
