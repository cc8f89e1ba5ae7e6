package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/job"
)

func probe(addr, path string) (int, string) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitProbe polls addr's path until it answers code with a body containing want.
func waitProbe(t *testing.T, who, addr, path string, code int, want string) {
	t.Helper()
	var got int
	var body string
	if !until(2*time.Minute, func() bool {
		got, body = probe(addr, path)
		return got == code && strings.Contains(body, want)
	}) {
		t.Fatalf("%s %s: %d %q, want %d with %q", who, path, got, body, code, want)
	}
}

// TestHealthEndpoints runs `coordinator serve` and `worker` with --http-addr against real NATS and S3 servers:
// /readyz is 200 once they serve, 503 naming NATS while nats-server is down and naming the store while versitygw
// is down, 200 again once each is back, while /healthz stays 200 throughout (an outage is not a reason to restart
// them). Then `worker drain` drains the idle worker: it answers "drained", its /readyz is 503 "draining", it stays
// up and takes none of a job's segments, which a second worker processes; SIGTERM then ends it with status 0.
func TestHealthEndpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and daemons")
	}
	e := newEnv(t)
	caddr, waddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	e.start("coordinator-h", e.coord, "serve", "--id", "h", "--work-dir", t.TempDir(), "--segment-seconds", "4",
		"--http-addr", caddr)
	w1 := e.worker("w1", "--http-addr", waddr)
	daemons := []struct{ name, addr string }{{"coordinator", caddr}, {"worker", waddr}}
	for _, d := range daemons {
		waitProbe(t, d.name, d.addr, "/readyz", 200, "ok")
		waitProbe(t, d.name, d.addr, "/healthz", 200, "ok")
	}

	outages := []struct {
		name       string
		stop, back func()
		want       string
	}{
		{name: "nats", stop: e.nats.Stop, back: func() { e.nats.Restart(t) }, want: "nats: not connected"},
		{name: "s3", stop: e.s3.Stop, back: func() { e.s3.Restart(t) }, want: "store: "},
	}
	for _, o := range outages {
		o.stop()
		for _, d := range daemons {
			waitProbe(t, d.name, d.addr, "/readyz", 503, o.want)
			if code, body := probe(d.addr, "/healthz"); code != 200 {
				t.Errorf("%s /healthz during the %s outage: %d %q", d.name, o.name, code, body)
			}
		}
		o.back()
		for _, d := range daemons {
			waitProbe(t, d.name, d.addr, "/readyz", 200, "ok")
		}
	}

	// Drain: from this machine only, through the worker's own subcommand (Kubernetes' preStop).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	drain := exec.CommandContext(ctx, e.wrk, "drain", "--http-addr", waddr, "--config", e.cfgPath)
	drain.Env = e.environ()
	if out, err := drain.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "drained" {
		t.Fatalf("worker drain: %v %q", err, out)
	}
	waitProbe(t, "worker", waddr, "/readyz", 503, "draining: taking no tasks")
	if code, _ := probe(waddr, "/healthz"); code != 200 {
		t.Fatalf("a drained worker is not alive: %d", code)
	}
	face := testenv.Face(t, "astronaut_eileen_collins.png")
	id := strings.TrimSpace(e.mustCLI(30*time.Second, "submit", "-s", face, "-t", makeTarget(t, t.TempDir(), 12),
		"--segment-seconds", "4"))
	e.waitFor(id, time.Minute, "running", func(r job.Record) bool { return r.State == job.Running && r.Segments > 1 })
	e.worker("w2")
	rec := e.waitFor(id, 5*time.Minute, "done", func(r job.Record) bool { return r.State == job.Done })
	for seg, c := range e.commits(id) {
		if c.Worker != "w2" {
			t.Errorf("segment %d of %d committed by %s after w1 drained", seg, rec.Segments, c.Worker)
		}
	}
	select {
	case <-w1.done:
		t.Fatalf("the drained worker exited before SIGTERM: %v", w1.err)
	default:
	}
	w1.stop(syscall.SIGTERM, 30*time.Second)
	if code := w1.exitCode(); code != 0 {
		t.Errorf("drained worker exited %d after SIGTERM", code)
	}
	if b, _ := os.ReadFile(w1.log); !strings.Contains(string(b), "drained: taking no tasks until stopped") {
		t.Errorf("w1's log does not say it drained:\n%s", tail(w1.log, 10))
	}
}
