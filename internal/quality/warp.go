package quality

import (
	"math"

	"github.com/facefleet/facefleet/pkg/face"
)

// Warp draws the source image (BGR, sw x sh) onto a w x h BGR buffer, triangle by triangle of tris, from the
// source mesh's points to the destination mesh's, sampled bilinearly: the "warped source" ArtefactShare compares
// against. It is this package's own warp, independent of the swap engine it measures. Triangles that folded over
// in the destination are skipped; pixels no triangle covers keep their value. Returns how many pixels it drew.
func Warp(dst []uint8, w, h int, src []uint8, sw, sh int, from, to *face.Mesh, tris []face.Triangle) int {
	drawn := 0
	for _, tr := range tris {
		t := [3]face.Point{to.Points[tr[0]], to.Points[tr[1]], to.Points[tr[2]]}
		q := [3]face.Point{from.Points[tr[0]], from.Points[tr[1]], from.Points[tr[2]]}
		area2 := 2 * face.SignedArea(t[0], t[1], t[2])
		if math.Abs(area2) < 1e-6 {
			continue
		}
		x0, y0 := float64(t[0].X), float64(t[0].Y)
		x1, y1 := float64(t[1].X), float64(t[1].Y)
		x2, y2 := float64(t[2].X), float64(t[2].Y)
		ymin := max(0, int(math.Ceil(min(y0, y1, y2))))
		ymax := min(h-1, int(math.Floor(max(y0, y1, y2))))
		xmin := max(0, int(math.Ceil(min(x0, x1, x2))))
		xmax := min(w-1, int(math.Floor(max(x0, x1, x2))))
		for y := ymin; y <= ymax; y++ {
			for x := xmin; x <= xmax; x++ {
				fx, fy := float64(x), float64(y)
				l0 := ((y1-y2)*fx + (x2-x1)*fy + x1*y2 - x2*y1) / area2
				l1 := ((y2-y0)*fx + (x0-x2)*fy + x2*y0 - x0*y2) / area2
				l2 := 1 - l0 - l1
				if l0 < -1e-9 || l1 < -1e-9 || l2 < -1e-9 {
					continue
				}
				sx := l0*float64(q[0].X) + l1*float64(q[1].X) + l2*float64(q[2].X)
				sy := l0*float64(q[0].Y) + l1*float64(q[1].Y) + l2*float64(q[2].Y)
				bilinear(dst[3*(y*w+x):3*(y*w+x)+3], src, sw, sh, sx, sy)
				drawn++
			}
		}
	}
	return drawn
}

func bilinear(out, src []uint8, w, h int, x, y float64) {
	x = min(max(x, 0), float64(w-1))
	y = min(max(y, 0), float64(h-1))
	ix, iy := int(x), int(y)
	ix1, iy1 := min(ix+1, w-1), min(iy+1, h-1)
	fx, fy := x-float64(ix), y-float64(iy)
	for c := 0; c < 3; c++ {
		v := (1-fx)*(1-fy)*float64(src[3*(iy*w+ix)+c]) + fx*(1-fy)*float64(src[3*(iy*w+ix1)+c]) +
			(1-fx)*fy*float64(src[3*(iy1*w+ix)+c]) + fx*fy*float64(src[3*(iy1*w+ix1)+c])
		out[c] = uint8(v + 0.5)
	}
}

// FillPolygon sets to v every pixel (x, y) of the w x h mask inside poly (even-odd rule, pixel centres at integer
// coordinates).
func FillPolygon(mask []uint8, w, h int, poly []face.Point, v uint8) {
	if len(poly) < 3 {
		return
	}
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, p := range poly {
		ymin, ymax = math.Min(ymin, float64(p.Y)), math.Max(ymax, float64(p.Y))
	}
	var xs []float64
	for y := max(0, int(math.Ceil(ymin))); y <= min(h-1, int(math.Floor(ymax))); y++ {
		fy := float64(y)
		xs = xs[:0]
		for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
			ay, by := float64(poly[i].Y), float64(poly[j].Y)
			if (ay <= fy) == (by <= fy) {
				continue
			}
			ax, bx := float64(poly[i].X), float64(poly[j].X)
			xs = append(xs, ax+(fy-ay)*(bx-ax)/(by-ay))
		}
		for a := 1; a < len(xs); a++ { // insertion sort: a handful of crossings
			for b := a; b > 0 && xs[b] < xs[b-1]; b-- {
				xs[b], xs[b-1] = xs[b-1], xs[b]
			}
		}
		for k := 0; k+1 < len(xs); k += 2 {
			for x := max(0, int(math.Ceil(xs[k]))); x <= min(w-1, int(math.Floor(xs[k+1]))); x++ {
				mask[y*w+x] = v
			}
		}
	}
}

// FaceMask fills mask (w x h) with 255 inside the convex hull of the mesh's face oval: the face pixels the
// artefact, expression and flicker measures look at.
func FaceMask(mask []uint8, w, h int, m *face.Mesh) {
	poly := make([]face.Point, 0, len(face.MeshFaceOval))
	for _, i := range face.MeshFaceOval {
		poly = append(poly, m.Points[i])
	}
	FillPolygon(mask, w, h, face.ConvexHull(poly), 255)
}
