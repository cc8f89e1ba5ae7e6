package coordinator

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/store"
)

// heldDownload is a real S3 store (versitygw) whose GetFile of a job's target is held until release closes
// (started says it began): a target download that has not ended yet. It hands out URLs as S3 does.
type heldDownload struct {
	*store.S3
	started, release chan struct{}
	once             sync.Once
}

func (h *heldDownload) GetFile(ctx context.Context, key, path string) error {
	if strings.Contains(key, "/input/target") {
		h.once.Do(func() { close(h.started) })
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return h.S3.GetFile(ctx, key, path)
}

// inPlaceTarget makes a 3 s target (25 fps, a keyframe every second, AAC audio) in the container of ext.
func inPlaceTarget(t *testing.T, ext string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clip"+ext)
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=3",
		"-f", "lavfi", "-i", "sine=d=3", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-shortest", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	return p
}

// lyingSyncTable is target with its sync-sample table naming sample 63 (not a keyframe) instead of 51: the plan
// cuts at the lie, which the cut cannot keep.
func lyingSyncTable(t *testing.T, target string) string {
	t.Helper()
	data, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(data, []byte("stss"))
	if at < 0 || binary.BigEndian.Uint32(data[at+8:]) != 3 || binary.BigEndian.Uint32(data[at+12+8:]) != 51 {
		t.Fatalf("unexpected stss in %s", target)
	}
	binary.BigEndian.PutUint32(data[at+12+8:], 63)
	p := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSplitReadsStoredTargetInPlace: on the cluster path (S3 = versitygw) the coordinator reads an MP4 target in
// place, by URL, and queues its first task while the target's download is still held (before, the split began
// only once the download had ended: this test waited for a first task until its deadline), the download starting
// only once every task is queued (it took the cores and the disk from the split); the job then finishes
// with every frame. A matroska target (no MP4 index) is split from the download as before. A target whose index
// lies fails the job with the user's file named, and no URL (credentials) in what the user reads.
func TestSplitReadsStoredTargetInPlace(t *testing.T) {
	srv := testenv.StartS3(t, testenv.S3Options{})
	mp4 := inPlaceTarget(t, ".mp4")
	for i, c := range []struct {
		name, target        string
		firstBeforeDownload bool   // the first task is queued while the download is held
		fails               string // what the failed job's error says; "" for a job that must finish
	}{
		{"mp4 read in place", mp4, true, ""},
		{"matroska from the download", inPlaceTarget(t, ".mkv"), false, ""},
		{"mp4 whose index lies", lyingSyncTable(t, mp4), true, "clip.mp4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s3, err := store.NewS3(bctx, store.S3Config{Endpoint: srv.Endpoint, Bucket: "inplace-" + string(rune('a'+i)),
				AccessKey: srv.AccessKey, SecretKey: srv.Secret, CreateBucket: true})
			if err != nil {
				t.Fatal(err)
			}
			held := &heldDownload{S3: s3, started: make(chan struct{}), release: make(chan struct{})}
			e, ctx := newServiceEnvBlob(t, held)
			ext := filepath.Ext(c.target)
			id := job.NewID()
			sub := &job.Submission{SourceKey: job.InputKey(id, "source", ".png"), TargetKey: job.InputKey(id, "target", ext),
				SourceName: "face.png", TargetName: "clip" + ext, OutputExt: ".mp4", SegmentSeconds: 1}
			if err := s3.PutFile(ctx, sub.TargetKey, c.target); err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(job.Record{ID: id, State: job.Queued, Submission: sub})
			if _, err := e.state.Create(ctx, job.RecordKey(id), b); err != nil {
				t.Fatal(err)
			}
			if c.fails == "" { // a job that fails in its split never needs the file
				select {
				case <-held.started:
				case <-ctx.Done():
					t.Fatal("the target's download never started")
				}
			}
			if c.firstBeforeDownload && c.fails == "" {
				// Read in place, the download waits for the split: every task is out before it starts.
				for n := 0; n < 3; n++ {
					if has, err := e.tasks.Has(ctx, job.TaskSubject(id, n)); err != nil || !has {
						t.Fatalf("segment %d not queued when the download started (%v)", n, err)
					}
				}
			}
			if c.firstBeforeDownload {
				for has := false; !has; {
					if has, err = e.tasks.Has(ctx, job.TaskSubject(id, 0)); err != nil {
						t.Fatalf("no first task while the download is held: %v", err)
					}
					if r := e.record(t, ctx, id); r.State.Terminal() {
						break // the lying target: failed before or after its first task
					}
				}
			}
			close(held.release)
			if c.fails != "" {
				r := e.until(t, ctx, id, "failed", func(r job.Record) bool { return r.State.Terminal() })
				t.Logf("the job failed: %s", r.Error)
				if r.State != job.Failed || !strings.Contains(r.Error, c.fails) || strings.Contains(r.Error, "http") ||
					strings.Contains(r.Error, "X-Amz") {
					t.Fatalf("record %s (%q), want failed naming %s and no URL", r.State, r.Error, c.fails)
				}
				return
			}
			for n := 0; n < 3; n++ {
				playWorker(t, ctx, e)
			}
			r := waitEnded(ctx, t, e, id)
			if r.State != job.Done {
				t.Fatalf("record %s (%s), want done", r.State, r.Error)
			}
			out := filepath.Join(t.TempDir(), "out.mp4")
			if err := e.blob.GetFile(ctx, r.OutputKey, out); err != nil {
				t.Fatal(err)
			}
			if idx, err := media.ScanFrames(ctx, out); err != nil || idx.Count != 75 {
				t.Fatalf("output: %v, %v; want the target's 75 frames", idx, err)
			}
		})
	}
}

// TestFetcherClose: a job that ends while its target still downloads stops the download and waits for it, so that
// nothing writes into the job's directory afterwards; a later call starts the download again and gets the file.
func TestFetcherClose(t *testing.T) {
	srv := testenv.StartS3(t, testenv.S3Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s3, err := store.NewS3(ctx, store.S3Config{Endpoint: srv.Endpoint, Bucket: "fetcher", AccessKey: srv.AccessKey,
		SecretKey: srv.Secret, CreateBucket: true})
	if err != nil {
		t.Fatal(err)
	}
	key := job.InputKey(job.NewID(), "target", ".mp4")
	if err := s3.PutFile(ctx, key, inPlaceTarget(t, ".mp4")); err != nil {
		t.Fatal(err)
	}
	held := &heldDownload{S3: s3, started: make(chan struct{}), release: make(chan struct{})}
	f := &fetcher{blob: held, key: key, path: filepath.Join(t.TempDir(), "target.mp4"), name: "clip.mp4", log: zap.NewNop()}
	f.start(ctx)
	<-held.started
	f.close() // returns only once the held download has given up
	if _, err := os.Stat(f.path); !os.IsNotExist(err) {
		t.Fatalf("a closed download left %s: %v", f.path, err)
	}
	close(held.release)
	p, err := f.file(ctx)
	if err != nil {
		t.Fatalf("the download after a stopped one: %v", err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
		t.Fatalf("downloaded %s: %v", p, err)
	}
	f.close()
}
