package watermark

import (
	"errors"
	"image"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/pipeline"
)

// changed counts the pixels of a and b that differ inside and outside box.
func changed(a, b gocv.Mat, box image.Rectangle) (in, out int) {
	pa, pb := a.ToBytes(), b.ToBytes()
	w := a.Cols()
	for i := 0; i < len(pa); i += 3 {
		if pa[i] != pb[i] || pa[i+1] != pb[i+1] || pa[i+2] != pb[i+2] {
			if (image.Point{X: (i / 3) % w, Y: (i / 3) / w}).In(box) {
				in++
			} else {
				out++
			}
		}
	}
	return in, out
}

// The mark changes pixels in the bottom-right corner only, on every frame size (a white frame shows the outline, a
// black one the text).
func TestDrawStaysInTheCorner(t *testing.T) {
	for _, size := range []image.Point{{1920, 1080}, {1080, 1920}, {640, 480}, {400, 300}, {64, 48}, {33, 17}} {
		for _, shade := range []float64{0, 128, 255} {
			frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(shade, shade, shade, 0), size.Y, size.X, gocv.MatTypeCV8UC3)
			orig := frame.Clone()
			Draw(frame)
			box := Box(size.X, size.Y)
			in, out := changed(orig, frame, box)
			if out != 0 || in < 10 {
				t.Errorf("%v shade %g: %d pixels changed in the box %v, %d outside", size, shade, in, box, out)
			}
			if box.Max.X < size.X*3/4 || box.Max.Y < size.Y*3/4 || box.Dx() > size.X/2+16 {
				t.Errorf("%v: box %v is not a small bottom-right corner", size, box)
			}
			frame.Close()
			orig.Close()
		}
	}
}

type counted struct{ batches, frames int }

func (c *counted) Process(gocv.Mat, int) error { c.frames++; return nil }
func (c *counted) ProcessBatch(f []gocv.Mat, _ []int) error {
	c.batches++
	c.frames += len(f)
	return nil
}
func (c *counted) Faces() (int, bool) { return 7, true }

// Wrap keeps what the pipeline and the worker read from a processor: its batches, its face count and its errors.
func TestWrapKeepsTheProcessor(t *testing.T) {
	frames := []gocv.Mat{gocv.NewMatWithSize(48, 64, gocv.MatTypeCV8UC3), gocv.NewMatWithSize(48, 64, gocv.MatTypeCV8UC3)}
	defer frames[0].Close()
	defer frames[1].Close()
	c := &counted{}
	m := Wrap(c)
	if err := m.ProcessBatch(frames, []int{0, 1}); err != nil || c.batches != 1 || c.frames != 2 {
		t.Fatalf("batch: %v, %+v", err, c)
	}
	if n, ok := m.Faces(); n != 7 || !ok {
		t.Fatalf("faces %d %v", n, ok)
	}
	if _, ok := any(m).(pipeline.PixelsUnused); ok {
		t.Fatal("a marked processor must not let frames pass by reference")
	}
	boom := errors.New("boom")
	fail := Wrap(pipeline.ProcessorFunc(func(gocv.Mat, int) error { return boom }))
	if err := fail.ProcessBatch(frames, []int{0, 1}); !errors.Is(err, boom) {
		t.Fatalf("error %v", err)
	}
	if n, ok := fail.Faces(); n != 0 || ok {
		t.Fatal("a processor that counts no faces reports none")
	}
}
