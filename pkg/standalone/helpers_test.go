package standalone

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/engine"
	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/ort"
	"github.com/facefleet/facefleet/pkg/pipeline"
	"github.com/facefleet/facefleet/pkg/processor"
)

// testConfig is a run config pointing at the shared models and the installed ONNX Runtime.
func testConfig(t *testing.T, source, target, output string) Config {
	t.Helper()
	cfg := Default()
	cfg.Source, cfg.Target, cfg.Output = source, target, output
	cfg.ModelsDir = filepath.Join(testenv.SharedDir(t), "models")
	cfg.ORTLibrary = testenv.ORTLib(t)
	cfg.ExecutionThreads = 2
	cfg.WorkDir = t.TempDir()
	return cfg
}

func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

var (
	detOnce sync.Once
	det     *engine.Engine
	detErr  error
)

// detector is one engine shared by the tests of this package (tests here do not run in parallel).
func detector(t *testing.T) *engine.Engine {
	t.Helper()
	detOnce.Do(func() {
		det, detErr = engine.New(engine.Config{ORTLibrary: testenv.ORTLib(t),
			ModelsDir: filepath.Join(testenv.SharedDir(t), "models"), Session: ort.SessionConfig{IntraOpThreads: 2}})
	})
	if detErr != nil {
		t.Fatal(detErr)
	}
	return det
}

type streamInfo struct {
	CodecType string `json:"codec_type"`
	StartTime string `json:"start_time"`
	Duration  string `json:"duration"`
	NbFrames  string `json:"nb_read_frames"`
}

func (s streamInfo) start() float64 { v, _ := strconv.ParseFloat(s.StartTime, 64); return v }
func (s streamInfo) dur() float64   { v, _ := strconv.ParseFloat(s.Duration, 64); return v }

// streams probes a file's streams with a decoded frame count.
func streams(t *testing.T, path string) map[string]streamInfo {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries",
		"stream=codec_type,start_time,duration,nb_read_frames", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var doc struct{ Streams []streamInfo }
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	m := map[string]streamInfo{}
	for _, s := range doc.Streams {
		if _, ok := m[s.CodecType]; !ok {
			m[s.CodecType] = s
		}
	}
	return m
}

// frames decodes every frame of a video as bgr24.
func frames(t *testing.T, path string, w, h int) [][]byte {
	t.Helper()
	d, err := media.NewDecoder(context.Background(), media.DecoderConfig{Path: path, Width: w, Height: h})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var out [][]byte
	for {
		b := make([]byte, d.FrameSize())
		if err := d.Read(b); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

// reencode is the plain re-encode of a target with the product's encoder settings and no processing: through the
// pipeline's own path for a processor that reads frames and changes none (the decoded pictures, as the target
// describes them), so that it is what a run gives for a frame without a face.
func reencode(t *testing.T, target, out string, info *media.Info, quality int) {
	t.Helper()
	_, err := pipeline.Run(context.Background(), pipeline.Config{Input: target, Output: out, Width: info.Width, Height: info.Height,
		FrameRate: info.FrameRate, Encoder: "libx264", Quality: quality, SourcePixFmt: info.PixFmt, Color: info.Color},
		pipeline.ProcessorFunc(func(gocv.Mat, int) error { return nil }), nil)
	if err != nil {
		t.Fatal(err)
	}
}

// psnr over the pixels where keep(x, y) is true; +Inf when identical.
func psnr(a, b []byte, w, h int, keep func(x, y int) bool) float64 {
	var se float64
	n := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if keep != nil && !keep(x, y) {
				continue
			}
			i := (y*w + x) * 3
			for c := 0; c < 3; c++ {
				d := float64(a[i+c]) - float64(b[i+c])
				se += d * d
			}
			n += 3
		}
	}
	if n == 0 || se == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/(se/float64(n)))
}

// worstPSNR is the lowest whole-frame PSNR between two equally long lists of w x h bgr24 frames.
func worstPSNR(t *testing.T, a, b [][]byte, w, h int) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d frames against %d", len(a), len(b))
	}
	worst := math.Inf(1)
	for i := range a {
		worst = math.Min(worst, psnr(a[i], b[i], w, h, nil))
	}
	return worst
}

// meanAbsDiff inside a box.
func meanAbsDiff(a, b []byte, w int, r face.Box) float64 {
	var s float64
	n := 0
	for y := int(r.Y1); y < int(r.Y2); y++ {
		for x := int(r.X1); x < int(r.X2); x++ {
			i := (y*w + x) * 3
			for c := 0; c < 3; c++ {
				s += math.Abs(float64(a[i+c]) - float64(b[i+c]))
				n++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return s / float64(n)
}

// detect finds faces in one bgr24 frame.
func detect(t *testing.T, frame []byte, w, h int) []face.Face {
	t.Helper()
	m, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, frame)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	faces, err := mustDetector(t, detector(t)).Detect(m)
	if err != nil {
		t.Fatal(err)
	}
	return faces
}

// inAnyBox uses the pixel cover of each box (floor/ceil), the same rectangle the swapper may touch.
func inAnyBox(boxes []face.Box, x, y int) bool {
	for _, b := range boxes {
		r := b.Clamp(1<<20, 1<<20)
		if x >= r.Min.X && x < r.Max.X && y >= r.Min.Y && y < r.Max.Y {
			return true
		}
	}
	return false
}

func sha(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return "missing"
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// mustDetector is e's detector, loaded on first use.
func mustDetector(t testing.TB, e *engine.Engine) processor.Detector {
	t.Helper()
	det, err := e.Detector()
	if err != nil {
		t.Fatal(err)
	}
	return det
}
