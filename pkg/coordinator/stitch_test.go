package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/store"
)

// TestStitchTrustsCommits runs submitted two-segment jobs on a real nats-server to their stitch, playing the worker:
// each segment's piece re-encoded to MP4 (cut short where the case says) and committed with the count the case
// gives. The stitch trusts commits that agree with their files (the output holds every target frame), and refuses,
// naming the segment, a piece whose file disagrees with its commit or a commit short of its segment.
func TestStitchTrustsCommits(t *testing.T) {
	tests := []struct {
		name      string
		fileShort int    // frames cut from segment 1's result file
		commitOff int    // added to segment 1's committed count
		errHas    string // in the failed record; "" = done
	}{
		{"commits agree", 0, 0, ""},
		{"file short of its commit", 1, 0, "its header states 24 frames, its commit says 25"},
		{"commit short of its segment", 1, -1, "segment 1: frame count does not match the plan: commit of segment 1 with 24 frames, planned 25"},
	}
	target := clip(t) // 2 s at 25 fps, a keyframe every second: two segments of 25 frames
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, ctx := newServiceEnv(t)
			id := e.submit(t, ctx, target)
			dir := t.TempDir()
			for done := 0; done < 2; {
				leases, err := e.tasks.Fetch(ctx, 2, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range leases {
					task, err := job.DecodeTask(l.Data())
					if err != nil {
						t.Fatal(err)
					}
					seg := task.Segment
					piece := filepath.Join(dir, "piece-"+strconv.Itoa(seg.Index)+".mkv")
					if err := e.blob.GetFile(ctx, task.SegmentKey, piece); err != nil {
						t.Fatal(err)
					}
					frames, short := seg.Frames(), 0
					if seg.Index == 1 {
						frames, short = frames+tc.commitOff, tc.fileShort
					}
					result := filepath.Join(dir, "result-"+strconv.Itoa(seg.Index)+".mp4")
					if out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", piece,
						"-frames:v", strconv.Itoa(seg.Frames()-short), "-c:v", "libx264", "-preset", "ultrafast", result).CombinedOutput(); err != nil {
						t.Fatalf("ffmpeg: %v %s", err, out)
					}
					key := job.ResultKey(id, seg.Index, 0, 1)
					if err := e.blob.PutFile(ctx, key, result); err != nil {
						t.Fatal(err)
					}
					b, _ := json.Marshal(job.Commit{Job: id, Segment: seg.Index, Attempt: 1, Worker: "w", ResultKey: key, Frames: frames})
					if _, err := e.state.Create(ctx, job.CommitKey(id, seg.Index), b); err != nil {
						t.Fatal(err)
					}
					_ = l.Ack(ctx)
					done++
				}
			}
			r := waitEnded(ctx, t, e, id)
			if tc.errHas == "" {
				if r.State != job.Done {
					t.Fatalf("record %s (%s), want done", r.State, r.Error)
				}
				out := filepath.Join(dir, "out.mp4")
				if err := e.blob.GetFile(ctx, r.OutputKey, out); err != nil {
					t.Fatal(err)
				}
				if idx, err := media.ScanFrames(ctx, out); err != nil || idx.Count != 50 {
					t.Fatalf("output: %v frames, %v; want the target's 50", idx, err)
				}
				return
			}
			if r.State != job.Failed || !strings.HasPrefix(r.Error, "segment 1: ") || !strings.Contains(r.Error, tc.errHas) {
				t.Fatalf("record %s %q, want failed naming segment 1 with %q", r.State, r.Error, tc.errHas)
			}
			if _, err := e.blob.Stat(ctx, job.OutputKey(id, ".mp4")); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("an output was stored for a refused stitch: %v", err)
			}
		})
	}
}

// waitEnded waits (on the record's KV watch, until ctx ends) for the job to end and returns its record.
func waitEnded(ctx context.Context, t *testing.T, e *serviceEnv, id string) job.Record {
	t.Helper()
	ch, err := e.state.Watch(ctx, job.RecordKey(id))
	if err != nil {
		t.Fatal(err)
	}
	for en := range ch {
		if en.Deleted {
			continue
		}
		r, err := job.DecodeRecord(id, en.Value)
		if err != nil {
			t.Fatal(err)
		}
		if r.State.Terminal() {
			return r
		}
	}
	t.Fatal("the record's watch ended before the job did")
	return job.Record{}
}

// fetchLog is a real store that records the keys fetched from it, and signals each one on fetched.
type fetchLog struct {
	store.Blob
	mu      sync.Mutex
	keys    map[string]int
	fetched chan string
}

func (f *fetchLog) GetFile(ctx context.Context, key, path string) error {
	err := f.Blob.GetFile(ctx, key, path)
	f.mu.Lock()
	f.keys[key]++
	f.mu.Unlock()
	select {
	case f.fetched <- key:
	default:
	}
	return err
}

// TestStitchPrefetchesResults: a committed result is fetched while the job's other segments are still processed,
// once: segment 1 is committed only after segment 0's result was fetched (without the prefetch the job would wait
// there until the test's deadline), and the stitch fetches no result again.
func TestStitchPrefetchesResults(t *testing.T) {
	local, err := store.NewLocal(store.LocalConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	blob := &fetchLog{Blob: local, keys: map[string]int{}, fetched: make(chan string, 16)}
	e, ctx := newServiceEnvBlob(t, blob)
	id := e.submit(t, ctx, clip(t))
	dir := t.TempDir()
	var tasks []job.Task
	for len(tasks) < 2 {
		leases, err := e.tasks.Fetch(ctx, 2, time.Second)
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
	for _, task := range tasks {
		seg := task.Segment
		piece, result := filepath.Join(dir, "piece.mkv"), filepath.Join(dir, "result.mp4")
		if err := e.blob.GetFile(ctx, task.SegmentKey, piece); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", piece,
			"-c:v", "libx264", "-preset", "ultrafast", result).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v %s", err, out)
		}
		key := job.ResultKey(id, seg.Index, 0, 1)
		if err := e.blob.PutFile(ctx, key, result); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(job.Commit{Job: id, Segment: seg.Index, Attempt: 1, Worker: "w", ResultKey: key, Frames: seg.Frames()})
		if _, err := e.state.Create(ctx, job.CommitKey(id, seg.Index), b); err != nil {
			t.Fatal(err)
		}
		if seg.Index == 0 {
			for got := ""; got != key; {
				select {
				case got = <-blob.fetched:
				case <-ctx.Done():
					t.Fatal("segment 0's result was not fetched before the last segment's commit")
				}
			}
		}
	}
	if r := waitEnded(ctx, t, e, id); r.State != job.Done {
		t.Fatalf("record %s (%s), want done", r.State, r.Error)
	}
	blob.mu.Lock()
	defer blob.mu.Unlock()
	for i := range tasks {
		if n := blob.keys[job.ResultKey(id, i, 0, 1)]; n != 1 {
			t.Errorf("segment %d's result fetched %d times, want once", i, n)
		}
	}
}
