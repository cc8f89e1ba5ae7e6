package quality

import (
	"math"
	"testing"

	"github.com/facefleet/facefleet/pkg/face"
)

func TestIdentityDistance(t *testing.T) {
	for _, c := range []struct {
		name    string
		a, b    []float32
		want    float64
		wantErr bool
	}{
		{"same", []float32{1, 2, 3}, []float32{1, 2, 3}, 0, false},
		{"scaled", []float32{1, 2, 3}, []float32{2, 4, 6}, 0, false},
		{"orthogonal", []float32{1, 0}, []float32{0, 5}, 1, false},
		{"opposite", []float32{1, 1}, []float32{-1, -1}, 2, false},
		{"lengths differ", []float32{1}, []float32{1, 2}, 0, true},
		{"zero", []float32{0, 0}, []float32{1, 2}, 0, true},
		{"NaN", []float32{float32(math.NaN()), 1}, []float32{1, 2}, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := IdentityDistance(c.a, c.b)
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v, want error %v", err, c.wantErr)
			}
			if !c.wantErr && math.Abs(got-c.want) > 1e-6 {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

// meshAt is a synthetic mesh: every point on a grid, the two eye contours' centres 100 px apart.
func meshAt() face.Mesh {
	var m face.Mesh
	for i := range m.Points {
		m.Points[i] = face.Point{X: float32(100 + i%20*10), Y: float32(100 + i/20*10)}
	}
	for _, i := range face.MeshImageLeftEye {
		m.Points[i] = face.Point{X: 150, Y: 200}
	}
	for _, i := range face.MeshImageRightEye {
		m.Points[i] = face.Point{X: 250, Y: 200}
	}
	return m
}

func TestExpressionError(t *testing.T) {
	target := meshAt()
	shift := func(dx, dy float32) face.Mesh {
		m := target
		for i := range m.Points {
			m.Points[i].X += dx
			m.Points[i].Y += dy
		}
		return m
	}
	mouthOpen := target
	for _, i := range face.MeshInnerLips { // 20 of 468 points move 46.8 px: mean 2 px
		mouthOpen.Points[i].Y += 46.8
	}
	flat := target
	for _, i := range face.MeshImageRightEye {
		flat.Points[i] = flat.Points[face.MeshImageLeftEye[0]]
	}
	for _, c := range []struct {
		name    string
		swap    face.Mesh
		target  face.Mesh
		want    float64
		wantErr bool
	}{
		{"same", target, target, 0, false},
		{"shifted 3,4", shift(3, 4), target, 5.0 / 100, false},
		{"mouth moved", mouthOpen, target, 2.0 / 100, false},
		{"no eyes apart", target, flat, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ExpressionError(&c.swap, &c.target)
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v, want error %v", err, c.wantErr)
			}
			if !c.wantErr && math.Abs(got-c.want) > 1e-4 {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

// fill is a w x h BGR image of one colour.
func fill(n int, b, g, r uint8) []uint8 {
	p := make([]uint8, 3*n)
	for i := 0; i < n; i++ {
		p[3*i], p[3*i+1], p[3*i+2] = b, g, r
	}
	return p
}

func TestArtefactShare(t *testing.T) {
	const n = 100
	mask := make([]uint8, n)
	for i := 0; i < 50; i++ { // the face: the first half
		mask[i] = 1
	}
	skin := fill(n, 120, 150, 200)
	dark := fill(n, 60, 90, 140)      // the source, darker: a re-tinted copy of it is no artefact
	striped := fill(n, 120, 150, 200) // the target with a red streak on 10 face pixels and on 10 outside
	for i := 20; i < 30; i++ {
		striped[3*i], striped[3*i+1], striped[3*i+2] = 20, 20, 160
	}
	for i := 70; i < 80; i++ {
		striped[3*i], striped[3*i+1], striped[3*i+2] = 20, 20, 160
	}
	half := fill(n, 90, 120, 170) // halfway between target and source: a blend
	for _, c := range []struct {
		name                 string
		swap, target, warped []uint8
		mask                 []uint8
		want                 float64
		wantErr              bool
	}{
		{"target kept", skin, skin, dark, mask, 0, false},
		{"source re-tinted to the target", skin, skin, dark, mask, 0, false},
		{"blend of both", half, skin, dark, mask, 0, false},
		{"streak on a fifth of the face", striped, skin, skin, mask, 0.2, false},
		{"empty mask", skin, skin, dark, make([]uint8, n), 0, true},
		{"sizes differ", skin[:30], skin, dark, mask, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ArtefactShare(c.swap, c.target, c.warped, c.mask)
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v, want error %v", err, c.wantErr)
			}
			if !c.wantErr && math.Abs(got-c.want) > 1e-9 {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestSquaredPSNR(t *testing.T) {
	const n = 10
	mask := make([]uint8, n)
	mask[0] = 1 // inside: never compared
	a := fill(n, 100, 100, 100)
	b := fill(n, 100, 100, 100)
	b[0] = 0 // differs only inside the mask
	c := fill(n, 110, 110, 110)
	for _, tc := range []struct {
		name string
		a, b []uint8
		want float64
	}{
		{"equal outside", a, b, math.Inf(1)},
		{"10 levels everywhere", a, c, 10 * math.Log10(255*255/100.0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Squared
			if err := s.AddOutside(tc.a, tc.b, mask); err != nil {
				t.Fatal(err)
			}
			if got := s.PSNR(); !(got == tc.want || math.Abs(got-tc.want) < 1e-9) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if got := (Squared{}).PSNR(); !math.IsNaN(got) {
		t.Errorf("nothing compared: got %v, want NaN", got)
	}
}

func TestFlicker(t *testing.T) {
	const n = 4
	mask := []uint8{1, 1, 0, 0}
	frame := func(v uint8) []uint8 { return fill(n, v, v, v) }
	for _, c := range []struct {
		name           string
		swaps, targets [][]uint8
		want           float64
	}{
		{"still", [][]uint8{frame(50), frame(50), frame(50)}, [][]uint8{frame(80), frame(80), frame(80)}, 0},
		{"moves as the target", [][]uint8{frame(50), frame(60), frame(50)}, [][]uint8{frame(80), frame(90), frame(80)}, 0},
		{"swap flickers 6 levels", [][]uint8{frame(50), frame(56), frame(50)}, [][]uint8{frame(80), frame(80), frame(80)}, 6},
		{"swap steadier than the target", [][]uint8{frame(50), frame(50)}, [][]uint8{frame(80), frame(84)}, -4},
		{"one frame", [][]uint8{frame(50)}, [][]uint8{frame(80)}, math.NaN()},
	} {
		t.Run(c.name, func(t *testing.T) {
			var f Flicker
			for i := range c.swaps {
				if err := f.Add(c.swaps[i], c.targets[i], mask); err != nil {
					t.Fatal(err)
				}
			}
			got := f.Value()
			if math.IsNaN(c.want) != math.IsNaN(got) || !math.IsNaN(got) && math.Abs(got-c.want) > 1e-9 {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestWarpIdentityAndShift(t *testing.T) {
	const w, h = 40, 40
	src := make([]uint8, 3*w*h)
	for i := range src {
		src[i] = uint8(i / 3 % w * 5) // a horizontal ramp: value = 5x
	}
	var from face.Mesh
	from.Points[0], from.Points[1], from.Points[2], from.Points[3] = face.Point{X: 5, Y: 5}, face.Point{X: 30, Y: 5}, face.Point{X: 30, Y: 30}, face.Point{X: 5, Y: 30}
	tris := []face.Triangle{{0, 1, 2}, {0, 2, 3}}
	for _, c := range []struct {
		name string
		dx   float32
	}{{"identity", 0}, {"shifted 4 px right", 4}} {
		t.Run(c.name, func(t *testing.T) {
			to := from
			for i := 0; i < 4; i++ {
				to.Points[i].X += c.dx
			}
			dst := make([]uint8, 3*w*h)
			if n := Warp(dst, w, h, src, w, h, &from, &to, tris); n < 25*25 {
				t.Fatalf("drew %d pixels", n)
			}
			x, y := 20+int(c.dx), 20
			if got, want := dst[3*(y*w+x)], uint8(5*20); got != want {
				t.Errorf("pixel (%d,%d) = %d, want %d (source x 20)", x, y, got, want)
			}
		})
	}
}

func TestFillPolygon(t *testing.T) {
	const w, h = 10, 10
	for _, c := range []struct {
		name string
		poly []face.Point
		want int
	}{
		{"square 2..5: rows 2-4 (the bottom edge is open), columns 2-5", []face.Point{{X: 2, Y: 2}, {X: 5, Y: 2}, {X: 5, Y: 5}, {X: 2, Y: 5}}, 12},
		{"clipped at the frame", []face.Point{{X: -5, Y: -5}, {X: 20, Y: -5}, {X: 20, Y: 20}, {X: -5, Y: 20}}, 100},
		{"degenerate", []face.Point{{X: 1, Y: 1}, {X: 3, Y: 3}}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := make([]uint8, w*h)
			FillPolygon(m, w, h, c.poly, 1)
			got := 0
			for _, v := range m {
				got += int(v)
			}
			if got != c.want {
				t.Errorf("%d pixels, want %d", got, c.want)
			}
		})
	}
}
