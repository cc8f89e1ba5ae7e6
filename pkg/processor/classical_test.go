package processor

import (
	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/internal/testimage"
	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
	"image"
	"image/color"
	"strings"
	"testing"
)

// newAstronautSwapper builds a Classical swapper with the astronaut as source and closes its source Mat at once,
// as callers may.
func newAstronautSwapper(t testing.TB, d Detector, cfg ClassicalConfig) *Classical {
	t.Helper()
	src := testimage.Read(t, testenv.Face(t, "astronaut_eileen_collins.png"))
	faces := detect(t, d, src)
	big, ok := face.Largest(faces)
	if !ok {
		t.Fatal("no source face")
	}
	s, err := NewClassical(src, big, cfg)
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// swapAndCompare swaps every detected face of img (which it leaves untouched) and returns the per-box mean absolute
// difference and the number of bytes changed outside every box.
func swapAndCompare(t *testing.T, s Swapper, d Detector, img gocv.Mat, name string) ([]face.Face, []float64, int) {
	t.Helper()
	faces := detect(t, d, img)
	out := img.Clone()
	defer out.Close()
	if err := s.Swap(out, faces); err != nil {
		t.Fatal(err)
	}
	writeResult(t, name, out)
	inside, outside := compareRegions(t, img, out, clampedBoxes(faces, img.Cols(), img.Rows()))
	return faces, inside, outside
}

func TestClassicalSwapGraceHopper(t *testing.T) {
	d := newYuNet(t, yunet2026)
	for _, c := range []struct {
		name string
		cfg  ClassicalConfig
	}{
		{"default", DefaultClassicalConfig()},
		{"alpha", ClassicalConfig{MaskBlur: 0.1, ColorTransfer: true}},
		{"plain", ClassicalConfig{}},
		{"poisson", ClassicalConfig{MaskBlur: 0.1, Poisson: true, ColorTransfer: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newAstronautSwapper(t, d, c.cfg)
			grace := readFace(t, "grace_hopper.jpg")
			faces, inside, outside := swapAndCompare(t, s, d, grace, "grace_swapped_"+c.name+".png")
			if len(faces) != 1 {
				t.Fatalf("%d faces", len(faces))
			}
			t.Logf("mean abs difference inside the box %.1f, bytes changed outside %d", inside[0], outside)
			if inside[0] < 15 {
				t.Errorf("face barely changed: mean abs difference %.1f", inside[0])
			}
			if outside != 0 {
				t.Errorf("%d bytes changed outside the face box", outside)
			}
			// The swapped face is still a face where the target was.
			again := detect(t, d, readSwapped(t, s, grace, faces))
			if len(again) != 1 || again[0].Box.IoU(faces[0].Box) < 0.5 {
				t.Errorf("no face found at the target after the swap: %+v", again)
			}
		})
	}
}

func readSwapped(t *testing.T, s Swapper, img gocv.Mat, faces []face.Face) gocv.Mat {
	t.Helper()
	out := img.Clone()
	t.Cleanup(func() { out.Close() })
	if err := s.Swap(out, faces); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestClassicalSwapAtFrameEdge(t *testing.T) {
	d := newYuNet(t, yunet2026)
	s := newAstronautSwapper(t, d, DefaultClassicalConfig())
	grace := readFace(t, "grace_hopper.jpg")
	full := detect(t, d, grace)[0].Box
	// Cut the image through the face, at each edge in turn, so the face box crosses the border.
	cx, cy := int(full.Center().X), int(full.Center().Y)
	for _, c := range []struct {
		name string
		r    image.Rectangle
	}{
		{"left", image.Rect(cx-40, 0, 512, 600)},
		{"top", image.Rect(0, cy-60, 512, 600)},
		{"right", image.Rect(0, 0, cx+40, 600)},
		{"bottom", image.Rect(0, 0, 512, cy+50)},
		{"corner", image.Rect(cx-50, cy-70, 512, 600)},
	} {
		t.Run(c.name, func(t *testing.T) {
			roi := grace.Region(c.r)
			img := roi.Clone()
			roi.Close()
			defer img.Close()
			// The detector may or may not find the cut face; swap at the known position either way.
			moved := face.Face{Box: shiftBox(full, c.r.Min), Score: 1}
			for i, p := range detect(t, d, grace)[0].Kps {
				moved.Kps[i] = face.Point{X: p.X - float32(c.r.Min.X), Y: p.Y - float32(c.r.Min.Y)}
			}
			out := img.Clone()
			defer out.Close()
			if err := s.Swap(out, []face.Face{moved}); err != nil {
				t.Fatal(err)
			}
			writeResult(t, "edge_"+c.name+".png", out)
			inside, outside := compareRegions(t, img, out, clampedBoxes([]face.Face{moved}, img.Cols(), img.Rows()))
			if outside != 0 {
				t.Errorf("%d bytes changed outside the box", outside)
			}
			if inside[0] < 5 {
				t.Errorf("edge face barely changed: %.1f", inside[0])
			}
			// And whatever the detector finds on the cut image is swapped without error.
			if err := s.Swap(out, detect(t, d, img)); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Boxes wholly outside the frame or degenerate are skipped, not errors.
	out := grace.Clone()
	defer out.Close()
	off := face.Face{Box: face.Box{X1: 600, Y1: 700, X2: 700, Y2: 800}}
	for i := range off.Kps {
		off.Kps[i] = face.Point{X: 650 + float32(i), Y: 750 + float32(i%2)}
	}
	tiny := face.Face{Box: face.Box{X1: 10, Y1: 10, X2: 14, Y2: 15}, Kps: off.Kps}
	if err := s.Swap(out, []face.Face{off, tiny}); err != nil {
		t.Fatal(err)
	}
	if _, changed := compareRegions(t, grace, out, nil); changed != 0 {
		t.Errorf("skipped faces changed %d bytes", changed)
	}
}

func shiftBox(b face.Box, o image.Point) face.Box {
	return face.Box{X1: b.X1 - float32(o.X), Y1: b.Y1 - float32(o.Y), X2: b.X2 - float32(o.X), Y2: b.Y2 - float32(o.Y)}
}

func TestClassicalSwapManyFaces(t *testing.T) {
	d := newYuNet(t, yunet2026)
	s := newAstronautSwapper(t, d, DefaultClassicalConfig())
	for _, name := range []string{"apollo11_crew_3faces.jpg", "pexels_keijiro_blazeface_Test3_3faces.jpg"} {
		img := readFace(t, name)
		faces, inside, outside := swapAndCompare(t, s, d, img, "many_"+name+".png")
		if len(faces) != 3 {
			t.Fatalf("%s: %d faces", name, len(faces))
		}
		t.Logf("%s: mean abs difference per box %.1f, bytes changed outside %d", name, inside, outside)
		for i, v := range inside {
			if v < 5 {
				t.Errorf("%s: face %d barely changed (%.1f)", name, i, v)
			}
		}
		if outside != 0 {
			t.Errorf("%s: %d bytes changed outside the boxes", name, outside)
		}
	}
}

func TestClassicalConfig(t *testing.T) {
	if err := DefaultClassicalConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []float32{-0.1, 0.6} {
		if err := (ClassicalConfig{MaskBlur: v}).Validate(); err == nil {
			t.Errorf("MaskBlur %v validated", v)
		}
	}
	img := readFace(t, "grace_hopper.jpg")
	good := face.Face{Box: face.Box{X1: 180, Y1: 120, X2: 350, Y2: 330},
		Kps: [5]face.Point{pt(227, 193), pt(307, 195), pt(266, 240), pt(228, 267), pt(302, 269)}}
	if _, err := NewClassical(gocv.NewMat(), good, DefaultClassicalConfig()); err == nil {
		t.Error("empty source accepted")
	}
	outside := good
	outside.Box = face.Box{X1: 1000, Y1: 1000, X2: 1100, Y2: 1100}
	if _, err := NewClassical(img, outside, DefaultClassicalConfig()); err == nil {
		t.Error("face outside the source accepted")
	}
	s, err := NewClassical(img, good, DefaultClassicalConfig())
	if err != nil {
		t.Fatal(err)
	}
	same := good
	same.Kps = [5]face.Point{pt(1, 1), pt(1, 1), pt(1, 1), pt(1, 1), pt(1, 1)}
	out := img.Clone()
	defer out.Close()
	if err := s.Swap(out, []face.Face{same}); err == nil || !strings.Contains(err.Error(), "face 0") {
		t.Errorf("degenerate landmarks: %v", err)
	}
	s.Close()
	s.Close()
	if err := s.Swap(out, []face.Face{good}); err == nil {
		t.Error("Swap after Close succeeded")
	}
}

func pt(x, y float32) face.Point { return face.Point{X: x, Y: y} }

// TestSeamlessCloneFlag pins the gocv v0.32.0 flag mismatch cvNormalClone works around: cloning a flat patch into
// a flat image of another level must give back the image's level (the Poisson solution keeps the boundary).
func TestSeamlessCloneFlag(t *testing.T) {
	src := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(100, 100, 100, 0), 100, 100, gocv.MatTypeCV8UC3)
	dst := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(150, 150, 150, 0), 100, 100, gocv.MatTypeCV8UC3)
	mask := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 0, 0, 0), 100, 100, gocv.MatTypeCV8UC1)
	out := gocv.NewMat()
	defer func() {
		for _, m := range []*gocv.Mat{&src, &dst, &mask, &out} {
			m.Close()
		}
	}()
	gocv.Circle(&mask, image.Pt(50, 50), 30, color.RGBA{255, 255, 255, 255}, -1)
	gocv.SeamlessClone(src, dst, mask, image.Pt(50, 50), &out, cvNormalClone)
	if v := out.GetVecbAt(50, 50)[0]; v < 148 || v > 152 {
		t.Errorf("normal clone of a flat patch: centre %d, want 150", v)
	}
	gocv.SeamlessClone(src, dst, mask, image.Pt(50, 50), &out, gocv.NormalClone)
	if v := out.GetVecbAt(50, 50)[0]; v >= 148 && v <= 152 {
		t.Logf("gocv.NormalClone now gives the normal clone (centre %d): cvNormalClone may be dropped", v)
	}
}
