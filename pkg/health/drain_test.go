package health

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// drainer is a Drainer whose drain settles when the test says so.
type drainer struct {
	calls   atomic.Int32
	once    sync.Once
	drained chan struct{}
}

func newDrainer() *drainer                  { return &drainer{drained: make(chan struct{})} }
func (d *drainer) Drain()                   { d.calls.Add(1) }
func (d *drainer) Drained() <-chan struct{} { return d.drained }
func (d *drainer) settle()                  { d.once.Do(func() { close(d.drained) }) }

func TestDrainHandler(t *testing.T) {
	d := newDrainer()
	s := New()
	s.Handle(DrainPath, DrainHandler(d))
	addr := serveReal(t, s)
	port := addr[strings.LastIndex(addr, ":")+1:]

	tests := []struct {
		name     string
		method   string
		addr     string // as given to RequestDrain
		wait     bool
		settle   bool // the drain settles while the request waits
		wantCode int
		wantBody string
	}{
		{name: "GET is refused", method: http.MethodGet, wantCode: 405},
		{name: "POST starts it", method: http.MethodPost, wantCode: 202, wantBody: "draining\n"},
		{name: "POST ?wait=1 answers once drained", method: http.MethodPost, wait: true, settle: true, wantCode: 200,
			wantBody: "drained\n"},
		{name: "RequestDrain to :PORT", addr: ":" + port},
		{name: "RequestDrain to localhost", addr: "localhost:" + port, wait: true},
		{name: "RequestDrain to 127.0.0.1", addr: "127.0.0.1:" + port, wait: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := d.calls.Load()
			if tc.addr != "" {
				if err := RequestDrain(context.Background(), tc.addr, tc.wait); err != nil {
					t.Fatal(err)
				}
				if d.calls.Load() != before+1 {
					t.Fatal("the drain was not started")
				}
				return
			}
			url := "http://" + addr + DrainPath
			if tc.wait {
				url += "?wait=1"
			}
			req, _ := http.NewRequest(tc.method, url, nil)
			type result struct {
				resp *http.Response
				err  error
			}
			got := make(chan result, 1)
			go func() { r, err := http.DefaultClient.Do(req); got <- result{r, err} }()
			if tc.settle {
				waitUntil(t, func() bool { return d.calls.Load() == before+1 })
				d.settle()
			}
			r := <-got
			if r.err != nil {
				t.Fatal(r.err)
			}
			defer r.resp.Body.Close()
			body, _ := io.ReadAll(r.resp.Body)
			if r.resp.StatusCode != tc.wantCode || (tc.wantBody != "" && string(body) != tc.wantBody) {
				t.Fatalf("%d %q, want %d %q", r.resp.StatusCode, body, tc.wantCode, tc.wantBody)
			}
			if started := d.calls.Load() != before; started != (tc.wantCode < 300) {
				t.Fatalf("drain started: %v", started)
			}
		})
	}
}

// TestDrainOnlyFromThisMachine: /drain answers only loopback peers, and RequestDrain dials only this machine.
// A peer on another address cannot be had here (the tests reach 127.0.0.0/8 only), so the handler is called with
// the request a remote peer would make.
func TestDrainOnlyFromThisMachine(t *testing.T) {
	for _, remote := range []string{"10.1.2.3:5555", "[2001:db8::1]:5555", "garbage"} {
		d := newDrainer()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, DrainPath, nil)
		req.RemoteAddr = remote
		DrainHandler(d).ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || d.calls.Load() != 0 {
			t.Errorf("from %s: %d, drain calls %d; want 403 and none", remote, rec.Code, d.calls.Load())
		}
	}
	for _, addr := range []string{"10.0.0.1:8080", "example.com:8080", "[::1]:8080", "[2001:db8::1]:8080"} {
		err := RequestDrain(context.Background(), addr, false)
		if !errors.Is(err, ErrNotLocal) || !strings.HasPrefix(err.Error(), "--http-addr "+addr+": ") {
			t.Errorf("RequestDrain(%s): %v, want ErrNotLocal naming the flag", addr, err)
		}
	}
	if err := RequestDrain(context.Background(), "8080", false); err == nil {
		t.Error("an address without a port was accepted")
	}
	// A port nobody serves: one line naming it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if err := RequestDrain(context.Background(), closed, false); err == nil || !strings.Contains(err.Error(), "drain "+closed) {
		t.Errorf("RequestDrain to a closed port: %v", err)
	}
}
