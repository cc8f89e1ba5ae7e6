package processor

import (
	"math"
	"testing"

	"github.com/facefleet/facefleet/pkg/face"
)

// synthMesh is a synthetic frontal face of the given size centred at (cx, cy), with MediaPipe's topology where the
// shape transfer reads it: the outline on an ellipse, the eyes, lips and brows on small ellipses and arcs, the nose
// on the midline, every other point on a jittered grid inside the face. wide scales the outline's and nose's
// width, eyeOpen the eyes' height, mouthOpen the inner lips' height.
func synthMesh(cx, cy, size, wide, eyeOpen, mouthOpen float64) [face.MeshPoints]face.Point {
	var p [face.MeshPoints]face.Point
	set := make([]bool, face.MeshPoints)
	put := func(i int, x, y float64) {
		p[i] = face.Point{X: float32(cx + x*size), Y: float32(cy + y*size)}
		set[i] = true
	}
	for k, i := range face.MeshFaceOval { // clockwise from the top
		a := 2 * math.Pi * float64(k) / float64(len(face.MeshFaceOval))
		put(i, 0.4*wide*math.Sin(a), -0.55*math.Cos(a))
	}
	put(234, -0.4*wide, 0) // the outline's leftmost and rightmost points, as shapeYaw reads them
	put(454, 0.4*wide, 0)
	ellipse := func(idx []int, x, y, rx, ry float64) {
		for k, i := range idx {
			a := 2 * math.Pi * float64(k) / float64(len(idx))
			put(i, x-rx*math.Cos(a), y-ry*math.Sin(a))
		}
	}
	ellipse(face.MeshImageLeftEye[:], -0.17, -0.1, 0.07, 0.03*eyeOpen)
	ellipse(face.MeshImageRightEye[:], 0.17, -0.1, 0.07, 0.03*eyeOpen)
	ellipse(face.MeshOuterLips[:], 0, 0.25, 0.13, 0.06+0.03*mouthOpen)
	ellipse(face.MeshInnerLips[:], 0, 0.25, 0.1, 0.03*mouthOpen+0.002)
	for s, b := range eyebrows {
		for k, i := range b {
			put(i, float64(2*s-1)*(0.1+0.015*float64(k)), -0.2-0.01*float64(k%5))
		}
	}
	for k, i := range shapeNose {
		put(i, 0.04*wide*float64(k%3-1), -0.05+0.012*float64(k))
	}
	put(face.MeshNoseTip, 0, 0.12)
	for i := range p {
		if set[i] {
			continue
		}
		g := float64(i)
		put(i, 0.3*math.Sin(g*1.7)*wide, 0.4*math.Sin(g*2.3))
	}
	return p
}

// TestShapeDisplaceSame: a source of the target's own proportions moves nothing, whatever its place and size.
func TestShapeDisplaceSame(t *testing.T) {
	tgt := synthMesh(200, 200, 150, 1, 1, 1)
	src := synthMesh(80, 90, 60, 1, 1, 1) // the same face, smaller and elsewhere
	st := newShapeTransfer(&src, 60)
	var out [face.MeshPoints]face.Point
	lim := rectF{0, 0, 399, 399}
	if !st.displace(&out, &tgt, &src, 1, 150, lim, nil, 1) {
		t.Fatal("no displacement computed for a frontal face")
	}
	for i := range out {
		if d := dist2(out[i], tgt[i]); d > 1e-3 {
			t.Fatalf("point %d moved %.4f px with source == target", i, d)
		}
	}
}

// TestShapeDisplaceKeepsExpression: a wider source face with other eye and mouth openings moves the outline and the
// nose wider, while the target's lips keep their exact shape (only translated) and each eye its shape up to scale
// (its opening ratio is the target's).
func TestShapeDisplaceKeepsExpression(t *testing.T) {
	const size = 150
	tgt := synthMesh(200, 200, size, 1, 0.3, 1) // eyes half shut, mouth open
	src := synthMesh(200, 200, size, 1.1, 1, 0) // wider, eyes open, mouth shut
	st := newShapeTransfer(&src, size)
	var out [face.MeshPoints]face.Point
	if !st.displace(&out, &tgt, &src, 1, size, rectF{0, 0, 399, 399}, nil, 1) {
		t.Fatal("no displacement")
	}
	widthT := dist2(tgt[234], tgt[454])
	widthO := dist2(out[234], out[454])
	if !(widthO > widthT+0.02*size) {
		t.Errorf("face width %.1f -> %.1f: want the source's wider outline", widthT, widthO)
	}
	lips := append(append([]int(nil), face.MeshInnerLips[:]...), face.MeshOuterLips[:]...)
	d0 := face.Point{X: out[lips[0]].X - tgt[lips[0]].X, Y: out[lips[0]].Y - tgt[lips[0]].Y}
	for _, i := range lips {
		d := face.Point{X: out[i].X - tgt[i].X, Y: out[i].Y - tgt[i].Y}
		if dist2(d, d0) > 1e-3 {
			t.Fatalf("lip point %d moved by %v, lip point %d by %v: the lips changed shape", i, d, lips[0], d0)
		}
	}
	for _, eye := range [][]int{face.MeshImageLeftEye[:], face.MeshImageRightEye[:]} {
		ratio := func(p *[face.MeshPoints]face.Point) float64 {
			return dist2(p[eye[4]], p[eye[12]]) / dist2(p[eye[0]], p[eye[8]])
		}
		if rt, ro := ratio(&tgt), ratio(&out); math.Abs(rt-ro) > 1e-4 {
			t.Errorf("eye %d opening ratio %.4f -> %.4f: the target's opening must stay", eye[0], rt, ro)
		}
	}
	for i := range out {
		if d := dist2(out[i], tgt[i]); d > maxShapeShift*size*1.01 {
			t.Errorf("point %d moved %.1f px, more than maxShapeShift", i, d)
		}
	}
}

// TestShapeDisplaceProfileAndEdge: a target in profile moves nothing, and points at the writable limit's edge never
// move.
func TestShapeDisplaceProfileAndEdge(t *testing.T) {
	const size = 150
	src := synthMesh(200, 200, size, 1.1, 1, 0)
	st := newShapeTransfer(&src, size)
	var out [face.MeshPoints]face.Point

	prof := synthMesh(200, 200, size, 1, 1, 1)
	prof[face.MeshNoseTip].X = prof[234].X + 0.1*size // the nose near the outline: turned about 60 degrees
	if st.displace(&out, &prof, &src, 1, size, rectF{0, 0, 399, 399}, nil, 1) {
		t.Error("a profile target was reshaped")
	}
	if out != prof {
		t.Error("a profile target's points moved")
	}

	tgt := synthMesh(200, 200, size, 1, 1, 1)
	lim := rectF{float64(tgt[234].X), 0, 399, 399} // the outline's leftmost point on the limit
	if !st.displace(&out, &tgt, &src, 1, size, lim, nil, 1) {
		t.Fatal("no displacement")
	}
	if d := dist2(out[234], tgt[234]); d != 0 {
		t.Errorf("a point on the limit moved %.3f px", d)
	}
}

// TestLiquifyRing: the target's pixels move inside the face, less and less over the ring outside its outline, not
// at all beyond it (give or take a cell of the field's grid) or on the writable limit's edge.
func TestLiquifyRing(t *testing.T) {
	const w, h, size = 400, 400, 150.0
	tgt := synthMesh(200, 200, size, 1, 1, 1)
	src := synthMesh(200, 200, size, 1.15, 1, 1)
	st := newShapeTransfer(&src, size)
	var moved [face.MeshPoints]face.Point
	lim := rectF{10, 10, w - 11, h - 11}
	if !st.displace(&moved, &tgt, &src, 1, size, lim, nil, 1) {
		t.Fatal("no displacement")
	}
	img := make([]uint8, 3*w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img[3*(y*w+x)] = uint8(x) // a horizontal ramp: a sideways move changes it
			img[3*(y*w+x)+1] = uint8(y)
		}
	}
	orig := append([]uint8(nil), img...)
	defer st.pack.close()
	if !st.liquify(img, make([]uint8, len(img)), w, h, &tgt, &moved, size, lim) {
		t.Fatal("liquify moved nothing")
	}
	hull := make([]face.Point, 0, len(face.MeshFaceOval))
	for _, i := range face.MeshFaceOval {
		hull = append(hull, moved[i])
	}
	hull = face.ConvexHull(hull)
	var near, nearN float64
	changedBeyond := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := 3 * (y*w + x)
			d := math.Abs(float64(img[i]) - float64(orig[i]))
			out := outsideConvex(hull, face.Point{X: float32(x), Y: float32(y)})
			switch {
			case out > shapeRing*size+1.5*size/shapeGridSide || x <= 10 || y <= 10 || x >= w-11 || y >= h-11:
				if d != 0 {
					changedBeyond++
				}
			case out > 0 && out < 0.02*size && math.Abs(float64(y)-200) < 20:
				near += d // just outside the cheek, which moves out most
				nearN++
			}
		}
	}
	if changedBeyond != 0 {
		t.Errorf("%d pixels beyond the ring or on the limit changed", changedBeyond)
	}
	if near/nearN < 1 {
		t.Errorf("just outside the cheeks the ramp moved %.2f levels on average: want the jaw's move carried there", near/nearN)
	}
}

// TestShapeSmoothedInTime: with a previous frame's displacement, the new one moves by shapeSmoothing of the way.
func TestShapeSmoothedInTime(t *testing.T) {
	const size = 150
	tgt := synthMesh(200, 200, size, 1, 1, 1)
	wide := synthMesh(200, 200, size, 1.1, 1, 1)
	st := newShapeTransfer(&wide, size)
	var prev, full, out [face.MeshPoints]face.Point
	lim := rectF{0, 0, 399, 399}
	if !st.displace(&full, &tgt, &wide, 1, size, lim, nil, 1) {
		t.Fatal("no displacement toward a wider face")
	}
	// The same person, whose previous displacement was none.
	if !st.displace(&out, &tgt, &wide, 1, size, lim, &prev, shapeSmoothing) {
		t.Fatal("no smoothed displacement")
	}
	i := 234
	want := tgt[i].X + shapeSmoothing*(full[i].X-tgt[i].X)
	if math.Abs(float64(out[i].X-want)) > 1e-3 {
		t.Errorf("outline point x %.3f, want %.3f (%.1f of the way from %.3f to %.3f)", out[i].X, want, shapeSmoothing, tgt[i].X, full[i].X)
	}
}
