package fleet_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/queue"
)

// newState starts an in-process nats-server on a random port and opens the heartbeat bucket with ttl.
func newState(t *testing.T, ttl time.Duration) *queue.State {
	t.Helper()
	e, err := queue.StartEmbedded(queue.EmbeddedConfig{Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	c, err := queue.Connect(testCtx(t), queue.ConnConfig{URL: e.URL(), Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := fleet.BucketConfig(0)
	cfg.TTL = ttl
	s, err := c.State(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// selfSnapshot is what a worker's snapshot function returns: this machine as HostInfo reads it.
func selfSnapshot(kind, id string) func() fleet.Heartbeat {
	host, _ := os.Hostname()
	return func() fleet.Heartbeat {
		cpus, ramTotal, ramFree, gpus := fleet.HostInfo()
		return fleet.Heartbeat{Kind: kind, ID: id, Host: host, PID: os.Getpid(), Version: "test", CPUs: cpus,
			RAMTotal: ramTotal, RAMFree: ramFree, GPUs: gpus, Providers: []string{"cpu"}, Slots: 1}
	}
}

// startPublisher runs a publisher until the returned stop is called (or the test ends); stop waits for Run to
// return and fails the test on its error.
func startPublisher(t *testing.T, s *queue.State, interval time.Duration, snapshot func() fleet.Heartbeat) (stop func()) {
	t.Helper()
	p, err := fleet.NewPublisher(fleet.PublisherConfig{Interval: interval}, s, snapshot, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return within 5s of cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

// putRecord writes a record the way a publisher would, once: a process that then dies leaves it to the TTL.
func putRecord(t *testing.T, s *queue.State, h fleet.Heartbeat) {
	t.Helper()
	key, err := fleet.Key(h.Kind, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(testCtx(t), key, b); err != nil {
		t.Fatal(err)
	}
}

func list(t *testing.T, s *queue.State, kind string) []fleet.Heartbeat {
	t.Helper()
	hs, bad, err := fleet.List(testCtx(t), s, kind)
	if err != nil || len(bad) > 0 {
		t.Fatalf("List: %v, unreadable %+v", err, bad)
	}
	return hs
}

func ids(hs []fleet.Heartbeat) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.ID)
	}
	return out
}

// waitFor polls cond every 20 ms until it holds, for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", d, what)
		}
	}
}
