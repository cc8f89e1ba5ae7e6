package queue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/queue"
)

func tasksConfig(replicas int) queue.TasksConfig {
	return queue.TasksConfig{Stream: "FACEFLEET_TASKS", Subjects: []string{"facefleet.tasks.>"}, Consumer: "workers",
		Replicas: replicas}
}

// replicasOf is how many replicas a stream has, as the server says.
func replicasOf(t *testing.T, c *queue.Conn, stream string) int {
	t.Helper()
	s, err := c.JetStream().Stream(testCtx(t), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.Config.Replicas
}

// TestReplicasSingleServer: a single nats-server keeps one copy. Asking it for one works (0 means 1), asking for
// three is ErrReplicasUnsupported for the stream and for a bucket, and a count JetStream cannot have is refused
// before anything is asked.
func TestReplicasSingleServer(t *testing.T) {
	c := connect(t, startServer(t, ""))
	tests := []struct {
		replicas int
		want     error // nil: created with one replica
		invalid  bool
	}{
		{replicas: 0},
		{replicas: 1},
		{replicas: 3, want: queue.ErrReplicasUnsupported},
		{replicas: 6, invalid: true},
		{replicas: -1, invalid: true},
	}
	for _, tc := range tests {
		_, terr := c.Tasks(testCtx(t), tasksConfig(tc.replicas))
		_, serr := c.State(testCtx(t), queue.StateConfig{Bucket: "facefleet", Replicas: tc.replicas})
		for what, err := range map[string]error{"tasks": terr, "state": serr} {
			switch {
			case tc.invalid:
				if err == nil || !strings.Contains(err.Error(), "Replicas") {
					t.Errorf("%s replicas %d: %v, want a config error", what, tc.replicas, err)
				}
			case tc.want != nil:
				if !errors.Is(err, tc.want) || strings.Contains(err.Error(), "\n") {
					t.Errorf("%s replicas %d: %v, want %v in one line", what, tc.replicas, err, tc.want)
				}
			case err != nil:
				t.Errorf("%s replicas %d: %v", what, tc.replicas, err)
			}
		}
	}
	if got := replicasOf(t, c, "FACEFLEET_TASKS"); got != 1 {
		t.Fatalf("stream has %d replicas, want 1", got)
	}
}

// TestReplicasCluster runs a real three-server NATS cluster: a stream and buckets made with one replica (as every
// release before --nats-replicas made them) get three when opened again with three, and keep three when a process
// opens them with one (a client started without the fleet's flag must not scale the fleet's stream down).
func TestReplicasCluster(t *testing.T) {
	cl := testenv.StartNATSCluster(t, 3)
	c, err := queue.Connect(context.Background(), queue.ConnConfig{URL: cl.URL, Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buckets := []queue.StateConfig{{Bucket: "facefleet"}, {Bucket: "facefleet_fleet", TTL: 15 * time.Second, Storage: queue.StorageMemory}}
	steps := []struct {
		open, want int
	}{
		{open: 1, want: 1},
		{open: 3, want: 3},
		{open: 1, want: 3},
		{open: 0, want: 3},
	}
	for i, st := range steps {
		tasks, err := c.Tasks(testCtx(t), tasksConfig(st.open))
		if err != nil {
			t.Fatalf("tasks with %d replicas: %v", st.open, err)
		}
		if got := replicasOf(t, c, "FACEFLEET_TASKS"); got != st.want {
			t.Fatalf("opened with %d: the stream has %d replicas, want %d", st.open, got, st.want)
		}
		for _, b := range buckets {
			b.Replicas = st.open
			s, err := c.State(testCtx(t), b)
			if err != nil {
				t.Fatalf("bucket %s with %d replicas: %v", b.Bucket, st.open, err)
			}
			if got := replicasOf(t, c, "KV_"+b.Bucket); got != st.want {
				t.Fatalf("opened with %d: bucket %s has %d replicas, want %d", st.open, b.Bucket, got, st.want)
			}
			// The bucket works at its replica count: a compare-and-set create, then a conflicting one.
			key := fmt.Sprintf("k%d", i)
			if _, err := s.Create(testCtx(t), key, []byte("v")); err != nil {
				t.Fatalf("create in %s: %v", b.Bucket, err)
			}
			if _, err := s.Create(testCtx(t), key, []byte("v")); !errors.Is(err, queue.ErrKeyExists) {
				t.Fatalf("second create in %s: %v, want ErrKeyExists", b.Bucket, err)
			}
		}
		if err := tasks.Publish(testCtx(t), "facefleet.tasks.j.0", "", []byte("t")); err != nil {
			t.Fatalf("publish at %d replicas: %v", st.want, err)
		}
	}
}
