package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/job"
)

// TestDashboardBrowser drives headless Chromium (Debian's chromium, which make setup installs) against the dashboard
// of a real cluster (nats-server, versitygw, `coordinator serve --http-addr`, two workers) while a job runs, at a
// phone's width: the job's progress bar advances between two reads, each worker's card shows a memory figure, the
// selected job's segment timeline fills in, the page throws no script error, and every request the page made went
// to the coordinator's own host:port. A screenshot is left in the test's temp dir. Then the API cancels the job
// for the right bearer token only, and the page shows it cancelled.
func TestDashboardBrowser(t *testing.T) {
	const apiToken = "e2e-api-token"
	if testing.Short() {
		t.Skip("starts servers, daemons and a browser")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (make setup installs Debian's chromium): %v", err)
	}
	e := newEnv(t)
	addr := testenv.FreeAddr(t)
	e.start("coordinator-d", e.coord, "serve", "--id", "d", "--work-dir", t.TempDir(), "--segment-seconds", "2",
		"--http-addr", addr, "--api-token", apiToken)
	e.worker("w1")
	e.worker("w2", "--max-memory", "3")
	waitProbe(t, "coordinator", addr, "/readyz", 200, "ok")
	target := makeTarget(t, t.TempDir(), 40)
	face := testenv.Face(t, "astronaut_eileen_collins.png")
	id := strings.TrimSpace(e.mustCLI(time.Minute, "submit", "-s", face, "-t", target, "--segment-seconds", "2"))
	if err := job.ValidateID(id); err != nil {
		t.Fatalf("submit printed %q: %v", id, err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(390, 844),
		chromedp.Flag("disable-component-update", true),
		// Belt and braces for the house's rule: the browser itself resolves no name but this machine's.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	var mu sync.Mutex
	var requests, exceptions []string
	listen := func(ev any) { // runs on the tab's reading goroutine: only note the event
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.URL)
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			exceptions = append(exceptions, fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, msg))
		}
	}
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf), chromedp.WithListener(listen))
	defer cancelTab()
	ctx, cancel := context.WithTimeout(ctx, 8*time.Minute) // a guard against a hang, not a timing assertion
	defer cancel()

	page := "http://" + addr + "/#" + id
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(page)); err != nil {
		t.Fatalf("open %s: %v", page, err)
	}

	bar := `(() => { const b = document.querySelector('progress.bar[data-job="` + id + `"]'); return b ? [b.value, b.max] : [-1, 0]; })()`
	first := evalUntil(t, ctx, "the job's bar part way", bar, func(v []float64) bool { return len(v) == 2 && v[0] > 0 && v[0] < v[1] })
	second := evalUntil(t, ctx, "the job's bar advancing", bar, func(v []float64) bool { return len(v) == 2 && v[0] > first[0] })
	t.Logf("progress bar: %v/%v frames, then %v", first[0], first[1], second[0])

	// Each card: the worker's RSS from its heartbeat, against its budget (w2) or its RAM (w1, which has none).
	mems := evalUntil(t, ctx, "a memory figure on each worker's card",
		`Array.from(document.querySelectorAll('.worker-card .gauge')).map(e => e.textContent)`,
		func(v []string) bool { return len(v) == 2 })
	for i, want := range []*regexp.Regexp{
		regexp.MustCompile(`^memory \(RSS / RAM\)\d+\.\d+ / \d+\.\d+ GB$`),
		regexp.MustCompile(`^memory \(RSS / budget\)0\.\d\d / 3\.0 GB$`),
	} {
		if !want.MatchString(mems[i]) {
			t.Errorf("worker w%d's card shows %q: want %s", i+1, mems[i], want)
		}
	}
	evalUntil(t, ctx, "the job's segment timeline", `document.querySelectorAll('#timeline .seg').length`,
		func(n int) bool { return n > 1 })

	// Usable on a phone: nothing is wider than the 390 px screen.
	if w, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`)); err != nil || w[0] > w[1] {
		t.Errorf("page width %v at 390 px (%v): want no horizontal scrolling", w, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	if err := os.WriteFile(shot, png, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))

	// The API cancels the job for the right bearer token only, and the page shows it.
	for _, c := range []struct {
		token string
		code  int
	}{{"", 401}, {"wrong", 401}, {apiToken, 200}} {
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/jobs/"+id+"/cancel", nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("cancel with token %q: %d, want %d", c.token, resp.StatusCode, c.code)
		}
	}
	evalUntil(t, ctx, "the job shown cancelled", `document.querySelector('.job[data-job="`+id+`"] .state').textContent`,
		func(s string) bool { return s == "cancelled" })

	mu.Lock()
	defer mu.Unlock()
	if len(exceptions) > 0 {
		t.Errorf("script errors on the page: %v", exceptions)
	}
	need := map[string]bool{"/": false, "/assets/app.js": false, "/assets/app.css": false, "/api/v1/events": false}
	for _, r := range requests {
		u, err := url.Parse(r)
		if err != nil || u.Scheme != "http" || u.Host != addr {
			t.Errorf("the page requested %q: want only http://%s", r, addr)
			continue
		}
		if _, ok := need[u.Path]; ok {
			need[u.Path] = true
		}
	}
	for p, seen := range need {
		if !seen {
			t.Errorf("the page never requested %s (requests %v)", p, requests)
		}
	}
}

// evalUntil evaluates expr on the page until ok accepts its value, and returns it; the test fails if ctx ends
// first.
func evalUntil[T any](t *testing.T, ctx context.Context, what, expr string, ok func(T) bool) T {
	t.Helper()
	var v T
	var err error
	for ctx.Err() == nil {
		if v, err = chromedp.Run(ctx, chromedp.Evaluate[T](expr)); err == nil && ok(v) {
			return v
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: never seen on the page (last %v, %v)", what, v, err)
	return v
}
