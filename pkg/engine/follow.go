package engine

import (
	"fmt"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/processor"
)

// follower is selector one in a FrameProcessor: face.Follower with the descriptors of this engine's models, an
// embedding when the job carries the person's (opt.Reference), else the landmark geometry of opt.Follow.
type follower struct {
	ref        *job.Follow
	embedding  []float32
	recognizer processor.Embedder   // when embedding
	landmarker processor.Landmarker // when geometry
	distance   float32              // the embedding's threshold (--similar-face-distance)
	track      *face.Follower       // made at the first frame: the reference box is in fractions of its size
}

func (f *follower) pick(frame gocv.Mat, index int, faces []face.Face) (int, error) {
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
	return f.track.Pick(index, faces, func() ([][]float32, error) { return f.describe(frame, faces) })
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
