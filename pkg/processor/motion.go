package processor

import (
	"errors"
	"fmt"
	"image"
	"math"

	"gocv.io/x/gocv"
)

// motionSide is the side of a MotionPatch's samples: a face box of any size shrinks to it, enough for a shift
// to a tenth of a sample (a fraction of a pixel of a 720p face) at a few microseconds' FFTs.
const motionSide = 64

// hanning is the window PhaseCorrelate weighs the samples by (OpenCV's createHanningWindow, which the gocv
// subset lacks): without one, the patch's edges, which do not move with the face, pull the shift to zero.
var hanning = func() []float32 {
	w := make([]float32, motionSide*motionSide)
	for y := 0; y < motionSide; y++ {
		wy := 0.5 - 0.5*math.Cos(2*math.Pi*float64(y)/float64(motionSide-1))
		for x := 0; x < motionSide; x++ {
			wx := 0.5 - 0.5*math.Cos(2*math.Pi*float64(x)/float64(motionSide-1))
			w[y*motionSide+x] = float32(math.Sqrt(wx * wy))
		}
	}
	return w
}()

// MotionPatch is a region of one frame in grey, shrunk to motionSide x motionSide, to measure by how much the
// picture there moved in a later frame (Shift). It holds Go memory only.
type MotionPatch struct {
	Rect image.Rectangle // in the frame's pixels
	pix  []float32
}

// NewMotionPatch samples r (within the frame) of img (BGR uint8).
func NewMotionPatch(img gocv.Mat, r image.Rectangle) (MotionPatch, error) {
	pix, err := sampleGrey(img, r)
	if err != nil {
		return MotionPatch{}, err
	}
	return MotionPatch{Rect: r, pix: pix}, nil
}

// Shift is how far, in img's pixels, the picture of p's region moved from p's frame to img (BGR uint8, the same
// size), as the peak of their phase correlation: the whole region's dominant motion. response (0 to 1) is the
// peak's share of the correlation; a low one means no single motion explains the change.
func (p MotionPatch) Shift(img gocv.Mat) (dx, dy float32, response float64, err error) {
	if len(p.pix) != motionSide*motionSide {
		return 0, 0, 0, errors.New("motion: empty patch")
	}
	cur, err := sampleGrey(img, p.Rect)
	if err != nil {
		return 0, 0, 0, err
	}
	mats := [3]gocv.Mat{}
	for i, pix := range [3][]float32{p.pix, cur, hanning} {
		mats[i] = gocv.NewMatWithSize(motionSide, motionSide, gocv.MatTypeCV32F)
		defer mats[i].Close()
		data, err := mats[i].DataPtrFloat32()
		if err != nil {
			return 0, 0, 0, fmt.Errorf("motion: %w", err)
		}
		copy(data, pix)
	}
	s, response := gocv.PhaseCorrelate(mats[0], mats[1], mats[2])
	sx, sy := float32(p.Rect.Dx())/motionSide, float32(p.Rect.Dy())/motionSide
	return s.X * sx, s.Y * sy, response, nil
}

// sampleGrey is r of img in grey, shrunk (area average) to motionSide x motionSide, as float32 levels.
func sampleGrey(img gocv.Mat, r image.Rectangle) ([]float32, error) {
	if err := checkBGR("motion input", img); err != nil {
		return nil, err
	}
	if r.Dx() < 2 || r.Dy() < 2 || !r.In(image.Rect(0, 0, img.Cols(), img.Rows())) {
		return nil, fmt.Errorf("motion: region %v is not inside the %dx%d frame", r, img.Cols(), img.Rows())
	}
	roi := img.Region(r)
	defer roi.Close()
	grey, small := gocv.NewMat(), gocv.NewMat()
	defer grey.Close()
	defer small.Close()
	gocv.CvtColor(roi, &grey, gocv.ColorBGRToGray)
	gocv.Resize(grey, &small, image.Pt(motionSide, motionSide), 0, 0, gocv.InterpolationArea)
	b, err := small.DataPtrUint8()
	if err != nil || len(b) != motionSide*motionSide {
		return nil, fmt.Errorf("motion: sampling %v: %v", r, err)
	}
	out := make([]float32, len(b))
	for i, v := range b {
		out[i] = float32(v)
	}
	return out, nil
}
