package queue_test

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/fault"
	"github.com/facefleet/facefleet/pkg/queue"
)

// TestServerGoneIsUnavailable shuts a real server down under a connected client: State and Tasks calls made with
// a context of no deadline (as a worker's are) fail with ErrUnavailable, a worker's own trouble (fault.ErrQueue),
// not with an error a caller would take for the task's. A KV miss stays ErrKeyNotFound and is not trouble. (Fetch
// returns no task and no error while the client reconnects: a worker just fetches again.)
func TestServerGoneIsUnavailable(t *testing.T) {
	srv := startServer(t, "")
	c := connect(t, srv)
	ctx := testCtx(t)
	tasks, err := c.Tasks(ctx, queue.TasksConfig{Stream: "T", Subjects: []string{"t.>"}, Consumer: "w", Storage: queue.StorageMemory})
	if err != nil {
		t.Fatal(err)
	}
	state, err := c.State(ctx, queue.StateConfig{Bucket: "s", Storage: queue.StorageMemory})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := state.Get(ctx, "missing"); !errors.Is(err, queue.ErrKeyNotFound) || fault.Of(err) != nil {
		t.Fatalf("a miss: %v (class %v)", err, fault.Of(err))
	}
	srv.Shutdown()
	bg := context.Background()
	ops := []struct {
		name string
		do   func() error
	}{
		{"Get", func() error { _, err := state.Get(bg, "k"); return err }},
		{"Put", func() error { _, err := state.Put(bg, "k", []byte("v")); return err }},
		{"Create", func() error { _, err := state.Create(bg, "c", []byte("v")); return err }},
		{"Publish", func() error { return tasks.Publish(bg, "t.1", "", []byte("x")) }},
	}
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops { // at once: each waits out the client's request timeout
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = op.do() }()
	}
	wg.Wait()
	for i, op := range ops {
		if err := errs[i]; !errors.Is(err, queue.ErrUnavailable) || fault.Of(err) != fault.ErrQueue {
			t.Errorf("%s with the server gone: %v (class %v)", op.name, err, fault.Of(err))
		}
	}
}

// TestBucketAfterRestart restarts a real server on the same port and store under a connected client. A file bucket
// keeps its values; a memory bucket (the fleet's heartbeats) is lost, and the next Put creates it again: before,
// every Put failed with "no response from stream" until some other process opened the bucket, so every
// coordinator and worker looked dead after a NATS restart.
func TestBucketAfterRestart(t *testing.T) {
	cases := []struct {
		storage string
		kept    bool // the value written before the restart is still there
	}{
		{queue.StorageFile, true},
		{queue.StorageMemory, false},
	}
	for _, tc := range cases {
		t.Run(tc.storage, func(t *testing.T) {
			dir := t.TempDir()
			srv := startServer(t, dir)
			u, err := url.Parse(srv.URL())
			if err != nil {
				t.Fatal(err)
			}
			port, _ := strconv.Atoi(u.Port())
			c := connect(t, srv)
			ctx := testCtx(t)
			state, err := c.State(ctx, queue.StateConfig{Bucket: "b", Storage: tc.storage})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := state.Put(ctx, "before", []byte("1")); err != nil {
				t.Fatal(err)
			}
			srv.Shutdown()
			again, err := queue.StartEmbedded(queue.EmbeddedConfig{Dir: dir, Port: port})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(again.Shutdown)
			var putErr error
			for range 20 { // the client reconnects within its reconnect wait; a Put made meanwhile may fail or hang
				pctx, cancel := context.WithTimeout(ctx, time.Second)
				_, putErr = state.Put(pctx, "after", []byte("2"))
				cancel()
				if putErr == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if putErr != nil {
				t.Fatalf("Put after the restart: %v", putErr)
			}
			if e, err := state.Get(ctx, "after"); err != nil || string(e.Value) != "2" {
				t.Errorf("Get after: %+v, %v", e, err)
			}
			_, err = state.Get(ctx, "before")
			if kept := err == nil; kept != tc.kept {
				t.Errorf("value written before the restart kept: %v (%v), want %v", kept, err, tc.kept)
			}
		})
	}
}
