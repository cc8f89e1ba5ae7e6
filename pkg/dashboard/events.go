package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/facefleet/facefleet/pkg/job"
)

// Snapshot is one event of GET /api/v1/events: the jobs, the fleet and, with ?job=ID, that job's segments. A part
// that could not be read says why in Errors and is left empty; the stream goes on.
type Snapshot struct {
	Jobs    []Job      `json:"jobs"`
	Fleet   Fleet      `json:"fleet"`
	Job     *JobDetail `json:"job,omitempty"`
	Errors  []string   `json:"errors,omitempty"`
	Version int        `json:"version"` // the API's; bumped when a field changes meaning
}

// apiVersion is Snapshot.Version.
const apiVersion = 1

func (s *Server) snapshot(ctx context.Context, id string) Snapshot {
	snap := Snapshot{Jobs: []Job{}, Fleet: Fleet{Workers: []Worker{}}, Version: apiVersion}
	var err error
	if snap.Jobs, err = s.rd.jobs(ctx); err != nil {
		snap.Jobs, snap.Errors = []Job{}, append(snap.Errors, "jobs: "+oneLine(err))
	}
	f, hs, err := s.rd.fleet(ctx)
	if err != nil {
		snap.Errors = append(snap.Errors, "workers: "+oneLine(err))
	} else {
		snap.Fleet = f
	}
	if id != "" {
		if d, err := s.rd.detail(ctx, id, hs); err != nil {
			snap.Errors = append(snap.Errors, "job "+id+": "+oneLine(err))
		} else {
			snap.Job = &d
		}
	}
	return snap
}

// events streams Snapshots as server-sent events: one at once, then one whenever it changes (looked at every
// Interval), and a comment every keepAlive while nothing does. It ends when the client goes or the daemon stops.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("job")
	if id != "" {
		if err := job.ValidateID(id); err != nil {
			fail(w, http.StatusBadRequest, oneLine(err))
			return
		}
	}
	if s.streams.Add(1) > int64(s.cfg.MaxStreams) {
		s.streams.Add(-1)
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("too many event streams open (%d); poll %s instead", s.cfg.MaxStreams, JobsPath))
		return
	}
	defer s.streams.Add(-1)
	flusher, ok := w.(http.Flusher)
	if !ok {
		fail(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.done, cancel)
	defer stop()

	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	var last []byte
	quiet := time.Now()
	for {
		snap := s.snapshot(ctx, id)
		b, err := json.Marshal(snap)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil && !bytes.Equal(b, last):
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return
			}
			last, quiet = b, time.Now()
		case time.Since(quiet) >= keepAlive:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
			quiet = time.Now()
		}
		flusher.Flush()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
