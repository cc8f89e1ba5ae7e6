package standalone

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/onnxtest"
	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/contentfilter"
	"github.com/facefleet/facefleet/pkg/job"
)

// modelsWith is a models directory holding the shared models (linked) and g as the content classifier.
func modelsWith(t *testing.T, g *onnxtest.Graph) string {
	t.Helper()
	dir := t.TempDir()
	shared := filepath.Join(testenv.SharedDir(t), "models")
	ents, err := os.ReadDir(shared)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.Symlink(filepath.Join(shared, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if g != nil {
		g.Save(t, dir, onnxtest.ContentFilterFile)
	}
	return dir
}

// TestContentFilterRun: `run` screens video and image targets before any face is swapped; a refusal is one line
// naming the target and the counts, and leaves no output (nor a temporary one); without a classifier it says so
// once and goes on; frame processor none, which alters no face, is not screened.
func TestContentFilterRun(t *testing.T) {
	dir := t.TempDir()
	video := filepath.Join(dir, "thirds.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "color=c=black:s=64x48:r=10:d=9,drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(t,3),1)'",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", video)
	image := filepath.Join(dir, "picture.png")
	ffmpeg(t, "-f", "lavfi", "-i", "color=c=white:s=64x48:d=1", "-frames:v", "1", image)
	source := testenv.Face(t, "astronaut_eileen_collins.png")
	for _, tc := range []struct {
		name       string
		graph      *onnxtest.Graph // nil: no classifier installed
		target     string
		processors []string
		refused    string // the error's text after the target's name; "" = the job runs
		notice     bool
	}{
		{"video, flag everything", onnxtest.ConstantFilter(1), video, nil, "refused by the content filter: 9 of 9 samples scored above 0.8 (more than 10% flagged)", false},
		{"video, one in three", onnxtest.BrightnessFilter(), video, nil, "refused by the content filter: 3 of 9 samples scored above 0.8 (more than 10% flagged)", false},
		{"video, flag nothing", onnxtest.ConstantFilter(0), video, nil, "", false},
		{"image, flag everything", onnxtest.ConstantFilter(1), image, nil, "refused by the content filter: 1 of 1 samples scored above 0.8 (more than 10% flagged)", false},
		{"image, flag nothing", onnxtest.ConstantFilter(0), image, nil, "", false},
		{"image, broken classifier", onnxtest.WrongShapeFilter(), image, nil, "content classifier open_nsfw: output prob has shape [1 3]; the manifest declares [1 2]", false},
		{"video, no classifier", nil, video, nil, "", true},
		{"video, frame processor none is not screened", onnxtest.ConstantFilter(1), video, []string{job.ProcessorNone}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outDir := t.TempDir()
			out := filepath.Join(outDir, "out"+filepath.Ext(tc.target))
			cfg := testConfig(t, source, tc.target, out)
			cfg.ModelsDir = modelsWith(t, tc.graph)
			if tc.processors != nil {
				cfg.Face.Processors = tc.processors
			}
			var progress bytes.Buffer
			cfg.Progress = &progress
			_, err := Run(context.Background(), cfg)
			notices := strings.Count(progress.String(), "content filter: no content classifier installed")
			if (notices == 1) != tc.notice || notices > 1 {
				t.Fatalf("%d notices of no classifier, want %v:\n%s", notices, tc.notice, progress.String())
			}
			if tc.refused == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(out); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tc.target+": "+tc.refused {
				t.Fatalf("err %v, want %q", err, tc.target+": "+tc.refused)
			}
			if strings.HasPrefix(tc.refused, "refused") != errors.Is(err, contentfilter.ErrRefused) {
				t.Fatalf("errors.Is(ErrRefused) wrong for %v", err)
			}
			if left, _ := os.ReadDir(outDir); len(left) != 0 {
				t.Fatalf("a refused run left %v", left)
			}
		})
	}
}
