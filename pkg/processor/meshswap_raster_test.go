package processor

import (
	"math/rand"
	"testing"

	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

// rasterSwap is a MeshSwap with a random w x h source and a full source mask, for testing the rasteriser alone.
func rasterSwap(t *testing.T, w, h int) *MeshSwap {
	t.Helper()
	src := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	t.Cleanup(func() { src.Close() })
	pix, err := src.DataPtrUint8()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(3))
	for i := range pix {
		pix[i] = uint8(rng.Intn(256))
	}
	mask := make([]uint8, w*h)
	for i := range mask {
		mask[i] = 255
	}
	return &MeshSwap{src: src, srcPix: pix, srcW: w, srcH: h, srcMask: mask}
}

// TestDrawTriangleTiles: triangles sharing edges cover every pixel of their union exactly, with no gaps, and an
// identity mapping copies the source.
func TestDrawTriangleTiles(t *testing.T) {
	const w, h = 40, 30
	s := rasterSwap(t, w, h)
	dst := make([]uint8, 3*w*h)
	cover := make([]uint8, w*h)
	// A fan of triangles around an off-grid centre, tiling the rectangle [2.5, 37.3] x [1.2, 28.9].
	c := face.Point{X: 17.37, Y: 13.61}
	ring := []face.Point{{X: 2.5, Y: 1.2}, {X: 20.1, Y: 1.2}, {X: 37.3, Y: 1.2}, {X: 37.3, Y: 28.9}, {X: 11, Y: 28.9}, {X: 2.5, Y: 28.9}}
	area := 0.0
	for i := range ring {
		tri := [3]face.Point{c, ring[i], ring[(i+1)%len(ring)]}
		area += face.SignedArea(tri[0], tri[1], tri[2])
		s.drawTriangle(dst, cover, w, h, tri, tri)
	}
	if want := (37.3 - 2.5) * (28.9 - 1.2); area < want*0.999 || area > want*1.001 {
		t.Fatalf("fan area %v, want %v: the fan is not clockwise on the screen", area, want)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			in := x >= 3 && x <= 37 && y >= 2 && y <= 28
			if got := cover[y*w+x] != 0; got != in {
				t.Errorf("pixel (%d,%d): covered %v, want %v", x, y, got, in)
			}
			if in {
				for ch := 0; ch < 3; ch++ {
					if d := int(dst[3*(y*w+x)+ch]) - int(s.srcPix[3*(y*w+x)+ch]); d < -1 || d > 1 {
						t.Errorf("pixel (%d,%d) channel %d: %d, source %d", x, y, ch, dst[3*(y*w+x)+ch], s.srcPix[3*(y*w+x)+ch])
					}
				}
			}
		}
	}
	// A folded (counter-clockwise) or flat triangle draws nothing.
	clear(cover)
	s.drawTriangle(dst, cover, w, h, [3]face.Point{c, ring[1], ring[0]}, [3]face.Point{c, ring[0], ring[1]})
	s.drawTriangle(dst, cover, w, h, [3]face.Point{{X: 1, Y: 1}, {X: 5, Y: 5}, {X: 9, Y: 9}}, [3]face.Point{c, ring[0], ring[1]})
	for i, v := range cover {
		if v != 0 {
			t.Fatalf("a folded or flat triangle drew pixel %d", i)
		}
	}
}

func TestFillPolygon(t *testing.T) {
	const w, h = 20, 20
	s := &MeshSwap{}
	buf := make([]uint8, w*h)
	// A square from (2.5, 3.5) to (12.5, 9.5) covers x 3..12, y 4..9: 10 x 6 pixels; one past the image edge is clipped.
	s.fillPolygon(buf, w, h, []face.Point{{X: 2.5, Y: 3.5}, {X: 12.5, Y: 3.5}, {X: 12.5, Y: 9.5}, {X: 2.5, Y: 9.5}}, 7)
	s.fillPolygon(buf, w, h, []face.Point{{X: 15.5, Y: -3}, {X: 30, Y: -3}, {X: 30, Y: 1.5}, {X: 15.5, Y: 1.5}}, 9)
	n7, n9 := 0, 0
	for _, v := range buf {
		switch v {
		case 7:
			n7++
		case 9:
			n9++
		}
	}
	if n7 != 60 || n9 != 4*2 {
		t.Errorf("filled %d and %d pixels, want 60 and 8", n7, n9)
	}
	// Offsetting: a square of half-side 10 pulled in by 4 along the diagonals, pushed out by 2.
	sq := []face.Point{{X: 0, Y: 0}, {X: 20, Y: 0}, {X: 20, Y: 20}, {X: 0, Y: 20}}
	in := offsetPolygon(append([]face.Point(nil), sq...), -4*1.41421356)
	if d := in[0].X - 4; d < -1e-3 || d > 1e-3 {
		t.Errorf("shrunk corner %v, want (4, 4)", in[0])
	}
	out := offsetPolygon(append([]face.Point(nil), sq...), 2*1.41421356)
	if d := out[2].X - 22; d < -1e-3 || d > 1e-3 {
		t.Errorf("grown corner %v, want (22, 22)", out[2])
	}
	if gone := offsetPolygon(append([]face.Point(nil), sq...), -100); gone[1] != (face.Point{X: 10, Y: 10}) {
		t.Errorf("over-shrunk corner %v, want the centroid", gone[1])
	}
}
