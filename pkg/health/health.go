// Package health serves a daemon's probes over HTTP: /healthz (liveness: its main loop turns) and /readyz
// (readiness: what it needs to take work answers), from checks the caller registers. The caller owns what each
// check looks at; this package only asks them and answers. Other handlers (a worker's /drain, later /metrics) go
// on the same mux (Handle).
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Paths the probes use; the Kubernetes manifests name the same.
const (
	LivePath  = "/healthz"
	ReadyPath = "/readyz"
	DrainPath = "/drain"
)

// Check is one named condition: Err returns nil when it holds, else why not (one line).
type Check struct {
	Name string
	Err  func() error
}

// Server answers the probes. It is an http.Handler; Serve listens on an address.
type Server struct {
	mux   *http.ServeMux
	mu    sync.Mutex
	live  []Check
	ready []Check
}

// New returns a Server with /healthz and /readyz and no checks yet (both answer ok).
func New() *Server {
	s := &Server{mux: http.NewServeMux()}
	s.mux.HandleFunc("GET "+LivePath, func(w http.ResponseWriter, r *http.Request) { answer(w, r, s.checks(&s.live)) })
	s.mux.HandleFunc("GET "+ReadyPath, func(w http.ResponseWriter, r *http.Request) { answer(w, r, s.checks(&s.ready)) })
	return s
}

// Live adds a liveness check: when it fails the process is stuck and is better restarted.
func (s *Server) Live(name string, err func() error) { s.add(&s.live, name, err) }

// Ready adds a readiness check: when it fails the process should not be given work, but may recover by itself.
// Every liveness check is a readiness check too.
func (s *Server) Ready(name string, err func() error) { s.add(&s.ready, name, err) }

func (s *Server) add(to *[]Check, name string, err func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*to = append(*to, Check{Name: name, Err: err})
}

func (s *Server) checks(which *[]Check) []Check {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]Check(nil), *which...)
	if which == &s.ready {
		out = append(append([]Check(nil), s.live...), out...)
	}
	return out
}

// Handle adds a handler to the server's mux (pattern as http.ServeMux's).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ServeHTTP serves the mux.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Result is one check's outcome, as ?format=json shows it.
type Result struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Report is a probe's answer as ?format=json shows it.
type Report struct {
	Status string   `json:"status"` // "ok" or "fail"
	Checks []Result `json:"checks"`
}

// Run asks every check, in order.
func Run(checks []Check) Report {
	rep := Report{Status: "ok", Checks: make([]Result, 0, len(checks))}
	for _, c := range checks {
		r := Result{Name: c.Name, OK: true}
		if err := c.Err(); err != nil {
			r.OK, r.Error, rep.Status = false, oneLine(err.Error()), "fail"
		}
		rep.Checks = append(rep.Checks, r)
	}
	return rep
}

// answer writes 200 "ok" or 503 with one "name: why" line per failing check; JSON with ?format=json.
func answer(w http.ResponseWriter, r *http.Request, checks []Check) {
	rep := Run(checks)
	code := http.StatusOK
	if rep.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Query().Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(rep)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	if code == http.StatusOK {
		fmt.Fprintln(w, "ok")
		return
	}
	for _, c := range rep.Checks {
		if !c.OK {
			fmt.Fprintf(w, "%s: %s\n", c.Name, c.Error)
		}
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// shutdownWait bounds how long Serve's stop waits for requests in flight (a drain request waiting for the drain).
const shutdownWait = 2 * time.Second

// Serve listens on addr (host:port; ":8080" listens on every interface, as a pod's probes need) and serves h until
// the returned stop is called. The listen happens here, so a bad or busy address is an error at start.
func Serve(addr string, h http.Handler) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http-addr %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // ErrServerClosed once stop is called
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
}

// Addr is the address a listener on addr is reached at from this machine: ":8080", "0.0.0.0:8080" and
// "localhost:8080" are 127.0.0.1:8080.
func Addr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--http-addr %s: want host:port (e.g. 127.0.0.1:8080)", addr)
	}
	if host == "" || host == "0.0.0.0" || host == "::" || host == "localhost" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// errStarting is what a Beat's serving check says before the loop's first turn.
var errStarting = errors.New("starting")
