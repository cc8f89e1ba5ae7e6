package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/provenance"
	"github.com/facefleet/facefleet/pkg/store"
)

// streamView is ffprobe's codec type, duration and frame count of each stream of path.
func streamView(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,duration,nb_frames",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	return string(out)
}

// TestProgressiveStitch: a job's output is stitched as its results commit in segment order (the output's partial
// file is in the work dir before the last commit, which Stitch at the end never wrote), stored through a
// multipart upload, and is what Stitch makes of the same results with the target's audio (streams, durations,
// frame counts); its provenance hash is the stored file's; an incomplete upload to the output's key that a killed
// coordinator left is aborted, and none is left behind.
func TestProgressiveStitch(t *testing.T) {
	work := t.TempDir()
	local, err := store.NewLocal(store.LocalConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	watched := &watchedComplete{Local: local, work: work, seen: make(chan []string, 1)}
	e, ctx := newServiceEnvBlob(t, watched, func(c *ServiceConfig) { c.WorkDir = work })
	target := filepath.Join(t.TempDir(), "clip.mp4") // three segments of 25 frames, with audio
	if out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=3",
		"-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:d=3", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
		"-c:a", "aac", target).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	id := job.NewID()
	outKey := job.OutputKey(id, ".mp4")
	stale, err := store.NewUpload(ctx, e.blob, outKey) // a killed coordinator's upload
	if err != nil {
		t.Fatal(err)
	}
	if err := stale.PutPart(ctx, 2, store.PartSize, strings.NewReader("old"), 3); err != nil {
		t.Fatal(err)
	}
	sub := &job.Submission{SourceKey: job.InputKey(id, "source", ".png"), TargetKey: job.InputKey(id, "target", ".mp4"),
		SourceName: "face.png", TargetName: "clip.mp4", OutputExt: ".mp4", SegmentSeconds: 1}
	if err := e.blob.PutFile(ctx, sub.TargetKey, target); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(job.Record{ID: id, State: job.Queued, Submission: sub})
	if _, err := e.state.Create(ctx, job.RecordKey(id), b); err != nil {
		t.Fatal(err)
	}

	var tasks []job.Task
	for len(tasks) < 3 {
		leases, err := e.tasks.Fetch(ctx, 3, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range leases {
			task, err := job.DecodeTask(l.Data())
			if err != nil {
				t.Fatal(err)
			}
			tasks = append(tasks, task)
			_ = l.Ack(ctx)
		}
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].Segment.Index < tasks[j].Segment.Index })
	dir := t.TempDir()
	var results []string
	for _, task := range tasks {
		seg := task.Segment
		piece, result := filepath.Join(dir, "piece.mkv"), filepath.Join(dir, "result-"+string(rune('0'+seg.Index))+".mp4")
		if err := e.blob.GetFile(ctx, task.SegmentKey, piece); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", piece,
			"-c:v", "libx264", "-preset", "ultrafast", result).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v %s", err, out)
		}
		results = append(results, result)
		if seg.Index == len(tasks)-1 { // the output must have begun before the last commit
			for found := false; !found; {
				_ = filepath.WalkDir(work, func(p string, d fs.DirEntry, err error) error {
					found = found || err == nil && d.Name() == ".output.mp4.partial"
					return nil
				})
				if ctx.Err() != nil {
					t.Fatal("no output stitched before the last commit")
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		key := job.ResultKey(id, seg.Index, 0, 1)
		if err := e.blob.PutFile(ctx, key, result); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(job.Commit{Job: id, Segment: seg.Index, Attempt: 1, Worker: "w", ResultKey: key, Frames: seg.Frames()})
		if _, err := e.state.Create(ctx, job.CommitKey(id, seg.Index), b); err != nil {
			t.Fatal(err)
		}
	}
	if r := waitEnded(ctx, t, e, id); r.State != job.Done {
		t.Fatalf("record %s (%s), want done", r.State, r.Error)
	}
	// The store's completion copies the output (versitygw's does): the target's download went before it.
	select {
	case names := <-watched.seen:
		for _, n := range names {
			if strings.HasPrefix(n, "target") {
				t.Errorf("the target's download %s was still in the work dir at the output's completion", n)
			}
		}
	default:
		t.Error("the output's upload was never completed")
	}

	got := filepath.Join(dir, "got.mp4")
	if err := e.blob.GetFile(ctx, outKey, got); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "want.mp4")
	if err := media.Stitch(ctx, media.StitchConfig{Pieces: results, AudioFrom: target, Output: want}); err != nil {
		t.Fatal(err)
	}
	if g, w := streamView(t, got), streamView(t, want); g != w {
		t.Errorf("stored output's streams:\n%s\nStitch's:\n%s", g, w)
	}
	var rec bytes.Buffer
	if err := e.blob.Get(ctx, job.ProvenanceKey(outKey), &rec); err != nil {
		t.Fatal(err)
	}
	var p provenance.Record
	if err := json.Unmarshal(rec.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if sum, _ := provenance.FileSHA256(got); p.OutputSHA256 != sum {
		t.Errorf("provenance hash %s, the stored output's %s", p.OutputSHA256, sum)
	}
	_ = filepath.WalkDir(local.Dir(), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".facefleet-tmp-") {
			t.Errorf("left in the store: %s", p)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(local.Dir(), filepath.FromSlash(outKey))); err != nil {
		t.Error(err)
	}
}

// watchedComplete is the real local store whose uploads send, as they complete, the names of the files in the
// coordinator's work dir (the first completion's only).
type watchedComplete struct {
	*store.Local
	work string
	seen chan []string
}

func (w *watchedComplete) NewUpload(ctx context.Context, key string) (store.Upload, error) {
	u, err := w.Local.NewUpload(ctx, key)
	if err != nil {
		return nil, err
	}
	return watchedUpload{Upload: u, w: w}, nil
}

type watchedUpload struct {
	store.Upload
	w *watchedComplete
}

func (u watchedUpload) Complete(ctx context.Context) error {
	var names []string
	_ = filepath.WalkDir(u.w.work, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, d.Name())
		}
		return nil
	})
	select {
	case u.w.seen <- names:
	default:
	}
	return u.Upload.Complete(ctx)
}

// stalledMultipart is a store whose multipart calls wait until their context ends: an S3 that stopped answering,
// which the real local store cannot show (the e2e drill pauses a real versitygw; this is the same fault, here
// deterministic). Its other calls are the real store's.
type stalledMultipart struct{ store.Blob }

func (s stalledMultipart) NewUpload(ctx context.Context, key string) (store.Upload, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (s stalledMultipart) AbortUploads(ctx context.Context, key string) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestProgressiveStitchWaitsOnNoStore: while its segments are processed a job waits on its workers only: with the
// store's uploads stalled, every commit still brings the job to stitching (the progressive stitch's upload starts
// in its own goroutine). Before, the coordinator aborted earlier uploads before it followed the commits, and a job
// whose S3 paused meanwhile never said stitching (TestFaults/coordinator_kill_-9_mid-stitch, now and then).
func TestProgressiveStitchWaitsOnNoStore(t *testing.T) {
	local, err := store.NewLocal(store.LocalConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e, ctx := newServiceEnvBlob(t, stalledMultipart{local})
	id := e.submit(t, ctx, clip(t))
	for done := 0; done < 2; done++ {
		playWorker(t, ctx, e)
	}
	e.until(t, ctx, id, "stitching", func(r job.Record) bool { return r.State == job.Stitching })
}
