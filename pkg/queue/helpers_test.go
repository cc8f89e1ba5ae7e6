package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/queue"
)

func startServer(t *testing.T, dir string) *queue.Embedded {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	e, err := queue.StartEmbedded(queue.EmbeddedConfig{Dir: dir, Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func connect(t *testing.T, e *queue.Embedded) *queue.Conn {
	t.Helper()
	c, err := queue.Connect(context.Background(), queue.ConnConfig{URL: e.URL(), Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newTasks starts a server and returns a memory-backed queue on "facefleet.tasks.>", adjusted by mod.
func newTasks(t *testing.T, mod func(*queue.TasksConfig)) *queue.Tasks {
	t.Helper()
	tasks, _ := newTasksConn(t, mod)
	return tasks
}

func newTasksConn(t *testing.T, mod func(*queue.TasksConfig)) (*queue.Tasks, *queue.Conn) {
	t.Helper()
	c := connect(t, startServer(t, ""))
	cfg := queue.TasksConfig{
		Stream:   "FACEFLEET_TASKS",
		Subjects: []string{"facefleet.tasks.>"},
		Consumer: "workers",
		Storage:  queue.StorageMemory,
	}
	if mod != nil {
		mod(&cfg)
	}
	tasks, err := c.Tasks(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tasks, c
}

// streamMsgs is how many messages the tasks stream stores.
func streamMsgs(t *testing.T, c *queue.Conn) uint64 {
	t.Helper()
	s, err := c.JetStream().Stream(testCtx(t), "FACEFLEET_TASKS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func newState(t *testing.T, cfg queue.StateConfig) *queue.State {
	t.Helper()
	c := connect(t, startServer(t, ""))
	if cfg.Bucket == "" {
		cfg.Bucket = "facefleet_jobs"
	}
	if cfg.Storage == "" {
		cfg.Storage = queue.StorageMemory
	}
	s, err := c.State(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func publish(t *testing.T, tasks *queue.Tasks, subject, id, data string) {
	t.Helper()
	if err := tasks.Publish(testCtx(t), subject, id, []byte(data)); err != nil {
		t.Fatal(err)
	}
}

func fetch(t *testing.T, tasks *queue.Tasks, n int, wait time.Duration) []*queue.Lease {
	t.Helper()
	leases, err := tasks.Fetch(testCtx(t), n, wait)
	if err != nil {
		t.Fatal(err)
	}
	return leases
}

func ack(t *testing.T, l *queue.Lease) {
	t.Helper()
	if err := l.Ack(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func pending(t *testing.T, tasks *queue.Tasks) (int, int) {
	t.Helper()
	p, a, err := tasks.Pending(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return p, a
}

// fetchN fetches until it holds exactly n leases (Fetch may return fewer than are ready) or a Fetch comes back
// empty.
func fetchN(t *testing.T, tasks *queue.Tasks, n int, wait time.Duration) []*queue.Lease {
	t.Helper()
	var out []*queue.Lease
	for len(out) < n {
		got := fetch(t, tasks, n-len(out), wait)
		if len(got) == 0 {
			break
		}
		out = append(out, got...)
	}
	return out
}

// drain fetches until a Fetch with wait comes back empty.
func drain(t *testing.T, tasks *queue.Tasks, wait time.Duration) []*queue.Lease {
	t.Helper()
	var out []*queue.Lease
	for {
		got := fetch(t, tasks, 10, wait)
		if len(got) == 0 {
			return out
		}
		out = append(out, got...)
	}
}

// waitPending polls Pending until it reports wantPending and wantAck (-1: any), for up to 3 s. The consumer's
// counts trail the stream by a moment under load, so a single read right after a publish can be stale.
func waitPending(t *testing.T, tasks *queue.Tasks, wantPending, wantAck int) {
	t.Helper()
	var p, a int
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		p, a = pending(t, tasks)
		if p == wantPending && (wantAck < 0 || a == wantAck) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Pending = %d, %d; want %d, %d", p, a, wantPending, wantAck)
		}
	}
}

// waitStreamMsgs polls the tasks stream until it stores want messages, for up to 3 s.
func waitStreamMsgs(t *testing.T, c *queue.Conn, want uint64) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n := streamMsgs(t, c)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream stores %d messages, want %d", n, want)
		}
	}
}
