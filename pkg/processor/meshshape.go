package processor

import (
	"math"

	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

// Identity through shape: the mesh swap draws the source onto the target's mesh moved towards the source's
// proportions (face outline and jaw width, nose width and length, eye size and spacing, brow position), while the
// points that carry expression (lips, eyelids, mouth corners) keep the target's shape and move only with their
// neighbourhood. The target's own pixels (its eyes and mouth in the openings, the skin around the face) are moved
// by the same displacement, fading to zero in a ring outside the face outline, so the jaw and cheeks leave no seam.

const (
	// shapeSigma is the reach of each identity point's displacement over its neighbours (fraction of the face
	// size): the displacement field is their normalised Gaussian average.
	shapeSigma = 0.06
	// maxShapeShift bounds a point's displacement (fraction of the face size): beyond it the two faces do not
	// correspond (a turned head, a bad fit), not a proportion.
	maxShapeShift = 0.05
	// maxEyeScale bounds how far an eye is scaled towards the source's eye width (1 +- maxEyeScale).
	maxEyeScale = 0.15
	// jawBand is the band around the mouth corners' height (fraction of the face size) over which the outline's
	// displacement along the face loses its vertical part: below it the outline follows the jaw's opening.
	jawBand = 0.05
	// shapeYawFrom and shapeYawTo are the yaw measures (shapeYaw) over which the shape transfer fades out: beyond
	// shapeYawTo the outline the model sees is an occluding contour, not the face's proportions.
	shapeYawFrom = 0.15
	shapeYawTo   = 0.5
	// shapeRing is the width of the ring outside the face outline over which the target's pixels are moved less
	// and less, and shapeEdge the margin inside the crop's writable limit over which every displacement fades to
	// zero (fractions of the face size).
	shapeRing = 0.12
	shapeEdge = 0.06
	// shapeGridSide is the face size (px) of the grid the liquify field is computed on, and shapeFieldSigma the
	// field's smoothing there (fraction of the face size).
	shapeGridSide   = 32
	shapeFieldSigma = 0.05
	// minShift is the smallest displacement (px) the liquify resamples a pixel for.
	minShift = 1.0 / 64
)

// shapeStable are the points the source is aligned to the target by: eye corners, nose bridge and the face
// outline above the mouth (MeshFaceOval's first 11 and last 10 points), which expressions barely move.
var shapeStable = func() []int {
	p := []int{face.MeshImageLeftEyeOuter, face.MeshImageLeftEyeInner, face.MeshImageRightEyeInner,
		face.MeshImageRightEyeOuter, 168, 6, 197, 195}
	p = append(p, face.MeshFaceOval[:11]...)
	return append(p, face.MeshFaceOval[len(face.MeshFaceOval)-10:]...)
}()

// shapeNose are the nose's identity points: bridge and tip (length), alae and nostrils (width).
var shapeNose = [...]int{168, 6, 197, 195, 5, 4, 1, 2, 94, 48, 278, 64, 294, 129, 358, 98, 327, 115, 344, 220, 440}

// shapeGroup is a set of mesh points moved together, keeping their relative shape: an eye (scaled towards the
// source's eye width) or the lips (translated only).
type shapeGroup struct {
	points []int
	scale  bool
}

// shapeGroups are the expression-bearing parts.
var shapeGroups = func() []shapeGroup {
	lips := append(append([]int(nil), face.MeshInnerLips[:]...), face.MeshOuterLips[:]...)
	return []shapeGroup{{face.MeshImageLeftEye[:], true}, {face.MeshImageRightEye[:], true}, {lips, false}}
}()

// shapeAnchor is one identity point's share of a mesh point's displacement.
type shapeAnchor struct {
	anchor int     // index into shapeTransfer.anchors
	w      float32 // normalised: the weights of a point sum to 1
}

// shapeTransfer is what the shape transfer keeps of the source, computed once: the identity points, and each mesh
// point's weights over them (in the source's geometry: the two meshes share their topology).
type shapeTransfer struct {
	anchors []int           // mesh indices of the identity points
	weights [][]shapeAnchor // per mesh point; nil for points of a group
	inGroup [face.MeshPoints]bool

	// Per-call scratch.
	d      []face.Point // each anchor's displacement
	aln    [face.MeshPoints]face.Point
	field  []float32 // the liquify field: dx and dy (crop pixels) at each grid node
	pack   cropBuf
	stable [2][]face.Point
}

// newShapeTransfer precomputes the weights for a source mesh of the given face size.
func newShapeTransfer(src *[face.MeshPoints]face.Point, size float64) *shapeTransfer {
	t := &shapeTransfer{}
	seen := map[int]bool{}
	add := func(i int) {
		if !seen[i] {
			seen[i] = true
			t.anchors = append(t.anchors, i)
		}
	}
	for _, i := range face.MeshFaceOval {
		add(i)
	}
	for _, i := range shapeNose {
		add(i)
	}
	for _, b := range eyebrows {
		for _, i := range b {
			add(i)
		}
	}
	for _, g := range shapeGroups {
		for _, i := range g.points {
			t.inGroup[i] = true
		}
	}
	t.weights = make([][]shapeAnchor, face.MeshPoints)
	inv := 1 / (2 * math.Pow(shapeSigma*size, 2))
	for i := range src {
		if t.inGroup[i] {
			continue
		}
		t.weights[i] = anchorWeights(src, src[i], t.anchors, inv)
	}
	t.d = make([]face.Point, len(t.anchors))
	return t
}

// anchorWeights are the normalised Gaussian weights (exp(-r^2 inv)) of the anchors at p, those under 1e-3 of the
// largest left out.
func anchorWeights(pts *[face.MeshPoints]face.Point, p face.Point, anchors []int, inv float64) []shapeAnchor {
	ws := make([]float64, len(anchors))
	best := math.Inf(1)
	for k, a := range anchors {
		dx, dy := float64(pts[a].X-p.X), float64(pts[a].Y-p.Y)
		ws[k] = (dx*dx + dy*dy) * inv
		best = math.Min(best, ws[k])
	}
	var out []shapeAnchor
	var sum float64
	for k, e := range ws {
		if e-best > 7 { // exp(-7) < 1e-3
			continue
		}
		w := math.Exp(best - e)
		out = append(out, shapeAnchor{k, float32(w)})
		sum += w
	}
	for k := range out {
		out[k].w = float32(float64(out[k].w) / sum)
	}
	return out
}

// shapeYaw is how far a mesh is turned: |l - r| / (l + r) for the distances from the nose tip to the face
// outline's leftmost and rightmost points (0 frontal, towards 1 in profile).
func shapeYaw(p *[face.MeshPoints]face.Point) float64 {
	l, r := dist2(p[face.MeshNoseTip], p[234]), dist2(p[face.MeshNoseTip], p[454])
	if l+r == 0 {
		return 1
	}
	return math.Abs(l-r) / (l + r)
}

// displace writes into out the target mesh tgt moved towards the source mesh src's proportions by strength (0: out
// is tgt), in the target's coordinates, size the target's face size. prev, when not nil, is the displacement of the
// same person in the previous frame in the target's face frame (shapeFrame), and is updated: the displacement is
// smoothed in time by smoothing (the new frame's share). limit is the writable rectangle (crop coordinates): every
// displacement fades to zero within shapeEdge of its edge.
func (t *shapeTransfer) displace(out, tgt, src *[face.MeshPoints]face.Point, strength, size float64, limit rectF,
	prev *[face.MeshPoints]face.Point, smoothing float64) bool {
	*out = *tgt
	strength *= 1 - smoothstep(shapeYawFrom, shapeYawTo, math.Max(shapeYaw(tgt), shapeYaw(src)))
	if strength <= 0 {
		return false
	}
	for k := range t.stable {
		t.stable[k] = t.stable[k][:0]
	}
	for _, i := range shapeStable {
		t.stable[0] = append(t.stable[0], src[i])
		t.stable[1] = append(t.stable[1], tgt[i])
	}
	fit, err := face.EstimateSimilarity(t.stable[0], t.stable[1])
	if err != nil {
		return false
	}
	for i := range src {
		t.aln[i] = fit.Apply(src[i])
	}
	maxD := maxShapeShift * size
	clampD := func(dx, dy float64) face.Point {
		if l := math.Hypot(dx, dy); l > maxD {
			dx, dy = dx*maxD/l, dy*maxD/l
		}
		return face.Point{X: float32(dx), Y: float32(dy)}
	}
	// The far side of a turned head is foreshortened: its outline moves less.
	nose := tgt[face.MeshNoseTip]
	l, r := dist2(nose, tgt[234]), dist2(nose, tgt[454])
	side := func(p face.Point) float64 {
		near, far := l, r
		if dist2(p, tgt[234]) > dist2(p, tgt[454]) {
			near, far = r, l
		}
		return math.Min(1, near/math.Max(far, 1e-6))
	}
	rot, ok := shapeFrame(tgt)
	if !ok {
		return false
	}
	// Below the mouth the outline's height is the jaw's opening, expression: only its width moves there.
	mouth := face.Point{X: (tgt[face.MeshMouthImageLeft].X + tgt[face.MeshMouthImageRight].X) / 2,
		Y: (tgt[face.MeshMouthImageLeft].Y + tgt[face.MeshMouthImageRight].Y) / 2}
	for k, a := range t.anchors {
		s := strength * side(tgt[a])
		d := rot.toFace(face.Point{X: t.aln[a].X - tgt[a].X, Y: t.aln[a].Y - tgt[a].Y}, 1)
		below := rot.toFace(face.Point{X: tgt[a].X - mouth.X, Y: tgt[a].Y - mouth.Y}, size).Y
		d.Y *= float32(1 - smoothstep(-jawBand, jawBand, float64(below)))
		d = rot.fromFace(d, 1)
		t.d[k] = clampD(s*float64(d.X), s*float64(d.Y))
	}
	var disp [face.MeshPoints]face.Point
	fieldAt := func(i int) face.Point {
		var p face.Point
		for _, w := range t.weights[i] {
			p.X += w.w * t.d[w.anchor].X
			p.Y += w.w * t.d[w.anchor].Y
		}
		return p
	}
	for i := range disp {
		if !t.inGroup[i] {
			disp[i] = fieldAt(i)
		}
	}
	for _, g := range shapeGroups {
		// The lips move as the points around them; an eye moves to the source's eye and scales towards its width.
		var ct, cs face.Point
		for _, i := range g.points {
			ct.X += tgt[i].X
			ct.Y += tgt[i].Y
			cs.X += t.aln[i].X
			cs.Y += t.aln[i].Y
		}
		n := float32(len(g.points))
		ct, cs = face.Point{X: ct.X / n, Y: ct.Y / n}, face.Point{X: cs.X / n, Y: cs.Y / n}
		move, scale := face.Point{}, 1.0
		if !g.scale {
			move = t.groupMove(tgt, ct, disp[:])
		} else { // an eye's place and size are identity, its opening expression
			move = clampD(strength*float64(cs.X-ct.X), strength*float64(cs.Y-ct.Y))
			first, mid := g.points[0], g.points[len(g.points)/2]
			wt, ws := dist2(tgt[first], tgt[mid]), dist2(t.aln[first], t.aln[mid])
			if wt > 0 {
				scale = 1 + math.Min(math.Max(strength*(ws/wt-1), -maxEyeScale), maxEyeScale)
			}
		}
		for _, i := range g.points {
			disp[i] = face.Point{
				X: move.X + float32(scale-1)*(tgt[i].X-ct.X),
				Y: move.Y + float32(scale-1)*(tgt[i].Y-ct.Y),
			}
		}
	}
	// In time: smoothed in the target's face frame, so a turning head carries its displacement along.
	for i := range disp {
		if prev != nil {
			u := rot.toFace(disp[i], size)
			if smoothing < 1 {
				u.X = prev[i].X + float32(smoothing)*(u.X-prev[i].X)
				u.Y = prev[i].Y + float32(smoothing)*(u.Y-prev[i].Y)
			}
			prev[i] = u
			disp[i] = rot.fromFace(u, size)
		}
		f := float32(limit.fade(tgt[i], shapeEdge*size))
		out[i] = face.Point{X: tgt[i].X + f*disp[i].X, Y: tgt[i].Y + f*disp[i].Y}
	}
	return true
}

// groupMove is the displacement of the group centred at c: the mean field of the non-group points nearest to c
// (within twice the nearest one's distance), weighted by 1 / (1 + squared distance).
func (t *shapeTransfer) groupMove(tgt *[face.MeshPoints]face.Point, c face.Point, disp []face.Point) face.Point {
	var sum face.Point
	var ws float32
	var best float64 = math.Inf(1)
	for i := range tgt {
		if !t.inGroup[i] {
			best = math.Min(best, float64((tgt[i].X-c.X)*(tgt[i].X-c.X)+(tgt[i].Y-c.Y)*(tgt[i].Y-c.Y)))
		}
	}
	for i := range tgt {
		if t.inGroup[i] {
			continue
		}
		d2 := float64((tgt[i].X-c.X)*(tgt[i].X-c.X) + (tgt[i].Y-c.Y)*(tgt[i].Y-c.Y))
		if d2 > 4*best+1 { // the ring of nearest neighbours
			continue
		}
		w := float32(1 / (1 + d2))
		sum.X += w * disp[i].X
		sum.Y += w * disp[i].Y
		ws += w
	}
	if ws == 0 {
		return face.Point{}
	}
	return face.Point{X: sum.X / ws, Y: sum.Y / ws}
}

// faceFrame rotates between image and face axes (x along the eye line, y down the face).
type faceFrame struct{ cos, sin float32 }

// shapeFrame is the face frame of a mesh, from the line through its eyes' outer corners.
func shapeFrame(p *[face.MeshPoints]face.Point) (faceFrame, bool) {
	a, b := p[face.MeshImageLeftEyeOuter], p[face.MeshImageRightEyeOuter]
	dx, dy := float64(b.X-a.X), float64(b.Y-a.Y)
	l := math.Hypot(dx, dy)
	if !(l > 0) {
		return faceFrame{}, false
	}
	return faceFrame{float32(dx / l), float32(dy / l)}, true
}

func (f faceFrame) toFace(v face.Point, size float64) face.Point {
	s := float32(1 / size)
	return face.Point{X: (f.cos*v.X + f.sin*v.Y) * s, Y: (-f.sin*v.X + f.cos*v.Y) * s}
}

func (f faceFrame) fromFace(u face.Point, size float64) face.Point {
	s := float32(size)
	return face.Point{X: (f.cos*u.X - f.sin*u.Y) * s, Y: (f.sin*u.X + f.cos*u.Y) * s}
}

// rectF is a rectangle of pixel centres [x0, x1] x [y0, y1].
type rectF struct{ x0, y0, x1, y1 float64 }

// fade is 0 on or beyond r's edge, 1 at ramp and more inside it, smooth between.
func (r rectF) fade(p face.Point, ramp float64) float64 {
	x, y := float64(p.X), float64(p.Y)
	e := min(x-r.x0, r.x1-x, y-r.y0, r.y1-y)
	return smoothstep(0, ramp, e)
}

// liquify moves the w x h BGR crop tgt's pixels by the mesh's displacement (from tgt to moved, both crop
// coordinates), in place: inside the face outline as its points move, fading to zero over shapeRing outside it and
// within shapeEdge of limit. scratch holds a copy of the crop. It returns false when nothing moved.
func (t *shapeTransfer) liquify(img, scratch []uint8, w, h int, tgt, moved *[face.MeshPoints]face.Point, size float64, limit rectF) bool {
	scale := math.Min(1, shapeGridSide/size)
	gw, gh := max(2, int(math.Ceil(float64(w)*scale))+1), max(2, int(math.Ceil(float64(h)*scale))+1)
	cell := 1 / scale // crop px per grid cell
	n := gw * gh
	pack := t.pack.viewOf(gh, gw, gocv.MatTypeCV32FC4, 16*n)
	defer pack.Close()
	pp, err := pack.DataPtrFloat32()
	if err != nil {
		panic(err) // a continuous float Mat of our own: cannot fail
	}
	clear(pp)
	// The backward map: at a moved point, the target is read that point's displacement back.
	if *moved == *tgt {
		return false
	}
	for i := range moved {
		dx, dy := moved[i].X-tgt[i].X, moved[i].Y-tgt[i].Y
		gx, gy := float64(moved[i].X)/cell, float64(moved[i].Y)/cell
		x0, y0 := int(math.Floor(gx)), int(math.Floor(gy))
		fx, fy := float32(gx-float64(x0)), float32(gy-float64(y0))
		for _, c := range [4]struct {
			x, y int
			w    float32
		}{{x0, y0, (1 - fx) * (1 - fy)}, {x0 + 1, y0, fx * (1 - fy)}, {x0, y0 + 1, (1 - fx) * fy}, {x0 + 1, y0 + 1, fx * fy}} {
			if c.x < 0 || c.y < 0 || c.x >= gw || c.y >= gh {
				continue
			}
			j := 4 * (c.y*gw + c.x)
			pp[j] += c.w * dx
			pp[j+1] += c.w * dy
			pp[j+2] += c.w
		}
	}
	gaussMat(&pack, shapeFieldSigma*size*scale)
	t.field = grow(t.field, 2*n)
	hull := make([]face.Point, 0, len(face.MeshFaceOval))
	for _, i := range face.MeshFaceOval {
		hull = append(hull, moved[i])
	}
	hull = face.ConvexHull(hull)
	ring, edge := shapeRing*size, shapeEdge*size
	for gy := 0; gy < gh; gy++ {
		for gx := 0; gx < gw; gx++ {
			j := gy*gw + gx
			p := face.Point{X: float32(float64(gx) * cell), Y: float32(float64(gy) * cell)}
			f := limit.fade(p, edge) * (1 - smoothstep(0, ring, outsideConvex(hull, p)))
			wt := pp[4*j+2]
			if f == 0 || wt < 1e-6 {
				t.field[2*j], t.field[2*j+1] = 0, 0
				continue
			}
			t.field[2*j], t.field[2*j+1] = float32(f)*pp[4*j]/wt, float32(f)*pp[4*j+1]/wt
		}
	}
	copy(scratch, img[:3*w*h])
	x0, x1 := max(0, int(math.Ceil(limit.x0))), min(w-1, int(math.Floor(limit.x1)))
	y0, y1 := max(0, int(math.Ceil(limit.y0))), min(h-1, int(math.Floor(limit.y1)))
	inv := float32(scale)
	for y := y0; y <= y1; y++ {
		gy := float32(y) * inv
		iy := min(int(gy), gh-2)
		fy := gy - float32(iy)
		for x := x0; x <= x1; x++ {
			gx := float32(x) * inv
			ix := min(int(gx), gw-2)
			fx := gx - float32(ix)
			j := iy*gw + ix
			a, b, c, d := t.field[2*j:2*j+2], t.field[2*j+2:2*j+4], t.field[2*(j+gw):2*(j+gw)+2], t.field[2*(j+gw)+2:2*(j+gw)+4]
			dx := (a[0]*(1-fx)+b[0]*fx)*(1-fy) + (c[0]*(1-fx)+d[0]*fx)*fy
			dy := (a[1]*(1-fx)+b[1]*fx)*(1-fy) + (c[1]*(1-fx)+d[1]*fx)*fy
			if dx > -minShift && dx < minShift && dy > -minShift && dy < minShift {
				continue
			}
			// The grid's cells are coarse: the pixel's own fade keeps the limit exact.
			if f := float32(limit.fade(face.Point{X: float32(x), Y: float32(y)}, edge)); f < 1 {
				if dx, dy = f*dx, f*dy; f == 0 {
					continue
				}
			}
			sampleBGR(img[3*(y*w+x):3*(y*w+x)+3], scratch, w, h, float32(x)-dx, float32(y)-dy)
		}
	}
	return true
}

// sampleBGR writes into o the bilinear sample of the w x h 3-channel image at (x, y), clamped to the image.
func sampleBGR(o, img []uint8, w, h int, x, y float32) {
	x = min(max(x, 0), float32(w-1))
	y = min(max(y, 0), float32(h-1))
	ix, iy := min(int(x), w-2), min(int(y), h-2)
	fx, fy := x-float32(ix), y-float32(iy)
	p := 3 * (iy*w + ix)
	q := p + 3*w
	for c := 0; c < 3; c++ {
		v := (float32(img[p+c])*(1-fx)+float32(img[p+3+c])*fx)*(1-fy) + (float32(img[q+c])*(1-fx)+float32(img[q+3+c])*fx)*fy
		o[c] = uint8(v + 0.5)
	}
}

// outsideConvex is how far p lies outside the convex polygon (either winding); 0 inside.
func outsideConvex(poly []face.Point, p face.Point) float64 {
	var area float64
	for i := range poly {
		j := (i + 1) % len(poly)
		area += float64(poly[i].X*poly[j].Y - poly[j].X*poly[i].Y)
	}
	sign := 1.0
	if area < 0 {
		sign = -1
	}
	out := 0.0
	inside := true
	for i := range poly {
		a, b := poly[i], poly[(i+1)%len(poly)]
		ex, ey := float64(b.X-a.X), float64(b.Y-a.Y)
		px, py := float64(p.X-a.X), float64(p.Y-a.Y)
		if sign*(ex*py-ey*px) < 0 {
			inside = false
		}
		l2 := ex*ex + ey*ey
		tt := 0.0
		if l2 > 0 {
			tt = math.Min(1, math.Max(0, (px*ex+py*ey)/l2))
		}
		d := math.Hypot(px-tt*ex, py-tt*ey)
		if i == 0 || d < out {
			out = d
		}
	}
	if inside {
		return 0
	}
	return out
}
