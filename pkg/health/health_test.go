package health

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
)

func failing(msg string) func() error { return func() error { return errors.New(msg) } }
func passing() error                  { return nil }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestProbes(t *testing.T) {
	tests := []struct {
		name             string
		live, ready      []Check
		path             string
		wantCode         int
		wantBody         string
		wantJSONStatus   string
		wantFailingNames []string
	}{
		{name: "no checks", path: LivePath, wantCode: 200, wantBody: "ok\n", wantJSONStatus: "ok"},
		{name: "live ok", live: []Check{{"loop", passing}}, path: LivePath, wantCode: 200, wantBody: "ok\n", wantJSONStatus: "ok"},
		{name: "live stuck", live: []Check{{"loop", failing("main loop stuck")}}, path: LivePath, wantCode: 503,
			wantBody: "loop: main loop stuck\n", wantJSONStatus: "fail", wantFailingNames: []string{"loop"}},
		{name: "readiness ignores nothing liveness says", live: []Check{{"loop", failing("stuck")}},
			ready: []Check{{"nats", passing}}, path: ReadyPath, wantCode: 503, wantBody: "loop: stuck\n",
			wantJSONStatus: "fail", wantFailingNames: []string{"loop"}},
		{name: "liveness ignores readiness", live: []Check{{"loop", passing}}, ready: []Check{{"nats", failing("down")}},
			path: LivePath, wantCode: 200, wantBody: "ok\n", wantJSONStatus: "ok"},
		{name: "one line per failing check, in order, multi-line errors flattened",
			ready: []Check{{"nats", failing("not connected\n(reconnecting)")}, {"models", passing}, {"store", failing("connection refused")}},
			path:  ReadyPath, wantCode: 503, wantBody: "nats: not connected (reconnecting)\nstore: connection refused\n",
			wantJSONStatus: "fail", wantFailingNames: []string{"nats", "store"}},
		{name: "ready", ready: []Check{{"nats", passing}, {"store", passing}}, path: ReadyPath, wantCode: 200,
			wantBody: "ok\n", wantJSONStatus: "ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			for _, c := range tc.live {
				s.Live(c.Name, c.Err)
			}
			for _, c := range tc.ready {
				s.Ready(c.Name, c.Err)
			}
			base := "http://" + serveReal(t, s)
			code, body := get(t, base+tc.path)
			if code != tc.wantCode || body != tc.wantBody {
				t.Fatalf("%s: %d %q, want %d %q", tc.path, code, body, tc.wantCode, tc.wantBody)
			}
			code, body = get(t, base+tc.path+"?format=json")
			var rep Report
			if err := json.Unmarshal([]byte(body), &rep); err != nil || code != tc.wantCode || rep.Status != tc.wantJSONStatus {
				t.Fatalf("json: %d %q (%v)", code, body, err)
			}
			var failed []string
			for _, c := range rep.Checks {
				if !c.OK {
					failed = append(failed, c.Name)
				}
			}
			if strings.Join(failed, ",") != strings.Join(tc.wantFailingNames, ",") {
				t.Fatalf("json failing %v, want %v", failed, tc.wantFailingNames)
			}
		})
	}
}

// serveReal serves h on a free port of 127.0.0.1 through Serve and returns host:port.
func serveReal(t *testing.T, h http.Handler) string {
	t.Helper()
	for try := 0; try < 50; try++ {
		addr := testenv.FreeAddr(t)
		stop, err := Serve(addr, h)
		if err != nil {
			continue // taken meanwhile
		}
		t.Cleanup(stop)
		return addr
	}
	t.Fatal("no free port")
	return ""
}

func TestServeBadAddress(t *testing.T) {
	addr := serveReal(t, New())
	for _, bad := range []string{addr, "no-port", "127.0.0.1:99999"} {
		if _, err := Serve(bad, New()); err == nil || !strings.HasPrefix(err.Error(), "--http-addr "+bad+": ") {
			t.Errorf("Serve(%q): %v, want an error naming the flag", bad, err)
		}
	}
}

// TestServerExtends: a caller adds its own handler (issue 15's /metrics) to the probes' server.
func TestServerExtends(t *testing.T) {
	s := New()
	s.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "m 1\n") }))
	base := "http://" + serveReal(t, s)
	if code, body := get(t, base+"/metrics"); code != 200 || body != "m 1\n" {
		t.Fatalf("/metrics: %d %q", code, body)
	}
	if code, _ := get(t, base+"/nothing"); code != 404 {
		t.Fatalf("/nothing: %d", code)
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestBeat(t *testing.T) {
	tests := []struct {
		name        string
		ticks       bool
		after       time.Duration
		wantAlive   bool
		wantServing bool
	}{
		{name: "starting: alive, not serving", wantAlive: true},
		{name: "starting long: still alive (startup is readiness' business)", after: time.Hour, wantAlive: true},
		{name: "ticked just now", ticks: true, wantAlive: true, wantServing: true},
		{name: "ticked within the bound", ticks: true, after: time.Minute, wantAlive: true, wantServing: true},
		{name: "no tick past the bound", ticks: true, after: time.Minute + time.Second, wantServing: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)}
			b := NewBeat(time.Minute, c.now)
			if tc.ticks {
				b.Tick()
			}
			c.advance(tc.after)
			if err := b.Alive(); (err == nil) != tc.wantAlive {
				t.Fatalf("Alive: %v", err)
			} else if err != nil && !strings.Contains(err.Error(), "no turn for 1m1s (bound 1m0s)") {
				t.Fatalf("Alive says %q", err)
			}
			if err := b.Serving(); (err == nil) != tc.wantServing {
				t.Fatalf("Serving: %v", err)
			}
		})
	}
}

// TestPoll: the check runs in the background, never per read, and Err is its last answer.
func TestPoll(t *testing.T) {
	var calls atomic.Int32
	slow := StartPoll(time.Hour, func(context.Context) error { calls.Add(1); return errors.New("down") })
	waitUntil(t, func() bool { return slow.Err() != nil && slow.Err().Error() == "down" })
	for i := 0; i < 1000; i++ {
		_ = slow.Err()
	}
	slow.Stop()
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d checks for 1000 reads in one interval, want 1", n)
	}

	var up atomic.Bool
	p := StartPoll(5*time.Millisecond, func(context.Context) error {
		if up.Load() {
			return nil
		}
		return errors.New("down")
	})
	defer p.Stop()
	waitUntil(t, func() bool { return p.Err() != nil && p.Err().Error() == "down" })
	up.Store(true)
	waitUntil(t, func() bool { return p.Err() == nil })
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
