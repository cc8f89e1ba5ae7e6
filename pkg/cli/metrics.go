package cli

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/facefleet/facefleet/pkg/cluster"
	"github.com/facefleet/facefleet/pkg/health"
	"github.com/facefleet/facefleet/pkg/metrics"
	"github.com/facefleet/facefleet/pkg/store"
)

// metricsRegistry is a daemon's metrics registry, served at /metrics beside its probes (serveMetrics); nil without
// --http-addr: nothing is collected then.
func metricsRegistry(addr string) *prometheus.Registry {
	if addr == "" {
		return nil
	}
	return metrics.NewRegistry()
}

// serveMetrics serves reg at /metrics on the probes' server and counts the bytes cl's store moves into s.
func serveMetrics(srv *health.Server, reg *prometheus.Registry, cl *cluster.Cluster, s *metrics.Store) {
	if reg == nil {
		return
	}
	srv.Handle("GET "+metrics.Path, metrics.Handler(reg))
	cl.Blob = store.Counted(cl.Blob, s.Up, s.Down)
}
