// Package metrics holds Facefleet's Prometheus metrics: their names, help and buckets, each registered on a
// registry of the process's own (never the client's global one, so tests and the in-process `run` never collide),
// and the /metrics handler. Callers hold a *Coordinator or *Worker; a nil one collects nothing, so library callers
// and `run` pay nothing. Sampled figures (memory, queue depth) are read at scrape time by the collectors here, from
// functions the caller passes in: no goroutine of ours samples anything.
package metrics

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/facefleet/facefleet/pkg/version"
)

// Path is where the metrics are served, on the health server's listener (--http-addr).
const Path = "/metrics"

// Namespace prefixes every Facefleet metric.
const Namespace = "facefleet"

// NewRegistry is a process's registry: the client's Go and process collectors and facefleet_build_info.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "build_info",
		Help: "Always 1; the build's version line (module, revision, Go) is its label."}, []string{"version"})
	build.WithLabelValues(strings.TrimPrefix(version.String(), "facefleet ")).Set(1)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), build)
	return reg
}

// Handler serves reg's metrics in the text exposition format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// Store counts the bytes a blob store moved (store.Counted reports to Up and Down). Coordinator and Worker each
// have one.
type Store struct {
	bytes *prometheus.CounterVec
}

func newStore(reg prometheus.Registerer) *Store {
	s := &Store{bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "store_bytes_total",
		Help: "Bytes moved to (up) and from (down) the blob store by whole-file transfers."}, []string{"direction"})}
	s.bytes.WithLabelValues("up")
	s.bytes.WithLabelValues("down")
	reg.MustRegister(s.bytes)
	return s
}

// Up counts n bytes stored. A nil Store does nothing.
func (s *Store) Up(n int64) { s.add("up", n) }

// Down counts n bytes fetched. A nil Store does nothing.
func (s *Store) Down(n int64) { s.add("down", n) }

func (s *Store) add(direction string, n int64) {
	if s != nil && n > 0 {
		s.bytes.WithLabelValues(direction).Add(float64(n))
	}
}

// durations are the buckets of the step histograms (split, stitch, a segment): 0.5 s to about 70 min.
var durations = prometheus.ExponentialBuckets(0.5, 2, 14)
