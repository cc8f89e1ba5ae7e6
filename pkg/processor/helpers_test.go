package processor

import (
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/internal/testimage"
	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/imagefile"
	"github.com/facefleet/facefleet/pkg/ort"
	"gocv.io/x/gocv"
)

const (
	yunet2026 = "face_detection_yunet_2026may.onnx"
	yunet2023 = "face_detection_yunet_2023mar.onnx"
)

// testSession keeps tests light on the shared 2-core machine.
var testSession = ort.SessionConfig{IntraOpThreads: 2, InterOpThreads: 1}

func initORT(tb testing.TB) {
	tb.Helper()
	if err := ort.Init(testenv.ORTLib(tb)); err != nil {
		tb.Fatal(err)
	}
}

func newYuNet(tb testing.TB, model string) *YuNet {
	tb.Helper()
	initORT(tb)
	cfg := DefaultYuNetConfig(testenv.Model(tb, model))
	cfg.Session = testSession
	d, err := NewYuNet(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

func readFace(tb testing.TB, name string) gocv.Mat {
	tb.Helper()
	m := testimage.Read(tb, testenv.Face(tb, name))
	tb.Cleanup(func() { m.Close() })
	return m
}

func detect(tb testing.TB, d Detector, img gocv.Mat) []face.Face {
	tb.Helper()
	faces, err := d.Detect(img)
	if err != nil {
		tb.Fatal(err)
	}
	return faces
}

// writeResult writes a test image to t.TempDir(), or to $FACEFLEET_TEST_OUT when set (to look at it); never into
// the repository.
func writeResult(tb testing.TB, name string, m gocv.Mat) {
	tb.Helper()
	dir := os.Getenv("FACEFLEET_TEST_OUT")
	if dir == "" {
		dir = tb.TempDir()
	}
	p := filepath.Join(dir, name)
	if err := imagefile.Write(p, m, imagefile.PNG, 3, false); err != nil {
		tb.Error(err)
	}
}

// bytesOf returns a copy of a BGR Mat's pixels with its width.
func bytesOf(tb testing.TB, m gocv.Mat) ([]byte, int) {
	tb.Helper()
	c := m.Clone()
	defer c.Close()
	b, err := c.DataPtrUint8()
	if err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), b...), c.Cols()
}

// compareRegions returns the mean absolute difference inside each box and the number of differing bytes outside
// every box, between two BGR images of the same size.
func compareRegions(tb testing.TB, before, after gocv.Mat, boxes []image.Rectangle) (inside []float64, changedOutside int) {
	tb.Helper()
	a, w := bytesOf(tb, before)
	b, _ := bytesOf(tb, after)
	if len(a) != len(b) {
		tb.Fatalf("sizes differ")
	}
	inside = make([]float64, len(boxes))
	counts := make([]int, len(boxes))
	h := len(a) / (3 * w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			in := false
			for i, r := range boxes {
				if image.Pt(x, y).In(r) {
					in = true
					for c := 0; c < 3; c++ {
						i0 := 3*(y*w+x) + c
						d := int(a[i0]) - int(b[i0])
						inside[i] += float64(max(d, -d))
					}
					counts[i] += 3
				}
			}
			if !in {
				for c := 0; c < 3; c++ {
					if a[3*(y*w+x)+c] != b[3*(y*w+x)+c] {
						changedOutside++
					}
				}
			}
		}
	}
	for i := range inside {
		if counts[i] > 0 {
			inside[i] /= float64(counts[i])
		}
	}
	return inside, changedOutside
}

func clampedBoxes(faces []face.Face, w, h int) []image.Rectangle {
	var r []image.Rectangle
	for _, f := range faces {
		r = append(r, f.Box.Clamp(w, h))
	}
	return r
}

func image3(x0, y0, x1, y1 int) image.Rectangle { return image.Rect(x0, y0, x1, y1) }
