// Package dashboard serves the coordinator's status API (jobs, one job's segments, the fleet's heartbeats, a stream
// of server-sent events) and the live web page built on it, from files embedded in the binary. Everything it shows
// is read from the cluster's KV buckets through pkg/client and pkg/fleet, as `coordinator status` and `workers`
// read it; it holds no state of its own. Writes (cancel, delete) need the configured bearer token.
package dashboard

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/facefleet/facefleet/pkg/client"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/queue"
)

// Paths the dashboard serves; every one goes on the daemon's health listener.
const (
	APIPrefix  = "/api/v1/"
	JobsPath   = "/api/v1/jobs"
	WorkerPath = "/api/v1/workers"
	EventsPath = "/api/v1/events"
	AssetsPath = "/assets/"
)

// CSP is the page's Content-Security-Policy: nothing loads from anywhere but the coordinator itself, and no inline
// script or style runs.
const CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

//go:embed assets
var assets embed.FS

// files are the only files served, by their name under /assets/ (the page itself at /): nothing is looked up by a
// path the request names.
var files = map[string]string{
	"index.html": "text/html; charset=utf-8",
	"app.css":    "text/css; charset=utf-8",
	"app.js":     "text/javascript; charset=utf-8",
}

// Config configures the dashboard.
type Config struct {
	// Token is the bearer token writes need; "" refuses every write.
	Token string
	// Interval is how often an event stream looks for changes; 0 means DefaultInterval.
	Interval time.Duration
	// MaxStreams bounds the event streams open at once (each reads the buckets every Interval); 0 means
	// DefaultMaxStreams.
	MaxStreams int
}

// Defaults of Config.
const (
	DefaultInterval   = time.Second
	DefaultMaxStreams = 32
	// keepAlive is how often an idle event stream sends a comment, so that proxies keep it open.
	keepAlive = 15 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	return c
}

// Validate reports a configuration New cannot use.
func (c Config) Validate() error {
	if c.Interval < 0 || c.MaxStreams < 0 {
		return errors.New("dashboard: negative Interval or MaxStreams")
	}
	return nil
}

// Deps are the cluster's handles the dashboard reads (and, with the token, changes through Client).
type Deps struct {
	Client *client.Client
	State  *queue.State // jobs, plans, commits, progress (Client.State)
	Fleet  *queue.State // heartbeats
	Tasks  *queue.Tasks // nil: no queue figures, no "queued" segments
	// Done ends the event streams (the daemon is stopping), so that the HTTP server's shutdown need not wait.
	Done context.Context
}

// Server serves the API and the page.
type Server struct {
	cfg     Config
	rd      reader
	done    context.Context
	streams atomic.Int64
}

// New returns a dashboard; Register puts its routes on a mux.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Client == nil || deps.State == nil || deps.Fleet == nil {
		return nil, errors.New("dashboard: Client, State and Fleet are required")
	}
	done := deps.Done
	if done == nil {
		done = context.Background()
	}
	return &Server{cfg: cfg.withDefaults(), rd: reader{deps: deps, now: time.Now}, done: done}, nil
}

// Register adds the dashboard's routes to mux (pkg/health's Server.Handle, or an http.ServeMux's).
func (s *Server) Register(handle func(pattern string, h http.Handler)) {
	for _, r := range []struct {
		pattern string
		h       http.HandlerFunc
	}{
		{"GET /{$}", s.page},
		{"GET " + AssetsPath + "{name}", s.asset},
		{"GET " + JobsPath, s.listJobs},
		{"GET " + JobsPath + "/{id}", s.getJob},
		{"POST " + JobsPath + "/{id}/cancel", s.write(s.cancel)},
		{"DELETE " + JobsPath + "/{id}", s.write(s.delete)},
		{"GET " + WorkerPath, s.workers},
		{"GET " + EventsPath, s.events},
		{APIPrefix, func(w http.ResponseWriter, r *http.Request) { fail(w, http.StatusNotFound, "no such API path") }},
	} {
		handle(r.pattern, secure(r.h))
	}
}

// secure sets the headers every answer carries.
func secure(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", CSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		h(w, r)
	})
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) { s.serveFile(w, "index.html") }

func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "index.html" {
		name = "" // the page is at /
	}
	s.serveFile(w, name)
}

// serveFile writes one of files; any other name is 404, whatever it looks like.
func (s *Server) serveFile(w http.ResponseWriter, name string) {
	ctype, ok := files[name]
	if !ok {
		http.NotFound(w, nil)
		return
	}
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		http.Error(w, "missing asset", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ctype)
	_, _ = w.Write(b)
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	js, err := s.rd.jobs(r.Context())
	if err != nil {
		fail(w, http.StatusBadGateway, oneLine(err))
		return
	}
	reply(w, http.StatusOK, struct {
		Jobs []Job `json:"jobs"`
	}{js})
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := job.ValidateID(id); err != nil {
		fail(w, http.StatusBadRequest, oneLine(err))
		return
	}
	_, hs, err := s.rd.fleet(r.Context())
	if err != nil {
		hs = nil // segments are shown without their workers rather than not at all
	}
	d, err := s.rd.detail(r.Context(), id, hs)
	if err != nil {
		fail(w, statusOf(err), oneLine(err))
		return
	}
	reply(w, http.StatusOK, d)
}

func (s *Server) workers(w http.ResponseWriter, r *http.Request) {
	f, _, err := s.rd.fleet(r.Context())
	if err != nil {
		fail(w, http.StatusBadGateway, oneLine(err))
		return
	}
	reply(w, http.StatusOK, f)
}

func (s *Server) cancel(ctx context.Context, id string) error {
	return s.rd.deps.Client.Cancel(ctx, id)
}
func (s *Server) delete(ctx context.Context, id string) error {
	return s.rd.deps.Client.Delete(ctx, id)
}

// write guards a change to job {id}: the configured token must come as "Authorization: Bearer <token>". Without a
// configured token every write is refused (403); a missing or wrong one is 401.
func (s *Server) write(do func(ctx context.Context, id string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token == "" {
			fail(w, http.StatusForbidden, "writes are disabled: the coordinator was started without --api-token")
			return
		}
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="facefleet"`)
			fail(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		id := r.PathValue("id")
		if err := job.ValidateID(id); err != nil {
			fail(w, http.StatusBadRequest, oneLine(err))
			return
		}
		if err := do(r.Context(), id); err != nil {
			fail(w, statusOf(err), oneLine(err))
			return
		}
		reply(w, http.StatusOK, struct {
			ID string `json:"id"`
			OK bool   `json:"ok"`
		}{id, true})
	}
}

// authorized compares the request's bearer token with the configured one in constant time (hashed first, so that
// not even the length leaks).
func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(s.cfg.Token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1 && ok
}

// statusOf maps the client's sentinels to HTTP.
func statusOf(err error) int {
	switch {
	case errors.Is(err, client.ErrNoJob):
		return http.StatusNotFound
	case errors.Is(err, job.ErrInvalidID):
		return http.StatusBadRequest
	case errors.Is(err, client.ErrTerminal), errors.Is(err, client.ErrNotEnded), errors.Is(err, job.ErrInvalid):
		return http.StatusConflict
	}
	return http.StatusBadGateway // the cluster's trouble, not the request's
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers {"error": msg} on one line.
func fail(w http.ResponseWriter, code int, msg string) {
	reply(w, code, struct {
		Error string `json:"error"`
	}{msg})
}
