package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/job"
)

// agreedMetrics are the names issue 15 agreed on (the Grafana dashboard and the status page build on them): a
// family a daemon serves that is not here is a typo or an unannounced metric. The client's Go and process
// collectors (go_*, process_*) come on top.
var agreedMetrics = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`jobs segments_committed_total segments_failed_total segments_redelivered_total
		queue_pending_tasks queue_oldest_task_age_seconds split_seconds stitch_seconds store_bytes_total
		worker_segments_total frames_processed_total worker_frames_per_second segment_seconds memory_rss_bytes
		memory_budget_bytes memory_system_used_ratio gpu_memory_used_bytes gpu_memory_planned_bytes batch_size
		frames_in_flight frames_in_flight_limit memory_alerts_total model_load_seconds build_info`) {
		agreedMetrics["facefleet_"+n] = true
	}
}

// scrape is one /metrics answer, parsed with the client's text parser.
type scrape map[string]*dto.MetricFamily

func scrapeMetrics(t testing.TB, who, addr string) scrape {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("%s /metrics: %v", who, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s /metrics: %s", who, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("%s /metrics: %v", who, err)
	}
	return mfs
}

// value is the sum over the family's series whose labels include every pair of match (name, value, ...), and
// whether any series matched.
func (s scrape) value(name string, match ...string) (float64, bool) {
	mf, ok := s[name]
	if !ok {
		return 0, false
	}
	sum, found := 0.0, false
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(match); i += 2 {
			ok = ok && labels[match[i]] == match[i+1]
		}
		if !ok {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum, found
}

// checkNames fails for a family outside the agreed list and for any label carrying a job id (a label per job
// would grow without bound).
func (s scrape) checkNames(t *testing.T, who string, ids ...string) {
	t.Helper()
	for name, mf := range s {
		if !agreedMetrics[name] && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("%s serves %s, which is not an agreed metric name", who, name)
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				for _, id := range ids {
					if l.GetValue() == id || strings.Contains(l.GetName(), "job") {
						t.Errorf("%s: %s has a job label %s=%q", who, name, l.GetName(), l.GetValue())
					}
				}
			}
		}
	}
}

// TestMetrics runs a real job on a real cluster (nats-server, versitygw, `serve` and two workers, each with
// --http-addr) and scrapes /metrics of the coordinator and the workers during it, when some frames are counted
// before the job is done, and after it: the coordinator saw every segment committed and one job done, the workers'
// committed segments add up to the job's segments and their frames to the target's frames. Every family served
// is an agreed name and none has a job id for a label.
func TestMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and daemons")
	}
	e := newEnv(t)
	caddr := testenv.FreeAddr(t)
	waddrs := []string{testenv.FreeAddr(t), testenv.FreeAddr(t)}
	e.start("coordinator-m", e.coord, "serve", "--id", "m", "--work-dir", t.TempDir(), "--segment-seconds", "4",
		"--http-addr", caddr)
	for i, a := range waddrs {
		e.worker([]string{"m1", "m2"}[i], "--http-addr", a)
	}
	waitProbe(t, "coordinator", caddr, "/readyz", 200, "ok")
	for _, a := range waddrs {
		waitProbe(t, "worker", a, "/readyz", 200, "ok")
	}
	before := scrapeMetrics(t, "coordinator", caddr)
	if v, ok := before.value("facefleet_build_info"); !ok || v != 1 {
		t.Errorf("coordinator facefleet_build_info %v (found %v), want 1", v, ok)
	}
	if _, ok := before.value("go_goroutines"); !ok {
		t.Error("coordinator: no go_goroutines: the Go collector is not registered")
	}

	face := testenv.Face(t, "astronaut_eileen_collins.png")
	id := strings.TrimSpace(e.mustCLI(30*time.Second, "submit", "-s", face, "-t", makeTarget(t, t.TempDir(), 12),
		"--segment-seconds", "4"))

	// During: a worker's frame counter moves before the job is done (the record read after the scrape).
	sumWorkers := func(name string, match ...string) float64 {
		sum := 0.0
		for i, a := range waddrs {
			s := scrapeMetrics(t, "worker "+[]string{"m1", "m2"}[i], a)
			v, _ := s.value(name, match...)
			sum += v
		}
		return sum
	}
	var during bool
	if !until(5*time.Minute, func() bool {
		time.Sleep(100 * time.Millisecond) // until polls every millisecond: a scrape samples the process tree
		frames := sumWorkers("facefleet_frames_processed_total")
		r, err := e.client.Get(t.Context(), id)
		if err != nil || r.State == job.Failed {
			t.Fatalf("job %s: %v %s", id, err, r.Error)
		}
		during = frames > 0 && r.State != job.Done
		if during {
			c := scrapeMetrics(t, "coordinator", caddr)
			if _, ok := c.value("facefleet_queue_pending_tasks"); !ok {
				t.Error("coordinator during the job: no facefleet_queue_pending_tasks")
			}
			if v, _ := c.value("facefleet_jobs"); v != 1 {
				t.Errorf("coordinator during the job: facefleet_jobs over every state %v, want 1 (one job)", v)
			}
		}
		return during || r.State == job.Done
	}) || !during {
		t.Fatal("no frames counted by the workers before the job was done")
	}

	rec := e.waitFor(id, 5*time.Minute, "done", func(r job.Record) bool { return r.State == job.Done })
	if rec.Segments < 2 {
		t.Fatalf("job has %d segment(s); the test wants several", rec.Segments)
	}
	// After: the workers count a commit just after storing it, so their totals may trail the record for a moment.
	segs, frames := float64(rec.Segments), float64(rec.TotalFrames)
	var gotSegs, gotFrames float64
	until(time.Minute, func() bool {
		time.Sleep(100 * time.Millisecond)
		gotSegs = sumWorkers("facefleet_worker_segments_total", "result", "committed")
		gotFrames = sumWorkers("facefleet_frames_processed_total")
		return gotSegs == segs && gotFrames == frames
	})
	if gotSegs != segs || gotFrames != frames {
		t.Errorf("workers: %v segments committed, %v frames processed; the job has %v segments of %v frames",
			gotSegs, gotFrames, segs, frames)
	}
	checks := []struct {
		name  string
		match []string
		want  float64
	}{
		{"facefleet_segments_committed_total", nil, segs},
		{"facefleet_jobs", []string{"state", "done"}, 1},
		{"facefleet_segments_failed_total", nil, 0},
		{"facefleet_split_seconds", nil, 1}, // observations
		{"facefleet_stitch_seconds", nil, 1},
		{"facefleet_queue_pending_tasks", nil, 0},
	}
	// The last acks reach the queue just after the commits: look again for a while before judging.
	var c scrape
	until(time.Minute, func() bool {
		time.Sleep(100 * time.Millisecond)
		c = scrapeMetrics(t, "coordinator", caddr)
		for _, ch := range checks {
			if v, ok := c.value(ch.name, ch.match...); !ok || v != ch.want {
				return false
			}
		}
		return true
	})
	c.checkNames(t, "coordinator", id)
	for _, ch := range checks {
		if v, ok := c.value(ch.name, ch.match...); !ok || v != ch.want {
			t.Errorf("coordinator %s%v = %v (found %v), want %v", ch.name, ch.match, v, ok, ch.want)
		}
	}
	for _, dir := range []string{"up", "down"} {
		if v, _ := c.value("facefleet_store_bytes_total", "direction", dir); v <= 0 {
			t.Errorf("coordinator store_bytes_total{direction=%q} = %v, want > 0", dir, v)
		}
	}
	for i, a := range waddrs {
		who := "worker " + []string{"m1", "m2"}[i]
		s := scrapeMetrics(t, who, a)
		s.checkNames(t, who, id)
		for _, name := range []string{"facefleet_memory_rss_bytes", "facefleet_model_load_seconds", "facefleet_build_info"} {
			if v, ok := s.value(name); !ok || v <= 0 {
				t.Errorf("%s %s = %v (found %v), want > 0", who, name, v, ok)
			}
		}
		if _, ok := s.value("facefleet_worker_frames_per_second"); !ok {
			t.Errorf("%s: no facefleet_worker_frames_per_second", who)
		}
	}
}
