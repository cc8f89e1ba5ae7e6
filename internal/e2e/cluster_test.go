// Package e2e runs Facefleet as separate processes against real servers: a nats-server process, a versitygw S3
// process, `coordinator serve` and `worker` processes, and the client verbs, exactly as a user runs them.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/job"
)

// TestCluster: a 2-minute target with audio in 10-second segments on three worker processes gives the same output
// as `coordinator run`; on the way a worker too small for the job hands its tasks back (and status says why), the
// coordinator is killed and another takes the job over without redoing committed segments; then two jobs run at
// once, one segment of a finished job is redone, and a running job is cancelled.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and processes a 2-minute video")
	}
	e := newEnv(t)
	dir := t.TempDir()
	long := makeTarget(t, dir, 120)
	short := makeTarget(t, dir, 12)
	face := testenv.Face(t, "astronaut_eileen_collins.png")

	// Placement: the only worker cannot fit even batch 1 in 0.05 GB; the job waits and says why.
	coordA := e.coordinator("coord-a")
	e.worker("tiny", "--max-memory", "0.05")
	id := strings.TrimSpace(e.mustCLI(30*time.Second, "submit", "-s", face, "-t", long, "--segment-seconds", "10"))
	if err := job.ValidateID(id); err != nil {
		t.Fatalf("submit printed %q: %v", id, err)
	}
	rec := e.waitFor(id, time.Minute, "a waiting note", func(r job.Record) bool { return r.Waiting != "" })
	if !strings.Contains(rec.Waiting, "tiny") || !strings.Contains(rec.Waiting, "does not fit") {
		t.Errorf("waiting note %q: want the worker and why", rec.Waiting)
	}
	if out := e.mustCLI(10*time.Second, "status", id); !strings.Contains(out, "waiting: ") {
		t.Errorf("status does not say why the job waits: %q", out)
	}

	// Three workers join; once some segments are committed the coordinator dies, and coord-b takes over.
	var workers []*proc
	for i := 1; i <= 3; i++ {
		workers = append(workers, e.worker(fmt.Sprintf("w%d", i)))
	}
	e.waitFor(id, 3*time.Minute, "two commits", func(job.Record) bool { return len(e.commits(id)) >= 2 })
	coordA.stop(syscall.SIGKILL, 0)
	before := e.commits(id)
	start := time.Now()
	coordB := e.coordinator("coord-b")
	rec = e.waitFor(id, 5*time.Minute, "done", func(r job.Record) bool { return r.State == job.Done })
	t.Logf("job %s: %d segments, %d frames; done %.1fs after the takeover started", id, rec.Segments, rec.TotalFrames, time.Since(start).Seconds())
	if rec.Owner != "coord-b" || rec.FramesDone != rec.TotalFrames || rec.Percent() != 100 || rec.Segments != 12 {
		t.Errorf("done record: owner %s, frames %d/%d, %d segments", rec.Owner, rec.FramesDone, rec.TotalFrames, rec.Segments)
	}
	// No segment was processed twice. Commits are first-writer-wins, so unchanged commits alone could not show a redo:
	// the workers' logs must show one commit per segment and no late result thrown away.
	after := e.commits(id)
	for seg, c := range before {
		if after[seg] != c {
			t.Errorf("segment %d's commit changed after the takeover: %+v -> %+v", seg, c, after[seg])
		}
	}
	committed, discarded := 0, 0
	for _, w := range workers {
		b, _ := os.ReadFile(w.log)
		committed += strings.Count(string(b), `"msg":"segment committed"`)
		discarded += strings.Count(string(b), "another attempt committed first")
	}
	if committed != rec.Segments || discarded != 0 {
		t.Errorf("workers committed %d segments and discarded %d late results, for %d segments: work was redone",
			committed, discarded, rec.Segments)
	}

	// The fleet: every worker's heartbeat with real RAM numbers and no GPU here (the GPU column shows "-").
	table := e.mustCLI(10*time.Second, "workers")
	for _, want := range []string{"tiny", "w1", "w2", "w3", "GPU", " GB"} {
		if !strings.Contains(table, want) {
			t.Errorf("workers table lacks %q:\n%s", want, table)
		}
	}
	hs, _, err := fleet.List(context.Background(), e.cl.Fleet, fleet.KindWorker)
	if err != nil || len(hs) != 4 {
		t.Fatalf("heartbeats: %d, %v", len(hs), err)
	}
	for _, h := range hs {
		if h.RAMTotal < 1<<30 || h.RAMFree == 0 || h.RAMFree > h.RAMTotal || len(h.GPUs) != 0 {
			t.Errorf("worker %s heartbeat: RAM %d/%d, GPUs %v", h.ID, h.RAMFree, h.RAMTotal, h.GPUs)
		}
	}
	t.Logf("workers:\n%s", table)

	// The output is frame-exact with the one-machine run of the same inputs and segments (the default selector
	// finds its person again at each segment's start: where a segment starts is part of the job, issue 17).
	clusterOut := filepath.Join(dir, "cluster.mp4")
	e.mustCLI(30*time.Second, "download", id, "-o", clusterOut)
	if _, err := os.Stat(clusterOut + ".provenance.json"); err != nil {
		t.Errorf("no provenance record beside the download: %v", err)
	}
	runOut := filepath.Join(dir, "run.mp4")
	e.mustCLI(5*time.Minute, "run", "-s", face, "-t", long, "-o", runOut, "--workers", "2", "--segment-seconds", "10", "-q")
	na, nb, worst := comparePSNR(t, clusterOut, runOut, 400, 300)
	t.Logf("cluster vs run: %d vs %d frames, worst per-frame PSNR %.1f dB", na, nb, worst)
	if na != 3000 || nb != 3000 || worst < 40 {
		t.Errorf("cluster vs run: %d vs %d frames (want 3000), worst PSNR %.1f dB (want >= 40)", na, nb, worst)
	}
	sc, sr := streams(t, clusterOut), streams(t, runOut)
	for name, s := range map[string]map[string]streamInfo{"cluster": sc, "run": sr} {
		v, _ := strconv.ParseFloat(s["video"].Duration, 64)
		a, _ := strconv.ParseFloat(s["audio"].Duration, 64)
		if math.Abs(v-120) > 0.04 || math.Abs(a-v) > 0.04 {
			t.Errorf("%s: video %.3f s, audio %.3f s: want 120 s, in sync within a frame", name, v, a)
		}
	}

	// Two jobs at once both finish, though their coordinator is killed and restarted under the same id mid-way:
	// it resumes its own jobs at once.
	j1 := strings.TrimSpace(e.mustCLI(30*time.Second, "submit", "-s", face, "-t", short, "--segment-seconds", "4"))
	j2 := strings.TrimSpace(e.mustCLI(30*time.Second, "submit", "-s", face, "-t", short, "--segment-seconds", "4", "--many-faces"))
	e.waitFor(j1, 2*time.Minute, "frames", func(r job.Record) bool { return r.State == job.Running && r.FramesDone > 0 })
	coordB.stop(syscall.SIGKILL, 0)
	e.coordinator("coord-b")
	for _, j := range []string{j1, j2} {
		r := e.waitFor(j, 3*time.Minute, "done", func(r job.Record) bool { return r.State == job.Done })
		if r.FramesDone != 300 || r.Segments != 3 || r.Owner != "coord-b" {
			t.Errorf("job %s: %d frames, %d segments, owner %s; want 300 in 3, coord-b", j, r.FramesDone, r.Segments, r.Owner)
		}
	}

	// retry JOB SEGMENT redoes one committed segment under a new generation and stitches again.
	old := e.commits(id)
	e.mustCLI(10*time.Second, "retry", id, "3")
	e.waitFor(id, 3*time.Minute, "done again", func(r job.Record) bool { return r.State == job.Done && r.Generation == 1 })
	redone := e.commits(id)
	for seg, c := range redone {
		switch {
		case seg == 3 && (c.Generation != 1 || c.ResultKey == old[3].ResultKey):
			t.Errorf("segment 3 not redone: %+v", c)
		case seg != 3 && c != old[seg]:
			t.Errorf("segment %d redone, only 3 was asked for", seg)
		}
	}
	if out, _, err := e.cli(10*time.Second, "retry", id, "12"); err == nil {
		t.Errorf("retry of segment 12 of 12 accepted: %s", out)
	}

	// cancel stops a running job and removes its tasks and segments.
	jc := strings.TrimSpace(e.mustCLI(30*time.Second, "submit", "-s", face, "-t", long, "--segment-seconds", "10"))
	e.waitFor(jc, 2*time.Minute, "frames", func(r job.Record) bool { return r.State == job.Running && r.FramesDone > 0 })
	if out := e.mustCLI(10*time.Second, "cancel", jc); !strings.Contains(out, "cancelled") {
		t.Errorf("cancel printed %q", out)
	}
	e.waitFor(jc, 10*time.Second, "cancelled", func(r job.Record) bool { return r.State == job.Cancelled })
	deadline := time.Now().Add(15 * time.Second)
	for {
		queued, busy := 0, 0
		for seg := range 12 {
			if ok, _ := e.cl.Tasks.Has(context.Background(), job.TaskSubject(jc, seg)); ok {
				queued++
			}
		}
		hs, _, _ := fleet.List(context.Background(), e.cl.Fleet, fleet.KindWorker)
		for _, h := range hs {
			for _, task := range h.Tasks {
				if strings.HasPrefix(task, jc+"/") {
					busy++
				}
			}
		}
		segs, _ := e.cl.Blob.List(context.Background(), job.Prefix(jc)+"segments/")
		if queued == 0 && busy == 0 && len(segs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cancelled job %s: %d tasks queued, %d segments in work, %d segment files left", jc, queued, busy, len(segs))
		}
		time.Sleep(300 * time.Millisecond)
	}
	if _, stderr, err := e.cli(10*time.Second, "download", jc, "-o", filepath.Join(dir, "x.mp4")); err == nil || !strings.Contains(stderr, "not done") {
		t.Errorf("download of a cancelled job: %v %q", err, stderr)
	}
}

// TestStartupErrors: wrong credentials and TLS mismatches are one-line errors at start, never a hang.
func TestStartupErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	coord, _ := binaries(t)
	tlsFiles := testenv.NewTLSFiles(t)
	plain := testenv.StartNATS(t, testenv.NATSOptions{User: "facefleet", Password: "right"})
	secure := testenv.StartNATS(t, testenv.NATSOptions{TLS: &tlsFiles})
	s3 := testenv.StartS3(t, testenv.S3Options{})
	s3TLS := testenv.StartS3(t, testenv.S3Options{TLS: &tlsFiles})
	good := []string{"--nats", plain.URL, "--nats-user", "facefleet", "--nats-password", "right",
		"--s3-endpoint", s3.Endpoint, "--s3-access-key", s3.AccessKey, "--s3-secret-key", s3.Secret, "--s3-create-bucket"}
	with := func(changes ...string) []string {
		args := append([]string(nil), good...)
		for i := 0; i < len(changes); i += 2 {
			found := false
			for j := 0; j < len(args); j++ {
				if args[j] == changes[i] {
					args[j+1], found = changes[i+1], true
				}
			}
			if !found {
				args = append(args, changes[i]+"="+changes[i+1]) // "=": bool flags take no separate value
			}
		}
		return args
	}
	e := &env{t: t, coord: coord, home: t.TempDir()}
	if out, stderr, err := e.cliNoConfig(20*time.Second, append([]string{"workers"}, good...)...); err != nil {
		t.Fatalf("good settings: %v\n%s%s", err, out, stderr)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"wrong NATS password", with("--nats-password", "wrong"), "uthorization"},
		{"wrong S3 secret", with("--s3-secret-key", "wrong"), "access denied"},
		{"wrong S3 access key", with("--s3-access-key", "nobody"), "access denied"},
		{"NATS TLS server, untrusted certificate", with("--nats", secure.URL, "--nats-user", "", "--nats-password", ""), "certificate"},
		{"NATS TLS with the right CA", with("--nats", secure.URL, "--nats-user", "", "--nats-password", "", "--nats-ca", tlsFiles.CA), ""},
		{"S3 https against http", with("--s3-tls", "true"), "TLS"},
		{"S3 http against https", with("--s3-endpoint", s3TLS.Endpoint, "--s3-access-key", s3TLS.AccessKey, "--s3-secret-key", s3TLS.Secret), "expects https"},
		{"S3 https, untrusted certificate", with("--s3-endpoint", s3TLS.Endpoint, "--s3-access-key", s3TLS.AccessKey, "--s3-secret-key", s3TLS.Secret, "--s3-tls", "true"), "certificate"},
		{"S3 https with the right CA", with("--s3-endpoint", s3TLS.Endpoint, "--s3-access-key", s3TLS.AccessKey, "--s3-secret-key", s3TLS.Secret, "--s3-tls", "true", "--s3-ca", tlsFiles.CA), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			out, stderr, err := e.cliNoConfig(20*time.Second, append([]string{"workers"}, tc.args...)...)
			took := time.Since(start)
			ok := strings.HasSuffix(tc.name, "right CA")
			switch {
			case ok && err != nil:
				t.Fatalf("failed: %v %s", err, stderr)
			case ok:
				return
			case err == nil:
				t.Fatalf("accepted:\n%s", out)
			}
			var ee interface{ ExitCode() int }
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Errorf("exit: %v", err)
			}
			msg := strings.TrimSpace(stderr)
			if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "error: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("want one line containing %q, got %q", tc.want, msg)
			}
			if took > 10*time.Second {
				t.Errorf("took %s", took)
			}
			t.Logf("%.1fs: %s", took.Seconds(), msg)
		})
	}
}

// cliNoConfig runs a client verb with flags only.
func (e *env) cliNoConfig(timeout time.Duration, args ...string) (string, string, error) {
	saved := e.cfgPath
	e.cfgPath = filepath.Join(e.home, "none.yaml")
	_ = os.WriteFile(e.cfgPath, nil, 0o600)
	defer func() { e.cfgPath = saved }()
	return e.cli(timeout, args...)
}

// TestClusterReference: --face-selector-mode reference on a cluster job. `submit` finds the reference identity in
// the target with this machine's models and sends it with the job; the worker processes swap the faces that match
// it, and the output is `coordinator run`'s with the same options, frame for frame. Then `delete` removes the job.
func TestClusterReference(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and processes")
	}
	e := newEnv(t)
	e.coordinator("coord-r")
	e.worker("w1")
	dir := t.TempDir()
	face := testenv.Face(t, "astronaut_eileen_collins.png")
	target := testenv.Video(t, "pd_apollo11_pan_5s.mp4")
	opts := []string{"--face-selector-mode", "reference", "--reference-frame-number", "60", "--reference-face-position", "1",
		"--face-recognizer-model", testenv.Model(t, "mobilefacenet_paddlex_128d.onnx")} // TESTS ONLY recognizer
	clusterOut := filepath.Join(dir, "cluster.mp4")
	out := e.mustCLI(3*time.Minute, append([]string{"submit", "-s", face, "-t", target, "--segment-seconds", "2", "--wait", "-o", clusterOut}, opts...)...)
	id, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	runOut := filepath.Join(dir, "run.mp4")
	e.mustCLI(3*time.Minute, append([]string{"run", "-s", face, "-t", target, "-o", runOut, "--segment-seconds", "2", "-q"}, opts...)...)
	other := filepath.Join(dir, "other.mp4") // the person at position 0 instead
	e.mustCLI(3*time.Minute, append([]string{"run", "-s", face, "-t", target, "-o", other, "--segment-seconds", "2", "-q"},
		append(opts, "--reference-face-position", "0")...)...)
	na, nb, worst := comparePSNR(t, clusterOut, runOut, 480, 360)
	_, _, apart := comparePSNR(t, clusterOut, other, 480, 360)
	t.Logf("cluster vs run: %d vs %d frames, worst PSNR %.1f dB; vs run with the other person %.1f dB", na, nb, worst, apart)
	if na != 125 || nb != 125 || worst < 40 || apart >= 40 {
		t.Errorf("cluster vs run: %d vs %d frames (want 125), worst PSNR %.1f dB (want >= 40); vs run with the other "+
			"person %.1f dB (want < 40: another face swapped)", na, nb, worst, apart)
	}
	// delete leaves nothing of the job in S3 (the uploaded face among it) nor its record.
	if out := e.mustCLI(30*time.Second, "delete", id); !strings.Contains(out, "deleted") {
		t.Errorf("delete printed %q", out)
	}
	if files, err := e.cl.Blob.List(context.Background(), job.Prefix(id)); err != nil || len(files) != 0 {
		t.Errorf("files of job %s after delete: %v, %v", id, files, err)
	}
	if _, stderr, err := e.cli(10*time.Second, "status", id); err == nil {
		t.Errorf("status of a deleted job succeeded: %s", stderr)
	}
	// A position past the faces in the reference frame fails in submit, before anything is uploaded.
	if _, stderr, err := e.cli(time.Minute, append([]string{"submit", "-s", face, "-t", target}, append(opts, "--reference-face-position", "9")...)...); err == nil ||
		!strings.Contains(stderr, "reference-face-position 9") {
		t.Errorf("submit with a reference position past the faces: %v: %s", err, stderr)
	}
}

// TestClusterFollow: the default selector (one) on a cluster job in three segments. `submit` finds the person
// (--reference-face-position 1 in frame 60) in the target and sends where they are and their shape with the job;
// every segment's worker follows that person, so the output is `coordinator run`'s frame for frame, and not the
// one where the person at position 0 is followed. Before, each segment swapped its own largest face.
func TestClusterFollow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and processes")
	}
	e := newEnv(t)
	e.coordinator("coord-f")
	e.worker("w1")
	dir := t.TempDir()
	face := testenv.Face(t, "astronaut_eileen_collins.png")
	target := testenv.Video(t, "pd_apollo11_pan_5s.mp4")
	opts := []string{"--segment-seconds", "2", "--reference-frame-number", "60"}
	clusterOut := filepath.Join(dir, "cluster.mp4")
	e.mustCLI(3*time.Minute, append([]string{"submit", "-s", face, "-t", target, "--wait", "-o", clusterOut, "--reference-face-position", "1"}, opts...)...)
	runOut := filepath.Join(dir, "run.mp4")
	e.mustCLI(3*time.Minute, append([]string{"run", "-s", face, "-t", target, "-o", runOut, "-q", "--reference-face-position", "1"}, opts...)...)
	other := filepath.Join(dir, "other.mp4")
	e.mustCLI(3*time.Minute, append([]string{"run", "-s", face, "-t", target, "-o", other, "-q", "--reference-face-position", "0"}, opts...)...)
	na, nb, worst := comparePSNR(t, clusterOut, runOut, 480, 360)
	_, _, apart := comparePSNR(t, clusterOut, other, 480, 360)
	t.Logf("cluster vs run: %d vs %d frames, worst PSNR %.1f dB; vs run following the other person %.1f dB", na, nb, worst, apart)
	if na != 125 || nb != 125 || worst < 40 || apart >= 40 {
		t.Errorf("cluster vs run: %d vs %d frames (want 125), worst PSNR %.1f dB (want >= 40); vs run following the "+
			"other person %.1f dB (want < 40: another face swapped)", na, nb, worst, apart)
	}
}
