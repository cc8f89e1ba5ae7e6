package cli

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/cluster"
	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/queue"
)

// copyFile copies src into dir and returns the copy's path.
func copyFile(t *testing.T, src, dir string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// submit -o must never write over an input, by whatever path it is named, and must find an output directory it
// cannot write before it uploads anything; the target is left as it was. run refuses the same.
func TestSubmitOutputRefused(t *testing.T) {
	shared := sharedDir()
	noConfigFile(t)
	dir := t.TempDir()
	face := copyFile(t, filepath.Join(shared, "assets", "faces", "astronaut_eileen_collins.png"), dir)
	video := copyFile(t, filepath.Join(shared, "assets", "videos", "pd_astronaut_zoompan_4s.mp4"), dir)
	before, _ := os.ReadFile(video)
	link := filepath.Join(dir, "link.mp4")
	hard := filepath.Join(dir, "hard.mp4")
	if err := os.Symlink(video, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(video, hard); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, out, want string
		wait            bool
	}{
		{"the target", video, "overwrite an input", true},
		{"the target without --wait", video, "overwrite an input", false},
		{"the target by another path", filepath.Join(dir, ".", "..", filepath.Base(dir), filepath.Base(video)), "overwrite an input", true},
		{"a symlink to the target", link, "overwrite an input", true},
		{"a hard link to the target", hard, "overwrite an input", true},
		{"the source", face, "overwrite an input", true},
		{"a missing directory", filepath.Join(dir, "nope", "out.mp4"), "does not exist", true},
		{"a read-only directory", "/proc/self/out.mp4", "not writable", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, store := embeddedCluster(t)
			args := append([]string{"submit", "-s", face, "-t", video, "-o", tc.out}, cl...)
			if tc.wait {
				args = append(args, "--wait")
			}
			err := execute(t, Coordinator(), args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v: want one line saying %q", err, tc.want)
			}
			if up := files(t, store); len(up) > 0 {
				t.Fatalf("refused, but uploaded %v", up)
			}
			if after, _ := os.ReadFile(video); string(after) != string(before) {
				t.Fatal("the target changed")
			}
			// run refuses the same outputs with the same check.
			err = execute(t, Coordinator(), "run", "-q", "-s", face, "-t", video, "-o", tc.out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run: error %v: want %q", err, tc.want)
			}
		})
	}
}

// lineWriter collects what a command writes and calls found once when a line holds want.
type lineWriter struct {
	mu    sync.Mutex
	b     strings.Builder
	want  string
	found func()
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if w.found != nil && strings.Contains(w.b.String(), w.want) {
		w.found()
		w.found = nil
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// A job queued while no coordinator runs says so, in one line, at submit, in status and in watch; -o alone follows
// the job (it implies --wait); once a coordinator's heartbeat is alive the note is gone.
func TestQueuedWithoutCoordinator(t *testing.T) {
	shared := sharedDir()
	noConfigFile(t)
	face := filepath.Join(shared, "assets", "faces", "astronaut_eileen_collins.png")
	video := filepath.Join(shared, "assets", "videos", "pd_astronaut_zoompan_4s.mp4")
	cl, _ := embeddedCluster(t)
	const note = "no coordinator is running (start `coordinator serve`)"

	// submit -o with no --wait: it prints the id, the note, and goes on waiting until it is stopped.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stdout, stderr := &lineWriter{}, &lineWriter{want: note, found: cancel}
	root := Coordinator()
	root.SetArgs(append([]string{"submit", "-s", face, "-t", video, "-o", filepath.Join(t.TempDir(), "out.mp4")}, cl...))
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if !strings.Contains(stderr.String(), note) {
		t.Fatalf("submit -o: %v; stderr:\n%s", err, stderr)
	}
	if err == nil {
		t.Fatal("submit -o returned without waiting for the job")
	}
	id := strings.TrimSpace(stdout.String())
	if id == "" || strings.Contains(id, "\n") {
		t.Fatalf("stdout %q: want the job id", id)
	}

	run := func(args ...string) string {
		t.Helper()
		root := Coordinator()
		var out strings.Builder
		root.SetArgs(append(args, cl...))
		root.SetOut(&out)
		root.SetErr(io.Discard)
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_ = root.ExecuteContext(ctx) // watch ends with the deadline: the job never starts
		return out.String()
	}
	for _, args := range [][]string{{"status", id}, {"status"}, {"watch", id}} {
		if out := run(args...); !strings.Contains(out, note) {
			t.Errorf("%s with no coordinator: %q, want the note", args, out)
		}
	}

	// A live coordinator heartbeat, as `coordinator serve` writes it.
	c, err := cluster.Open(context.Background(), cluster.Config{NATS: queue.ConnConfig{URL: cl[1]}, StoreDir: cl[3]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The default selector's person was found by submit, in the target, for every segment to follow.
	if e, err := c.State.Get(context.Background(), job.RecordKey(id)); err != nil {
		t.Fatal(err)
	} else if rec, err := job.DecodeRecord(id, e.Value); err != nil || rec.Submission == nil || rec.Submission.Spec.Face.Follow == nil {
		t.Fatalf("record %+v (%v): want the person to follow in its spec", rec.Submission, err)
	}
	key, _ := fleet.Key(fleet.KindCoordinator, "c1")
	hb, _ := json.Marshal(fleet.Heartbeat{Kind: fleet.KindCoordinator, ID: "c1", Updated: time.Now().UTC()})
	if _, err := c.Fleet.Put(context.Background(), key, hb); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"status", id}, {"status"}} {
		if out := run(args...); strings.Contains(out, "no coordinator") || !strings.Contains(out, id) {
			t.Errorf("%s with a coordinator: %q", args, out)
		}
	}
}
