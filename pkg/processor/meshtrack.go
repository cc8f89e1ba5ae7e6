package processor

import (
	"math"

	"github.com/facefleet/facefleet/pkg/colour"
	"github.com/facefleet/facefleet/pkg/face"
)

// The mesh swap's state in time. On a clip, Swap is called frame after frame (in order: the pipeline's rest stage
// is one goroutine) and each face's landmarks, regional colour match and shape displacement are found anew: the
// landmarks' jitter moves the warped source's texture and the mask's edge, which reads as flicker (the colour
// layers move little). faceTracks follows each face from one call to the next by its box and smooths all three
// while the same person is followed; a face with no match (a new detection) or whose colour jumps (a cut) starts
// afresh, and MeshSwap.Reset forgets every face (a new segment). The state is kept here, apart from the per-frame
// computation, so a cadence that computes the layers only every few frames can keep or drop it whole.

const (
	// trackMinIoU is the overlap of a face's box with its box in the previous call above which it is the same
	// person.
	trackMinIoU = 0.3
	// shapeSmoothing and colourSmoothing are the new frame's share in the moving averages (1: no smoothing).
	shapeSmoothing  = 0.3
	colourSmoothing = 0.25
	// cutDelta is the change of a face's mean Lab colour (8-bit units, the largest channel) between two calls
	// beyond which it is a cut, not the same shot's light: the averages restart.
	cutDelta = 12
	// colourGrid nodes span colourSpan face sizes either side of the face's centre, on each face axis: the grid
	// the regional colour match is averaged on, which moves and turns with the face.
	colourGrid = 12
	colourSpan = 0.9
	// meshSmoothing is the share of the way a landmark moves towards its new place when it barely moved (beyond
	// the head's own motion); meshJitter (a fraction of the face size) is the move at which it goes all the way.
	meshSmoothing = 0.2
	meshJitter    = 0.03
)

// faceTrack is one followed face's state.
type faceTrack struct {
	box     face.Box
	shape   [face.MeshPoints]face.Point // the shape displacement in the face frame (shapeTransfer.displace)
	shapeOK bool
	colour  [colourGrid * colourGrid][3]float32 // the regional colour match at the grid's nodes
	cOK     [colourGrid * colourGrid]bool
	mean    [3]float32 // the target's mean low-frequency Lab colour under the alpha
	meanOK  bool
	// raw and smooth are the previous call's target mesh as found and as smoothed (smoothMesh), frame coordinates.
	raw, smooth [face.MeshPoints]face.Point
	meshOK      bool
}

// reset forgets everything but the box.
func (t *faceTrack) reset() { *t = faceTrack{box: t.box} }

// faceTracks are the faces of the previous call.
type faceTracks struct {
	prev, cur []*faceTrack
	used      []bool // match's scratch
}

// match returns the track of each box: the previous call's face it overlaps most (at least trackMinIoU, each taken
// once), else a new one. The tracks of faces not matched are dropped. A followed face costs no allocation: a track
// is some 13 KB, and one made per face per frame and then dropped for the matched one was garbage at frame rate.
func (ft *faceTracks) match(boxes []face.Box) []*faceTrack {
	ft.cur = ft.cur[:0]
	ft.used = grow(ft.used, len(ft.prev))
	clear(ft.used)
	for _, b := range boxes {
		best, bi := float32(trackMinIoU), -1
		for j, p := range ft.prev {
			if iou := b.IoU(p.box); !ft.used[j] && iou >= best {
				best, bi = iou, j
			}
		}
		var t *faceTrack
		if bi >= 0 {
			ft.used[bi] = true
			t = ft.prev[bi]
		} else {
			t = &faceTrack{}
		}
		t.box = b
		ft.cur = append(ft.cur, t)
	}
	ft.prev, ft.cur = ft.cur, ft.prev
	return ft.prev
}

// centreLab is the mean colour of the middle half of a w x h BGR crop (the face's box: cheeks, nose, eyes and
// mouth, little hair or background), in Lab on the blend's 8-bit scale (L x 255/100, a and b + 128): what
// checkCut compares. Pure arithmetic: it runs for every face of every frame.
func centreLab(bgr []uint8, w, h int) [3]float32 {
	var sum [3]float64
	n := 0
	for y := h / 4; y < h-h/4; y++ {
		row := bgr[3*(y*w+w/4) : 3*(y*w+w-w/4)]
		for i := 0; i+2 < len(row); i += 3 {
			sum[0] += float64(row[i])
			sum[1] += float64(row[i+1])
			sum[2] += float64(row[i+2])
		}
		n += len(row) / 3
	}
	if n == 0 {
		return [3]float32{}
	}
	mean := func(c int) uint8 { return uint8(math.Round(sum[c] / float64(n))) }
	l := colour.Lab(mean(0), mean(1), mean(2))
	return [3]float32{float32(l[0] * 255 / 100), float32(l[1] + 128), float32(l[2] + 128)}
}

// checkCut compares the face's mean colour with the last frame's: a jump past cutDelta is a cut, which restarts the
// track.
func (t *faceTrack) checkCut(mean [3]float32) {
	if t.meanOK {
		for c := range mean {
			if math.Abs(float64(mean[c]-t.mean[c])) > cutDelta {
				t.reset()
				break
			}
		}
	}
	t.mean, t.meanOK = mean, true
}

// colourField is the regional colour match in time: the w x h field r (3 channels; valid where ok) is sampled at
// the grid's nodes, which are averaged with the track's, and r is replaced by the averaged grid wherever its four
// nodes are known. Each node moves colourSmoothing of the way to its new value; a fresh node takes it whole. toLow
// maps face-frame coordinates (face sizes from the face's centre along its axes) to r's pixel coordinates and toFace
// back.
func (t *faceTrack) colourField(r []float32, ok []bool, w, h int, toLow, toFace func(u, v float64) (float64, float64)) {
	const step = 2 * colourSpan / (colourGrid - 1)
	for gy := 0; gy < colourGrid; gy++ {
		for gx := 0; gx < colourGrid; gx++ {
			x, y := toLow(-colourSpan+float64(gx)*step, -colourSpan+float64(gy)*step)
			v, found := sampleField(r, ok, w, h, x, y)
			g := gy*colourGrid + gx
			if !found {
				continue
			}
			if !t.cOK[g] {
				t.colour[g], t.cOK[g] = v, true
				continue
			}
			for c := range v {
				t.colour[g][c] += colourSmoothing * (v[c] - t.colour[g][c])
			}
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			if !ok[i] {
				continue
			}
			u, v := toFace(float64(x), float64(y))
			gx, gy := (u+colourSpan)/step, (v+colourSpan)/step
			ix, iy := int(math.Floor(gx)), int(math.Floor(gy))
			if ix < 0 || iy < 0 || ix >= colourGrid-1 || iy >= colourGrid-1 {
				continue
			}
			g := iy*colourGrid + ix
			if !t.cOK[g] || !t.cOK[g+1] || !t.cOK[g+colourGrid] || !t.cOK[g+colourGrid+1] {
				continue
			}
			fx, fy := float32(gx-float64(ix)), float32(gy-float64(iy))
			a, b, c, d := &t.colour[g], &t.colour[g+1], &t.colour[g+colourGrid], &t.colour[g+colourGrid+1]
			for ch := 0; ch < 3; ch++ {
				r[3*i+ch] = (a[ch]*(1-fx)+b[ch]*fx)*(1-fy) + (c[ch]*(1-fx)+d[ch]*fx)*fy
			}
		}
	}
}

// sampleField is the bilinear sample of the 3-channel field r at (x, y); false unless all four pixels around are
// valid.
func sampleField(r []float32, ok []bool, w, h int, x, y float64) ([3]float32, bool) {
	ix, iy := int(math.Floor(x)), int(math.Floor(y))
	if ix < 0 || iy < 0 || ix+1 >= w || iy+1 >= h {
		return [3]float32{}, false
	}
	i := iy*w + ix
	if !ok[i] || !ok[i+1] || !ok[i+w] || !ok[i+w+1] {
		return [3]float32{}, false
	}
	fx, fy := float32(x-float64(ix)), float32(y-float64(iy))
	var v [3]float32
	for c := 0; c < 3; c++ {
		v[c] = (r[3*i+c]*(1-fx)+r[3*i+3+c]*fx)*(1-fy) + (r[3*(i+w)+c]*(1-fx)+r[3*(i+w)+3+c]*fx)*fy
	}
	return v, true
}

// smoothMesh smooths the target mesh pts (crop coordinates; origin the crop's top-left in the frame) in time: the
// previous call's smoothed mesh is carried along by the similarity that takes the previous raw mesh to this one
// (the head's own motion is never delayed), and each point moves from there towards its new place by a share that
// grows with how far it is (a One Euro filter's idea: the landmarks' frame-to-frame jitter, a fraction of a percent
// of the face, is damped; a mouth that opens moves at once).
func (t *faceTrack) smoothMesh(pts *[face.MeshPoints]face.Point, origin face.Point, size float64) {
	var abs [face.MeshPoints]face.Point
	for i, p := range pts {
		abs[i] = face.Point{X: p.X + origin.X, Y: p.Y + origin.Y}
	}
	if !t.meshOK {
		t.raw, t.smooth, t.meshOK = abs, abs, true
		return
	}
	motion, err := face.EstimateSimilarity(t.raw[:], abs[:])
	t.raw = abs
	if err != nil {
		t.smooth = abs
		return
	}
	for i, p := range abs {
		q := motion.Apply(t.smooth[i])
		share := min(1, meshSmoothing+dist2(p, q)/(meshJitter*size))
		t.smooth[i] = face.Point{X: q.X + float32(share)*(p.X-q.X), Y: q.Y + float32(share)*(p.Y-q.Y)}
		pts[i] = face.Point{X: t.smooth[i].X - origin.X, Y: t.smooth[i].Y - origin.Y}
	}
}
