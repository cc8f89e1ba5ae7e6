package queue_test

import (
	"context"
	"errors"
	"sync"
	"testing"

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
