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

// ClassicalConfig configures the classical (model-free) swapper.
type ClassicalConfig struct {
	// MaskBlur is the width of the mask's feathered edge as a fraction of the face size (the shorter side of its
	// box); 0 gives a hard edge. Default 0.1.
	MaskBlur float32
	// Poisson blends with OpenCV's seamlessClone (normal clone) on the face crop before the feathered alpha blend,
	// so the source face takes the target's shading at the mask edge. Default false: it costs several times the
	// rest of the swap, and where the mask edge crosses strong structure (glasses frames, hairline) the Poisson
	// solution spreads it into the face as a glow; Lab colour transfer plus feathering looked better on the test
	// faces.
	Poisson bool
	// ColorTransfer matches the warped source face's Lab mean and standard deviation to the target face's inside
	// the mask before blending. Default true.
	ColorTransfer bool
}

// DefaultClassicalConfig is the configuration that looked right on the test faces.
func DefaultClassicalConfig() ClassicalConfig {
	return ClassicalConfig{MaskBlur: 0.1, Poisson: false, ColorTransfer: true}
}

// Validate reports a configuration NewClassical would refuse.
func (c ClassicalConfig) Validate() error {
	if !(c.MaskBlur >= 0 && c.MaskBlur <= 0.5) { // also catches NaN
		return fmt.Errorf("classical: MaskBlur must be in [0, 0.5], got %v", c.MaskBlur)
	}
	return nil
}

const (
	// sourceMargin is how much larger than the source face box the stored source crop is, so that the warp has real
	// pixels (not replicated borders) everywhere the mask can reach even when the target face is rotated.
	sourceMargin = 1.6
	// maskInset keeps the mask this fraction of the face size (and at least minMaskInset pixels) inside the target
	// box: pixels outside every detected box must stay byte-identical, Poisson bleed included.
	maskInset    = 0.04
	minMaskInset = 2
	// minSwapSide is the smallest face (box side in pixels, after clamping to the frame) worth swapping.
	minSwapSide = 12
	// minPoissonSide is the smallest mask bounding box handed to seamlessClone; smaller ones are alpha-blended.
	minPoissonSide = 8
)

// cvNormalClone is OpenCV's cv::NORMAL_CLONE (1). gocv v0.32.0 numbers its SeamlessCloneFlags from 0, so its
// gocv.NormalClone (0) is no valid OpenCV flag: seamlessClone then skips masking the source gradients and pastes the
// source with a hard, over-bright edge. gocv.MixedClone (1) is what OpenCV calls NORMAL_CLONE.
const cvNormalClone = gocv.SeamlessCloneFlags(1)

// Scratch buffers of Classical, by role.
const (
	bufTarget = iota // the target crop, then the result
	bufWarped        // the source face warped onto the crop
	bufLabSrc
	bufLabDst
	bufHard   // binary mask, inset by the feather width
	bufSoft   // feathered mask (alpha)
	bufPMask  // binary support of the feathered mask, for seamlessClone
	bufCloned // seamlessClone output
	nBufs
)

// Classical swaps faces without a model: it warps the stored source face onto each target with the similarity
// transform between their five landmarks, matches its colour, and blends it inside an elliptical mask that stays
// within the target's box. All work is on the target's crop; the frame outside the boxes is never written.
type Classical struct {
	cfg    ClassicalConfig
	src    gocv.Mat      // BGR crop of the source image around the source face (owned)
	srcKps [5]face.Point // source landmarks in src's coordinates
	affine gocv.Mat      // 2x3 CV_64F, reused
	bufs   [nBufs]cropBuf
}

// NewClassical takes the source image and the source face (the caller picks the largest detected face). It keeps a
// copy of the source face region (a crop with margin), so the caller may Close source afterwards.
func NewClassical(source gocv.Mat, src face.Face, cfg ClassicalConfig) (*Classical, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkBGR("classical source", source); err != nil {
		return nil, err
	}
	if err := checkLandmarks(src); err != nil {
		return nil, fmt.Errorf("classical: source face: %w", err)
	}
	w, h := source.Cols(), source.Rows()
	if b := src.Box.Clamp(w, h); b.Dx() < minSwapSide || b.Dy() < minSwapSide {
		return nil, fmt.Errorf("classical: source face box %v is outside or too small in the %dx%d source image", src.Box, w, h)
	}
	rect := src.Box.Expand(sourceMargin).Clamp(w, h)
	for _, p := range src.Kps {
		if p.X < 0 || p.Y < 0 || p.X >= float32(w) || p.Y >= float32(h) {
			return nil, fmt.Errorf("classical: source landmark %v is outside the %dx%d source image", p, w, h)
		}
		rect = rect.Union(image.Rect(int(p.X)-1, int(p.Y)-1, int(p.X)+2, int(p.Y)+2).Intersect(image.Rect(0, 0, w, h)))
	}
	region := source.Region(rect)
	defer region.Close()
	c := &Classical{cfg: cfg, src: region.Clone(), affine: gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)}
	for i, p := range src.Kps {
		c.srcKps[i] = face.Point{X: p.X - float32(rect.Min.X), Y: p.Y - float32(rect.Min.Y)}
	}
	return c, nil
}

// Close frees the source crop and the scratch buffers. It is safe to call twice.
func (c *Classical) Close() error {
	for i := range c.bufs {
		c.bufs[i].close()
	}
	for _, m := range []*gocv.Mat{&c.src, &c.affine} {
		if m.Ptr() != nil {
			m.Close()
		}
		*m = gocv.Mat{}
	}
	return nil
}

// Swap replaces each target face in frame (BGR uint8), in place. Faces too small or outside the frame are skipped.
func (c *Classical) Swap(frame gocv.Mat, targets []face.Face) error {
	if c.src.Ptr() == nil {
		return errors.New("classical: Swap after Close")
	}
	if err := checkBGR("frame", frame); err != nil {
		return err
	}
	for i, t := range targets {
		if err := c.swapOne(frame, t); err != nil {
			return fmt.Errorf("classical: face %d: %w", i, err)
		}
	}
	return nil
}

func checkLandmarks(f face.Face) error {
	for _, v := range []float32{f.Box.X1, f.Box.Y1, f.Box.X2, f.Box.Y2} {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("box %v is not finite", f.Box)
		}
	}
	for _, p := range f.Kps {
		if math.IsNaN(float64(p.X)) || math.IsNaN(float64(p.Y)) || math.IsInf(float64(p.X), 0) || math.IsInf(float64(p.Y), 0) {
			return fmt.Errorf("landmarks %v are not finite", f.Kps)
		}
	}
	if f.Box.Area() <= 0 {
		return fmt.Errorf("box %v is empty", f.Box)
	}
	return nil
}

// swapOne swaps one face. Everything it writes lies in crop = the target box clamped to the frame, and only where
// the feathered mask is non-zero, which is inset from the box by at least minMaskInset pixels.
func (c *Classical) swapOne(frame gocv.Mat, t face.Face) error {
	if err := checkLandmarks(t); err != nil {
		return err
	}
	crop := t.Box.Clamp(frame.Cols(), frame.Rows())
	if crop.Dx() < minSwapSide || crop.Dy() < minSwapSide {
		return nil
	}
	w, h := crop.Dx(), crop.Dy()
	size := float64(min(t.Box.Width(), t.Box.Height()))
	inset := max(minMaskInset, int(math.Ceil(maskInset*size)))
	inner := image.Rect(inset, inset, w-inset, h-inset) // the mask's outer limit, crop coordinates
	feather := int(math.Round(float64(c.cfg.MaskBlur) * size))
	feather = max(0, min(feather, (inner.Dx()-4)/2, (inner.Dy()-4)/2))
	hardRect := inner.Inset(feather)
	if hardRect.Dx() < 4 || hardRect.Dy() < 4 {
		return nil
	}

	m, err := face.EstimateSimilarity(c.srcKps[:], t.Kps[:])
	if err != nil {
		return err
	}
	m = m.Then(face.Translation(-float64(crop.Min.X), -float64(crop.Min.Y)))
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			c.affine.SetDoubleAt(i, j, m[i][j])
		}
	}

	var views [nBufs]gocv.Mat
	for i := range views {
		ch := 3
		if i == bufHard || i == bufSoft || i == bufPMask {
			ch = 1
		}
		if (i == bufLabSrc || i == bufLabDst) && !c.cfg.ColorTransfer ||
			(i == bufPMask || i == bufCloned) && !c.cfg.Poisson {
			continue
		}
		views[i] = c.bufs[i].view(h, w, ch)
	}
	defer func() {
		for i := range views {
			if views[i].Ptr() != nil {
				views[i].Close()
			}
		}
	}()
	tgt, warped, hard, soft := &views[bufTarget], &views[bufWarped], &views[bufHard], &views[bufSoft]

	roi := frame.Region(crop)
	defer roi.Close()
	roi.CopyTo(tgt)
	gocv.WarpAffineWithParams(c.src, warped, c.affine, image.Pt(w, h), gocv.InterpolationLinear,
		gocv.BorderReplicate, color.RGBA{})

	// Mask: an ellipse over the inner face (brows to chin, cheek to cheek) placed by the landmarks, shrunk by half
	// the feather so the soft edge straddles it, and cut to hardRect = inner inset by the feather. Blurred by a
	// (2k+1)^2 kernel, k = feather, its support grows by at most k pixels per axis, so it stays inside inner.
	hard.SetTo(gocv.NewScalar(0, 0, 0, 0))
	el := faceEllipse(t)
	const shift = 4 // sub-pixel drawing: coordinates in 1/16 px
	cx := (el.cx - float64(crop.Min.X) - float64(hardRect.Min.X)) * (1 << shift)
	cy := (el.cy - float64(crop.Min.Y) - float64(hardRect.Min.Y)) * (1 << shift)
	ax := (el.a - float64(feather)/2) * (1 << shift)
	ay := (el.b - float64(feather)/2) * (1 << shift)
	if ax < 2<<shift || ay < 2<<shift {
		return nil
	}
	hardView := hard.Region(hardRect)
	gocv.EllipseWithParams(&hardView, image.Pt(int(cx), int(cy)), image.Pt(int(ax), int(ay)), el.angle, 0, 360,
		color.RGBA{255, 255, 255, 255}, -1, gocv.Line8, shift)
	hardView.Close()
	if feather > 0 {
		gocv.GaussianBlur(*hard, soft, image.Pt(2*feather+1, 2*feather+1), 0, 0, gocv.BorderConstant|gocv.BorderIsolated)
	} else {
		hard.CopyTo(soft)
	}

	if c.cfg.ColorTransfer {
		if err := labTransfer(warped, tgt, hard, &views[bufLabSrc], &views[bufLabDst]); err != nil {
			return err
		}
	}

	blendSrc := warped
	if c.cfg.Poisson {
		pmask := &views[bufPMask]
		gocv.Threshold(*soft, pmask, 0, 255, gocv.ThresholdBinary)
		bb, err := nonZeroBounds(*pmask)
		if err != nil {
			return err
		}
		if bb.Dx() >= minPoissonSide && bb.Dy() >= minPoissonSide && bb.In(inner) {
			// seamlessClone places the mask's bounding box centred on p; centring it on itself keeps it in place.
			p := image.Pt(bb.Min.X+bb.Dx()/2, bb.Min.Y+bb.Dy()/2)
			cloned := &views[bufCloned]
			gocv.SeamlessClone(*warped, *tgt, *pmask, p, cloned, cvNormalClone)
			blendSrc = cloned
		}
	}
	if err := alphaBlend(tgt, *blendSrc, *soft); err != nil {
		return err
	}
	tgt.CopyTo(&roi)
	return nil
}

// labTransfer shifts src's Lab mean and standard deviation, measured where mask is set, to dst's, in place.
func labTransfer(src, dst, mask, labSrc, labDst *gocv.Mat) error {
	gocv.CvtColor(*src, labSrc, gocv.ColorBGRToLab)
	gocv.CvtColor(*dst, labDst, gocv.ColorBGRToLab)
	ls, err := labSrc.DataPtrUint8()
	if err != nil {
		return err
	}
	ld, err := labDst.DataPtrUint8()
	if err != nil {
		return err
	}
	mk, err := mask.DataPtrUint8()
	if err != nil {
		return err
	}
	var n float64
	var sumS, sumD, sqS, sqD [3]float64
	for i, m := range mk {
		if m == 0 {
			continue
		}
		n++
		for ch := 0; ch < 3; ch++ {
			s, d := float64(ls[3*i+ch]), float64(ld[3*i+ch])
			sumS[ch] += s
			sqS[ch] += s * s
			sumD[ch] += d
			sqD[ch] += d * d
		}
	}
	if n < 16 {
		return nil
	}
	var lut [3][256]uint8
	for ch := 0; ch < 3; ch++ {
		ms, md := sumS[ch]/n, sumD[ch]/n
		ss := math.Sqrt(math.Max(sqS[ch]/n-ms*ms, 0))
		sd := math.Sqrt(math.Max(sqD[ch]/n-md*md, 0))
		gain := 1.0
		if ss > 1 {
			gain = math.Min(math.Max(sd/ss, 0.5), 2) // bounded: a flat or noisy patch must not blow up contrast
		}
		for v := 0; v < 256; v++ {
			lut[ch][v] = uint8(math.Min(math.Max(math.Round((float64(v)-ms)*gain+md), 0), 255))
		}
	}
	for i := 0; i < len(ls); i += 3 {
		ls[i], ls[i+1], ls[i+2] = lut[0][ls[i]], lut[1][ls[i+1]], lut[2][ls[i+2]]
	}
	gocv.CvtColor(*labSrc, src, gocv.ColorLabToBGR)
	return nil
}

// alphaBlend sets dst = src*a + dst*(1-a), a = alpha/255, per pixel; pixels with alpha 0 are not touched.
func alphaBlend(dst *gocv.Mat, src, alpha gocv.Mat) error {
	d, err := dst.DataPtrUint8()
	if err != nil {
		return err
	}
	s, err := src.DataPtrUint8()
	if err != nil {
		return err
	}
	a, err := alpha.DataPtrUint8()
	if err != nil {
		return err
	}
	if len(d) != len(s) || len(d) != 3*len(a) {
		return fmt.Errorf("classical: blend sizes differ: %d, %d, %d", len(d), len(s), len(a))
	}
	for i, av := range a {
		switch av {
		case 0:
		case 255:
			copy(d[3*i:3*i+3], s[3*i:3*i+3])
		default:
			w, iw := uint32(av), 255-uint32(av)
			for j := 3 * i; j < 3*i+3; j++ {
				d[j] = uint8((uint32(s[j])*w + uint32(d[j])*iw + 127) / 255)
			}
		}
	}
	return nil
}

// nonZeroBounds is the bounding box of m's non-zero pixels (single channel, continuous); empty when none.
func nonZeroBounds(m gocv.Mat) (image.Rectangle, error) {
	p, err := m.DataPtrUint8()
	if err != nil {
		return image.Rectangle{}, err
	}
	w := m.Cols()
	r := image.Rectangle{Min: image.Pt(w, m.Rows())}
	for y := 0; y < m.Rows(); y++ {
		row := p[y*w : (y+1)*w]
		for x, v := range row {
			if v != 0 {
				r.Min.X, r.Max.X = min(r.Min.X, x), max(r.Max.X, x+1)
				r.Min.Y, r.Max.Y = min(r.Min.Y, y), max(r.Max.Y, y+1)
			}
		}
	}
	if r.Max.X == 0 {
		return image.Rectangle{}, nil
	}
	return r, nil
}

// Face mask proportions, in units of the eye-to-mouth distance d (vertical) and the eye-to-eye distance (horizontal),
// measured along the face's own axes: the mask runs from maskTop*d above the eye line to maskBottom*d below the mouth
// line, and is maskWidth eye distances wide.
const (
	maskTop    = 0.45
	maskBottom = 0.75
	maskWidth  = 2.0
)

type ellipse struct{ cx, cy, a, b, angle float64 } // centre, semi-axes (across, along the face), degrees

// faceEllipse is the inner-face ellipse of f from its landmarks: its long axis runs from the eyes' midpoint to the
// mouth's, so it follows head roll.
func faceEllipse(f face.Face) ellipse {
	k := f.Kps
	ex, ey := float64(k[face.LeftEye].X+k[face.RightEye].X)/2, float64(k[face.LeftEye].Y+k[face.RightEye].Y)/2
	mx, my := float64(k[face.LeftMouth].X+k[face.RightMouth].X)/2, float64(k[face.LeftMouth].Y+k[face.RightMouth].Y)/2
	vx, vy := mx-ex, my-ey
	d := math.Hypot(vx, vy)
	iod := math.Hypot(float64(k[face.RightEye].X-k[face.LeftEye].X), float64(k[face.RightEye].Y-k[face.LeftEye].Y))
	if d < 1 { // landmarks collapsed: fall back to the box
		c := f.Box.Center()
		return ellipse{float64(c.X), float64(c.Y), float64(f.Box.Width()) / 2, float64(f.Box.Height()) / 2, 0}
	}
	mid := (1 + maskBottom - maskTop) / 2 // centre, as a fraction of the eye-to-mouth vector
	return ellipse{
		cx:    ex + vx*mid,
		cy:    ey + vy*mid,
		a:     math.Max(maskWidth*iod, 1.2*d) / 2,
		b:     d * (1 + maskTop + maskBottom) / 2,
		angle: math.Atan2(vy, vx)*180/math.Pi - 90,
	}
}
