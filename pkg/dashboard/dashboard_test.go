package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/client"
	"github.com/facefleet/facefleet/pkg/cluster"
	"github.com/facefleet/facefleet/pkg/dashboard"
	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/health"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/queue"
)

// env is a real nats-server (a process) with the cluster's stream and buckets, a local store, and the dashboard
// on pkg/health's mux as serve mounts it.
type env struct {
	cl  *cluster.Cluster
	srv *httptest.Server
	ctx context.Context
}

func newEnv(t *testing.T, token string) *env {
	t.Helper()
	return newEnvWith(t, dashboard.Config{Token: token}, nil)
}

// newEnvWith is newEnv with the dashboard's config and the context that ends its event streams (nil: the test's).
func newEnvWith(t *testing.T, cfg dashboard.Config, done context.Context) *env {
	t.Helper()
	nats := testenv.StartNATS(t, testenv.NATSOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cl, err := cluster.Open(ctx, cluster.Config{NATS: queue.ConnConfig{URL: nats.URL}, StoreDir: t.TempDir(),
		Heartbeat: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if done == nil {
		done = ctx
	}
	d, err := dashboard.New(cfg, dashboard.Deps{
		Client: &client.Client{Tasks: cl.Tasks, State: cl.State, Blob: cl.Blob, Fleet: cl.Fleet},
		State:  cl.State, Fleet: cl.Fleet, Tasks: cl.Tasks, Done: done})
	if err != nil {
		t.Fatal(err)
	}
	h := health.New()
	d.Register(h.Handle)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{cl: cl, srv: srv, ctx: ctx}
}

func (e *env) put(t *testing.T, key string, v any) {
	t.Helper()
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.cl.State.Put(e.ctx, key, b); err != nil {
		t.Fatal(err)
	}
}

// do sends a request and returns the status and the body; the body of every API answer must be one JSON line.
func (e *env) do(t *testing.T, method, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if strings.HasPrefix(path, dashboard.APIPrefix) && strings.Count(strings.TrimSuffix(string(b), "\n"), "\n") != 0 {
		t.Errorf("%s %s: answer is not one line: %q", method, path, b)
	}
	return resp.StatusCode, string(b)
}

const jobID = "j261206-00aa11bb22cc33dd"

// writeJob writes a running job of 3 segments: 0 committed on its second attempt by w1, 1 running on w2 (its
// heartbeat says so) with 40 frames done, 2 queued (a task on the stream); and a record that is not JSON.
func writeJob(t *testing.T, e *env) {
	t.Helper()
	now := time.Now().UTC()
	e.put(t, job.RecordKey(jobID), job.Record{Version: job.Version, ID: jobID, State: job.Running, Segments: 3,
		TotalFrames: 300, FramesDone: 140, Created: now, Updated: now})
	e.put(t, job.PlanKey(jobID), job.JobPlan{TotalFrames: 300, Width: 64, Height: 48, FPSNum: 25, FPSDen: 1,
		Segments: []job.Segment{{Index: 0, Start: 0, End: 100}, {Index: 1, Start: 100, End: 200}, {Index: 2, Start: 200, End: 300}}})
	e.put(t, job.CommitKey(jobID, 0), job.Commit{Job: jobID, Segment: 0, Attempt: 2, Worker: "w1",
		ResultKey: job.ResultKey(jobID, 0, 0, 2), Frames: 100, Seconds: 12.5})
	e.put(t, job.ProgressKey(jobID, 1), job.Progress{Frames: 40})
	e.put(t, job.FailsKey(jobID, 1), 1)
	e.put(t, job.RecordKey("j261206-bad"), []byte("{not json"))
	task, _ := json.Marshal(job.Task{Version: job.Version, Job: jobID, Segment: job.Segment{Index: 2, Start: 200, End: 300},
		SegmentKey: job.SegmentKey(jobID, 2)})
	if err := e.cl.Tasks.Publish(e.ctx, job.TaskSubject(jobID, 2), jobID+"/2", task); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		id    string
		tasks []string
	}{{"w1", nil}, {"w2", []string{jobID + "/1"}}} {
		b, _ := json.Marshal(fleet.Heartbeat{Kind: fleet.KindWorker, ID: w.id, Host: "h", CPUs: 2, RAMTotal: 8 << 30,
			RAMFree: 6 << 30, MemoryBudget: 4 << 30, RSS: 1 << 30, Slots: 1, Batch1080p: 2, Tasks: w.tasks, FPS: 3.5, Updated: now})
		if _, err := e.cl.Fleet.Put(e.ctx, "worker."+w.id, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.cl.Fleet.Put(e.ctx, "worker.w3", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
}

// TestAPI reads jobs, one job's segments and the workers from records written to a real nats-server.
func TestAPI(t *testing.T) {
	e := newEnv(t, "")
	writeJob(t, e)

	code, body := e.do(t, "GET", "/api/v1/jobs", "")
	var jobs struct{ Jobs []dashboard.Job }
	if code != 200 || json.Unmarshal([]byte(body), &jobs) != nil {
		t.Fatalf("GET /api/v1/jobs: %d %s", code, body)
	}
	byID := map[string]dashboard.Job{}
	for _, j := range jobs.Jobs {
		byID[j.ID] = j
	}
	j := byID[jobID]
	if j.State != "running" || j.FramesDone != 140 || j.TotalFrames != 300 || j.Segments != 3 || j.ETASeconds == nil {
		t.Errorf("job %+v: want running 140/300, 3 segments, an ETA", j)
	}
	if bad := byID["j261206-bad"]; bad.State != "invalid" || !strings.Contains(bad.Error, "cannot decode") {
		t.Errorf("unreadable record listed as %+v: want invalid, saying why", bad)
	}

	code, body = e.do(t, "GET", "/api/v1/jobs/"+jobID, "")
	var d dashboard.JobDetail
	if code != 200 || json.Unmarshal([]byte(body), &d) != nil {
		t.Fatalf("GET job: %d %s", code, body)
	}
	want := []dashboard.Segment{
		{Index: 0, StartFrame: 0, EndFrame: 100, Frames: 100, FramesDone: 100, State: "committed", Worker: "w1", Attempts: 2, Seconds: 12.5},
		{Index: 1, StartFrame: 100, EndFrame: 200, Frames: 100, FramesDone: 40, State: "running", Worker: "w2", Attempts: 2},
		{Index: 2, StartFrame: 200, EndFrame: 300, Frames: 100, State: "queued"},
	}
	if len(d.Segments) != len(want) {
		t.Fatalf("segments %+v: want %+v", d.Segments, want)
	}
	for i := range want {
		if d.Segments[i] != want[i] {
			t.Errorf("segment %d: %+v, want %+v", i, d.Segments[i], want[i])
		}
	}

	code, body = e.do(t, "GET", "/api/v1/workers", "")
	var f dashboard.Fleet
	if code != 200 || json.Unmarshal([]byte(body), &f) != nil || len(f.Workers) != 2 {
		t.Fatalf("GET workers: %d %s", code, body)
	}
	if w := f.Workers[1]; w.ID != "w2" || w.RAMUsed != 2<<30 || w.RSS != 1<<30 || w.MemoryBudget != 4<<30 || w.FPS != 3.5 || f.Queue == nil {
		t.Errorf("worker %+v, queue %+v", w, f.Queue)
	}
	if len(f.Unreadable) != 1 || !strings.HasPrefix(f.Unreadable[0], "worker.w3: ") {
		t.Errorf("unreadable worker records %q: want worker.w3's, the others listed", f.Unreadable)
	}

	for _, c := range []struct {
		path string
		code int
	}{
		{"/api/v1/jobs/j261206-ffffffffffffffff", 404},
		{"/api/v1/jobs/NOT.AN.ID", 400},
		{"/api/v1/jobs/j261206-bad", 409},
		{"/api/v1/nothing", 404},
	} {
		if code, body := e.do(t, "GET", c.path, ""); code != c.code || !strings.HasPrefix(body, `{"error":`) {
			t.Errorf("GET %s: %d %s, want %d with an error", c.path, code, body, c.code)
		}
	}
}

// TestEvents reads the first server-sent event: the same jobs and fleet, and with ?job= the job's segments.
func TestEvents(t *testing.T) {
	e := newEnv(t, "")
	writeJob(t, e)
	resp, err := http.Get(e.srv.URL + "/api/v1/events?job=" + jobID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var snap dashboard.Snapshot
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &snap); err != nil {
		t.Fatalf("event %q: %v", line, err)
	}
	if len(snap.Jobs) != 2 || len(snap.Fleet.Workers) != 2 || snap.Job == nil || len(snap.Job.Segments) != 3 || len(snap.Errors) != 0 {
		t.Errorf("snapshot %+v", snap)
	}
}

// TestEventStreams: streams beyond MaxStreams are refused with a line saying to poll, and every stream ends when
// the daemon's context does (so that the HTTP server's shutdown need not wait for open pages).
func TestEventStreams(t *testing.T) {
	done, stop := context.WithCancel(context.Background())
	defer stop()
	e := newEnvWith(t, dashboard.Config{MaxStreams: 1}, done)
	resp, err := http.Get(e.srv.URL + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if code, body := e.do(t, "GET", "/api/v1/events", ""); code != 503 || !strings.Contains(body, "poll") {
		t.Errorf("a second stream: %d %s, want 503 saying to poll", code, body)
	}
	stop()
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Errorf("the stream did not end cleanly with the daemon: %v", err)
	}
	// The stream's slot is free again once it ended.
	resp2, err := http.Get(e.srv.URL + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 200 {
		t.Errorf("a stream after the first ended: %d", resp2.StatusCode)
	}
}

// TestWriteNeedsToken: without a configured token every write is 403; with one, a missing or wrong token is 401
// and the job is untouched; the right one cancels, and then deletes, the job.
func TestWriteNeedsToken(t *testing.T) {
	const secret = "s3cret-api-token"
	for _, c := range []struct {
		name, configured, sent string
		method, path           string
		code                   int
		state                  job.State // the record afterwards; "" = deleted
	}{
		{"no token configured", "", secret, "POST", "/cancel", 403, job.Running},
		{"no token configured, delete", "", "", "DELETE", "", 403, job.Running},
		{"none sent", secret, "", "POST", "/cancel", 401, job.Running},
		{"wrong token", secret, "s3cret-api-tokem", "POST", "/cancel", 401, job.Running},
		{"a prefix of it", secret, "s3cret", "DELETE", "", 401, job.Running},
		{"right token, running job", secret, secret, "DELETE", "", 409, job.Running},
		{"right token", secret, secret, "POST", "/cancel", 200, job.Cancelled},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.configured)
			writeJob(t, e)
			code, body := e.do(t, c.method, "/api/v1/jobs/"+jobID+c.path, c.sent)
			if code != c.code {
				t.Errorf("%s: %d %s, want %d", c.method, code, body, c.code)
			}
			r, err := (&client.Client{State: e.cl.State}).Get(e.ctx, jobID)
			if err != nil || r.State != c.state {
				t.Errorf("record afterwards: %s %v, want %s", r.State, err, c.state)
			}
			if c.code != 200 {
				return
			}
			if code, body := e.do(t, "DELETE", "/api/v1/jobs/"+jobID, c.sent); code != 200 {
				t.Errorf("delete after cancel: %d %s", code, body)
			}
			if _, err := (&client.Client{State: e.cl.State}).Get(e.ctx, jobID); err == nil {
				t.Error("the job is still there after delete")
			}
		})
	}
}

// raw sends path to addr exactly as written (no client-side cleaning) and returns the status, Location and body.
func raw(t *testing.T, addr, path string) (int, string, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// TestNoFileOutsideAssets: no path, however it is spelt, serves anything but the three embedded files; a
// redirect (the mux cleaning a path) leads only to a path on the same server that is not found.
func TestNoFileOutsideAssets(t *testing.T) {
	e := newEnv(t, "")
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	for _, p := range []string{
		"/assets/../../../../etc/passwd", "/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/assets/..%2f..%2f..%2fetc%2fpasswd",
		"/assets/%2fetc%2fpasswd", "/assets//etc/passwd", "//etc/passwd", "/etc/passwd", "/assets/..%5c..%5cetc%5cpasswd",
		"/assets/dashboard.go", "/assets/../dashboard.go", "/dashboard.go", "/assets/", "/assets/.", "/assets/app.js/..",
		"/assets/assets/app.js", "/assets/%2e%2e", "/index.html/../../etc/passwd", "/assets/app.js%00.html",
		"/%2e%2e/%2e%2e/etc/passwd", "/assets/index.html",
	} {
		code, loc, body := raw(t, addr, p)
		for hops := 0; code/100 == 3 && hops < 5; hops++ {
			if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
				t.Fatalf("GET %s: redirect to %q, off this server", p, loc)
			}
			code, loc, body = raw(t, addr, loc)
		}
		if code != 404 && code != 400 || strings.Contains(body, "root:") || strings.Contains(body, "package ") {
			t.Errorf("GET %s: %d %.80q: want 404", p, code, body)
		}
	}
	for _, c := range []struct{ path, ctype, has string }{
		{"/", "text/html; charset=utf-8", "<title>Facefleet</title>"},
		{"/assets/app.js", "text/javascript; charset=utf-8", "EventSource"},
		{"/assets/app.css", "text/css; charset=utf-8", ".card"},
	} {
		resp, err := http.Get(e.srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.ctype || !strings.Contains(string(b), c.has) ||
			resp.Header.Get("Content-Security-Policy") != dashboard.CSP {
			t.Errorf("GET %s: %d %q CSP %q", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"))
		}
	}
}

// TestPageNeedsNothingElse: the page names no resource off its own server (no scheme, no protocol-relative URL)
// and no inline script or style, which the CSP would block.
func TestPageNeedsNothingElse(t *testing.T) {
	for _, name := range []string{"index.html", "app.css", "app.js"} {
		resp, err := http.Get(newPageServer(t).URL + "/assets/" + name)
		if name == "index.html" {
			resp, err = http.Get(newPageServer(t).URL + "/")
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s := string(b)
		for _, bad := range []string{"http:", "https:", "//cdn", "url(", "@import", "<style", " style=", "onclick=", "innerHTML"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s holds %q", name, bad)
			}
		}
		if name == "index.html" && strings.Count(s, "<script") != 1 {
			t.Errorf("index.html: want one script element, by src")
		}
	}
}

// newPageServer is the dashboard's static part only: its reads are never made.
func newPageServer(t *testing.T) *httptest.Server {
	t.Helper()
	d, err := dashboard.New(dashboard.Config{}, dashboard.Deps{Client: &client.Client{}, State: &queue.State{}, Fleet: &queue.State{}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	d.Register(mux.Handle)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
