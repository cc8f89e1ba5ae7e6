package face

import (
	"image"
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestBox(t *testing.T) {
	b := Box{10, 20, 30, 60}
	if b.Width() != 20 || b.Height() != 40 || b.Area() != 800 || b.Center() != (Point{20, 40}) {
		t.Fatalf("basic: %v %v %v %v", b.Width(), b.Height(), b.Area(), b.Center())
	}
	if (Box{5, 5, 4, 9}).Area() != 0 {
		t.Error("inverted box has area")
	}
	if e := b.Expand(1.5); e != (Box{5, 10, 35, 70}) {
		t.Errorf("Expand(1.5) = %v", e)
	}
	if e := b.Expand(0.5); e != (Box{15, 30, 25, 50}) {
		t.Errorf("Expand(0.5) = %v", e)
	}
	if r := (Box{-3.5, 2.2, 99.1, 40.9}).Clamp(50, 40); r != image.Rect(0, 2, 50, 40) {
		t.Errorf("Clamp = %v", r)
	}
	if r := (Box{60, 60, 70, 70}).Clamp(50, 40); !r.Empty() {
		t.Errorf("outside Clamp = %v, want empty", r)
	}
	if v := b.IoU(b); v != 1 {
		t.Errorf("self IoU = %v", v)
	}
	if v := b.IoU(Box{20, 20, 40, 60}); !near(float64(v), 400.0/1200, 1e-6) {
		t.Errorf("half-overlap IoU = %v", v)
	}
	if v := b.IoU(Box{100, 100, 110, 110}); v != 0 {
		t.Errorf("disjoint IoU = %v", v)
	}
}

func TestLargestSortNMS(t *testing.T) {
	if _, ok := Largest(nil); ok {
		t.Error("Largest(nil) ok")
	}
	faces := []Face{
		{Box: Box{0, 0, 10, 10}, Score: 0.9},
		{Box: Box{0, 0, 30, 30}, Score: 0.7},
		{Box: Box{1, 1, 11, 11}, Score: 0.8}, // overlaps the first
		{Box: Box{50, 50, 70, 70}, Score: 0.95},
	}
	if l, _ := Largest(faces); l.Score != 0.7 {
		t.Errorf("Largest = %+v", l)
	}
	kept := NMS(faces, 0.3)
	var scores []float32
	for _, f := range kept {
		scores = append(scores, f.Score)
	}
	if len(kept) != 3 || scores[0] != 0.95 || scores[1] != 0.9 || scores[2] != 0.7 {
		t.Errorf("NMS scores = %v", scores)
	}
	if faces[0].Score != 0.9 || faces[3].Score != 0.95 {
		t.Error("NMS modified its input")
	}
	SortByArea(faces)
	for i := 1; i < len(faces); i++ {
		if faces[i].Box.Area() > faces[i-1].Box.Area() {
			t.Fatalf("SortByArea not descending: %+v", faces)
		}
	}
}

func TestEstimateSimilarityRecoversKnownTransform(t *testing.T) {
	src := arcface112[:]
	for _, c := range []struct{ scale, angle, tx, ty float64 }{
		{1, 0, 0, 0}, {2.5, 0.3, 100, -40}, {0.4, -2.8, 7, 9}, {1.7, math.Pi / 2, -50, 300},
	} {
		want := Affine{
			{c.scale * math.Cos(c.angle), -c.scale * math.Sin(c.angle), c.tx},
			{c.scale * math.Sin(c.angle), c.scale * math.Cos(c.angle), c.ty},
		}
		dst := make([]Point, len(src))
		for i, p := range src {
			dst[i] = want.Apply(p)
		}
		got, err := EstimateSimilarity(src, dst)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			for j := 0; j < 3; j++ {
				tol := 1e-4 * math.Max(1, math.Abs(want[i][j]))
				if !near(got[i][j], want[i][j], tol) {
					t.Fatalf("%+v: got %v, want %v", c, got, want)
				}
			}
		}
		if !near(got.Scale(), c.scale, 1e-4) {
			t.Errorf("Scale() = %v, want %v", got.Scale(), c.scale)
		}
	}
}

func TestEstimateSimilarityLeastSquares(t *testing.T) {
	// Two points: exact. Mirrored points: a similarity cannot reflect, so the fit must not be exact and must
	// keep a positive determinant.
	a, err := EstimateSimilarity([]Point{{0, 0}, {1, 0}}, []Point{{10, 10}, {10, 12}})
	if err != nil {
		t.Fatal(err)
	}
	if p := a.Apply(Point{1, 0}); !near(float64(p.X), 10, 1e-6) || !near(float64(p.Y), 12, 1e-6) {
		t.Errorf("two-point fit maps (1,0) to %v", p)
	}
	src := []Point{{0, 0}, {1, 0}, {0, 1}}
	dst := []Point{{0, 0}, {-1, 0}, {0, 1}} // x mirrored
	m, err := EstimateSimilarity(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if det := m[0][0]*m[1][1] - m[0][1]*m[1][0]; det < 0 {
		t.Errorf("reflection fitted: %v", m)
	}
	// Noise: the fit on noisy points stays close to the truth.
	want := Affine{{0.8, -0.6, 5}, {0.6, 0.8, -3}}
	noise := []Point{{0.3, -0.2}, {-0.1, 0.25}, {0.05, 0.1}, {-0.2, -0.3}, {0.15, 0.2}}
	var dstN []Point
	for i, p := range arcface112 {
		q := want.Apply(p)
		dstN = append(dstN, Point{q.X + noise[i].X, q.Y + noise[i].Y})
	}
	got, _ := EstimateSimilarity(arcface112[:], dstN)
	for i := 0; i < 2; i++ {
		for j := 0; j < 2; j++ {
			if !near(got[i][j], want[i][j], 0.02) {
				t.Fatalf("noisy fit %v far from %v", got, want)
			}
		}
	}
	for _, bad := range [][2][]Point{
		{{{1, 1}}, {{2, 2}}},
		{{{1, 1}, {2, 2}}, {{1, 1}}},
		{{{3, 3}, {3, 3}}, {{1, 1}, {2, 2}}},
	} {
		if _, err := EstimateSimilarity(bad[0], bad[1]); err == nil {
			t.Errorf("EstimateSimilarity(%v, %v) succeeded", bad[0], bad[1])
		}
	}
}

func TestAffineInvertThen(t *testing.T) {
	a := Affine{{1.2, -0.4, 30}, {0.5, 0.9, -7}}
	inv, err := a.Invert()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []Point{{0, 0}, {100, 50}, {-20, 333}} {
		q := inv.Apply(a.Apply(p))
		if !near(float64(q.X), float64(p.X), 1e-3) || !near(float64(q.Y), float64(p.Y), 1e-3) {
			t.Errorf("round trip %v -> %v", p, q)
		}
	}
	id := a.Then(inv)
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			if !near(id[i][j], Identity[i][j], 1e-9) {
				t.Fatalf("a.Then(inv) = %v", id)
			}
		}
	}
	b := Translation(-10, 4)
	p := Point{3, 8}
	q1 := a.Then(b).Apply(p)
	q2 := b.Apply(a.Apply(p))
	if !near(float64(q1.X), float64(q2.X), 1e-4) || !near(float64(q1.Y), float64(q2.Y), 1e-4) {
		t.Errorf("Then order: %v vs %v", q1, q2)
	}
	if _, err := (Affine{{1, 2, 0}, {2, 4, 0}}).Invert(); err == nil {
		t.Error("singular matrix inverted")
	}
}

func TestTemplates(t *testing.T) {
	check := func(name string, got [5]Point, want [5]Point) {
		t.Helper()
		for i := range want {
			if !near(float64(got[i].X), float64(want[i].X), 1e-3) || !near(float64(got[i].Y), float64(want[i].Y), 1e-3) {
				t.Errorf("%s[%d] = %v, want %v", name, i, got[i], want[i])
			}
		}
	}
	check("arcface112", ArcFaceTemplate(112), [5]Point{
		{38.2946, 51.6963}, {73.5318, 51.5014}, {56.0252, 71.7366}, {41.5493, 92.3655}, {70.7299, 92.2041}})
	check("arcface128", ArcFaceTemplate(128), [5]Point{
		{46.2946, 51.6963}, {81.5318, 51.5014}, {64.0252, 71.7366}, {49.5493, 92.3655}, {78.7299, 92.2041}})
	check("arcface224", ArcFaceTemplate(224), [5]Point{
		{76.5892, 103.3926}, {147.0636, 103.0028}, {112.0504, 143.4732}, {83.0986, 184.731}, {141.4598, 184.4082}})
	check("arcface256", ArcFaceTemplate(256), [5]Point{
		{92.5892, 103.3926}, {163.0636, 103.0028}, {128.0504, 143.4732}, {99.0986, 184.731}, {157.4598, 184.4082}})
	check("ffhq512", FFHQTemplate(512), [5]Point{
		{192.98138, 239.94708}, {318.90277, 240.1936}, {256.63416, 314.01935}, {201.26117, 371.41043}, {313.08905, 371.15118}})
	check("ffhq256", FFHQTemplate(256), [5]Point{
		{96.49069, 119.97354}, {159.451385, 120.0968}, {128.31708, 157.009675}, {100.630585, 185.705215}, {156.544525, 185.57559}})
}
