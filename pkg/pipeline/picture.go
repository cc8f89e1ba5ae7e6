package pipeline

import (
	"fmt"
	"image"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/media"
)

// RegionProcessor is a Processor that says which parts of a frame it reads (Picture.Need) and may write
// (Picture.Touch). On a yuv420p input the pipeline then converts only those parts to BGR and writes back only
// what changed in the parts touched: a frame in which nothing is touched goes from the decoder to the encoder
// unconverted, as with frame processor none.
type RegionProcessor interface {
	Processor
	ProcessPicture(pic *Picture, index int) error
}

// StagedProcessor is a RegionProcessor whose work on a frame has a first part that must see the frames one after
// the other (finding faces: a tracker follows them from frame to frame) and a rest that need not wait for it on
// the next frame (changing them): the pipeline runs the rest of frame i beside the first part of frame i+1, on
// two cores. The rests are called in frame order, on one goroutine.
type StagedProcessor interface {
	RegionProcessor
	// FindPicture is ProcessPicture's first part; rest, when not nil, is the remainder, to be called once.
	FindPicture(pic *Picture, index int) (rest func() error, err error)
}

// Picture is one frame for a RegionProcessor: a BGR Mat of the frame's size that holds the frame's pixels where
// Need was asked for them (elsewhere it holds anything), and the parts that Touch said may have changed.
// A Picture made by WholePicture holds every pixel, and Need and Touch cost nothing.
type Picture struct {
	mat   gocv.Mat
	buf   []byte       // mat's pixels (regional)
	ref   *media.Frame // the decoded picture (regional); nil: whole
	conv  *media.Converter
	w, h  int
	have  []image.Rectangle // converted so far
	dirty []image.Rectangle // touched so far
	// all makes Need convert the whole frame whatever it is asked (a test's check that the parts asked for are
	// all a processor reads).
	all bool
}

// WholePicture is a Picture of frame, a BGR Mat whose every pixel is valid.
func WholePicture(frame gocv.Mat) *Picture {
	return &Picture{mat: frame, w: frame.Cols(), h: frame.Rows()}
}

// Mat is the frame's BGR Mat: valid where Need was asked.
func (p *Picture) Mat() gocv.Mat { return p.mat }

// Bounds is the whole frame.
func (p *Picture) Bounds() image.Rectangle { return image.Rect(0, 0, p.w, p.h) }

// Need makes the pixels of r (clamped to the frame) valid in Mat.
func (p *Picture) Need(r image.Rectangle) error {
	if p.ref == nil {
		return nil
	}
	if p.all {
		r = p.Bounds()
	}
	r = r.Intersect(p.Bounds())
	if r.Empty() {
		return nil
	}
	for _, h := range p.have {
		if r.In(h) {
			return nil
		}
	}
	got, err := p.conv.Rect(p.ref, p.buf, r)
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	p.have = append(p.have, got)
	return nil
}

// Touch tells that the pixels of r may be written, and makes them valid first (Need): what is written back is
// compared with the frame there, so it must hold the frame before the writing.
func (p *Picture) Touch(r image.Rectangle) error {
	if p.ref == nil {
		return nil
	}
	if err := p.Need(r); err != nil {
		return err
	}
	if r = r.Intersect(p.Bounds()); !r.Empty() {
		p.dirty = append(p.dirty, r)
	}
	return nil
}

// ThumbSize is the size of Thumb's thumbnail.
var ThumbSize = image.Pt(64, 36)

// Thumb is the frame sampled at the centres of a ThumbSize grid (BGR, rows packed): a thumbnail that reads only
// the pixels it shows, for telling shots apart.
func (p *Picture) Thumb() ([]byte, error) {
	tw, th := ThumbSize.X, ThumbSize.Y
	out := make([]byte, tw*th*3)
	if p.ref != nil {
		return out, p.ref.Thumb(out, tw, th)
	}
	if p.w <= 0 || p.h <= 0 {
		return out, nil
	}
	pix, err := p.mat.DataPtrUint8()
	if err != nil || !p.mat.IsContinuous() || p.mat.Type() != gocv.MatTypeCV8UC3 {
		return nil, fmt.Errorf("pipeline: thumbnail of a %v frame: %v", p.mat.Type(), err)
	}
	for j := 0; j < th; j++ {
		y := media.SampleCentre(j, th, p.h)
		for i := 0; i < tw; i++ {
			x := media.SampleCentre(i, tw, p.w)
			copy(out[(j*tw+i)*3:], pix[(y*p.w+x)*3:(y*p.w+x)*3+3])
		}
	}
	return out, nil
}

// reset makes p the regional Picture of slot's frame ref, converted into mat (buf its pixels).
func (p *Picture) reset(mat gocv.Mat, buf []byte, ref *media.Frame, conv *media.Converter, w, h int) {
	p.mat, p.buf, p.ref, p.conv, p.w, p.h = mat, buf, ref, conv, w, h
	p.have, p.dirty = p.have[:0], p.dirty[:0]
}
