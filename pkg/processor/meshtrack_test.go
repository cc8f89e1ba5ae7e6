package processor

import (
	"math"
	"testing"

	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

// TestFaceTracksMatch: a face that stays keeps its track (and its state), a new face elsewhere gets a fresh one,
// and a face that left is forgotten.
func TestFaceTracksMatch(t *testing.T) {
	var ft faceTracks
	a, b := face.Box{X1: 10, Y1: 10, X2: 110, Y2: 110}, face.Box{X1: 300, Y1: 10, X2: 400, Y2: 110}
	first := ft.match([]face.Box{a})
	first[0].shapeOK = true
	ta := first[0]
	moved := face.Box{X1: 15, Y1: 12, X2: 115, Y2: 112}
	second := ft.match([]face.Box{b, moved})
	if second[1] != ta || !second[1].shapeOK {
		t.Error("the face that moved a little lost its track")
	}
	if second[0] == ta || second[0].shapeOK {
		t.Error("a new face took the other's track")
	}
	third := ft.match([]face.Box{a}) // b left; a is back where it was
	if third[0] != ta {
		t.Error("the followed face lost its track")
	}
	if len(ft.match([]face.Box{b})) != 1 || ft.prev[0] == ta || ft.prev[0].shapeOK {
		t.Error("a face at the place of one that left two calls ago inherited a track")
	}
}

// TestFaceTracksFollowWithoutAllocating: following the same faces frame after frame allocates nothing (a track
// was made per face per call and dropped for the matched one: some 13 KB each at frame rate).
func TestFaceTracksFollowWithoutAllocating(t *testing.T) {
	var ft faceTracks
	boxes := []face.Box{{X1: 10, Y1: 10, X2: 110, Y2: 110}, {X1: 300, Y1: 10, X2: 400, Y2: 110}}
	ft.match(boxes)
	if n := testing.AllocsPerRun(100, func() { ft.match(boxes) }); n != 0 {
		t.Errorf("%.0f allocations a call with the same two faces, want 0", n)
	}
}

// TestColourFieldSmoothed: the regional colour match moves by colourSmoothing of the way to a new frame's on the
// same person, and starts afresh on a cut (the face's mean colour jumps) or a new person.
func TestColourFieldSmoothed(t *testing.T) {
	const w, h = 24, 24
	field := func(v float32) ([]float32, []bool) {
		r, ok := make([]float32, 3*w*h), make([]bool, w*h)
		for i := range ok {
			ok[i] = true
			r[3*i], r[3*i+1], r[3*i+2] = v, v/2, -v
		}
		return r, ok
	}
	// The face spans the field: its centre in the middle, a face size of w/2 pixels.
	toLow := func(u, v float64) (float64, float64) { return w/2 + u*w/2, h/2 + v*h/2 }
	toFace := func(x, y float64) (float64, float64) { return (x - w/2) / (w / 2), (y - h/2) / (h / 2) }
	mid := 3 * (h/2*w + w/2)

	var ft faceTracks
	box := face.Box{X1: 0, Y1: 0, X2: 100, Y2: 100}
	tr := ft.match([]face.Box{box})[0]
	r, ok := field(10)
	tr.checkCut([3]float32{120, 128, 128})
	tr.colourField(r, ok, w, h, toLow, toFace)
	if math.Abs(float64(r[mid]-10)) > 1e-4 {
		t.Fatalf("first frame: field %.3f, want its own 10", r[mid])
	}
	tr = ft.match([]face.Box{box})[0]
	r, ok = field(20)
	tr.checkCut([3]float32{122, 128, 128})
	tr.colourField(r, ok, w, h, toLow, toFace)
	if want := 10 + colourSmoothing*10; math.Abs(float64(r[mid])-want) > 1e-3 {
		t.Errorf("second frame, same shot: field %.3f, want %.3f", r[mid], want)
	}
	if want := -(10 + colourSmoothing*10); math.Abs(float64(r[mid+2])-want) > 1e-3 {
		t.Errorf("second frame, channel b: field %.3f, want %.3f", r[mid+2], want)
	}
	// A cut: the face's colour jumps by more than cutDelta; the field is the new frame's own.
	tr = ft.match([]face.Box{box})[0]
	r, ok = field(40)
	tr.checkCut([3]float32{122 + cutDelta + 1, 128, 128})
	tr.colourField(r, ok, w, h, toLow, toFace)
	if math.Abs(float64(r[mid]-40)) > 1e-4 {
		t.Errorf("after a cut: field %.3f, want the new frame's 40", r[mid])
	}
	// A new person (no overlap with the last face): fresh as well.
	tr = ft.match([]face.Box{{X1: 500, Y1: 500, X2: 600, Y2: 600}})[0]
	r, ok = field(5)
	tr.checkCut([3]float32{135, 128, 128})
	tr.colourField(r, ok, w, h, toLow, toFace)
	if math.Abs(float64(r[mid]-5)) > 1e-4 {
		t.Errorf("a new person: field %.3f, want their own 5", r[mid])
	}
}

// TestSmoothMesh: a head that moves (turns in the image, shifts, grows) is followed at once; a landmark's small
// jitter is damped to meshSmoothing of its move; a large move (a mouth opening) goes all the way.
func TestSmoothMesh(t *testing.T) {
	const size = 150
	base := synthMesh(200, 200, size, 1, 1, 0)
	var tr faceTrack
	first := base
	tr.smoothMesh(&first, face.Point{}, size)
	if first != base {
		t.Fatal("the first call changed the mesh")
	}
	motion := face.Affine{{1.05 * math.Cos(0.1), -1.05 * math.Sin(0.1), 12}, {1.05 * math.Sin(0.1), 1.05 * math.Cos(0.1), -7}}
	var moved [face.MeshPoints]face.Point
	for i, p := range base {
		moved[i] = motion.Apply(p)
	}
	const jit, lip = 7, 13
	jitter := 0.002 * size
	moved[jit].X += float32(jitter)
	moved[lip].Y += 0.05 * size // the upper lip's middle moves up a lot
	got := moved
	origin := face.Point{X: 30, Y: 40} // crop coordinates: the origin is carried through
	for i := range got {
		got[i].X -= origin.X
		got[i].Y -= origin.Y
	}
	tr.smoothMesh(&got, origin, size)
	for i := range got {
		got[i].X += origin.X
		got[i].Y += origin.Y
	}
	for i := range got {
		if i == jit || i == lip {
			continue
		}
		if d := dist2(got[i], moved[i]); d > 0.05 {
			t.Fatalf("point %d is %.3f px off the moved head: the head's motion was delayed", i, d)
		}
	}
	// Least squares spreads the two moved points' share over the fit: compare with the rigidly moved place.
	want := motion.Apply(base[jit])
	share := float64(got[jit].X-want.X) / jitter
	wantShare := meshSmoothing + 0.002/meshJitter
	if math.Abs(share-wantShare) > 0.1 {
		t.Errorf("a jitter of %.2f px kept %.2f of its move, want about %.2f", jitter, share, wantShare)
	}
	if d := dist2(got[lip], moved[lip]); d > 0.5 {
		t.Errorf("a lip that moved %.1f px is %.2f px short", 0.05*size, d)
	}
}

// TestCutRestartsTrackWhateverTheBlend: a face whose colour jumps between two calls (a cut to another shot in the
// same place) starts a fresh track, with the Lab blend and without it (before, only the blend checked for cuts,
// so a plain swap kept smoothing the new shot's face with the last one's); the same shot keeps its track.
func TestCutRestartsTrackWhateverTheBlend(t *testing.T) {
	r := newMeshRig(t)
	img := readFace(t, "grace_hopper.jpg")
	cut := gocv.NewMat()
	defer cut.Close()
	img.ConvertToWithParams(&cut, gocv.MatTypeCV8UC3, 0.5, 20) // darker and greyer: the next shot
	faces, meshes := r.faces(t, img)
	for _, c := range []struct {
		name string
		cfg  MeshSwapConfig
	}{
		{"lab blend", DefaultMeshSwapConfig()},
		{"plain", MeshSwapConfig{MaskBlur: 0.3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := r.swapper(t, c.cfg)
			swap := func(frame gocv.Mat) *faceTrack {
				out := frame.Clone()
				defer out.Close()
				if err := s.Swap(out, faces, meshes); err != nil {
					t.Fatal(err)
				}
				return s.tracks.prev[0]
			}
			tr := swap(img)
			tr.shapeOK = true // a mark: only a reset clears it (this swap moves no shape)
			if tr = swap(img); !tr.shapeOK {
				t.Error("the same shot again restarted the track")
			}
			if tr = swap(cut); tr.shapeOK {
				t.Error("a cut kept the track")
			}
			tr.shapeOK = true
			if tr = swap(cut); !tr.shapeOK {
				t.Error("the new shot's second frame restarted the track")
			}
		})
	}
}

// TestCentreLab: the cut check's colour is the mean of the crop's middle half only, on the blend's 8-bit Lab scale
// (what cutDelta is in): a border of another colour changes nothing, and mid grey is L 50 -> 127.6, a = b = 128.
func TestCentreLab(t *testing.T) {
	const w, h = 40, 20
	crop := make([]uint8, 3*w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint8(119) // mid grey: L 50.03
			if x < w/4 || x >= w-w/4 || y < h/4 || y >= h-h/4 {
				v = 255 // the border: hair, background
			}
			crop[3*(y*w+x)], crop[3*(y*w+x)+1], crop[3*(y*w+x)+2] = v, v, v
		}
	}
	got := centreLab(crop, w, h)
	for c, want := range [3]float64{50.03 * 255 / 100, 128, 128} {
		if math.Abs(float64(got[c])-want) > 0.1 {
			t.Errorf("channel %d: %.2f, want %.2f", c, got[c], want)
		}
	}
}
