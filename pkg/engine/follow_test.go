package engine

import (
	"errors"
	"fmt"
	"image"
	"math"
	"slices"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/processor"
)

// geometryAt is the geometry descriptor of the largest face of img scaled by s.
func geometryAt(t *testing.T, e *Engine, img gocv.Mat, s float64) []float32 {
	t.Helper()
	m := gocv.NewMat()
	defer m.Close()
	gocv.Resize(img, &m, image.Point{}, s, s, gocv.InterpolationArea)
	faces, err := mustDetector(t, e).Detect(m)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := face.Largest(faces)
	if !ok {
		t.Fatalf("no face at scale %g", s)
	}
	lm, err := e.loadLandmarker()
	if err != nil {
		t.Fatal(err)
	}
	mesh, err := lm.Landmarks(m, f)
	if err != nil {
		t.Fatal(err)
	}
	return face.GeometryOf(mesh)
}

// TestGeometryReidentifies: the landmark geometry of a face, at the sizes a moving person takes, stays within
// face.DefaultGeometryMaxDist of itself and further from every other shared face; the threshold was set from it.
func TestGeometryReidentifies(t *testing.T) {
	e := newEngine(t)
	names := []string{"grace_hopper.jpg", "pexels_max_emotion_neutral.jpeg", "astronaut_eileen_collins.png",
		"codait_luciano_cc0.png", "pexels_keijiro_facelandmark_Test1.jpg", "pexels_keijiro_facelandmark_Test2.jpg"}
	scales := []float64{1, 0.6, 0.4}
	desc := make([][][]float32, len(names))
	for i, n := range names {
		img := read(t, n)
		for _, s := range scales {
			desc[i] = append(desc[i], geometryAt(t, e, img, s))
		}
	}
	// Each face at each size, among every face at full size, must be told apart by the Follower's rules: within
	// the threshold, and clearly closer than the next face (measured: itself 0.0009 at most; others 0.002 and
	// more, but for one pair of look-alikes, eileen_collins and max_emotion_neutral, 0.0005 apart, told apart only
	// by the ratio when both are present).
	cfg := face.DefaultFollowConfig(face.DefaultGeometryMaxDist)
	for i := range names {
		for k := range scales {
			best, second := -1, float32(1)
			var bestD float32 = 1
			for j := range names {
				d := face.Distance(desc[i][k], desc[j][0])
				if d < bestD {
					best, bestD, second = j, d, bestD
				} else if d < second {
					second = d
				}
			}
			if best != i || !(bestD < cfg.MaxDistance) || !(bestD < cfg.Ratio*second) {
				t.Errorf("%s at %g: closest %s at %.5f (next %.5f)", names[i], scales[k], names[best], bestD, second)
			}
		}
	}
}

// TestFollowPosition: selector one swaps the person at the reference position, by geometry or by embedding, not
// the largest face; a position past the faces is bad input, a faceless frame no reference.
func TestFollowPosition(t *testing.T) {
	e := newEngine(t)
	target := read(t, "apollo11_crew_3faces.jpg")
	faces, err := mustDetector(t, e).Detect(target)
	if err != nil || len(faces) != 3 {
		t.Fatalf("%d faces, %v", len(faces), err)
	}
	face.SortLeftToRight(faces)
	recognizer := testenv.Model(t, "mobilefacenet_paddlex_128d.onnx") // TESTS ONLY
	source := testenv.Face(t, "astronaut_eileen_collins.png")
	for _, embed := range []bool{false, true} {
		for p := 0; p < 3; p++ {
			t.Run(fmt.Sprintf("position %d embedding %v", p, embed), func(t *testing.T) {
				follow, err := e.Follow(target, 0, p)
				if err != nil || follow == nil || len(follow.Geometry) != face.GeometryValues {
					t.Fatalf("follow %+v, %v", follow, err)
				}
				opt := job.FaceOptions{Processors: []string{job.ProcessorSwapper}, Swapper: job.SwapperClassical,
					Selector: face.SelectOne, Recognizer: recognizer, Follow: follow}
				if embed {
					if opt.Reference, err = e.Reference(target, p, recognizer); err != nil {
						t.Fatal(err)
					}
				}
				proc, err := e.ForJob(fmt.Sprintf("job-%d-%v", p, embed), source, opt)
				if err != nil {
					t.Fatal(err)
				}
				out := target.Clone()
				defer out.Close()
				if err := proc.Process(out, 0); err != nil {
					t.Fatal(err)
				}
				want := []bool{false, false, false}
				want[p] = true
				if got := changed(t, target, out, faces); !slices.Equal(got, want) {
					t.Fatalf("changed faces %v, want %v", got, want)
				}
			})
		}
	}
	if _, err := e.Follow(target, 0, 3); !errors.Is(err, ErrBadInput) {
		t.Fatalf("position 3 of 3 faces: %v", err)
	}
	blank := gocv.NewMatWithSize(240, 320, gocv.MatTypeCV8UC3)
	defer blank.Close()
	if f, err := e.Follow(blank, 0, 0); f != nil || err != nil {
		t.Fatalf("faceless frame: %+v, %v", f, err)
	}
}

// TestFollowRefusesForeignReference: a job's person described for another build (a geometry of another length) or
// another recognizer file is bad input, not a silent mismatch.
func TestFollowRefusesForeignReference(t *testing.T) {
	e := newEngine(t)
	recognizer := testenv.Model(t, "mobilefacenet_paddlex_128d.onnx") // TESTS ONLY
	source := testenv.Face(t, "astronaut_eileen_collins.png")
	target := read(t, "apollo11_crew_3faces.jpg")
	ref, err := e.Reference(target, 0, recognizer)
	if err != nil {
		t.Fatal(err)
	}
	box := [4]float32{0.1, 0.1, 0.3, 0.3}
	for _, tc := range []struct {
		name string
		opt  job.FaceOptions
		ok   bool
	}{
		{"geometry", job.FaceOptions{Follow: &job.Follow{Box: box, Geometry: make([]float32, face.GeometryValues)}}, true},
		{"short geometry", job.FaceOptions{Follow: &job.Follow{Box: box, Geometry: make([]float32, 10)}}, false},
		{"embedding", job.FaceOptions{Reference: ref}, true},
		{"embedding of another length", job.FaceOptions{Reference: ref[:64]}, false},
		{"embedding of another file", job.FaceOptions{Reference: ref, ReferenceModel: strings.Repeat("0", 64)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := tc.opt
			opt.Processors, opt.Swapper, opt.Selector, opt.Recognizer = []string{job.ProcessorSwapper}, job.SwapperClassical, face.SelectOne, recognizer
			_, err := e.ForJob("job-"+tc.name, source, opt)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadInput)) {
				t.Fatalf("%v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestDetectOnKeyframes: while selector one follows its person, the detector runs on every DefaultDetectEvery-th
// frame of the target, on a scene cut (where the person is found again by geometry) and where the landmarks lose
// the face; in between the face found by its landmarks has the box and keypoints the detector gives it (IoU 0.8 or more, keypoints
// within 10% of the face width), and the mesh swap is handed that mesh rather than run the landmark model again.
func TestDetectOnKeyframes(t *testing.T) {
	e := newEngine(t)
	det := &countingDetector{Detector: mustDetector(t, e)}
	small := smallGrace(t)
	frame := func(i int) gocv.Mat { // grace walking right and down; a new shot (brighter) from frame 7; gone at 12
		bg := 90.0
		if i >= 7 {
			bg = 220
		}
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(bg, bg, bg, 0), 480, 640, gocv.MatTypeCV8UC3)
		if i != 12 {
			roi := m.Region(image.Rect(40+6*i, 60+2*i, 240+6*i, 294+2*i))
			small.CopyTo(&roi)
			_ = roi.Close()
		}
		return m
	}
	var swapped []face.Face
	record := func(_ gocv.Mat, faces []face.Face) error { swapped = append(swapped, faces...); return nil }
	lm, err := e.loadLandmarker()
	if err != nil {
		t.Fatal(err)
	}
	first := frame(0)
	ref, err := e.Follow(first, 0, 0)
	_ = first.Close()
	if err != nil || ref == nil {
		t.Fatalf("reference %v, %v", ref, err)
	}
	fp := &FrameProcessor{detector: det, selector: face.SelectOne, steps: []step{{one: record}},
		follow: &follower{ref: ref, geometry: true, every: DefaultDetectEvery, landmarker: lm, hint: e.hintMesh}}
	var calls []int
	for i := 0; i < 20; i++ {
		m := frame(i)
		before := det.calls
		n := len(swapped)
		if err := fp.Process(m, i); err != nil {
			t.Fatal(err)
		}
		if det.calls > before {
			calls = append(calls, i)
		}
		if i == 12 {
			if len(swapped) != n {
				t.Fatalf("frame 12 (no face): swapped %v", swapped[n:])
			}
			_ = m.Close()
			continue
		}
		if len(swapped) != n+1 {
			t.Fatalf("frame %d: %d faces swapped", i, len(swapped)-n)
		}
		got := swapped[n]
		want, err := det.Detector.Detect(m)
		if err != nil || len(want) != 1 {
			t.Fatalf("frame %d: %d faces, %v", i, len(want), err)
		}
		if iou := got.Box.IoU(want[0].Box); iou < 0.8 {
			t.Errorf("frame %d: box %v, the detector's %v (IoU %.2f)", i, got.Box, want[0].Box, iou)
		}
		for k := range got.Kps {
			d := math.Hypot(float64(got.Kps[k].X-want[0].Kps[k].X), float64(got.Kps[k].Y-want[0].Kps[k].Y))
			if d > 0.1*float64(want[0].Box.Width()) {
				t.Errorf("frame %d: keypoint %d at %v, the detector's at %v", i, k, got.Kps[k], want[0].Kps[k])
			}
		}
		// The swap step would have found the follower's mesh for this face.
		if _, ok := e.meshes[frameKey(m)]; !ok {
			t.Errorf("frame %d: no mesh handed to the swap", i)
		}
		delete(e.meshes, frameKey(m))
		_ = m.Close()
	}
	// Every 5th frame of the target (0, 5, 10, 15); 7 (the cut), 12 (no face for the landmarks), 13 (lost the frame
	// before).
	if want := []int{0, 5, 7, 10, 12, 13, 15}; !slices.Equal(calls, want) {
		t.Fatalf("detector ran on frames %v, want %v", calls, want)
	}
}

// TestFacelessFramesDetectOnKeyframes: where the last detection found no face and the followed person has not
// been there for more than the cadence, the detector runs on every 5th frame only (and the frames between are
// neither detected nor converted), so a face that comes in is swapped from the next such frame; right after the
// person leaves, detection still runs on every frame for a cadence, so a face missed once is found again at once;
// a face that is not (yet) the person is looked at on every frame. Before, every frame without the person ran
// the detector on the whole frame.
func TestFacelessFramesDetectOnKeyframes(t *testing.T) {
	e := newEngine(t)
	small := smallGrace(t)
	lm, err := e.loadLandmarker()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		from, to   int // grace is in frames [from, to)
		ref        *job.Follow
		detections []int // the frames the detector runs on
		swapped    []int // the frames a face is swapped in
	}{
		{"comes in at 7", 7, 20, nil, []int{0, 5, 10, 15}, seq(10, 20)},
		{"leaves at 8", 0, 8, nil, []int{0, 5, 8, 9, 10, 11, 12, 15}, seq(0, 8)},
		{"never there", 20, 20, nil, []int{0, 5, 10, 15}, nil},
		{"someone else", 0, 20, &job.Follow{Box: [4]float32{0.9, 0.9, 0.95, 0.95}}, seq(0, 20), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			det := &countingDetector{Detector: mustDetector(t, e)}
			var swapped []int
			index := 0
			record := func(_ gocv.Mat, faces []face.Face) error {
				if len(faces) > 0 {
					swapped = append(swapped, index)
				}
				return nil
			}
			fp := &FrameProcessor{detector: det, selector: face.SelectOne, steps: []step{{one: record}},
				follow: &follower{ref: tt.ref, every: DefaultDetectEvery, landmarker: lm, hint: func(gocv.Mat, face.Face, face.Mesh) {}}}
			var calls []int
			for index = 0; index < 20; index++ {
				m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 90, 90, 0), 480, 640, gocv.MatTypeCV8UC3)
				if index >= tt.from && index < tt.to {
					roi := m.Region(image.Rect(200, 100, 400, 334))
					small.CopyTo(&roi)
					_ = roi.Close()
				}
				before := det.calls
				if err := fp.Process(m, index); err != nil {
					t.Fatal(err)
				}
				if det.calls > before {
					calls = append(calls, index)
				}
				_ = m.Close()
			}
			if !slices.Equal(calls, tt.detections) {
				t.Errorf("detector ran on frames %v, want %v", calls, tt.detections)
			}
			if !slices.Equal(swapped, tt.swapped) {
				t.Errorf("swapped frames %v, want %v", swapped, tt.swapped)
			}
		})
	}
}

// seq is the ints [a, b).
func seq(a, b int) []int {
	var s []int
	for i := a; i < b; i++ {
		s = append(s, i)
	}
	return s
}

// countingLandmarker counts the landmark model's runs.
type countingLandmarker struct {
	processor.Landmarker
	calls int
}

func (c *countingLandmarker) Landmarks(img gocv.Mat, f face.Face) (face.Mesh, error) {
	c.calls++
	return c.Landmarker.Landmarks(img, f)
}

// TestMeshEveryThirdFrame: while selector one follows its person by landmarks, the landmark model runs on every
// 3rd frame counted from its last run, and on the detector's; on the frames between, the mesh handed to the swap is
// the last one moved with the face, within 1.5 pixels (mean) of the model's own for that frame; a face that jumps
// (20 pixels: further than a shift is trusted for) gets the model again, and so does a face that moved more than a
// tenth of its box since the last run (at 6.3 pixels a frame, two frames on: the model runs every 2nd frame).
func TestMeshEveryThirdFrame(t *testing.T) {
	e := newEngine(t)
	small := smallGrace(t)
	base, err := e.loadLandmarker()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		dx, dy int   // the face's motion a frame
		want   []int // the frames the model runs on: 0 and 5 detections, 7 the jump
	}{
		{"3.2px a frame", 3, 1, []int{0, 3, 5, 7}},
		{"6.3px a frame", 6, 2, []int{0, 2, 4, 5, 7, 9}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			at := func(i int) image.Point { // walking right and down; a jump of 20 pixels at frame 7
				p := image.Pt(40+tt.dx*i, 60+tt.dy*i)
				if i >= 7 {
					p.X += 20
				}
				return p
			}
			frame := func(i int) gocv.Mat {
				m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 90, 90, 0), 480, 640, gocv.MatTypeCV8UC3)
				roi := m.Region(image.Rectangle{Min: at(i), Max: at(i).Add(image.Pt(200, 234))})
				small.CopyTo(&roi)
				_ = roi.Close()
				return m
			}
			lm := &countingLandmarker{Landmarker: base}
			det := &countingDetector{Detector: mustDetector(t, e)}
			fp := &FrameProcessor{detector: det, selector: face.SelectOne, steps: []step{{one: func(gocv.Mat, []face.Face) error { return nil }}},
				follow: &follower{every: DefaultDetectEvery, meshEvery: DefaultMeshEvery, landmarker: lm, hint: e.hintMesh}}
			var ran []int
			for i := 0; i < 10; i++ {
				m := frame(i)
				before := lm.calls
				if err := fp.Process(m, i); err != nil {
					t.Fatal(err)
				}
				if lm.calls > before {
					ran = append(ran, i)
				}
				h, ok := e.takeHint(m)
				if !ok {
					t.Fatalf("frame %d: no mesh handed to the swap", i)
				}
				want, err := base.Landmarks(m, h.face)
				if err != nil {
					t.Fatal(err)
				}
				var d float64
				for k := range want.Points {
					d += math.Hypot(float64(h.mesh.Points[k].X-want.Points[k].X), float64(h.mesh.Points[k].Y-want.Points[k].Y))
				}
				d /= face.MeshPoints
				t.Logf("frame %d: mesh %.2f px from the model's", i, d)
				if d > 1.5 {
					t.Errorf("frame %d: the swap's mesh is %.2f px from the model's (mean)", i, d)
				}
				_ = m.Close()
			}
			if !slices.Equal(ran, tt.want) {
				t.Errorf("landmark model ran on frames %v, want %v", ran, tt.want)
			}
		})
	}
}

// smallGrace is grace_hopper.jpg shrunk to 200x234, a face to move about a frame; closed with the test.
func smallGrace(t *testing.T) gocv.Mat {
	t.Helper()
	small := gocv.NewMat()
	t.Cleanup(func() { _ = small.Close() })
	gocv.Resize(read(t, "grace_hopper.jpg"), &small, image.Point{X: 200, Y: 234}, 0, 0, gocv.InterpolationArea)
	return small
}
