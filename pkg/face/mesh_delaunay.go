package face

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Triangle is three indices into a point set, ordered so that its signed area (SignedArea) is positive on the set
// it was built from.
type Triangle [3]int

// SignedArea is the signed area of triangle abc in image coordinates (y down): positive when a, b, c run clockwise
// on the screen, negative when counter-clockwise, zero when they are collinear. A triangle of a mesh whose area
// changes sign between two faces has folded over (a back-facing or collapsed part of the face).
func SignedArea(a, b, c Point) float64 {
	return 0.5 * ((float64(b.X)-float64(a.X))*(float64(c.Y)-float64(a.Y)) -
		(float64(b.Y)-float64(a.Y))*(float64(c.X)-float64(a.X)))
}

type dtri struct {
	v      [3]int
	cx, cy float64 // circumcentre
	r2     float64 // squared circumradius
	bad    bool
}

// Delaunay triangulates pts (Bowyer-Watson, O(n^2), meant to run once per source face, not per frame). Every
// returned triangle has a positive SignedArea; together they cover the convex hull of pts. A point at the same
// position as an earlier one (within 1e-6 px) is left out. It needs at least three points that are not collinear.
func Delaunay(pts []Point) ([]Triangle, error) {
	n := len(pts)
	if n < 3 {
		return nil, fmt.Errorf("face: Delaunay needs at least 3 points, got %d", n)
	}
	xy := make([][2]float64, n, n+3)
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for i, p := range pts {
		x, y := float64(p.X), float64(p.Y)
		if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
			return nil, fmt.Errorf("face: Delaunay point %d %v is not finite", i, p)
		}
		xy[i] = [2]float64{x, y}
		minX, minY, maxX, maxY = math.Min(minX, x), math.Min(minY, y), math.Max(maxX, x), math.Max(maxY, y)
	}
	span := math.Max(maxX-minX, maxY-minY)
	if span <= 0 {
		return nil, errors.New("face: Delaunay points are all the same point")
	}
	// A super-triangle far enough out that its vertices never lie in the circumcircle of a real triangle's
	// neighbourhood; triangles touching it are dropped at the end.
	mx, my := (minX+maxX)/2, (minY+maxY)/2
	d := 1024 * span
	xy = append(xy, [2]float64{mx - 2*d, my - d}, [2]float64{mx + 2*d, my - d}, [2]float64{mx, my + 2*d})

	mk := func(a, b, c int) dtri {
		pa, pb, pc := xy[a], xy[b], xy[c]
		if orient(pa, pb, pc) < 0 {
			b, c = c, b
			pb, pc = pc, pb
		}
		cx, cy, r2 := circumcircle(pa, pb, pc)
		return dtri{v: [3]int{a, b, c}, cx: cx, cy: cy, r2: r2}
	}
	tris := []dtri{mk(n, n+1, n+2)}

	// Insert points in x order: nearby points are inserted together, so each insertion disturbs few triangles.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		if xy[order[a]][0] != xy[order[b]][0] {
			return xy[order[a]][0] < xy[order[b]][0]
		}
		return xy[order[a]][1] < xy[order[b]][1]
	})

	type edge struct{ a, b int }
	var boundary []edge
	for k, i := range order {
		if k > 0 {
			j := order[k-1]
			if math.Abs(xy[i][0]-xy[j][0]) < 1e-6 && math.Abs(xy[i][1]-xy[j][1]) < 1e-6 {
				continue // duplicate
			}
		}
		px, py := xy[i][0], xy[i][1]
		boundary = boundary[:0]
		for t := range tris {
			dx, dy := px-tris[t].cx, py-tris[t].cy
			if dx*dx+dy*dy < tris[t].r2 {
				tris[t].bad = true
			}
		}
		// The boundary of the cavity: edges of bad triangles not shared with another bad triangle.
		counts := map[edge]int{}
		for _, t := range tris {
			if !t.bad {
				continue
			}
			for e := 0; e < 3; e++ {
				a, b := t.v[e], t.v[(e+1)%3]
				if a > b {
					a, b = b, a
				}
				counts[edge{a, b}]++
			}
		}
		for _, t := range tris {
			if !t.bad {
				continue
			}
			for e := 0; e < 3; e++ {
				a, b := t.v[e], t.v[(e+1)%3]
				ka, kb := a, b
				if ka > kb {
					ka, kb = kb, ka
				}
				if counts[edge{ka, kb}] == 1 {
					boundary = append(boundary, edge{a, b})
				}
			}
		}
		kept := tris[:0]
		for _, t := range tris {
			if !t.bad {
				kept = append(kept, t)
			}
		}
		tris = kept
		for _, e := range boundary {
			if math.Abs(orient(xy[e.a], xy[e.b], xy[i])) < 1e-12 {
				continue // collinear with the cavity edge: would be degenerate
			}
			tris = append(tris, mk(e.a, e.b, i))
		}
	}
	var out []Triangle
	for _, t := range tris {
		if t.v[0] >= n || t.v[1] >= n || t.v[2] >= n {
			continue
		}
		out = append(out, Triangle(t.v))
	}
	if len(out) == 0 {
		return nil, errors.New("face: Delaunay points are collinear")
	}
	return fillHull(xy[:n], out), nil
}

// fillHull closes the notches that dropping the super-triangle can leave along the convex hull (a finite
// super-triangle sits inside the circumcircle of some nearly collinear hull triples, so their triangle is never
// made): while the boundary of the triangulation has a reflex vertex b between a and c, it adds triangle (b, a, c).
func fillHull(xy [][2]float64, tris []Triangle) []Triangle {
	next := map[int]int{} // boundary edges a -> b, in triangle order
	directed := map[[2]int]bool{}
	for _, t := range tris {
		for e := 0; e < 3; e++ {
			directed[[2]int{t[e], t[(e+1)%3]}] = true
		}
	}
	prev := map[int]int{}
	for e := range directed {
		if !directed[[2]int{e[1], e[0]}] {
			next[e[0]] = e[1]
			prev[e[1]] = e[0]
		}
	}
	if len(next) != len(prev) {
		return tris // not a single simple boundary: leave it as it is
	}
	for changed := true; changed; {
		changed = false
		for b, c := range next {
			a, ok := prev[b]
			if !ok || a == c {
				continue
			}
			pa, pb, pc := xy[a], xy[b], xy[c]
			o := orient(pa, pb, pc)
			scale := math.Max(math.Abs(pc[0]-pa[0]), math.Abs(pc[1]-pa[1]))
			if o >= -1e-12*scale*scale {
				continue // convex or straight
			}
			// The notch must hold no other boundary vertex.
			blocked := false
			for v := range next {
				if v == a || v == b || v == c {
					continue
				}
				q := xy[v]
				if orient(pb, pa, q) > 0 && orient(pa, pc, q) > 0 && orient(pc, pb, q) > 0 {
					blocked = true
					break
				}
			}
			if blocked {
				continue
			}
			tris = append(tris, Triangle{b, a, c})
			delete(next, b)
			delete(prev, b)
			next[a], prev[c] = c, a
			changed = true
			break
		}
	}
	return tris
}

// orient is twice the signed area of abc (positive: the SignedArea orientation).
func orient(a, b, c [2]float64) float64 {
	return (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
}

func circumcircle(a, b, c [2]float64) (cx, cy, r2 float64) {
	// Relative to a, for precision.
	bx, by := b[0]-a[0], b[1]-a[1]
	qx, qy := c[0]-a[0], c[1]-a[1]
	d := 2 * (bx*qy - by*qx)
	if d == 0 {
		return a[0], a[1], math.Inf(1) // degenerate: contains everything, so it is replaced at once
	}
	b2, c2 := bx*bx+by*by, qx*qx+qy*qy
	ux := (qy*b2 - by*c2) / d
	uy := (bx*c2 - qx*b2) / d
	return a[0] + ux, a[1] + uy, ux*ux + uy*uy
}

// ConvexHull returns the convex hull of pts (Andrew's monotone chain), its vertices in positive SignedArea order
// (clockwise on the screen), without repeating the first. Collinear points on the hull are left out.
func ConvexHull(pts []Point) []Point {
	p := append([]Point(nil), pts...)
	sort.Slice(p, func(i, j int) bool {
		if p[i].X != p[j].X {
			return p[i].X < p[j].X
		}
		return p[i].Y < p[j].Y
	})
	if len(p) < 3 {
		return p
	}
	cross := func(o, a, b Point) float64 { return 2 * SignedArea(o, a, b) }
	hull := make([]Point, 0, 2*len(p))
	for _, q := range p { // lower chain (in y-down coordinates: the chain along the small y side)
		for len(hull) >= 2 && cross(hull[len(hull)-2], hull[len(hull)-1], q) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, q)
	}
	lower := len(hull) + 1
	for i := len(p) - 2; i >= 0; i-- {
		q := p[i]
		for len(hull) >= lower && cross(hull[len(hull)-2], hull[len(hull)-1], q) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, q)
	}
	return hull[:len(hull)-1]
}

// ClipPolygon clips a convex polygon to the half-plane n·p <= c (n = (nx, ny)), Sutherland-Hodgman. The result is
// appended to dst[:0].
func ClipPolygon(dst, poly []Point, nx, ny, c float64) []Point {
	dst = dst[:0]
	if len(poly) == 0 {
		return dst
	}
	side := func(p Point) float64 { return nx*float64(p.X) + ny*float64(p.Y) - c }
	prev := poly[len(poly)-1]
	sp := side(prev)
	for _, cur := range poly {
		sc := side(cur)
		if (sc <= 0) != (sp <= 0) {
			t := sp / (sp - sc)
			dst = append(dst, Point{
				X: float32(float64(prev.X) + t*float64(cur.X-prev.X)),
				Y: float32(float64(prev.Y) + t*float64(cur.Y-prev.Y)),
			})
		}
		if sc <= 0 {
			dst = append(dst, cur)
		}
		prev, sp = cur, sc
	}
	return dst
}
