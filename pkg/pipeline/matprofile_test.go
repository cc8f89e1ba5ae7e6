//go:build matprofile

package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/pipeline"
)

// TestMatProfileNoLeak counts live gocv Mats (go test -tags matprofile ./pkg/pipeline -run MatProfile): while a
// run is going the pool holds exactly InFlight Mats, and every way a run ends (success, processor error, cancel,
// a failure before the pool exists) leaves none behind. Not parallel: the profile counts the whole process.
func TestMatProfileNoLeak(t *testing.T) {
	const w, h, inFlight = 320, 240, 3
	in := testsrc(t, w, h, 1)
	boom := errors.New("boom")
	var cancelAt5 context.CancelFunc
	tests := []struct {
		name string
		edit func(*pipeline.Config)
		ctx  func() context.Context
		fail int   // frame at which the processor fails; -1 never
		want error // nil: success
	}{
		{"success", nil, nil, -1, nil},
		{"processor error", nil, nil, 3, boom},
		{"cancelled mid-run", nil, func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			cancelAt5 = cancel
			return ctx
		}, -1, context.Canceled},
		{"encoder fails mid-run", func(c *pipeline.Config) { c.Output = filepath.Join(t.TempDir(), "no", "out.mp4") },
			nil, -1, errors.New("any")},
		{"bad encoder, before the pool", func(c *pipeline.Config) { c.Encoder = "libfoo" }, nil, -1, errors.New("any")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cancelAt5 = nil
			base := gocv.MatProfile.Count()
			cfg := config(in, filepath.Join(t.TempDir(), "out.mp4"), w, h)
			cfg.InFlight = inFlight
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			ctx := testCtx(t)
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			during := -1
			proc := pipeline.ProcessorFunc(func(_ gocv.Mat, k int) error {
				if k == 0 {
					during = gocv.MatProfile.Count() - base
				}
				if k == tt.fail {
					return boom
				}
				if k == 5 && cancelAt5 != nil {
					cancelAt5()
				}
				return nil
			})
			r := run(t, ctx, cfg, proc, nil)
			switch {
			case tt.want == nil && r.err != nil:
				t.Fatal(r.err)
			case tt.want != nil && r.err == nil:
				t.Fatalf("Run succeeded, want %v", tt.want)
			case tt.want == boom || tt.want == context.Canceled:
				if !errors.Is(r.err, tt.want) {
					t.Fatalf("Run: %v, want %v", r.err, tt.want)
				}
			}
			if during == -1 && tt.name != "bad encoder, before the pool" {
				t.Errorf("the processor was never called")
			}
			if during != -1 && during != inFlight {
				t.Errorf("%d Mats live during the run, want the pool of %d", during, inFlight)
			}
			if n := gocv.MatProfile.Count(); n != base {
				var b bytes.Buffer
				_ = gocv.MatProfile.WriteTo(&b, 1)
				t.Fatalf("%d Mats live after Run, %d before:\n%s", n, base, b.String())
			}
			t.Logf("%d Mats during the run, %d after; %v", during, gocv.MatProfile.Count()-base, r.err)
		})
	}
}
