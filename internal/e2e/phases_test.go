package e2e

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/facefleet/facefleet/pkg/job"
)

// taskWatch notes when each job's first task was published, by a plain subscription beside the work-queue stream
// (a JetStream publish reaches core subscribers too; the stream deletes acked tasks, so it cannot be asked later).
type taskWatch struct {
	nc    *nats.Conn
	mu    sync.Mutex
	first map[string]time.Time
}

func (e *env) watchTasks(tb testing.TB) *taskWatch {
	tb.Helper()
	nc, err := nats.Connect(e.nats.URL, nats.UserInfo("facefleet", "s3cret-nats"))
	if err != nil {
		tb.Fatal(err)
	}
	w := &taskWatch{nc: nc, first: map[string]time.Time{}}
	if _, err := nc.Subscribe(job.SubjectAll, func(m *nats.Msg) {
		now := time.Now()
		parts := strings.Split(m.Subject, ".") // facefleet.tasks.<job>.<segment>
		if len(parts) != 4 {
			return
		}
		w.mu.Lock()
		if _, ok := w.first[parts[2]]; !ok {
			w.first[parts[2]] = now
		}
		w.mu.Unlock()
	}); err != nil {
		tb.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return w
}

// firstTask is when job id's first task was published (zero if none was seen).
func (w *taskWatch) firstTask(id string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first[id]
}

// tail is the time from a done job's last commit to its record saying done (written once the output and its
// provenance are stored), by the KV entries' own timestamps.
func (e *env) tail(tb testing.TB, id string) time.Duration {
	tb.Helper()
	ctx := context.Background()
	rec, err := e.cl.State.Get(ctx, job.RecordKey(id))
	if err != nil {
		tb.Fatal(err)
	}
	var last time.Time
	keys, err := e.cl.State.Keys(ctx, "commit."+id+".")
	if err != nil || len(keys) == 0 {
		tb.Fatalf("commits of %s: %v (%d)", id, err, len(keys))
	}
	for _, k := range keys {
		en, err := e.cl.State.Get(ctx, k)
		if err != nil {
			tb.Fatal(err)
		}
		if en.Created.After(last) {
			last = en.Created
		}
	}
	return rec.Created.Sub(last)
}

// loadAvg is the machine's one-minute load average (/proc/loadavg), for a benchmark to say how shared the machine was.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
