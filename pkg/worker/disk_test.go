package worker

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/job"
)

// holdLock starts a real process (flock(1), not forking, so the lock dies with the process it kills) that holds path's lock until the test ends or kill is called: a live
// worker that shares the work dir.
func holdLock(t *testing.T, path string) (kill func()) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("flock", "--exclusive", "--no-fork", path, "sh", "-c", "echo locked; exec sleep 600")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("flock(1): %v", err)
	}
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil { // the lock is held once it says so
		t.Fatal(err)
	}
	kill = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	t.Cleanup(kill)
	return kill
}

func mkfile(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestWorkDirLeftovers: a starting worker removes what dead workers (and its own earlier life) left in a shared
// work dir, never a live worker's files, and keeps its own directory private.
func TestWorkDirLeftovers(t *testing.T) {
	e := newEnv(t, 30*time.Second)
	work := filepath.Join(e.dir, "work")
	live := filepath.Join(work, "worker-live")
	killed := filepath.Join(work, "worker-killed")
	holdLock(t, filepath.Join(live, lockName))
	kill := holdLock(t, filepath.Join(killed, lockName))
	kill() // SIGKILL: the kernel drops its lock
	files := []struct {
		path string
		kept bool
	}{
		{filepath.Join(live, "jlive-00000-1", "segment.mkv"), true},
		{filepath.Join(live, sourcesDir, "jlive.png"), true},
		{filepath.Join(killed, "jkilled-00003-2", "result.mp4"), false},
		{filepath.Join(killed, sourcesDir, "jkilled.jpg"), false},
		{filepath.Join(work, "worker-nolock", "jx-00000-1", "segment.mkv"), false}, // died before locking
		{filepath.Join(work, "worker-me", "jold-00001-1", "segment.mkv"), false},   // this worker's earlier life
		{filepath.Join(work, "worker-me", sourcesDir, "jold.png"), false},
		{filepath.Join(work, sourcesDir, "jflat.png"), false},                    // the flat layout of older versions
		{filepath.Join(work, "jflat-00002-1", "segment.mkv"), false},             // ditto
		{filepath.Join(work, trashPrefix+"worker-x", "y", "segment.mkv"), false}, // a removal cut short
		{filepath.Join(work, "notes", "mine.txt"), true},                         // not a worker's
	}
	for _, f := range files {
		mkfile(t, f.path)
	}
	w, err := New(Config{ID: "me", WorkDir: work}, Deps{Tasks: e.tasks, State: e.state, Blob: e.blob,
		NewEngine: func() (Engine, error) { return &fakeEngine{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.dir.close(w.log)
	for _, f := range files {
		if exists(f.path) != f.kept {
			t.Errorf("%s: exists %v, want %v", f.path, !f.kept, f.kept)
		}
	}
	st, err := os.Stat(filepath.Join(work, "worker-me"))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("own dir: %v %v, want 0700", st.Mode(), err)
	}
	// An id is not a path: its directory stays under the work dir.
	w2, err := New(Config{ID: "../../escape", WorkDir: work}, Deps{Tasks: e.tasks, State: e.state, Blob: e.blob,
		NewEngine: func() (Engine, error) { return &fakeEngine{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(w2.dir.path) != work {
		t.Errorf("worker \"../../escape\" keeps its files in %s, outside %s", w2.dir.path, work)
	}
	w2.dir.close(w2.log)
	// The same id twice at once is refused: two workers must not clean each other's files.
	_, err = New(Config{ID: "me", WorkDir: work}, Deps{Tasks: e.tasks, State: e.state, Blob: e.blob,
		NewEngine: func() (Engine, error) { return &fakeEngine{}, nil }})
	if !errors.Is(err, ErrWorkDirInUse) {
		t.Fatalf("second worker with the same id: %v, want ErrWorkDirInUse", err)
	}
}

// TestSourceRemovedWhenJobEnds: a job's source face is kept, private, while the job runs and removed once the job
// ends, is deleted, or sends no task for SourceIdle; a stopped worker leaves nothing.
func TestSourceRemovedWhenJobEnds(t *testing.T) {
	cases := []struct {
		name  string
		state job.State // "" deletes the record
		idle  time.Duration
		kept  bool
	}{
		{"running", job.Running, time.Hour, true},
		{"done", job.Done, time.Hour, false},
		{"failed", job.Failed, time.Hour, false},
		{"cancelled", job.Cancelled, time.Hour, false},
		{"deleted", "", time.Hour, false},
		{"idle", job.Running, time.Nanosecond, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 30*time.Second)
			ctx := context.Background()
			task := e.publish(t, "jsrc-"+c.name)
			work := filepath.Join(e.dir, "work")
			w, err := New(Config{ID: "w1", WorkDir: work, FetchWait: 200 * time.Millisecond, SourceCheck: time.Hour,
				SourceIdle: c.idle}, Deps{Tasks: e.tasks, State: e.state, Blob: e.blob,
				NewEngine: func() (Engine, error) { return &fakeEngine{calls: new(atomic.Int32)}, nil }})
			if err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { _ = w.Run(rctx); close(done) }()
			defer func() { cancel(); <-done }()
			e.commit(t, task.Job)
			src := filepath.Join(work, "worker-w1", sourcesDir, task.Job+".png")
			st, err := os.Stat(src)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("cached source: %v %v, want 0600", st, err)
			}
			if c.state == "" {
				_ = e.state.Delete(ctx, job.RecordKey(task.Job))
			} else {
				b, _ := json.Marshal(job.Record{ID: task.Job, State: c.state})
				if _, err := e.state.Put(ctx, job.RecordKey(task.Job), b); err != nil {
					t.Fatal(err)
				}
			}
			w.sweepSources(ctx)
			if exists(src) != c.kept {
				t.Fatalf("source exists %v after the sweep, want %v", !c.kept, c.kept)
			}
			cancel()
			<-done
			if entries, _ := os.ReadDir(filepath.Join(work, "worker-w1")); len(entries) != 1 || entries[0].Name() != lockName {
				t.Fatalf("a stopped worker left %v", entries)
			}
		})
	}
}
