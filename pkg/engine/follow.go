package engine

import (
	"fmt"
	"math"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/pipeline"
	"github.com/facefleet/facefleet/pkg/processor"
)

// DefaultDetectEvery is how often selector one runs the full-frame detector while it follows its person: on every
// 5th frame of the target (and on a scene cut, at a segment's start, where the landmarks lose the face); in the frames between,
// the person's face is found by the landmark model on a crop around where it was, as MediaPipe's face mesh
// tracks, and that mesh is the one the mesh swap uses.
const DefaultDetectEvery = 5

// DefaultMeshEvery is how often, while selector one follows its person by landmarks, the landmark model runs: on
// every 3rd frame counted from the last frame it ran on (and on every detection, and wherever the face moved in a
// way a shift does not explain); on the frames between, the last mesh moves with the face, by the phase
// correlation of the face's box in the two frames (processor.MotionPatch: BenchmarkMotionPatch against
// BenchmarkFaceMesh, a small part of the model's cost). The mouth's shape there is that frame's. Counted from the
// last run rather than by frame index, a detection (which runs the model) restarts the count: on the bench clip the
// model runs on 200 of 500 frames, against 300 for every 2nd frame by index (docs/BENCHMARKS.md, h20-speed).
const DefaultMeshEvery = 3

// minMotionResponse is the phase correlation's peak (processor.MotionPatch.Shift) below which the face's box did
// not move as one (a turn, a hand, a blur): the landmark model runs. A face moved by 12 pixels gives 0.87, a
// different picture 0.11.
const minMotionResponse = 0.4

// maxMotion is the largest shift, in fractions of the box's width, that a mesh is moved by rather than found
// again: a faster face also turns and blurs.
const maxMotion = 0.1

// sceneCut is the mean difference of two frames' 64x36 thumbnails (levels) above which the picture changed too
// much for a face to be followed by its landmarks: the detector runs.
const sceneCut = 30

// follower is selector one in a FrameProcessor: face.Follower with the descriptors of this engine's models, an
// embedding when the job carries the person's (opt.Reference), else the landmark geometry of opt.Follow; and the
// detection cadence (DefaultDetectEvery).
type follower struct {
	ref        *job.Follow
	embedding  []float32
	recognizer processor.Embedder   // when embedding
	landmarker processor.Landmarker // tracking, and geometry
	geometry   bool
	distance   float32        // the embedding's threshold (--similar-face-distance)
	track      *face.Follower // made at the first frame: the reference box is in fractions of its size

	every     int                                            // detect every this many frames; 1: every frame
	meshEvery int                                            // run the landmark model every this many frames; 1: every frame
	hint      func(frame gocv.Mat, f face.Face, m face.Mesh) // hands the followed face's mesh to the mesh swap
	prev      *followed                                      // the previous frame's followed face, nil when none
	calib     meshCalib                                      // the detector's box and keypoints against the mesh
	thumb     []byte                                         // the previous frame's thumbnail, for scene cuts
	seen      int                                            // the index of the last frame the person was in, +1 (0: none yet)
	empty     bool                                           // the last detection found no face at all
}

type followed struct {
	index  int
	face   face.Face
	anchor *anchor // the frame of this stretch the landmark model last ran on, nil: none to move a mesh from
}

// anchor is a frame the landmark model ran on: its mesh, and its face's box to measure the face's motion by.
type anchor struct {
	index int
	mesh  face.Mesh
	patch processor.MotionPatch
}

// meshCalib is where the detector put the box and keypoints relative to the mesh's bounds (offsets and sizes in
// fractions of the bounds), measured on the last detected frame, so that a face found by its landmarks gets the box
// and keypoints the detector would have given it (the swappers size their masks by the box).
type meshCalib struct {
	ok     bool
	dx, dy float32 // box centre offset
	sw, sh float32 // box size
	kps    [5]face.Point
	score  float32
}

// meshKps are the five alignment keypoints as the mesh places them.
func meshKps(m *face.Mesh) [5]face.Point {
	centre := func(idx []int) face.Point {
		var c face.Point
		for _, i := range idx {
			c.X, c.Y = c.X+m.Points[i].X, c.Y+m.Points[i].Y
		}
		return face.Point{X: c.X / float32(len(idx)), Y: c.Y / float32(len(idx))}
	}
	return [5]face.Point{centre(face.MeshImageLeftEye[:]), centre(face.MeshImageRightEye[:]), m.Points[face.MeshNoseTip],
		m.Points[face.MeshMouthImageLeft], m.Points[face.MeshMouthImageRight]}
}

func (c *meshCalib) measure(f face.Face, m *face.Mesh) {
	b := m.Bounds()
	bw, bh := b.Width(), b.Height()
	if !(bw > 1 && bh > 1) {
		c.ok = false
		return
	}
	fc, bc := f.Box.Center(), b.Center()
	c.dx, c.dy = (fc.X-bc.X)/bw, (fc.Y-bc.Y)/bh
	c.sw, c.sh = f.Box.Width()/bw, f.Box.Height()/bh
	mk := meshKps(m)
	for i := range c.kps {
		c.kps[i] = face.Point{X: (f.Kps[i].X - mk[i].X) / bw, Y: (f.Kps[i].Y - mk[i].Y) / bh}
	}
	c.score, c.ok = f.Score, true
}

// apply is the face the detector would have given for mesh m.
func (c *meshCalib) apply(m *face.Mesh) face.Face {
	b := m.Bounds()
	bw, bh := b.Width(), b.Height()
	bc := b.Center()
	cx, cy := bc.X+c.dx*bw, bc.Y+c.dy*bh
	w, h := c.sw*bw, c.sh*bh
	f := face.Face{Box: face.Box{X1: cx - w/2, Y1: cy - h/2, X2: cx + w/2, Y2: cy + h/2}, Score: c.score}
	mk := meshKps(m)
	for i := range f.Kps {
		f.Kps[i] = face.Point{X: mk[i].X + c.kps[i].X*bw, Y: mk[i].Y + c.kps[i].Y*bh}
	}
	return f
}

// faces returns the followed person's face in frame index (none, or one): by its landmarks from the previous
// frame's face, or by detection every f.every frames and wherever the landmarks cannot follow it.
func (f *follower) faces(pic *pipeline.Picture, index int, det processor.Detector) ([]face.Face, error) {
	cut, err := f.sceneCut(pic)
	if err != nil {
		return nil, err
	}
	frame, all := pic.Mat(), pic.Bounds()
	// The cadence counts whole-target frame indices, not a segment's: however a job is cut into segments, the same
	// frames are detected (at boundaries that are multiples of it: the output does not depend on the segmentation).
	if f.prev != nil && f.prev.index == index-1 && index%f.every != 0 && !cut && f.calib.ok &&
		(f.ref == nil || index != f.ref.Frame) {
		m, a, err := f.moved(pic, index)
		if err != nil {
			return nil, err
		}
		if a == nil {
			if err := pic.Need(readRegion(f.landmarker, f.prev.face, all.Dx(), all.Dy())); err != nil {
				return nil, err
			}
			if m, err = f.landmarker.Landmarks(frame, f.prev.face); err != nil {
				return nil, err
			}
		}
		if m.Finite() && m.Presence > 0 {
			fc := f.calib.apply(&m)
			if b := fc.Box.Clamp(frame.Cols(), frame.Rows()); !b.Empty() {
				i, err := f.pick(pic, index, []face.Face{fc})
				if err != nil {
					return nil, err
				}
				if i == 0 {
					if a == nil {
						if a, err = f.anchorAt(pic, index, fc, m); err != nil {
							return nil, err
						}
					}
					f.seen = index + 1
					f.prev = &followed{index, fc, a}
					f.hint(frame, fc, m)
					return []face.Face{fc}, nil
				}
			}
		}
	}
	// Where the last detection found no face at all and the person has not been in the last f.every frames, the
	// detector runs on the cadence's frames only, and on a cut and the reference frame: a stretch without faces
	// costs one detection every f.every frames, and the frames between are not converted to BGR at all. A face that
	// comes in is found at the next of those frames. (Faces that are not yet the person are looked at on every frame,
	// as before: the person may be re-identified in any of them. A segment that starts on a multiple of f.every
	// detects on its first frame, as one pass does; the frames after it can differ only where the person left just
	// before it.)
	recent := f.seen > 0 && index-(f.seen-1) <= f.every
	if f.prev == nil && f.empty && !recent && index%f.every != 0 && !cut && (f.ref == nil || index != f.ref.Frame) {
		return nil, nil
	}
	if err := pic.Need(all); err != nil {
		return nil, err
	}
	faces, err := det.Detect(frame)
	if err != nil {
		return nil, err
	}
	f.empty = len(faces) == 0
	if cut && f.track != nil {
		f.track.Lose() // a face where the person was, in a new shot, is someone until re-identified
	}
	f.prev = nil
	i, err := f.pick(pic, index, faces) // also told of faceless frames: the track's gap counts them
	if err != nil || i < 0 {
		return nil, err
	}
	fc := faces[i]
	f.seen = index + 1
	if f.every > 1 {
		m, err := f.landmarker.Landmarks(frame, fc)
		if err != nil {
			return nil, err
		}
		if m.Finite() && m.Presence > 0 {
			f.calib.measure(fc, &m)
			a, err := f.anchorAt(pic, index, fc, m)
			if err != nil {
				return nil, err
			}
			f.prev = &followed{index, fc, a}
			f.hint(frame, fc, m)
		}
	}
	return []face.Face{fc}, nil
}

// moved is the mesh of the followed face in frame index without the landmark model: the last mesh the model gave
// in this stretch, moved as the face's box moved since; a is that mesh's anchor, nil where the model must run (a
// frame of its cadence, no anchor, or a motion a shift does not explain).
func (f *follower) moved(pic *pipeline.Picture, index int) (m face.Mesh, a *anchor, err error) {
	a = f.prev.anchor
	if f.meshEvery <= 1 || a == nil || index-a.index >= f.meshEvery {
		return face.Mesh{}, nil, nil
	}
	if err := pic.Need(a.patch.Rect); err != nil {
		return face.Mesh{}, nil, err
	}
	dx, dy, response, err := a.patch.Shift(pic.Mat())
	if err != nil {
		return face.Mesh{}, nil, err
	}
	if response < minMotionResponse || math.Hypot(float64(dx), float64(dy)) > maxMotion*float64(a.patch.Rect.Dx()) {
		return face.Mesh{}, nil, nil
	}
	return a.mesh.Transform(face.Translation(float64(dx), float64(dy))), a, nil
}

// anchorAt keeps frame index's mesh m of face fc, and the face's box, for the frames after it to move m by (nil
// when the landmark model or the detector runs on the next frame anyway, or the box is too small to measure).
func (f *follower) anchorAt(pic *pipeline.Picture, index int, fc face.Face, m face.Mesh) (*anchor, error) {
	if f.meshEvery <= 1 || (index+1)%f.every == 0 {
		return nil, nil
	}
	r := fc.Box.Clamp(pic.Bounds().Dx(), pic.Bounds().Dy())
	if r.Dx() < minMotionSide || r.Dy() < minMotionSide {
		return nil, nil
	}
	if err := pic.Need(r); err != nil {
		return nil, err
	}
	p, err := processor.NewMotionPatch(pic.Mat(), r)
	if err != nil {
		return nil, err
	}
	return &anchor{index: index, mesh: m, patch: p}, nil
}

// minMotionSide is the smallest box (pixels a side) whose motion is measured: a smaller face runs the landmark
// model on every frame.
const minMotionSide = 16

// pick is face.Follower's choice among faces (-1: none), made on the first frame with the reference's box in that
// frame's pixels.
func (f *follower) pick(pic *pipeline.Picture, index int, faces []face.Face) (int, error) {
	frame := pic.Mat()
	if f.track == nil {
		ref := face.FollowReference{}
		cfg := face.DefaultFollowConfig(face.DefaultGeometryMaxDist)
		if f.ref != nil {
			w, h := float32(frame.Cols()), float32(frame.Rows())
			ref.Frame = f.ref.Frame
			ref.Box = face.Box{X1: f.ref.Box[0] * w, Y1: f.ref.Box[1] * h, X2: f.ref.Box[2] * w, Y2: f.ref.Box[3] * h}
			if len(f.ref.Geometry) == face.GeometryValues {
				ref.Descriptor = f.ref.Geometry
			}
		}
		if f.recognizer != nil {
			ref.Descriptor, cfg.MaxDistance = f.embedding, f.distance
		}
		f.track = face.NewFollower(cfg, ref)
	}
	return f.track.Pick(index, faces, func() ([][]float32, error) {
		if err := pic.Need(pic.Bounds()); err != nil { // embeddings and meshes of faces anywhere
			return nil, err
		}
		return f.describe(frame, faces)
	})
}

// describe returns the faces' descriptors, of the kind the reference has.
func (f *follower) describe(frame gocv.Mat, faces []face.Face) ([][]float32, error) {
	if f.recognizer != nil {
		return f.recognizer.Embed(frame, faces)
	}
	out := make([][]float32, len(faces))
	for i, fc := range faces {
		m, err := f.landmarker.Landmarks(frame, fc)
		if err != nil {
			return nil, err
		}
		if m.Finite() {
			out[i] = face.GeometryOf(m) // nil (no match) for a degenerate mesh
		}
	}
	return out, nil
}

// sceneCut reports whether the frame differs from the previous one as a new shot does, and keeps its thumbnail
// (in Go memory: a FrameProcessor is never closed, so it holds no Mat).
func (f *follower) sceneCut(pic *pipeline.Picture) (bool, error) {
	if f.every <= 1 {
		return false, nil
	}
	// Sampled, not averaged: an average would read (and convert) every pixel of the frame.
	cur, err := pic.Thumb()
	if err != nil {
		return false, err
	}
	cut := len(f.thumb) != len(cur)
	if !cut {
		var s int
		for i := range cur {
			s += abs(int(cur[i]) - int(f.thumb[i]))
		}
		cut = s > sceneCut*len(cur)
	}
	f.thumb = cur
	return cut, nil
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// referenceFace detects img's faces and returns the one at position, counted left to right as roop does.
// ok is false when img has no face at all.
func (e *Engine) referenceFace(img gocv.Mat, position int) (f face.Face, ok bool, err error) {
	det, err := e.Detector()
	if err != nil {
		return face.Face{}, false, err
	}
	faces, err := det.Detect(img)
	if err != nil {
		return face.Face{}, false, err
	}
	if len(faces) == 0 {
		return face.Face{}, false, nil
	}
	face.SortLeftToRight(faces)
	if position < 0 || position >= len(faces) {
		return face.Face{}, true, fmt.Errorf("%w: --reference-face-position %d: the reference frame has %d faces", ErrBadInput, position, len(faces))
	}
	return faces[position], true, nil
}

// Follow finds selector one's person: the face at position (left to right) of img, frame index frame of the
// target, with its geometry; nil without an error when img has no face. A position past the faces is bad input.
func (e *Engine) Follow(img gocv.Mat, frame, position int) (*job.Follow, error) {
	f, ok, err := e.referenceFace(img, position)
	if err != nil || !ok {
		return nil, err
	}
	lm, err := e.loadLandmarker()
	if err != nil {
		return nil, err
	}
	m, err := lm.Landmarks(img, f)
	if err != nil {
		return nil, err
	}
	w, h := float32(img.Cols()), float32(img.Rows())
	out := &job.Follow{Frame: frame, Box: [4]float32{f.Box.X1 / w, f.Box.Y1 / h, f.Box.X2 / w, f.Box.Y2 / h}}
	if m.Finite() {
		out.Geometry = face.GeometryOf(m)
	}
	return out, nil
}

// HasRecognizer reports whether the recognizer a job names (a manifest name or a file) is on this machine, so
// that selector one can re-identify its person by embedding.
func (e *Engine) HasRecognizer(name string) bool {
	if name == "" {
		name = DefaultRecognizer
	}
	_, err := e.cfg.resolve(name)
	return err == nil
}
