package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/onnxtest"
	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/contentfilter"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/queue"
	"github.com/facefleet/facefleet/pkg/store"
)

// brightThirds makes a 9-second 64x48 10 fps video whose seconds 0, 3 and 6 are white, the rest black, with a
// keyframe every second: one content-filter sample in three is bright.
func brightThirds(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "thirds.mp4")
	out, err := exec.Command("nice", "-n", "19", "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
		"color=c=black:s=64x48:r=10:d=9,drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(t,3),1)'",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	return p
}

// TestServiceScreensBeforeSplit runs submitted jobs through a coordinator daemon on a real nats-server and a real
// S3 server (versitygw) with the content filter (and --watermark in the submission): a refused target (or a broken classifier) fails the job with one
// line naming the user's file, and leaves no plan and no task; an accepted one is split and queued.
func TestServiceScreensBeforeSplit(t *testing.T) {
	srv := testenv.StartS3(t, testenv.S3Options{})
	bctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s3, err := store.NewS3(bctx, store.S3Config{Endpoint: srv.Endpoint, Bucket: "screen", AccessKey: srv.AccessKey,
		SecretKey: srv.Secret, CreateBucket: true})
	if err != nil {
		t.Fatal(err)
	}
	target := brightThirds(t)
	for _, tc := range []struct {
		name  string
		graph *onnxtest.Graph
		want  string // the failure; "" = split and queued
	}{
		{"flag everything", onnxtest.ConstantFilter(1), "thirds.mp4: refused by the content filter: 9 of 9 samples scored above 0.8 (more than 10% flagged)"},
		{"one in three", onnxtest.BrightnessFilter(), "thirds.mp4: refused by the content filter: 3 of 9 samples scored above 0.8 (more than 10% flagged)"},
		{"flag nothing", onnxtest.ConstantFilter(0), ""},
		{"NaN classifier", onnxtest.ConstantFilter(float32(nanF())), "thirds.mp4: content classifier open_nsfw: score NaN is not a probability (0-1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := contentfilter.Default()
			cfg.ModelsDir, cfg.ORTLibrary, cfg.Threads = t.TempDir(), testenv.ORTLib(t), 1
			tc.graph.Save(t, cfg.ModelsDir, onnxtest.ContentFilterFile)
			f, err := contentfilter.Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			e, ctx := newQueueEnvBlob(t, s3)
			svc, err := NewService(ServiceConfig{ID: "coord-1", WorkDir: t.TempDir(), Heartbeat: 200 * time.Millisecond,
				Scan: 200 * time.Millisecond}, ServiceDeps{Tasks: e.tasks, State: e.state, Fleet: e.fleet, Blob: e.blob, Screen: f})
			if err != nil {
				t.Fatal(err)
			}
			sctx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { _ = svc.Run(sctx); close(done) }()
			t.Cleanup(func() { stop(); <-done })

			id := job.NewID()
			sub := &job.Submission{SourceKey: job.InputKey(id, "source", ".png"), TargetKey: job.InputKey(id, "target", ".mp4"),
				SourceName: "face.png", TargetName: "thirds.mp4", OutputExt: ".mp4", SegmentSeconds: 3,
				Spec: job.Spec{Watermark: true}}
			if err := e.blob.PutFile(ctx, sub.TargetKey, target); err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(job.Record{ID: id, State: job.Queued, Submission: sub})
			if _, err := e.state.Create(ctx, job.RecordKey(id), b); err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				r := e.until(t, ctx, id, "running", func(r job.Record) bool { return r.State == job.Running })
				if r.Segments != 3 {
					t.Fatalf("segments %d, want 3", r.Segments)
				}
				// --watermark rides in every task, for the workers to draw.
				for got := 0; got < 3; {
					leases, err := e.tasks.Fetch(ctx, 3, time.Second)
					if err != nil {
						t.Fatal(err)
					}
					for _, l := range leases {
						task, err := job.DecodeTask(l.Data())
						if err != nil || !task.Spec.Watermark {
							t.Fatalf("task %+v (%v): want the watermark in its spec", task, err)
						}
						got++
					}
				}
				return
			}
			var r job.Record
			for r = e.record(t, ctx, id); !r.State.Terminal() && ctx.Err() == nil; r = e.record(t, ctx, id) {
				time.Sleep(20 * time.Millisecond)
			}
			if r.State != job.Failed || r.Error != tc.want {
				t.Fatalf("record %s %q, want failed %q", r.State, r.Error, tc.want)
			}
			if _, err := e.state.Get(ctx, job.PlanKey(id)); !errors.Is(err, queue.ErrKeyNotFound) {
				t.Fatalf("a refused job has a plan: %v", err)
			}
			for i := range 3 {
				if ok, err := e.tasks.Has(ctx, job.TaskSubject(id, i)); ok || err != nil {
					t.Fatalf("a refused job queued segment %d (%v)", i, err)
				}
			}
			if keys, err := e.blob.List(ctx, job.Prefix(id)+"segments/"); err != nil || len(keys) != 0 {
				t.Fatalf("a refused job stored pieces: %v %v", keys, err)
			}
			if strings.Contains(r.Error, "\n") {
				t.Fatal("not one line")
			}
		})
	}
}

func nanF() float64 { var z float64; return z / z }
