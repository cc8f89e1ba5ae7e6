package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/job"
)

// drill is the fault suite's cluster: one set of servers and processes shared by every case, each case leaving it as
// it found it (a killed process is started again under the same id).
type drill struct {
	*env
	face, target  string
	targetSum     [32]byte
	coordDir      map[string]string // coordinator id -> its --work-dir
	workDir       map[string]string // worker id -> its --work-dir
	coords        map[string]*proc
	workers       map[string]*proc
	reference     string // the fault-free run's output
	frames        int
	seconds       float64
	segmentSecond string
}

// drillFrames and drillSeconds describe the drill's target: 8 s at 25 fps, 400x300, AAC audio, keyframes every 2 s.
const (
	drillSeconds = 8
	drillFrames  = 200
	drillW       = 400
	drillH       = 300
)

func newDrill(t *testing.T) *drill {
	d := &drill{env: newEnv(t), coordDir: map[string]string{}, workDir: map[string]string{}, coords: map[string]*proc{}, workers: map[string]*proc{},
		frames: drillFrames, seconds: drillSeconds, segmentSecond: "2"}
	d.face = testenv.Face(t, "astronaut_eileen_collins.png")
	d.target = makeTarget(t, t.TempDir(), drillSeconds)
	d.targetSum = fileSum(t, d.target)
	return d
}

// coordinator starts (or starts again) coordinator id with a work dir that outlives its process.
func (d *drill) coordinator(id string) *proc {
	dir, ok := d.coordDir[id]
	if !ok {
		dir = d.t.TempDir()
		d.coordDir[id] = dir
	}
	p := d.start("coordinator-"+id, d.coord, "serve", "--id", id, "--work-dir", dir, "--segment-seconds", "10", "-v")
	d.coords[id] = p
	return p
}

// worker starts (or starts again) worker id with a work dir that outlives its process; grace is short so a
// SIGTERM's hand-back happens within a segment.
func (d *drill) worker(id string, extra ...string) *proc {
	dir, ok := d.workDir[id]
	if !ok {
		dir = d.t.TempDir()
		d.workDir[id] = dir
	}
	args := append([]string{"--id", id, "--work-dir", dir, "--execution-threads", "1", "--grace", "1s", "-v"}, extra...)
	p := d.start("worker-"+id, d.wrk, args...)
	d.workers[id] = p
	return p
}

// run runs one case and then starts again whichever of the drill's own processes (c1, w1, w2) it left stopped, so
// that a case failing half-way is reported once instead of failing the cases after it too.
func (d *drill) run(t *testing.T, name string, f func(t *testing.T)) {
	t.Run(name, f)
	stopped := func(p *proc) bool {
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	}
	if p := d.coords["c1"]; p != nil && stopped(p) {
		t.Logf("case %q left c1 stopped: started again", name)
		d.coordinator("c1")
	}
	for _, id := range []string{"w1", "w2"} {
		if p := d.workers[id]; p != nil && stopped(p) {
			t.Logf("case %q left %s stopped: started again", name, id)
			d.worker(id)
		}
	}
}

// submit queues the drill's target (or another) in 2-second segments and returns the job id.
func (d *drill) submit(t *testing.T, target string) string {
	t.Helper()
	out, stderr, err := d.cli(time.Minute, "submit", "-s", d.face, "-t", target, "--segment-seconds", d.segmentSecond)
	if err != nil {
		t.Fatalf("submit: %v\n%s%s", err, out, stderr)
	}
	id := strings.TrimSpace(out)
	if err := job.ValidateID(id); err != nil {
		t.Fatalf("submit printed %q: %v", id, err)
	}
	return id
}

// downloaded waits until worker has downloaded a segment of job and the job's source face (segment.mkv and
// sources/<job>.png appear in its work dir, renamed from their temporary names: the segment is under way, its result
// not yet made, and it reads nothing more from S3) and returns the segment's number. The worker fetches the two side
// by side, so either can land first: a case that paused S3 on the segment alone stalled the face's download.
func (d *drill) downloaded(t *testing.T, worker, id string, timeout time.Duration) int {
	t.Helper()
	dir := d.workDir[worker]
	if !until(timeout, func() bool { return fileIn(dir, id, "segment.mkv") && sourceIn(dir, id) }) {
		t.Fatalf("worker %s never downloaded a segment of job %s in %s", worker, id, timeout)
	}
	seg := -1
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Name() == "segment.mkv" && strings.Contains(p, id) {
			rest := strings.TrimPrefix(filepath.Base(filepath.Dir(p)), id+"-")
			fmt.Sscanf(rest, "%05d-", &seg)
			return filepath.SkipAll
		}
		return nil
	})
	if seg < 0 {
		t.Fatalf("worker %s: no segment directory of job %s", worker, id)
	}
	return seg
}

// finished waits for the job to be done (with orphans results of killed workers left), downloads its output and checks it against the fault-free run: every frame
// (count and PSNR), the audio track in sync, the target untouched, no partial file beside the download, and after
// `delete` nothing of the job left in S3 (so nothing the faults left behind outlives the job).
func (d *drill) finished(t *testing.T, id string, timeout time.Duration, orphans int) job.Record {
	t.Helper()
	rec := d.wait(t, id, timeout, "done", func(r job.Record) bool { return r.State == job.Done })
	if rec.FramesDone != d.frames || rec.TotalFrames != d.frames {
		t.Errorf("done record: %d/%d frames, want %d", rec.FramesDone, rec.TotalFrames, d.frames)
	}
	// The uploaded target is the user's, byte for byte; every result object is a commit's, but for the uploads of
	// workers killed before their commit, which the design leaves until delete.
	if rec.Submission != nil && fileSum(t, filepath.Join(d.s3.Dir, "facefleet", rec.Submission.TargetKey)) != d.targetSum {
		t.Errorf("the uploaded target %s changed", rec.Submission.TargetKey)
	}
	named := map[string]bool{}
	for _, c := range d.commitsNow(id) {
		named[filepath.Base(c.ResultKey)] = true
	}
	stray := 0
	for _, r := range d.results(id) {
		if !named[filepath.Base(r)] {
			stray++
		}
	}
	if stray != orphans {
		t.Errorf("%d result objects no commit names, want %d", stray, orphans)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out.mp4")
	d.must(t, time.Minute, "download", id, "-o", out)
	d.checkOutput(t, out)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n := e.Name(); n != "out.mp4" && n != "out.mp4.provenance.json" {
			t.Errorf("left beside the download: %s", n)
		}
	}
	if fileSum(t, d.target) != d.targetSum {
		t.Errorf("the target %s changed", d.target)
	}
	d.deleteJob(t, id)
	return rec
}

// checkOutput holds out to the reference: the same frame count, every frame within 40 dB PSNR (they are the same
// encode of the same frames), an audio stream whose duration is the video's within a frame.
func (d *drill) checkOutput(t *testing.T, out string) {
	t.Helper()
	ref := d.reference
	if ref == "" {
		ref = d.target
	}
	na, nb, worst := comparePSNR(t, out, ref, drillW, drillH)
	want := 40.0
	if d.reference == "" { // the baseline itself: swapped faces against the original target, a loose floor
		want = 15
	}
	if na != d.frames || nb != d.frames || worst < want {
		t.Errorf("output vs reference: %d vs %d frames (want %d), worst PSNR %.1f dB (want >= %.0f)", na, nb, d.frames, worst, want)
	}
	s := streams(t, out)
	v, _ := strconv.ParseFloat(s["video"].Duration, 64)
	a, aerr := strconv.ParseFloat(s["audio"].Duration, 64)
	if aerr != nil || math.Abs(v-d.seconds) > 0.04 || math.Abs(a-v) > 0.04 {
		t.Errorf("output: video %.3f s, audio %q: want %.0f s with audio in sync within a frame", v, s["audio"].Duration, d.seconds)
	}
}

// deleteJob removes the job and checks that no object of it is left.
func (d *drill) deleteJob(t *testing.T, id string) {
	t.Helper()
	d.must(t, time.Minute, "delete", id)
	if files, err := d.cl.Blob.List(context.Background(), job.Prefix(id)); err != nil || len(files) != 0 {
		t.Errorf("objects of job %s after delete: %v, %v", id, files, err)
	}
}

// results lists the job's result objects as stored by versitygw (its posix directory), so it works while the
// servers are paused.
func (d *drill) results(id string) []string {
	m, _ := filepath.Glob(filepath.Join(d.s3.Dir, "facefleet", "jobs", id, "results", "*.mp4"))
	return m
}

// until polls cond every millisecond; false after timeout.
func until(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// fileIn reports whether a file whose name contains part exists under dir, on a path that names the job.
func fileIn(dir, id, part string) bool {
	found := false
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.Contains(e.Name(), part) && strings.Contains(p, id) {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// sourceIn says whether a worker's work dir holds job id's source face under its own name (not a temporary one).
func sourceIn(dir, id string) bool {
	found, _ := filepath.Glob(filepath.Join(dir, "*", "sources", id+".*"))
	return len(found) > 0
}

// logCount counts the lines of a process log holding every one of parts.
func logCount(path string, parts ...string) int {
	b, _ := os.ReadFile(path)
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			n++
		}
	}
	return n
}

// exitCode is a finished process's exit status, -1 for a signal.
func (p *proc) exitCode() int {
	<-p.done
	if p.cmd.ProcessState == nil {
		return -1
	}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

func fileSum(t testing.TB, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// poisonTarget copies target with the packets of frames [from, to) (presentation order) overwritten by noise: the
// container, its index and keyframe table stay valid, so the job plans and splits, but those frames cannot be
// decoded on any worker.
func poisonTarget(t testing.TB, target, out string, from, to int) {
	t.Helper()
	b, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
		"stream=time_base:packet=pts,pos,size", "-of", "compact=p=0:nk=1", target).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", target, err)
	}
	data, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(1))
	hit := 0
	var tbNum, tbDen int
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, line := range lines { // the stream's time base
		if !strings.Contains(line, "|") {
			fmt.Sscanf(line, "%d/%d", &tbNum, &tbDen)
		}
	}
	if tbDen == 0 {
		t.Fatalf("ffprobe %s: no time base in %q", target, lines[len(lines)-1])
	}
	for _, line := range lines {
		f := strings.Split(line, "|")
		if len(f) != 3 {
			continue
		}
		pts, _ := strconv.Atoi(f[0])
		size, _ := strconv.Atoi(f[1])
		pos, _ := strconv.Atoi(f[2])
		frame := int(math.Round(float64(pts) * float64(tbNum) / float64(tbDen) * drillFrames / drillSeconds))
		if frame < from || frame >= to || pos < 0 || pos+size > len(data) {
			continue
		}
		r.Read(data[pos : pos+size])
		hit++
	}
	if hit != to-from {
		t.Fatalf("poisoned %d packets of %s, want %d", hit, target, to-from)
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// wait polls a job's record until cond holds, failing t (the case's own test, unlike env.waitFor's).
func (d *drill) wait(t *testing.T, id string, timeout time.Duration, what string, cond func(job.Record) bool) job.Record {
	t.Helper()
	var r job.Record
	var err error
	ok := until(timeout, func() bool {
		r, err = d.client.Get(context.Background(), id)
		if err == nil && r.State == job.Failed && what != "failed" {
			t.Fatalf("job %s failed while waiting for %s: %s", id, what, r.Error)
		}
		if err == nil && cond(r) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
		return false
	})
	if !ok {
		t.Fatalf("job %s: no %s after %s; last record %+v (%v)", id, what, timeout, r, err)
	}
	return r
}

// must runs a client verb, failing t.
func (d *drill) must(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	out, stderr, err := d.cli(timeout, args...)
	if err != nil {
		t.Fatalf("coordinator %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// commitsNow is the job's commits by segment; none when NATS does not answer.
func (d *drill) commitsNow(id string) map[int]job.Commit {
	out, _ := commitsOf(d.cl.State, id)
	if out == nil {
		out = map[int]job.Commit{}
	}
	return out
}

// ballastEnv names the file TestBallastProcess waits for.
const ballastEnv = "E2E_BALLAST_FILE"

// TestBallastProcess is not a test: it is TestWorkerMemorySqueeze's memory hog, this test binary run as the worker's
// child. It waits for the file $E2E_BALLAST_FILE to name a byte count, then holds that many touched bytes until its
// parent (the worker) is gone.
func TestBallastProcess(t *testing.T) {
	path := os.Getenv(ballastEnv)
	if path == "" {
		t.Skip("run by TestWorkerMemorySqueeze as a worker's child")
	}
	parent := os.Getppid()
	var hog []byte
	for os.Getppid() == parent {
		if hog == nil {
			if b, err := os.ReadFile(path); err == nil {
				n, _ := strconv.Atoi(string(b))
				hog = make([]byte, n)
				for i := 0; i < len(hog); i += 4096 {
					hog[i] = 1
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	runtime.KeepAlive(hog)
}

// progress is the frames a segment's worker reported done, false when there is no record (or NATS does not answer).
func (d *drill) progress(id string, n int) (int, bool) {
	en, err := d.cl.State.Get(context.Background(), job.ProgressKey(id, n))
	var p job.Progress
	if err != nil || json.Unmarshal(en.Value, &p) != nil {
		return 0, false
	}
	return p.Frames, true
}
