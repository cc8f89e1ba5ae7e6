package processor

import (
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

const faceMeshModel = "face_landmark_barracuda.onnx"

func newFaceMesh(tb testing.TB) *FaceMesh {
	tb.Helper()
	initORT(tb)
	cfg := DefaultFaceMeshConfig(testenv.Model(tb, faceMeshModel))
	cfg.Session = testSession
	m, err := NewFaceMesh(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

func landmarks(tb testing.TB, lm Landmarker, img gocv.Mat, f face.Face) face.Mesh {
	tb.Helper()
	m, err := lm.Landmarks(img, f)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// largestFace detects and returns the largest face of img.
func largestFace(tb testing.TB, d Detector, img gocv.Mat) face.Face {
	tb.Helper()
	f, ok := face.Largest(detect(tb, d, img))
	if !ok {
		tb.Fatal("no face")
	}
	return f
}

func dist(a, b face.Point) float64 { return math.Hypot(float64(a.X-b.X), float64(a.Y-b.Y)) }

func centroid(m face.Mesh, idx []int) face.Point {
	var x, y float32
	for _, i := range idx {
		x += m.Points[i].X
		y += m.Points[i].Y
	}
	return face.Point{X: x / float32(len(idx)), Y: y / float32(len(idx))}
}

// insidePolygon is the even-odd rule.
func insidePolygon(p face.Point, poly []face.Point) bool {
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[i], poly[j]
		if (a.Y > p.Y) != (b.Y > p.Y) && p.X < (b.X-a.X)*(p.Y-a.Y)/(b.Y-a.Y)+a.X {
			in = !in
		}
	}
	return in
}

// checkMesh asserts what must hold for the mesh of a detected face. eyeTol is how far (fraction of the eye
// distance) the centre of each mesh eye contour may lie from the detector's eye keypoint.
func checkMesh(t *testing.T, name string, f face.Face, m face.Mesh, eyeTol float64) {
	t.Helper()
	if m.Presence <= 0 {
		t.Errorf("%s: presence logit %.1f, want > 0", name, m.Presence)
	}
	// Every point lies in the model's crop: the 1.5x square around the box, rotated with the eye line.
	toCrop, err := CropTransform(f, DefaultFaceMeshMargin)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range m.Points {
		if q := toCrop.Apply(p); q.X < 0 || q.Y < 0 || q.X > faceMeshSize || q.Y > faceMeshSize {
			t.Errorf("%s: point %d %v is at %v in the 192x192 crop: outside the 1.5x box", name, i, p, q)
			break
		}
	}
	eyeDist := dist(f.Kps[face.LeftEye], f.Kps[face.RightEye])
	le := centroid(m, face.MeshImageLeftEye[:])
	re := centroid(m, face.MeshImageRightEye[:])
	dl, dr := dist(le, f.Kps[face.LeftEye]), dist(re, f.Kps[face.RightEye])
	t.Logf("%s: presence %.1f, eye centres %.1f%% / %.1f%% of the eye distance (%.0f px) from the detector's",
		name, m.Presence, 100*dl/eyeDist, 100*dr/eyeDist, eyeDist)
	if dl > eyeTol*eyeDist || dr > eyeTol*eyeDist {
		t.Errorf("%s: mesh eye centres %v %v are %.1f / %.1f px from the detector's %v %v (limit %.1f)",
			name, le, re, dl, dr, f.Kps[face.LeftEye], f.Kps[face.RightEye], eyeTol*eyeDist)
	}
	oval := m.Polygon(nil, face.MeshFaceOval[:])
	for i, k := range f.Kps {
		if !insidePolygon(k, oval) {
			t.Errorf("%s: keypoint %d %v outside the face oval", name, i, k)
		}
	}
	// Named points sit where their names say (upright faces).
	p := m.Points
	if !(p[face.MeshImageLeftEyeOuter].X < p[face.MeshImageLeftEyeInner].X &&
		p[face.MeshImageLeftEyeInner].X < p[face.MeshImageRightEyeInner].X &&
		p[face.MeshImageRightEyeInner].X < p[face.MeshImageRightEyeOuter].X) {
		t.Errorf("%s: eye corners out of order", name)
	}
	if !(p[face.MeshImageLeftEyeUpper].Y < p[face.MeshImageLeftEyeLower].Y &&
		p[face.MeshImageRightEyeUpper].Y < p[face.MeshImageRightEyeLower].Y &&
		p[face.MeshUpperLipInner].Y <= p[face.MeshLowerLipInner].Y &&
		p[face.MeshForeheadTop].Y < p[face.MeshNoseTip].Y && p[face.MeshNoseTip].Y < p[face.MeshChin].Y &&
		p[face.MeshMouthImageLeft].X < p[face.MeshMouthImageRight].X) {
		t.Errorf("%s: lids, lips, forehead/nose/chin or mouth corners out of order", name)
	}
	// The oval runs clockwise on the screen (positive SignedArea).
	var area float64
	for i := 1; i+1 < len(oval); i++ {
		area += face.SignedArea(oval[0], oval[i], oval[i+1])
	}
	if area <= 0 {
		t.Errorf("%s: face oval area %.0f, want positive (clockwise on the screen)", name, area)
	}
}

func TestFaceMeshLandmarks(t *testing.T) {
	d := newYuNet(t, yunet2026)
	lm := newFaceMesh(t)
	for _, c := range []struct {
		name   string
		eyeTol float64
	}{
		// Grace Hopper wears glasses: YuNet puts her eye keypoints up to 11.5% of the eye distance off her eyes
		// (the keypoint of the eye on the image's right sits below it), while the mesh contours lie on the lids
		// (checked on a 6x drawing).
		{"grace_hopper.jpg", 0.125},
		{"astronaut_eileen_collins.png", 0.1},
		{"pexels_keijiro_facelandmark_Test2.jpg", 0.1},
		{"pexels_keijiro_facelandmark_Test1.jpg", 0.1},
	} {
		name := c.name
		img := readFace(t, name)
		f := largestFace(t, d, img)
		m := landmarks(t, lm, img, f)
		checkMesh(t, name, f, m, c.eyeTol)
		l, r := face.EyeOpenness(m)
		t.Logf("%s: eye openness %.3f / %.3f, mouth %.3f", name, l, r, face.MouthOpenness(m))
		if os.Getenv("FACEFLEET_TEST_OUT") != "" {
			writeMeshDrawing(t, "mesh_"+strings.TrimSuffix(name, filepath.Ext(name))+".png", img, f, m, nil)
		}
	}
}

// TestFaceMeshTiltedHead rotates a face by 30 degrees: the crop follows the eye line, so the mesh rotates with it.
func TestFaceMeshTiltedHead(t *testing.T) {
	d := newYuNet(t, yunet2026)
	lm := newFaceMesh(t)
	img := readFace(t, "grace_hopper.jpg")
	f := largestFace(t, d, img)
	m := landmarks(t, lm, img, f)

	c := f.Box.Center()
	rot := gocv.GetRotationMatrix2D(image.Pt(int(c.X), int(c.Y)), 30, 1)
	defer rot.Close()
	var a face.Affine
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			a[i][j] = rot.GetDoubleAt(i, j)
		}
	}
	tilted := gocv.NewMat()
	defer tilted.Close()
	gocv.WarpAffineWithParams(img, &tilted, rot, image.Pt(img.Cols(), img.Rows()), gocv.InterpolationLinear,
		gocv.BorderReplicate, color.RGBA{})
	ft := largestFace(t, d, tilted)
	mt := landmarks(t, lm, tilted, ft)
	if mt.Presence <= 0 {
		t.Fatalf("tilted: presence %.1f", mt.Presence)
	}
	var worst, sum float64
	for i := range m.Points {
		e := dist(a.Apply(m.Points[i]), mt.Points[i])
		sum += e
		worst = max(worst, e)
	}
	eyeDist := dist(f.Kps[face.LeftEye], f.Kps[face.RightEye])
	t.Logf("tilted 30 deg: mean error %.1f px, worst %.1f px (eye distance %.0f)", sum/face.MeshPoints, worst, eyeDist)
	if sum/face.MeshPoints > 0.05*eyeDist {
		t.Errorf("mean landmark error after rotation %.1f px, want < 5%% of the eye distance", sum/face.MeshPoints)
	}
	if os.Getenv("FACEFLEET_TEST_OUT") != "" {
		writeMeshDrawing(t, "mesh_tilted.png", tilted, ft, mt, nil)
	}
}

func TestFaceMeshNoFace(t *testing.T) {
	lm := newFaceMesh(t)
	img := readFace(t, "grace_hopper.jpg")
	// A background patch (top-left corner) framed as if a face were there.
	f := face.Face{Box: face.Box{X1: 5, Y1: 5, X2: 85, Y2: 85}, Kps: [5]face.Point{{X: 25, Y: 35}, {X: 65, Y: 35}, {X: 45, Y: 50}, {X: 30, Y: 70}, {X: 60, Y: 70}}}
	m := landmarks(t, lm, img, f)
	t.Logf("background presence logit %.1f", m.Presence)
	if m.Presence >= 0 {
		t.Errorf("background crop: presence logit %.1f, want < 0", m.Presence)
	}
}

func TestFaceMeshConfig(t *testing.T) {
	initORT(t)
	model := testenv.Model(t, faceMeshModel)
	for _, bad := range []FaceMeshConfig{{}, {ModelPath: model, Margin: -0.1}, {ModelPath: model, Margin: float32(math.NaN())}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	if _, err := NewFaceMesh(FaceMeshConfig{ModelPath: testenv.Model(t, yunet2026)}); err == nil ||
		!strings.Contains(err.Error(), "not a MediaPipe Face Mesh model") {
		t.Errorf("YuNet model: %v", err)
	}
	m, err := NewFaceMesh(FaceMeshConfig{ModelPath: model, Session: testSession})
	if err != nil {
		t.Fatal(err)
	}
	img := readFace(t, "grace_hopper.jpg")
	if _, err := m.Landmarks(img, face.Face{Box: face.Box{X1: 2000, Y1: 2000, X2: 2100, Y2: 2100}}); err == nil {
		t.Error("a face outside the image was accepted")
	}
	gray := gocv.NewMatWithSize(10, 10, gocv.MatTypeCV8UC1)
	defer gray.Close()
	if _, err := m.Landmarks(gray, face.Face{Box: face.Box{X1: 0, Y1: 0, X2: 5, Y2: 5}}); err == nil {
		t.Error("grey image accepted")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Landmarks(img, face.Face{Box: face.Box{X1: 0, Y1: 0, X2: 50, Y2: 50}}); err == nil {
		t.Error("Landmarks after Close succeeded")
	}
}

// writeMeshDrawing draws the mesh on a copy of img around the face (for looking at, with FACEFLEET_TEST_OUT): every
// point in grey, the face oval in yellow, the eye contours in green (image-left) and cyan (image-right), the inner
// lips in magenta, the named points in red with their index, and the triangles when given.
func writeMeshDrawing(tb testing.TB, name string, img gocv.Mat, f face.Face, m face.Mesh, tris []face.Triangle) {
	tb.Helper()
	r := f.Box.Expand(1.6).Clamp(img.Cols(), img.Rows())
	roi := img.Region(r)
	crop := gocv.NewMat()
	gocv.Resize(roi, &crop, image.Pt(r.Dx()*3, r.Dy()*3), 0, 0, gocv.InterpolationLinear)
	roi.Close()
	defer crop.Close()
	at := func(i int) image.Point {
		p := m.Points[i]
		return image.Pt(int(3*(p.X-float32(r.Min.X))), int(3*(p.Y-float32(r.Min.Y))))
	}
	for _, tr := range tris {
		gocv.Line(&crop, at(tr[0]), at(tr[1]), color.RGBA{90, 90, 200, 0}, 1)
		gocv.Line(&crop, at(tr[1]), at(tr[2]), color.RGBA{90, 90, 200, 0}, 1)
		gocv.Line(&crop, at(tr[2]), at(tr[0]), color.RGBA{90, 90, 200, 0}, 1)
	}
	for i := range m.Points {
		gocv.Circle(&crop, at(i), 2, color.RGBA{180, 180, 180, 0}, -1)
	}
	poly := func(idx []int, c color.RGBA) {
		for k := range idx {
			gocv.Line(&crop, at(idx[k]), at(idx[(k+1)%len(idx)]), c, 2)
		}
	}
	poly(face.MeshFaceOval[:], color.RGBA{0, 255, 255, 0})
	poly(face.MeshImageLeftEye[:], color.RGBA{0, 255, 0, 0})
	poly(face.MeshImageRightEye[:], color.RGBA{255, 255, 0, 0})
	poly(face.MeshInnerLips[:], color.RGBA{255, 0, 255, 0})
	for _, i := range []int{face.MeshImageLeftEyeOuter, face.MeshImageLeftEyeInner, face.MeshImageLeftEyeUpper,
		face.MeshImageLeftEyeLower, face.MeshImageRightEyeInner, face.MeshImageRightEyeOuter, face.MeshImageRightEyeUpper,
		face.MeshImageRightEyeLower, face.MeshUpperLipInner, face.MeshLowerLipInner, face.MeshMouthImageLeft,
		face.MeshMouthImageRight, face.MeshForeheadTop, face.MeshChin, face.MeshNoseTip, face.MeshFaceOval[1]} {
		gocv.Circle(&crop, at(i), 4, color.RGBA{0, 0, 255, 0}, -1)
		gocv.PutText(&crop, itoa(i), at(i).Add(image.Pt(5, -5)), gocv.FontHersheyPlain, 1.2, color.RGBA{0, 0, 255, 0}, 2)
	}
	writeResult(tb, name, crop)
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}
