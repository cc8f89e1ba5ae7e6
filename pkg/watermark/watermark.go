// Package watermark draws the visible "AI-generated" mark (`--watermark`) in a frame's bottom-right corner, after
// every other processor: the same on one machine and on the cluster's workers, which draw it from the task's spec.
package watermark

import (
	"image"
	"image/color"
	"math"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/pipeline"
)

// Text is the mark.
const Text = "AI-generated"

const font = gocv.FontHersheySimplex

// layout is where the mark goes on a w x h frame: the text's origin, scale and stroke, and the box holding every
// pixel it draws.
type layout struct {
	org           image.Point
	scale         float64
	thick, stroke int
	box           image.Rectangle
}

func place(w, h int) layout {
	// Text about 1/30 of the frame's height (at least 10 px) and at most half its width; a margin of 1/60.
	ref := gocv.GetTextSize(Text, font, 1, 1)
	scale := math.Max(10, float64(h)/30) / float64(ref.Y)
	scale = math.Min(scale, float64(w)/2/float64(ref.X))
	thick := max(1, int(math.Round(scale*1.5)))
	stroke := thick + 2 // the dark outline that keeps it legible on white
	size, base := gocv.GetTextSizeWithBaseline(Text, font, scale, thick)
	margin := max(2, h/60)
	org := image.Pt(w-margin-stroke-size.X, h-margin-stroke-base)
	pad := stroke/2 + 2 // the stroke's half width, and the rounding of its ends
	box := image.Rect(org.X-pad, org.Y-size.Y-pad, org.X+size.X+pad, org.Y+base+pad).Intersect(image.Rect(0, 0, w, h))
	return layout{org: org, scale: scale, thick: thick, stroke: stroke, box: box}
}

// Box is the corner of a w x h frame the mark may change; no pixel outside it is touched.
func Box(w, h int) image.Rectangle { return place(w, h).box }

// Draw marks a BGR frame in place: white text with a dark outline.
func Draw(frame gocv.Mat) {
	l := place(frame.Cols(), frame.Rows())
	roi := frame.Region(l.box) // drawing is confined to the box whatever OpenCV's rounding does
	defer roi.Close()
	org := l.org.Sub(l.box.Min)
	gocv.PutText(&roi, Text, org, font, l.scale, color.RGBA{A: 255}, l.stroke)
	gocv.PutText(&roi, Text, org, font, l.scale, color.RGBA{R: 255, G: 255, B: 255, A: 255}, l.thick)
}

// Wrap is proc with the mark drawn on every frame after it. The wrapper keeps proc's batching and face count, and
// reads pixels, so frames are never passed through by reference.
func Wrap(proc pipeline.Processor) *Marked { return &Marked{proc: proc} }

// Marked is a processor followed by the mark.
type Marked struct{ proc pipeline.Processor }

// Process implements pipeline.Processor.
func (m *Marked) Process(frame gocv.Mat, index int) error {
	if err := m.proc.Process(frame, index); err != nil {
		return err
	}
	Draw(frame)
	return nil
}

// ProcessPicture implements pipeline.RegionProcessor: the wrapped processor's parts (its whole frame if it does
// not tell them), and the mark's corner.
func (m *Marked) ProcessPicture(pic *pipeline.Picture, index int) error {
	rest, err := m.FindPicture(pic, index)
	if err != nil {
		return err
	}
	return rest()
}

// FindPicture implements pipeline.StagedProcessor: the wrapped processor's first part; its rest and the mark
// after it (all of it, for a processor that is not staged).
func (m *Marked) FindPicture(pic *pipeline.Picture, index int) (func() error, error) {
	var (
		inner func() error
		err   error
	)
	switch p := m.proc.(type) {
	case pipeline.StagedProcessor:
		inner, err = p.FindPicture(pic, index)
	case pipeline.RegionProcessor:
		inner = func() error { return p.ProcessPicture(pic, index) }
	default:
		inner = func() error {
			if err := pic.Touch(pic.Bounds()); err != nil {
				return err
			}
			return m.proc.Process(pic.Mat(), index)
		}
	}
	if err != nil {
		return nil, err
	}
	return func() error {
		if inner != nil {
			if err := inner(); err != nil {
				return err
			}
		}
		all := pic.Bounds()
		box := Box(all.Dx(), all.Dy())
		if err := pic.Touch(box); err != nil {
			return err
		}
		Draw(pic.Mat())
		return nil
	}, nil
}

// ProcessBatch implements pipeline.BatchProcessor.
func (m *Marked) ProcessBatch(frames []gocv.Mat, indices []int) error {
	if bp, ok := m.proc.(pipeline.BatchProcessor); ok {
		if err := bp.ProcessBatch(frames, indices); err != nil {
			return err
		}
		for _, f := range frames {
			Draw(f)
		}
		return nil
	}
	for i, f := range frames {
		if err := m.Process(f, indices[i]); err != nil {
			return err
		}
	}
	return nil
}

// Faces forwards the wrapped processor's face count (worker.FaceCounter).
func (m *Marked) Faces() (int, bool) {
	if fc, ok := m.proc.(interface{ Faces() (int, bool) }); ok {
		return fc.Faces()
	}
	return 0, false
}
