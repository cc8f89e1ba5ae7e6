package face

import (
	"math"
	"math/rand"
	"testing"
)

// checkTriangulation asserts the properties every triangulation from Delaunay must have and returns the total area.
func checkTriangulation(t *testing.T, pts []Point, tris []Triangle) float64 {
	t.Helper()
	used := make([]bool, len(pts))
	var total float64
	for i, tr := range tris {
		for _, v := range tr {
			if v < 0 || v >= len(pts) {
				t.Fatalf("triangle %d %v: index out of range", i, tr)
			}
			used[v] = true
		}
		a := SignedArea(pts[tr[0]], pts[tr[1]], pts[tr[2]])
		if a <= 1e-9 {
			t.Errorf("triangle %d %v: area %g, want > 0", i, tr, a)
		}
		total += a
	}
	for i, u := range used {
		if !u {
			t.Errorf("point %d %v is in no triangle", i, pts[i])
		}
	}
	// No overlaps, no gaps: the triangles' areas add up to the convex hull's.
	hull := ConvexHull(pts)
	var hullArea float64
	for i := 1; i+1 < len(hull); i++ {
		hullArea += SignedArea(hull[0], hull[i], hull[i+1])
	}
	if math.Abs(total-hullArea) > 1e-6*hullArea {
		t.Errorf("triangles cover %.6f, convex hull %.6f", total, hullArea)
	}
	// Euler: a triangulation of n points with h on its boundary has 2n - 2 - h triangles.
	directed := map[[2]int]bool{}
	for _, tr := range tris {
		for e := 0; e < 3; e++ {
			directed[[2]int{tr[e], tr[(e+1)%3]}] = true
		}
	}
	h := 0
	for e := range directed {
		if !directed[[2]int{e[1], e[0]}] {
			h++
		}
	}
	if h < len(hull) {
		t.Errorf("%d boundary edges, fewer than the %d hull vertices", h, len(hull))
	}
	if want := 2*len(pts) - 2 - h; len(tris) != want {
		t.Errorf("%d triangles, want 2n-2-h = %d (n %d, h %d)", len(tris), want, len(pts), h)
	}
	return total
}

// emptyCircle counts (triangle, point) pairs that break the Delaunay property: a point strictly inside a
// triangle's circumcircle.
func emptyCircle(pts []Point, tris []Triangle) int {
	bad := 0
	for _, tr := range tris {
		a, b, c := pts[tr[0]], pts[tr[1]], pts[tr[2]]
		cx, cy, r2 := circumcircle([2]float64{float64(a.X), float64(a.Y)}, [2]float64{float64(b.X), float64(b.Y)},
			[2]float64{float64(c.X), float64(c.Y)})
		for i, p := range pts {
			if i == tr[0] || i == tr[1] || i == tr[2] {
				continue
			}
			dx, dy := float64(p.X)-cx, float64(p.Y)-cy
			if dx*dx+dy*dy < r2*(1-1e-9) {
				bad++
			}
		}
	}
	return bad
}

func TestDelaunayRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, n := range []int{3, 4, 10, 100, 468, 468, 468, 468, 468, 468, 468, 468} {
		pts := make([]Point, n)
		for i := range pts {
			pts[i] = Point{X: float32(rng.Float64() * 640), Y: float32(rng.Float64() * 480)}
		}
		tris, err := Delaunay(pts)
		if err != nil {
			t.Fatal(err)
		}
		checkTriangulation(t, pts, tris)
		if bad := emptyCircle(pts, tris); bad != 0 {
			t.Errorf("n=%d: %d points inside a circumcircle", n, bad)
		}
		t.Logf("n=%d: %d triangles", n, len(tris))
	}
}

// TestDelaunayGrid is the hard case for floating point: many cocircular points. Any triangulation of a square grid
// is Delaunay, so only the structure is checked.
func TestDelaunayGrid(t *testing.T) {
	var pts []Point
	for y := 0; y < 12; y++ {
		for x := 0; x < 15; x++ {
			pts = append(pts, Point{X: float32(10 * x), Y: float32(10 * y)})
		}
	}
	tris, err := Delaunay(pts)
	if err != nil {
		t.Fatal(err)
	}
	if area := checkTriangulation(t, pts, tris); math.Abs(area-140*110) > 1e-6 {
		t.Errorf("area %v, want %v", area, 140*110)
	}
}

func TestDelaunayErrors(t *testing.T) {
	if _, err := Delaunay([]Point{{0, 0}, {1, 1}}); err == nil {
		t.Error("two points accepted")
	}
	if _, err := Delaunay([]Point{{0, 0}, {1, 1}, {2, 2}, {3, 3}}); err == nil {
		t.Error("collinear points accepted")
	}
	if _, err := Delaunay([]Point{{5, 5}, {5, 5}, {5, 5}}); err == nil {
		t.Error("one repeated point accepted")
	}
	if _, err := Delaunay([]Point{{0, 0}, {1, 0}, {float32(math.NaN()), 1}}); err == nil {
		t.Error("NaN accepted")
	}
	// A duplicate is skipped, the rest triangulated.
	tris, err := Delaunay([]Point{{0, 0}, {10, 0}, {0, 10}, {10, 0}})
	if err != nil || len(tris) != 1 {
		t.Errorf("with a duplicate: %v %v", tris, err)
	}
}

func TestConvexHullAndClip(t *testing.T) {
	pts := []Point{{0, 0}, {10, 0}, {10, 10}, {0, 10}, {5, 5}, {5, 0}, {2, 7}}
	hull := ConvexHull(pts)
	if len(hull) != 4 {
		t.Fatalf("hull %v, want the 4 corners", hull)
	}
	for i := range hull {
		if SignedArea(hull[i], hull[(i+1)%4], hull[(i+2)%4]) <= 0 {
			t.Errorf("hull %v not in positive order", hull)
		}
	}
	// Keep x <= 4: a 4 x 10 rectangle.
	clipped := ClipPolygon(nil, hull, 1, 0, 4)
	var area float64
	for i := 1; i+1 < len(clipped); i++ {
		area += SignedArea(clipped[0], clipped[i], clipped[i+1])
	}
	if len(clipped) != 4 || math.Abs(area-40) > 1e-9 {
		t.Errorf("clipped %v, area %v, want 40", clipped, area)
	}
	if c := ClipPolygon(nil, hull, 1, 0, -1); len(c) != 0 {
		t.Errorf("clipped away entirely: %v", c)
	}
}

func TestMeshMeasures(t *testing.T) {
	var m Mesh
	// An eye 30 px wide, lids 9 px apart; a mouth 50 px wide, open 10 px.
	set := func(i int, x, y float32) { m.Points[i] = Point{x, y} }
	set(MeshImageLeftEyeOuter, 100, 100)
	set(MeshImageLeftEyeInner, 130, 100)
	for _, p := range imageLeftEyeLids {
		set(p[0], 115, 95.5)
		set(p[1], 115, 104.5)
	}
	set(MeshImageRightEyeInner, 160, 100)
	set(MeshImageRightEyeOuter, 190, 100)
	for _, p := range imageRightEyeLids { // closed
		set(p[0], 175, 100)
		set(p[1], 175, 101.5)
	}
	set(MeshMouthImageLeft, 120, 160)
	set(MeshMouthImageRight, 170, 160)
	set(MeshUpperLipInner, 145, 155)
	set(MeshLowerLipInner, 145, 165)
	l, r := EyeOpenness(m)
	if math.Abs(float64(l)-0.3) > 1e-6 || math.Abs(float64(r)-0.05) > 1e-6 {
		t.Errorf("eye openness %v %v, want 0.3 0.05", l, r)
	}
	if mo := MouthOpenness(m); math.Abs(float64(mo)-0.2) > 1e-6 {
		t.Errorf("mouth openness %v, want 0.2", mo)
	}
	var zero Mesh
	if l, r := EyeOpenness(zero); l != 0 || r != 0 || MouthOpenness(zero) != 0 {
		t.Error("collapsed mesh: want 0")
	}
	if !m.Finite() {
		t.Error("finite mesh reported not finite")
	}
	m.Z[3] = float32(math.Inf(1))
	if m.Finite() {
		t.Error("Inf not reported")
	}
	// Transform: a scale by 2 doubles points and depths.
	m.Z[3] = 1.5
	s := m.Transform(Affine{{2, 0, 0}, {0, 2, 0}})
	if s.Points[MeshMouthImageRight] != (Point{340, 320}) || s.Z[3] != 3 {
		t.Errorf("transform: %v %v", s.Points[MeshMouthImageRight], s.Z[3])
	}
}

// TestMeshIndexLists checks the index lists are in range, distinct and disjoint where they must be.
func TestMeshIndexLists(t *testing.T) {
	for name, l := range map[string][]int{
		"oval": MeshFaceOval[:], "left eye": MeshImageLeftEye[:], "right eye": MeshImageRightEye[:],
		"inner lips": MeshInnerLips[:], "outer lips": MeshOuterLips[:],
	} {
		seen := map[int]bool{}
		for _, i := range l {
			if i < 0 || i >= MeshPoints || seen[i] {
				t.Errorf("%s: index %d out of range or repeated", name, i)
			}
			seen[i] = true
		}
	}
	if len(MeshFaceOval) != 36 || len(MeshImageLeftEye) != 16 || len(MeshImageRightEye) != 16 || len(MeshInnerLips) != 20 {
		t.Errorf("list lengths %d %d %d %d", len(MeshFaceOval), len(MeshImageLeftEye), len(MeshImageRightEye), len(MeshInnerLips))
	}
}

func BenchmarkDelaunay468(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	pts := make([]Point, MeshPoints)
	for i := range pts {
		pts[i] = Point{X: float32(rng.Float64() * 200), Y: float32(rng.Float64() * 240)}
	}
	for i := 0; i < b.N; i++ {
		if _, err := Delaunay(pts); err != nil {
			b.Fatal(err)
		}
	}
}
