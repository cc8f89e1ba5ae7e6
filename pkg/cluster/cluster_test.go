package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/cluster"
	"github.com/facefleet/facefleet/pkg/queue"
)

// TestOpenReplicas opens the cluster on a real single nats-server: one replica works, more is one line naming the
// flag and saying why, before anything else runs.
func TestOpenReplicas(t *testing.T) {
	srv, err := queue.StartEmbedded(queue.EmbeddedConfig{Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	tests := []struct {
		replicas int
		want     string // "" = opens
	}{
		{replicas: 0},
		{replicas: 1},
		{replicas: 3, want: "--nats-replicas 3: the NATS server is not clustered: replicas > 1 need a NATS cluster with at least that many servers"},
		{replicas: 6, want: "--nats-replicas 6: want 1 to 5"},
	}
	for _, tc := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cl, err := cluster.Open(ctx, cluster.Config{NATS: queue.ConnConfig{URL: srv.URL()}, StoreDir: t.TempDir(),
			Replicas: tc.replicas}, nil)
		cancel()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("replicas %d: %v", tc.replicas, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("replicas %d: %v, want %q", tc.replicas, err, tc.want)
		}
		if err == nil {
			cl.Close()
		}
	}
}
