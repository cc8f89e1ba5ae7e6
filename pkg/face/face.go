// Package face is face geometry: boxes, the five alignment landmarks, similarity transforms and the alignment
// templates of the models Facefleet runs. It is pure arithmetic: it never runs a model, reads a file or touches
// pixels, so every other package can depend on it.
package face

import (
	"image"
	"math"
	"sort"
)

// Point is a position in image pixels (x right, y down).
type Point struct{ X, Y float32 }

// Box is an axis-aligned rectangle in image pixels: (X1,Y1) top-left, (X2,Y2) bottom-right.
type Box struct{ X1, Y1, X2, Y2 float32 }

// Width is X2-X1 (negative for an inverted box).
func (b Box) Width() float32 { return b.X2 - b.X1 }

// Height is Y2-Y1 (negative for an inverted box).
func (b Box) Height() float32 { return b.Y2 - b.Y1 }

// Area is Width*Height, 0 for an empty or inverted box.
func (b Box) Area() float32 {
	w, h := b.Width(), b.Height()
	if w <= 0 || h <= 0 {
		return 0
	}
	return w * h
}

// Center is the box's midpoint.
func (b Box) Center() Point { return Point{(b.X1 + b.X2) / 2, (b.Y1 + b.Y2) / 2} }

// Expand scales the box by f about its centre: f=1.2 makes it 20% wider and taller, f<1 shrinks it.
func (b Box) Expand(f float32) Box {
	c := b.Center()
	hw, hh := b.Width()*f/2, b.Height()*f/2
	return Box{c.X - hw, c.Y - hh, c.X + hw, c.Y + hh}
}

// Clamp returns the smallest integer rectangle covering the box, clipped to a w x h image. It may be empty
// (check with Empty()) when the box lies outside the image.
func (b Box) Clamp(w, h int) image.Rectangle {
	r := image.Rect(
		int(math.Floor(float64(b.X1))), int(math.Floor(float64(b.Y1))),
		int(math.Ceil(float64(b.X2))), int(math.Ceil(float64(b.Y2))),
	)
	return r.Intersect(image.Rect(0, 0, w, h))
}

// IoU is the intersection over union of two boxes, 0 when either is empty.
func (b Box) IoU(o Box) float32 {
	inter := Box{max(b.X1, o.X1), max(b.Y1, o.Y1), min(b.X2, o.X2), min(b.Y2, o.Y2)}.Area()
	if inter == 0 {
		return 0
	}
	return inter / (b.Area() + o.Area() - inter)
}

// Landmark indices into Face.Kps.
const (
	LeftEye    = iota // the eye on the image's left
	RightEye          // the eye on the image's right
	Nose              // nose tip
	LeftMouth         // mouth corner on the image's left
	RightMouth        // mouth corner on the image's right
)

// Face is one detection: its box, five landmarks (order LeftEye, RightEye, Nose, LeftMouth, RightMouth) and
// the detector's confidence.
type Face struct {
	Box   Box
	Kps   [5]Point
	Score float32
}

// Largest returns the face with the largest box area; false when faces is empty.
func Largest(faces []Face) (Face, bool) {
	if len(faces) == 0 {
		return Face{}, false
	}
	best := 0
	for i := range faces {
		if faces[i].Box.Area() > faces[best].Box.Area() {
			best = i
		}
	}
	return faces[best], true
}

// SortByArea sorts faces by box area, largest first (stable).
func SortByArea(faces []Face) {
	sort.SliceStable(faces, func(i, j int) bool { return faces[i].Box.Area() > faces[j].Box.Area() })
}

// SortByScore sorts faces by score, highest first (stable).
func SortByScore(faces []Face) {
	sort.SliceStable(faces, func(i, j int) bool { return faces[i].Score > faces[j].Score })
}

// NMS is greedy non-maximum suppression: faces sorted by score, each kept unless its IoU with an already kept face
// exceeds iou. It returns a new slice sorted by score, highest first; the input is not modified.
func NMS(faces []Face, iou float32) []Face {
	sorted := append([]Face(nil), faces...)
	SortByScore(sorted)
	kept := sorted[:0]
	for _, f := range sorted {
		keep := true
		for _, k := range kept {
			if f.Box.IoU(k.Box) > iou {
				keep = false
				break
			}
		}
		if keep {
			kept = append(kept, f)
		}
	}
	return kept
}
