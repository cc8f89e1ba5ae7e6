package processor

import (
	"image"
	"image/color"
	"math"
	"testing"

	"gocv.io/x/gocv"
)

// TestMotionPatchShift moves a real face by known amounts (sub-pixel, either way) and finds them back to half a
// pixel (the 220-pixel box is sampled at 3.4 pixels a sample), with a high response; a picture that changed
// wholly gives a low one.
func TestMotionPatchShift(t *testing.T) {
	img := readFace(t, "grace_hopper.jpg")
	box := image.Rect(150, 120, 370, 380)
	p, err := NewMotionPatch(img, box)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ dx, dy float64 }{{0, 0}, {3, -2}, {-6.5, 4.25}, {1.3, 0.6}, {12, 9}} {
		moved := gocv.NewMat()
		m := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
		for i, v := range []float64{1, 0, tt.dx, 0, 1, tt.dy} {
			m.SetDoubleAt(i/3, i%3, v)
		}
		gocv.WarpAffineWithParams(img, &moved, m, image.Pt(img.Cols(), img.Rows()), gocv.InterpolationLinear,
			gocv.BorderReplicate, color.RGBA{})
		dx, dy, response, err := p.Shift(moved)
		m.Close()
		moved.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("moved (%.2f, %.2f): found (%.2f, %.2f), response %.2f", tt.dx, tt.dy, dx, dy, response)
		if math.Abs(float64(dx)-tt.dx) > 0.5 || math.Abs(float64(dy)-tt.dy) > 0.5 || response < 0.3 {
			t.Errorf("moved (%.2f, %.2f): found (%.2f, %.2f), response %.2f", tt.dx, tt.dy, dx, dy, response)
		}
	}
	other := readFace(t, "apollo11_crew_3faces.jpg")
	if other.Cols() >= box.Max.X && other.Rows() >= box.Max.Y {
		_, _, response, err := p.Shift(other)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("another picture: response %.2f", response)
		if response > 0.3 {
			t.Errorf("another picture: response %.2f, want a low one", response)
		}
	}
	if _, _, _, err := p.Shift(gocv.NewMatWithSize(100, 100, gocv.MatTypeCV8UC3)); err == nil {
		t.Error("a frame smaller than the patch's region: no error")
	}
}

// BenchmarkMotionPatch times what a frame between the landmark model's runs costs the follower: one patch of a
// 300x360 face box sampled and its shift measured (the anchor's patch is sampled once per model run).
func BenchmarkMotionPatch(b *testing.B) {
	img := readFace(b, "grace_hopper.jpg")
	box := image.Rect(100, 100, 400, 460)
	p, err := NewMotionPatch(img, box)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, _, err := p.Shift(img); err != nil {
			b.Fatal(err)
		}
	}
}
