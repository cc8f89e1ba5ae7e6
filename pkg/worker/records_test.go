package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/job"
)

// TestRefusesHostileTasks publishes hostile tasks straight to a real nats-server's work queue. The worker must
// refuse each one before any work (no engine call, no download of what it names, no commit), terminate it, and
// fail its job with the field's name; a task asking for frames to be written somewhere is processed, but its
// frames go nowhere (only the in-process run's own config keeps frames).
func TestRefusesHostileTasks(t *testing.T) {
	const other = "job-other"
	tests := []struct {
		name string
		edit func(tk *job.Task, msg map[string]any, e *env)
		raw  string // the message instead of the task, when set
		// record is the job's record in KV, when set.
		record string
		want   string // in the failure record; "" = refused without one; "processed" = committed
	}{
		{name: "another job's segment", edit: func(tk *job.Task, _ map[string]any, _ *env) {
			tk.SegmentKey = job.SegmentKey(other, 0)
		}, want: "segment_key"},
		{name: "another job's source", edit: func(tk *job.Task, _ map[string]any, _ *env) {
			tk.Spec.SourceKey = job.InputKey(other, "source", ".png")
		}, want: "spec.source_key"},
		{name: "negative frames", edit: func(tk *job.Task, _ map[string]any, _ *env) {
			tk.Segment.Start, tk.Segment.End = 25, 0
		}, want: "segment.end_frame"},
		{name: "unknown encoder", edit: func(tk *job.Task, _ map[string]any, _ *env) { tk.Spec.Encoder = "libx264 -f" }, want: "spec.encoder"},
		{name: "zero frame rate", edit: func(tk *job.Task, _ map[string]any, _ *env) { tk.Spec.FrameRateDen = 0 }, want: "spec.fps_den"},
		{name: "unknown processor", edit: func(tk *job.Task, _ map[string]any, _ *env) {
			tk.Spec.Face.Processors = []string{"../../x"}
		}, want: "spec.face.frame_processors"},
		{name: "unknown version", edit: func(_ *job.Task, m map[string]any, _ *env) { m["version"] = 9 }, want: "version"},
		{name: "garbage", raw: "{{{"},
		{name: "invalid job record", record: "{{{"},
		{name: "frames_dir from the message", edit: func(_ *job.Task, m map[string]any, e *env) {
			if spec, ok := m["spec"].(map[string]any); ok {
				spec["frames_dir"], spec["frame_format"] = filepath.Join(e.dir, "evil-frames"), "png"
			}
		}, want: "processed"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 30*time.Second)
			ctx := context.Background()
			task := e.publish(t, fmt.Sprintf("job-case-%d", i))
			// What a hostile task may point at: another job's segment and source, real files in the store.
			for _, k := range []string{job.SegmentKey(other, 0), job.InputKey(other, "source", ".png")} {
				if err := e.blob.PutFile(ctx, k, filepath.Join(e.dir, task.Job+".mkv")); err != nil {
					t.Fatal(err)
				}
			}
			// publish queued the good task: take it off, and queue the hostile one instead.
			if err := e.tasks.PurgeSubject(ctx, job.Subject(task.Job)); err != nil {
				t.Fatal(err)
			}
			msg := []byte(tc.raw)
			if tc.raw == "" {
				// The task's fields first, then the message's raw JSON (fields no Task has: frames_dir, version).
				if tc.edit != nil {
					tc.edit(&task, map[string]any{}, e)
				}
				b, _ := json.Marshal(task)
				var m map[string]any
				_ = json.Unmarshal(b, &m)
				if tc.edit != nil {
					tc.edit(&job.Task{}, m, e)
				}
				msg, _ = json.Marshal(m)
			}
			if tc.record != "" {
				if _, err := e.state.Put(ctx, job.RecordKey(task.Job), []byte(tc.record)); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.tasks.Publish(ctx, job.TaskSubject(task.Job, 0), "hostile-"+task.Job, msg); err != nil {
				t.Fatal(err)
			}
			eng := &fakeEngine{}
			e.start(t, eng, time.Second)

			if tc.want == "processed" {
				e.commit(t, task.Job)
				if _, err := os.Stat(filepath.Join(e.dir, "evil-frames")); !os.IsNotExist(err) {
					t.Fatalf("frames written where the task said: %v", err)
				}
				return
			}
			if tc.want != "" {
				var f job.Failure
				_ = json.Unmarshal(e.waitKey(t, job.FailureKey(task.Job), 10*time.Second), &f)
				if !strings.Contains(f.Reason, tc.want) {
					t.Fatalf("failure %q, want it to name %s", f.Reason, tc.want)
				}
			}
			e.queueEmpty(t)
			if n := eng.calls.Load(); n != 0 {
				t.Fatalf("the engine ran %d times for a refused task", n)
			}
			if _, err := e.state.Get(ctx, job.CommitKey(task.Job, 0)); err == nil {
				t.Fatal("a refused task was committed")
			}
			if files, _ := e.blob.List(ctx, job.Prefix(task.Job)+"results/"); len(files) != 0 {
				t.Fatalf("a refused task uploaded %v", files)
			}
		})
	}
}
