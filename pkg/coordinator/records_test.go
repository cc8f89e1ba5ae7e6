package coordinator

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/job"
)

// clip25 is a 25-frame 64x48 H.264 clip made by real ffmpeg: a job's target and its one segment's result.
func clip25(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clip.mp4")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
		"testsrc2=s=64x48:r=25:d=1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	return p
}

// TestServiceHostileRecords writes hostile values straight into a real nats-server's KV: a job that would otherwise
// resume and finish at once (its plan and its one segment's commit are there, the result in the store), but whose
// record, plan or commit breaks a rule. The coordinator must fail the job with one line naming the field, write
// nothing outside its work directory and touch no other job's objects. The first case is the same job, untouched:
// it finishes, so the others fail for their one hostile field.
func TestServiceHostileRecords(t *testing.T) {
	clip := clip25(t)
	type fixture struct {
		rec    job.Record
		plan   job.JobPlan
		commit job.Commit
		raw    []byte // the record's value instead of rec, when set
	}
	tests := []struct {
		name string
		edit func(f *fixture, id, other string)
		want string // in the failed job's error; "" = the job finishes
	}{
		{"untouched", func(*fixture, string, string) {}, ""},
		{"output_ext traversal", func(f *fixture, _, _ string) { f.rec.Submission.OutputExt = "/../../../../x.mp4" }, "submission.output_ext"},
		{"another job's target", func(f *fixture, _, other string) {
			f.rec.Submission.TargetKey = job.InputKey(other, "target", ".mp4")
		}, "submission.target_key"},
		{"source key traversal", func(f *fixture, id, other string) {
			f.rec.Submission.SourceKey = job.InputKey(id, "source", "/../../"+other+"/input/source.png")
		}, "submission.source_key"},
		{"garbage JSON", func(f *fixture, _, _ string) { f.raw = []byte("{{{") }, "invalid job record: cannot decode"},
		{"NaN", func(f *fixture, id, _ string) {
			f.raw = []byte(`{"id":"` + id + `","state":"queued","split_seconds":NaN}`)
		}, "cannot decode"},
		{"unknown state", func(f *fixture, _, _ string) { f.rec.State = "exploded" }, "invalid job record: state "},
		{"unknown version", func(f *fixture, _, _ string) { f.rec.Version = 99 }, "invalid job record: version "},
		{"huge number", func(f *fixture, _, _ string) { f.rec.Submission.SegmentSeconds = 1e300 }, "submission.segment_seconds"},
		{"another job's id", func(f *fixture, _, other string) { f.rec.ID = other }, "invalid job record: id "},
		{"oversize", func(f *fixture, _, _ string) {
			f.rec.Submission.Metadata = map[string]string{"pad": strings.Repeat("x", 300<<10)}
		}, "bytes, more than"},
		{"plan with negative frames", func(f *fixture, _, _ string) {
			f.plan.Segments[0].End, f.plan.TotalFrames = -5, -5
		}, "invalid plan"},
		{"plan with a huge size", func(f *fixture, _, _ string) { f.plan.Width = 1 << 30 }, "invalid plan"},
		{"commit of another job's result", func(f *fixture, _, other string) {
			f.commit.ResultKey = job.ResultKey(other, 0, 0, 1)
		}, "result_key"},
		{"commit of more frames than its segment", func(f *fixture, _, _ string) { f.commit.Frames = 100_000 }, "frames"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			work := filepath.Join(root, "a", "b", "c", "work")
			e, ctx := newServiceEnv(t, func(c *ServiceConfig) { c.WorkDir = work })
			id, other := job.NewID(), job.NewID()
			// Another job's inputs and result, which no record of this job may reach.
			for _, k := range []string{job.InputKey(other, "source", ".png"), job.InputKey(other, "target", ".mp4"), job.ResultKey(other, 0, 0, 1)} {
				if err := e.blob.PutFile(ctx, k, clip); err != nil {
					t.Fatal(err)
				}
			}
			for _, k := range []string{job.InputKey(id, "source", ".png"), job.InputKey(id, "target", ".mp4"), job.ResultKey(id, 0, 0, 1)} {
				if err := e.blob.PutFile(ctx, k, clip); err != nil {
					t.Fatal(err)
				}
			}
			now := time.Now().UTC()
			f := fixture{
				rec: job.Record{ID: id, State: job.Queued, Created: now, Updated: now, Submission: &job.Submission{
					SourceKey: job.InputKey(id, "source", ".png"), TargetKey: job.InputKey(id, "target", ".mp4"),
					SourceName: "face.png", TargetName: "clip.mp4", OutputExt: ".mp4",
					Spec: job.Spec{Face: job.FaceOptions{Processors: []string{job.ProcessorNone}}, Encoder: "libx264", Quality: 35}}},
				plan: job.JobPlan{Segments: []job.Segment{{Index: 0, Start: 0, End: 25}}, TotalFrames: 25, Width: 64, Height: 48,
					FPSNum: 25, FPSDen: 1},
				commit: job.Commit{Job: id, Segment: 0, Attempt: 1, Worker: "w1", ResultKey: job.ResultKey(id, 0, 0, 1), Frames: 25},
			}
			tc.edit(&f, id, other)
			put := func(key string, v any) {
				b, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.state.Put(ctx, key, b); err != nil {
					t.Fatal(err)
				}
			}
			put(job.PlanKey(id), f.plan)
			put(job.CommitKey(id, 0), f.commit)
			if f.raw != nil {
				if _, err := e.state.Put(ctx, job.RecordKey(id), f.raw); err != nil {
					t.Fatal(err)
				}
			} else {
				put(job.RecordKey(id), f.rec)
			}

			var r job.Record
			for ctx.Err() == nil {
				if en, err := e.state.Get(ctx, job.RecordKey(id)); err == nil && json.Unmarshal(en.Value, &r) == nil && r.State.Terminal() {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			switch {
			case ctx.Err() != nil:
				t.Fatalf("the job never ended: %+v", r)
			case tc.want == "" && r.State != job.Done:
				t.Fatalf("the untouched job %s: %s", r.State, r.Error)
			case tc.want != "" && (r.State != job.Failed || !strings.Contains(r.Error, tc.want) || strings.Contains(r.Error, "\n")):
				t.Fatalf("job %s with error %q, want failed naming %q on one line", r.State, r.Error, tc.want)
			}
			// Nothing written outside the work directory.
			_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && !strings.HasPrefix(p, work+string(os.PathSeparator)) {
					t.Errorf("written outside the work directory: %s", p)
				}
				return nil
			})
			if files, err := e.blob.List(ctx, job.Prefix(other)); err != nil || len(files) != 3 {
				t.Errorf("the other job's objects: %v, %v", files, err)
			}
			if tc.want != "" {
				if _, err := e.blob.Stat(ctx, job.OutputKey(id, ".mp4")); err == nil {
					t.Error("an invalid job stored an output")
				}
			}
		})
	}
}
