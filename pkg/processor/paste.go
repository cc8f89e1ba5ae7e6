package processor

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

// Paste-back of a model's aligned face crop into the frame, shared by the swapper and the enhancers.
//
// The recipe is insightface's (inswapper.py, which roop 1.3.2 runs): warp the S x S output with the inverse of the
// alignment matrix, warp a white S x S square the same way, set its values above 20 to 255, measure the box of the
// 255 pixels (s = sqrt(h*w), h and w the max-min of their rows and columns), erode it with a k x k square,
// k = max(s/10, 10), Gaussian-blur it with kernel 2*max(s/20, 5)+1, and blend mask*face + (1-mask)*frame.
// insightface does all of this on full-frame float arrays; here it is done on the bounding rectangle of the warped
// square only, padded by more than the blur radius and clamped to the frame. Inside that rectangle the numbers are
// the full-frame ones: the mask is zero near every edge of the rectangle that is not a frame edge, so OpenCV's border
// handling there (erode: no erosion from outside; blur: reflect-101) reads the zeros the full frame would hold, and at
// frame edges it is the same border handling insightface gets. Pixels outside the rectangle are never written, and
// inside it a pixel whose mask is zero keeps its bytes.
//
// The recipe's mask reaches up to about 2 px past the warped square (values above 20 become 255, a k x k erosion
// takes only k/2-1 px on one side, the blur spreads k/2), where it blends in a faint trace of the black border: one
// grey level at most, as in insightface, and always inside the rectangle.
//
// Two deliberate differences from insightface, both under one grey level: the face is warped back as uint8 (the
// model output is rounded to uint8 first), and the blend rounds to nearest where numpy's astype(uint8) truncates.
//
// The scratch images are views into grow-only buffers (cropBuf): headers without a parent, so OpenCV's filters apply
// their border modes at the views' edges.

// maskThreshold is insightface's img_white[img_white > 20] = 255.
const maskThreshold = 20

// paster holds the scratch buffers of pasteBack; they only grow.
type paster struct {
	affine  gocv.Mat // 2x3 CV_64F: frame rectangle <- crop
	white   gocv.Mat // size x size CV_8UC1, all 255
	kernel  gocv.Mat // k x k erosion kernel
	kernelK int
	face    cropBuf // the crop warped back, BGR, rectangle-sized
	hard    cropBuf // the warped square, then eroded (uint8)
	frame   cropBuf // the frame's rectangle, blended in place
	soft    cropBuf // the blurred mask, float32 0..255

	// maxSide, when > 0, caps the side of the rectangle the mask is made at (--memory-optimization): see pasteCapped.
	maxSide int
	mask    cropBuf // pasteCapped: the mask at full size, uint8
}

// PasteCapSide is the mask side --memory-optimization caps paste-back at: faces whose paste rectangle is larger
// (close-ups at 1440p and up) are blended through a mask made at this size.
const PasteCapSide = 1024

// pasteRect is the frame rectangle that a size x size crop aligned by m (frame -> crop) covers when warped back:
// the bounding box of the crop square (one pixel beyond it each way, for bilinear spill) padded by more than the
// mask blur radius, clamped to the w x h frame. It also returns m's inverse.
func pasteRect(m face.Affine, size, w, h int) (image.Rectangle, face.Affine, error) {
	inv, err := m.Invert()
	if err != nil {
		return image.Rectangle{}, face.Affine{}, err
	}
	x0, y0 := math.Inf(1), math.Inf(1)
	x1, y1 := math.Inf(-1), math.Inf(-1)
	lo, hi := float32(-1), float32(size+1)
	for _, c := range [4]face.Point{{X: lo, Y: lo}, {X: hi, Y: lo}, {X: lo, Y: hi}, {X: hi, Y: hi}} {
		p := inv.Apply(c)
		x0, y0 = math.Min(x0, float64(p.X)), math.Min(y0, float64(p.Y))
		x1, y1 = math.Max(x1, float64(p.X)), math.Max(y1, float64(p.Y))
	}
	if math.IsNaN(x0+y0+x1+y1) || math.IsInf(x0+y0+x1+y1, 0) || x1-x0 > 1<<20 || y1-y0 > 1<<20 {
		return image.Rectangle{}, face.Affine{}, fmt.Errorf("paste: crop maps to an unusable area (%v)", inv)
	}
	// s (the mask box side) is at most the larger side of this box, so the blur radius max(s/20, 5) is too.
	pad := max(int(math.Max(x1-x0, y1-y0))/20, 5) + 2
	r := image.Rect(int(math.Floor(x0))-pad, int(math.Floor(y0))-pad, int(math.Ceil(x1))+pad, int(math.Ceil(y1))+pad)
	return r.Intersect(image.Rect(0, 0, w, h)), inv, nil
}

// pasteBack blends crop (size x size BGR uint8, aligned by m: frame -> crop) into frame, in place, through
// insightface's eroded and blurred square mask scaled by blend (0..1: the enhancer's blend; 1 for the swapper).
// It returns the rectangle it wrote (empty when the crop falls outside the frame or the mask is empty).
func (p *paster) pasteBack(frame, crop gocv.Mat, m face.Affine, blend float32) (image.Rectangle, error) {
	size := crop.Rows()
	if crop.Cols() != size || crop.Type() != gocv.MatTypeCV8UC3 || !crop.IsContinuous() {
		return image.Rectangle{}, errors.New("paste: crop must be a square continuous BGR uint8 image")
	}
	if !(blend > 0) { // also NaN
		return image.Rectangle{}, nil
	}
	blend = min(blend, 1)
	rect, inv, err := pasteRect(m, size, frame.Cols(), frame.Rows())
	if err != nil || rect.Dx() < 2 || rect.Dy() < 2 {
		return image.Rectangle{}, err
	}
	w, h := rect.Dx(), rect.Dy()
	a := inv.Then(face.Translation(-float64(rect.Min.X), -float64(rect.Min.Y)))
	p.setAffine(a)
	if p.white.Ptr() == nil || p.white.Rows() != size {
		closeMat(&p.white)
		p.white = gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 0, 0, 0), size, size, gocv.MatTypeCV8UC1)
	}
	if p.maxSide > 0 && max(w, h) > p.maxSide && frame.IsContinuous() {
		return p.pasteCapped(frame, crop, rect, a, blend)
	}

	fc, hard, tgt := p.face.view(h, w, 3), p.hard.view(h, w, 1), p.frame.view(h, w, 3)
	defer fc.Close()
	defer hard.Close()
	defer tgt.Close()
	gocv.WarpAffineWithParams(crop, &fc, p.affine, image.Pt(w, h), gocv.InterpolationLinear,
		gocv.BorderConstant, color.RGBA{})
	gocv.WarpAffineWithParams(p.white, &hard, p.affine, image.Pt(w, h), gocv.InterpolationLinear,
		gocv.BorderConstant, color.RGBA{})

	soft, ok, err := p.softMask(hard, 1)
	if err != nil || !ok {
		return image.Rectangle{}, err
	}
	defer soft.Close()

	roi := frame.Region(rect)
	defer roi.Close()
	roi.CopyTo(&tgt)
	if err := blendMasked(tgt, fc, soft, blend/255); err != nil {
		return image.Rectangle{}, err
	}
	tgt.CopyTo(&roi)
	return rect, nil
}

// setAffine stores a (frame rectangle <- crop) in p.affine for OpenCV.
func (p *paster) setAffine(a face.Affine) {
	if p.affine.Ptr() == nil {
		p.affine = gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	}
	setAffine(p.affine, a)
}

// softMask turns hard (the warped white square) into insightface's mask: threshold, measure the box of the 255
// pixels as insightface does on the full frame, erode, blur. scale is hard's size relative to the full-resolution
// rectangle (1, or less in pasteCapped): the kernel sizes are insightface's full-resolution ones scaled by it.
// ok is false when the mask is empty. The caller Closes soft.
func (p *paster) softMask(hard gocv.Mat, scale float64) (soft gocv.Mat, ok bool, err error) {
	w, h := hard.Cols(), hard.Rows()
	hb, err := hard.DataPtrUint8()
	if err != nil {
		return soft, false, err
	}
	minX, minY, maxX, maxY := w, h, -1, -1
	for y := 0; y < h; y++ {
		row := hb[y*w : (y+1)*w]
		for x, v := range row {
			if v > maskThreshold {
				row[x] = 255
				minX, maxX = min(minX, x), max(maxX, x)
				minY, maxY = min(minY, y), max(maxY, y)
			}
		}
	}
	if maxX < 0 {
		return soft, false, nil
	}
	s := int(math.Sqrt(float64((maxY-minY)*(maxX-minX))) / scale)
	k := max(int(math.Round(float64(max(s/10, 10))*scale)), 1)
	if p.kernelK != k {
		closeMat(&p.kernel)
		p.kernel = gocv.GetStructuringElement(gocv.MorphRect, image.Pt(k, k))
		p.kernelK = k
	}
	gocv.ErodeWithParams(hard, &hard, p.kernel, image.Pt(-1, -1), 1, int(gocv.BorderConstant|gocv.BorderIsolated))
	soft = p.soft.viewOf(h, w, gocv.MatTypeCV32F, 4*h*w)
	hard.ConvertTo(&soft, gocv.MatTypeCV32F)
	kb := 2*int(math.Round(float64(max(s/20, 5))*scale)) + 1
	gocv.GaussianBlur(soft, &soft, image.Pt(kb, kb), 0, 0, gocv.BorderReflect101|gocv.BorderIsolated)
	return soft, true, nil
}

// pasteCapped is pasteBack for a rectangle larger than maxSide, holding 4 bytes per rectangle pixel instead of 11:
// the face is still warped back at full resolution (the crop's detail is never reduced), but the mask, a smooth
// shape, is made at maxSide and scaled up as uint8, and the blend writes the frame in place (no copy of the
// rectangle). The mask differs from the full-size recipe's by interpolation only, at its blurred edge.
func (p *paster) pasteCapped(frame, crop gocv.Mat, rect image.Rectangle, a face.Affine, blend float32) (image.Rectangle, error) {
	w, h := rect.Dx(), rect.Dy()
	f := float64(p.maxSide) / float64(max(w, h))
	ws, hs := max(2, int(math.Round(float64(w)*f))), max(2, int(math.Round(float64(h)*f)))
	fc, maskFull := p.face.view(h, w, 3), p.mask.view(h, w, 1)
	defer fc.Close()
	defer maskFull.Close()
	gocv.WarpAffineWithParams(crop, &fc, p.affine, image.Pt(w, h), gocv.InterpolationLinear,
		gocv.BorderConstant, color.RGBA{})

	// The white square warped straight to the small size: the same affine, scaled.
	sx, sy := float64(ws)/float64(w), float64(hs)/float64(h)
	small := face.Affine{{a[0][0] * sx, a[0][1] * sx, a[0][2] * sx}, {a[1][0] * sy, a[1][1] * sy, a[1][2] * sy}}
	p.setAffine(small)
	hard := p.hard.view(hs, ws, 1)
	defer hard.Close()
	gocv.WarpAffineWithParams(p.white, &hard, p.affine, image.Pt(ws, hs), gocv.InterpolationLinear,
		gocv.BorderConstant, color.RGBA{})
	soft, ok, err := p.softMask(hard, math.Sqrt(sx*sy))
	if err != nil || !ok {
		return image.Rectangle{}, err
	}
	defer soft.Close()
	soft.ConvertTo(&hard, gocv.MatTypeCV8U) // rounds and saturates: the mask as 0..255 bytes
	gocv.Resize(hard, &maskFull, image.Pt(w, h), 0, 0, gocv.InterpolationLinear)

	fb, err := frame.DataPtrUint8()
	if err != nil {
		return image.Rectangle{}, err
	}
	src, err := fc.DataPtrUint8()
	if err != nil {
		return image.Rectangle{}, err
	}
	mk, err := maskFull.DataPtrUint8()
	if err != nil {
		return image.Rectangle{}, err
	}
	stride, scale := frame.Cols()*3, blend/255
	for y := 0; y < h; y++ {
		row := fb[(rect.Min.Y+y)*stride+rect.Min.X*3:]
		for x := 0; x < w; x++ {
			av := float32(mk[y*w+x]) * scale
			if !(av > 0) {
				continue
			}
			i, j := 3*x, 3*(y*w+x)
			if av >= 1 {
				row[i], row[i+1], row[i+2] = src[j], src[j+1], src[j+2]
				continue
			}
			for c := 0; c < 3; c++ {
				t := float32(row[i+c])
				row[i+c] = uint8(t + av*(float32(src[j+c])-t) + 0.5)
			}
		}
	}
	return rect, nil
}

// blendMasked sets dst = dst + a*(src-dst), a = mask*scale clamped to 1, rounded to nearest, per pixel, in float32.
// Where a is 0 dst is not written.
func blendMasked(dst, src, mask gocv.Mat, scale float32) error {
	d, err := dst.DataPtrUint8()
	if err != nil {
		return err
	}
	s, err := src.DataPtrUint8()
	if err != nil {
		return err
	}
	mk, err := mask.DataPtrFloat32()
	if err != nil {
		return err
	}
	if len(d) != len(s) || len(d) != 3*len(mk) {
		return fmt.Errorf("paste: blend sizes differ: %d, %d, %d", len(d), len(s), len(mk))
	}
	for i, mv := range mk {
		a := mv * scale
		if !(a > 0) {
			continue
		}
		j := 3 * i
		if a >= 1 {
			d[j], d[j+1], d[j+2] = s[j], s[j+1], s[j+2]
			continue
		}
		for c := j; c < j+3; c++ {
			t := float32(d[c])
			d[c] = uint8(t + a*(float32(s[c])-t) + 0.5)
		}
	}
	return nil
}

func (p *paster) close() {
	closeMat(&p.affine)
	closeMat(&p.white)
	closeMat(&p.kernel)
	p.kernelK = 0
	p.face.close()
	p.hard.close()
	p.frame.close()
	p.soft.close()
	p.mask.close()
}
