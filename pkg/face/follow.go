package face

import (
	"math"
)

// Follower is selector "one": it picks, frame after frame, the face of one person, the one at the reference
// position of the reference frame, and never another. Between frames it follows the face by continuity (box
// overlap, or a centre within a motion gate of where the face was heading); where continuity cannot tell (the
// start of a segment, after the person was lost, two faces within the gate) it re-identifies the person by a
// descriptor (an embedding, or the landmark geometry of GeometryOf) against the reference's. Where neither can
// tell, no face is picked: a frame left alone is better than a swap on the wrong person.
//
// A Follower sees the frames of one segment in order; it is not safe for concurrent use.
type Follower struct {
	cfg FollowConfig
	ref FollowReference

	tracking bool
	chosen   bool  // a face has been followed once
	last     Box   // the followed face's box when last seen
	seen     int   // the frame it was last seen in
	vel      Point // its centre's motion per frame
}

// FollowReference is who to follow: the box of the person's face in the reference frame (Frame, a frame index of
// the whole target) and, when known, its descriptor. A zero Box means no reference frame was seen (the person is
// then the largest face of the first frame that has one, and is followed from there).
type FollowReference struct {
	Frame      int
	Box        Box
	Descriptor []float32
}

// FollowConfig holds the tracker's thresholds.
type FollowConfig struct {
	// MinIoU: a face overlapping the predicted box at least this much is a continuation.
	MinIoU float32
	// Gate: a face whose centre lies within Gate x the face's size of the predicted centre, per frame since it was
	// last seen, is a continuation, if its size changed by less than MaxScale.
	Gate     float32
	MaxScale float32
	// MaxGap is how many frames a face may go undetected and still be continued by position; later it must be
	// re-identified.
	MaxGap int
	// MaxDistance is the largest descriptor Distance at which a face is the person; Ratio is how much closer than
	// the next face the best one must be (best < Ratio x second) to be re-identified among several.
	MaxDistance float32
	Ratio       float32
}

// Default follow thresholds. A person moves a fraction of their face's size between frames. The geometry distance
// was measured on six shared faces (pkg/engine TestGeometryReidentifies): a face at 0.4-1x its size stays within
// 0.0009 of itself; two people are 0.002 apart or more, but for one pair of look-alikes (0.0005): geometry is a
// weak identity, so it is asked only where continuity cannot tell, and the ratio test must agree.
const (
	DefaultFollowMinIoU    = 0.3
	DefaultFollowGate      = 0.5
	DefaultFollowMaxScale  = 1.5
	DefaultFollowMaxGap    = 5
	DefaultFollowRatio     = 0.7
	DefaultGeometryMaxDist = 0.0015
)

// DefaultFollowConfig is the tracker's default with maxDistance for the descriptor in use (DefaultSimilarDistance
// for embeddings, DefaultGeometryMaxDist for geometry).
func DefaultFollowConfig(maxDistance float32) FollowConfig {
	return FollowConfig{MinIoU: DefaultFollowMinIoU, Gate: DefaultFollowGate, MaxScale: DefaultFollowMaxScale,
		MaxGap: DefaultFollowMaxGap, MaxDistance: maxDistance, Ratio: DefaultFollowRatio}
}

// NewFollower follows ref.
func NewFollower(cfg FollowConfig, ref FollowReference) *Follower {
	return &Follower{cfg: cfg, ref: ref}
}

// Pick returns the index in faces (frame index's detections) of the followed person's face, or -1. describe
// returns one descriptor per face; it is called only when continuity cannot decide, and never when the reference
// has no descriptor.
func (f *Follower) Pick(index int, faces []Face, describe func() ([][]float32, error)) (int, error) {
	if len(faces) == 0 {
		f.lose(index)
		return -1, nil
	}
	if index == f.ref.Frame && f.ref.Box.Area() > 0 {
		if best := bestIoU(faces, f.ref.Box, f.cfg.MinIoU); best >= 0 {
			return f.take(index, faces, best), nil
		}
	}
	if f.ref.Box.Area() == 0 && len(f.ref.Descriptor) == 0 && !f.chosen {
		// No reference at all: the largest face of the first frame that has faces is the person.
		best, _ := largestIndex(faces)
		return f.take(index, faces, best), nil
	}
	f.lose(index)
	var near []int
	if f.tracking {
		near = f.continuations(index, faces)
		if len(near) == 1 {
			return f.take(index, faces, near[0]), nil
		}
	}
	if len(f.ref.Descriptor) == 0 {
		return -1, nil
	}
	desc, err := describe()
	if err != nil {
		return -1, err
	}
	among := near
	if len(among) == 0 {
		among = make([]int, len(faces))
		for i := range among {
			among[i] = i
		}
	}
	best := f.reidentify(desc, among)
	if best < 0 {
		return -1, nil
	}
	return f.take(index, faces, best), nil
}

// Lose ends the track: the next face must be re-identified (after a scene cut, a face where the person was is not
// the person).
func (f *Follower) Lose() { f.tracking = false }

// lose ends the track when the face has been missing for more than MaxGap frames.
func (f *Follower) lose(index int) {
	if f.tracking && index-f.seen > f.cfg.MaxGap {
		f.tracking = false
	}
}

// take makes faces[i] the followed face in frame index and returns i.
func (f *Follower) take(index int, faces []Face, i int) int {
	fc := faces[i]
	c := fc.Box.Center()
	if f.tracking && index > f.seen {
		p := f.last.Center()
		n := float32(index - f.seen)
		f.vel = Point{(c.X - p.X) / n, (c.Y - p.Y) / n}
	} else {
		f.vel = Point{}
	}
	f.tracking, f.chosen, f.last, f.seen = true, true, fc.Box, index
	return i
}

// continuations returns the faces that continue the track into frame index: overlapping the predicted box, or
// within the motion gate of its centre at a similar size.
func (f *Follower) continuations(index int, faces []Face) []int {
	gap := float32(max(1, index-f.seen))
	pred := f.last
	dx, dy := f.vel.X*gap, f.vel.Y*gap
	pred.X1, pred.X2, pred.Y1, pred.Y2 = pred.X1+dx, pred.X2+dx, pred.Y1+dy, pred.Y2+dy
	size := max(f.last.Width(), f.last.Height())
	pc := pred.Center()
	var out []int
	for i, fc := range faces {
		s := max(fc.Box.Width(), fc.Box.Height())
		if size <= 0 || s <= 0 {
			continue
		}
		scale := s / size
		c := fc.Box.Center()
		d := float32(math.Hypot(float64(c.X-pc.X), float64(c.Y-pc.Y)))
		if fc.Box.IoU(pred) >= f.cfg.MinIoU || (d <= f.cfg.Gate*size*gap && scale <= f.cfg.MaxScale && scale >= 1/f.cfg.MaxScale) {
			out = append(out, i)
		}
	}
	return out
}

// reidentify returns the face among idx whose descriptor is the reference's: within MaxDistance and clearly
// closer than every other face, or -1.
func (f *Follower) reidentify(desc [][]float32, idx []int) int {
	best, bestD, secondD := -1, float32(math.Inf(1)), float32(math.Inf(1))
	for _, i := range idx {
		if i >= len(desc) || len(desc[i]) != len(f.ref.Descriptor) {
			continue
		}
		d := Distance(desc[i], f.ref.Descriptor)
		switch {
		case d < bestD:
			best, bestD, secondD = i, d, bestD
		case d < secondD:
			secondD = d
		}
	}
	if best < 0 || !(bestD < f.cfg.MaxDistance) || !(bestD < f.cfg.Ratio*secondD) {
		return -1
	}
	return best
}

func bestIoU(faces []Face, b Box, min float32) int {
	best, bestIoU := -1, min
	for i, fc := range faces {
		if v := fc.Box.IoU(b); v >= bestIoU {
			best, bestIoU = i, v
		}
	}
	return best
}

func largestIndex(faces []Face) (int, bool) {
	best, area := -1, float32(-1)
	for i, fc := range faces {
		if a := fc.Box.Area(); a > area {
			best, area = i, a
		}
	}
	return best, best >= 0
}
