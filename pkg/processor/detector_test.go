package processor

import (
	"fmt"
	"image"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/ort"
	"gocv.io/x/gocv"
)

const (
	scrfd320   = "scrfd_500m_bnkps_shape320x320.onnx" // no batch dimension, like det_10g (tests only)
	scrfd640   = "scrfd_500m_kps_640x640_hpc203.onnx" // with a batch dimension (tests only)
	blazeFront = "face_detection_front_128x128_barracuda.onnx"
	blazeBack  = "face_detection_back_256x256_barracuda.onnx"
)

// newDetectorFor loads a model from shared/models through NewDetector; kind "" lets the file decide.
func newDetectorFor(tb testing.TB, file, kind string) Detector {
	tb.Helper()
	initORT(tb)
	d, err := NewDetector(DetectorConfig{Kind: kind, ModelPath: testenv.Model(tb, file), Session: testSession})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// checkDetectedFace asserts what must hold for an upright, roughly frontal face found by any detector: a real box
// and score, the five keypoints inside the box, left/right in image order, eyes above the nose above the mouth.
func checkDetectedFace(t *testing.T, what string, f face.Face, minScore float32) {
	t.Helper()
	b := f.Box
	if b.Width() <= 0 || b.Height() <= 0 || f.Score < minScore || f.Score > 1 {
		t.Errorf("%s: bad box or score: %+v", what, f)
	}
	for i, p := range f.Kps {
		if p.X < b.X1 || p.X > b.X2 || p.Y < b.Y1 || p.Y > b.Y2 {
			t.Errorf("%s: keypoint %d %v outside box %v", what, i, p, b)
		}
	}
	k := f.Kps
	if k[face.LeftEye].X >= k[face.RightEye].X || k[face.LeftMouth].X >= k[face.RightMouth].X {
		t.Errorf("%s: left/right swapped: %v", what, k)
	}
	eyeY := (k[face.LeftEye].Y + k[face.RightEye].Y) / 2
	mouthY := (k[face.LeftMouth].Y + k[face.RightMouth].Y) / 2
	if !(eyeY < k[face.Nose].Y && k[face.Nose].Y < mouthY) {
		t.Errorf("%s: not eyes above nose above mouth: %v", what, k)
	}
}

// matchFaces pairs each reference face with a distinct detection and returns the IoU of each pair (0 when nothing
// is left to pair with).
func matchFaces(ref, got []face.Face) []float32 {
	used := make([]bool, len(got))
	ious := make([]float32, len(ref))
	for i, r := range ref {
		best := -1
		for j, g := range got {
			if !used[j] && (best < 0 || r.Box.IoU(g.Box) > r.Box.IoU(got[best].Box)) {
				best = j
			}
		}
		if best >= 0 {
			used[best] = true
			ious[i] = r.Box.IoU(got[best].Box)
		}
	}
	return ious
}

// TestDetectorsFindFaces runs SCRFD and BlazeFace on real photos: every face a person sees is found, with sane
// keypoints, and each box agrees with YuNet's on the same image (IoU > 0.6; BlazeFace's square box runs from the
// brows to the chin, YuNet's from the hairline, so theirs agree less than SCRFD's).
func TestDetectorsFindFaces(t *testing.T) {
	images := []struct {
		name    string
		faces   int
		closeUp bool // faces fill a good part of the frame: in BlazeFace front's short range
	}{
		{"astronaut_eileen_collins.png", 1, true},
		{"grace_hopper.jpg", 1, true},
		{"codait_luciano_cc0.png", 1, true},
		{"pexels_keijiro_blazeface_Test3_3faces.jpg", 3, true},
		{"apollo11_crew_3faces.jpg", 3, false}, // faces about 50 px in a 600x471 photo
	}
	models := []struct {
		file, kind  string
		closeUpOnly bool
	}{
		{scrfd320, DetectorSCRFD, false},
		{scrfd640, DetectorSCRFD, false},
		// BlazeFace front is MediaPipe's short-range (selfie) model: on the Apollo photo it finds one of the three
		// faces, badly boxed. The back (256) model is the one for small faces.
		{blazeFront, DetectorBlazeFace, true},
		{blazeBack, DetectorBlazeFace, false},
	}
	yunet := newYuNet(t, yunet2026)
	ref := map[string][]face.Face{}
	for _, im := range images {
		ref[im.name] = detect(t, yunet, readFace(t, im.name))
		if len(ref[im.name]) != im.faces {
			t.Fatalf("YuNet reference: %s: %d faces, want %d", im.name, len(ref[im.name]), im.faces)
		}
	}
	for _, m := range models {
		t.Run(strings.TrimSuffix(m.file, ".onnx"), func(t *testing.T) {
			d := newDetectorFor(t, m.file, "")
			for _, im := range images {
				img := readFace(t, im.name)
				faces := detect(t, d, img)
				if m.closeUpOnly && !im.closeUp {
					t.Logf("%s (out of range, not checked): %d faces %+v", im.name, len(faces), faces)
					continue
				}
				if len(faces) != im.faces {
					t.Errorf("%s: %d faces, want %d: %+v", im.name, len(faces), im.faces, faces)
					continue
				}
				for i, f := range faces {
					if i > 0 && f.Score > faces[i-1].Score {
						t.Errorf("%s: not sorted by score", im.name)
					}
					checkDetectedFace(t, fmt.Sprintf("%s face %d", im.name, i), f, 0.5)
				}
				ious := matchFaces(ref[im.name], faces)
				for i, iou := range ious {
					if iou <= 0.6 {
						t.Errorf("%s: YuNet face %v best match IoU %.2f, want > 0.6 (%+v)", im.name, ref[im.name][i].Box, iou, faces)
					}
				}
				t.Logf("%s: %d faces, IoU with YuNet %.2f, first %+v", im.name, len(faces), ious, faces[0])
			}
		})
	}
}

// TestDetectorsFrameSizeAndRegion checks the per-size buffers follow the frame size (same frame, same result after
// another size ran) and that a region (a non-continuous Mat) gives coordinates relative to it.
func TestDetectorsFrameSizeAndRegion(t *testing.T) {
	grace := readFace(t, "grace_hopper.jpg")
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(grace, &small, image.Point{}, 0.5, 0.5, gocv.InterpolationArea)
	roi := grace.Region(image3(0, 0, 512, 400))
	defer roi.Close()
	for _, file := range []string{scrfd320, blazeBack} {
		d := newDetectorFor(t, file, "")
		first := detect(t, d, grace)
		half := detect(t, d, small)
		region := detect(t, d, roi)
		again := detect(t, d, grace)
		if len(first) != 1 || len(half) != 1 || len(region) != 1 || len(again) != 1 {
			t.Fatalf("%s: faces %d, %d, %d, %d", file, len(first), len(half), len(region), len(again))
		}
		if first[0] != again[0] {
			t.Errorf("%s: same frame, different result: %+v vs %+v", file, first[0], again[0])
		}
		hb := half[0].Box
		if iou := first[0].Box.IoU(face.Box{X1: 2 * hb.X1, Y1: 2 * hb.Y1, X2: 2 * hb.X2, Y2: 2 * hb.Y2}); iou < 0.8 {
			t.Errorf("%s: half-size detection x2 vs full: IoU %.2f", file, iou)
		}
		if iou := first[0].Box.IoU(region[0].Box); iou < 0.8 {
			t.Errorf("%s: region detection %v vs full %v: IoU %.2f", file, region[0].Box, first[0].Box, iou)
		}
	}
}

// TestDetectorKindForFile recognises every detector in shared/models and refuses the other models.
func TestDetectorKindForFile(t *testing.T) {
	initORT(t)
	for _, c := range []struct {
		file, kind string // kind "" = an error
	}{
		{yunet2023, DetectorYuNet},
		{yunet2026, DetectorYuNet},
		{scrfd320, DetectorSCRFD},
		{scrfd640, DetectorSCRFD},
		{blazeFront, DetectorBlazeFace},
		{blazeBack, DetectorBlazeFace},
		{"face_landmark_barracuda.onnx", ""},
		{"version-RFB-320.onnx", ""},
		{"mobilefacenet_paddlex_128d.onnx", ""},
	} {
		path := testenv.Model(t, c.file)
		kind, err := DetectorKindForFile(path)
		switch {
		case c.kind != "" && (err != nil || kind != c.kind):
			t.Errorf("%s: %q, %v; want %q", c.file, kind, err, c.kind)
		case c.kind == "" && (err == nil || !strings.HasPrefix(err.Error(), path+": not a face detector Facefleet knows (") ||
			strings.Contains(err.Error(), "\n")):
			t.Errorf("%s: %q, %v; want a one-line error naming the file", c.file, kind, err)
		case c.kind == "":
			t.Logf("%v", err)
		}
	}
	missing := filepath.Join(t.TempDir(), "nope.onnx")
	if _, err := DetectorKindForFile(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
}

// TestNewDetector checks the kind comes from the file when not given, configurations are validated per kind, and a
// failed constructor returns a nil interface (not a typed nil).
func TestNewDetector(t *testing.T) {
	initORT(t)
	for _, c := range []struct {
		file string
		want string // the concrete type
	}{
		{yunet2026, "*processor.YuNet"},
		{scrfd320, "*processor.SCRFD"},
		{blazeBack, "*processor.BlazeFace"},
	} {
		d := newDetectorFor(t, c.file, "")
		if got := fmt.Sprintf("%T", d); got != c.want {
			t.Errorf("%s: %s, want %s", c.file, got, c.want)
		}
	}
	if d := newDetectorFor(t, scrfd320, DetectorSCRFD).(*SCRFD); d.InputSize() != 320 {
		t.Errorf("scrfd 320 model: input %d", d.InputSize())
	}
	if d := newDetectorFor(t, blazeFront, DetectorBlazeFace).(*BlazeFace); d.InputSize() != 128 {
		t.Errorf("blazeface front: input %d", d.InputSize())
	}

	model := func(name string) string { return testenv.Model(t, name) }
	for _, c := range []struct {
		name string
		cfg  DetectorConfig
		want string // in the error
	}{
		{"no model", DetectorConfig{}, "ModelPath is empty"},
		{"unknown kind", DetectorConfig{Kind: "retinaface", ModelPath: model(scrfd320)}, `unknown kind "retinaface"`},
		{"yunet size", DetectorConfig{Kind: DetectorYuNet, ModelPath: model(yunet2026), InputSize: 100}, "multiple of 32"},
		{"auto size", DetectorConfig{ModelPath: model(yunet2026), InputSize: 100}, "multiple of 32"},
		{"score", DetectorConfig{ModelPath: model(yunet2026), ScoreThreshold: 1.5}, "ScoreThreshold"},
		{"scrfd fixed size", DetectorConfig{Kind: DetectorSCRFD, ModelPath: model(scrfd320), InputSize: 640}, "fixed 320x320 input"},
		{"auto scrfd fixed size", DetectorConfig{ModelPath: model(scrfd320), InputSize: 640}, "fixed 320x320 input"},
		{"blazeface size", DetectorConfig{ModelPath: model(blazeFront), InputSize: 256}, "fixed 128x128 input"},
		{"wrong kind", DetectorConfig{Kind: DetectorSCRFD, ModelPath: model(yunet2026)}, "not an SCRFD model"},
		{"blazeface on scrfd", DetectorConfig{Kind: DetectorBlazeFace, ModelPath: model(scrfd320)}, "not a BlazeFace model"},
		{"not a detector", DetectorConfig{ModelPath: model("face_landmark_barracuda.onnx")}, "not a face detector"},
		{"provider", DetectorConfig{ModelPath: model(scrfd320), Session: testSessionWith("nosuch")}, `"nosuch"`},
	} {
		d, err := NewDetector(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want a one-line error with %q", c.name, err, c.want)
		}
		if d != nil {
			t.Errorf("%s: non-nil Detector %T on error", c.name, d)
			d.Close()
		}
	}
}

func testSessionWith(provider string) ort.SessionConfig {
	c := testSession
	c.Provider = provider
	return c
}
