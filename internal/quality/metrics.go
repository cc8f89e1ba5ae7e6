// Package quality measures how a face swap looks, with numbers a reviewer can rerun (`make quality`): identity
// moved to the source, expression kept from the target, artefacts, untouched pixels and temporal flicker. The
// metric functions work on plain pixel buffers (BGR, 3 bytes a pixel, rows packed) and masks (one byte a pixel,
// non-zero = inside), so they are tested on synthetic inputs; the runner (cmd/quality) feeds them real swaps.
package quality

import (
	"errors"
	"fmt"
	"math"

	"github.com/facefleet/facefleet/pkg/colour"
	"github.com/facefleet/facefleet/pkg/face"
)

// ArtefactDeltaE is the CIE76 colour difference (Euclidean distance in CIELAB, L 0..100) above which a swapped
// face pixel counts as far from a reference: about four times a just-noticeable difference, well above what a
// blend of the two references produces.
const ArtefactDeltaE = 20

// IdentityDistance is the cosine distance 1 - cos(a, b) between two face embeddings (0 for the same direction,
// 1 for orthogonal, 2 for opposite): for the swap against the source, lower is better. Vectors of different
// lengths or of zero norm are an error.
func IdentityDistance(a, b []float32) (float64, error) {
	if len(a) != len(b) || len(a) == 0 {
		return 0, fmt.Errorf("quality: embeddings of lengths %d and %d", len(a), len(b))
	}
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	if !(aa > 0 && bb > 0) || math.IsInf(aa, 0) || math.IsInf(bb, 0) {
		return 0, errors.New("quality: an embedding has zero or non-finite norm")
	}
	return 1 - ab/math.Sqrt(aa*bb), nil
}

// InterOcular is the distance between the centres (mean points) of the two eye contours of a mesh: the face size
// that ExpressionError divides by.
func InterOcular(m *face.Mesh) float64 {
	c := func(idx []int) (x, y float64) {
		for _, i := range idx {
			x += float64(m.Points[i].X)
			y += float64(m.Points[i].Y)
		}
		return x / float64(len(idx)), y / float64(len(idx))
	}
	lx, ly := c(face.MeshImageLeftEye[:])
	rx, ry := c(face.MeshImageRightEye[:])
	return math.Hypot(rx-lx, ry-ly)
}

// ExpressionError is the mean image-plane distance between the 468 Face Mesh landmarks of the swap and those of
// the target, divided by the target's inter-ocular distance: 0 when the swap kept the target's expression and
// pose exactly; a source smile or a closed mouth over an open one moves the lips and cheeks and raises it.
func ExpressionError(swap, target *face.Mesh) (float64, error) {
	iod := InterOcular(target)
	if !(iod > 1) {
		return 0, fmt.Errorf("quality: target inter-ocular distance %.2f px: no usable face", iod)
	}
	var sum float64
	for i := range target.Points {
		sum += math.Hypot(float64(swap.Points[i].X-target.Points[i].X), float64(swap.Points[i].Y-target.Points[i].Y))
	}
	return sum / face.MeshPoints / iod, nil
}

func deltaE(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}

// ArtefactShare is the share (0..1) of the face pixels (mask non-zero) whose colour in swap is farther than
// ArtefactDeltaE from both the target and the warped source: colour that came from neither face (streaks, bruises,
// smears, halos). The warped source is first shifted by the difference of mean Lab colour between target and
// warped source over the mask, so a swap that only re-tints the source to the target's skin is not counted.
// All three images are BGR of the same size as the mask. A mask with no pixel is an error.
func ArtefactShare(swap, target, warped, mask []uint8) (float64, error) {
	if err := sameSize(mask, swap, target, warped); err != nil {
		return 0, err
	}
	var n float64
	var mt, mw [3]float64
	for i, m := range mask {
		if m == 0 {
			continue
		}
		t := colour.Lab(target[3*i], target[3*i+1], target[3*i+2])
		w := colour.Lab(warped[3*i], warped[3*i+1], warped[3*i+2])
		for c := 0; c < 3; c++ {
			mt[c] += t[c]
			mw[c] += w[c]
		}
		n++
	}
	if n == 0 {
		return 0, errors.New("quality: empty face mask")
	}
	var shift [3]float64
	for c := range shift {
		shift[c] = (mt[c] - mw[c]) / n
	}
	far := 0.0
	for i, m := range mask {
		if m == 0 {
			continue
		}
		s := colour.Lab(swap[3*i], swap[3*i+1], swap[3*i+2])
		t := colour.Lab(target[3*i], target[3*i+1], target[3*i+2])
		w := colour.Lab(warped[3*i], warped[3*i+1], warped[3*i+2])
		for c := range w {
			w[c] += shift[c]
		}
		if deltaE(s, t) > ArtefactDeltaE && deltaE(s, w) > ArtefactDeltaE {
			far++
		}
	}
	return far / n, nil
}

// Squared accumulates squared differences between two images outside a mask, for a PSNR over many frames.
type Squared struct {
	Sum float64 // sum of squared byte differences
	N   float64 // bytes compared
}

// AddOutside adds every byte of a and b (BGR, same size) at pixels where mask is 0.
func (s *Squared) AddOutside(a, b, mask []uint8) error {
	if err := sameSize(mask, a, b); err != nil {
		return err
	}
	for i, m := range mask {
		if m != 0 {
			continue
		}
		for c := 3 * i; c < 3*i+3; c++ {
			d := float64(a[c]) - float64(b[c])
			s.Sum += d * d
		}
		s.N += 3
	}
	return nil
}

// PSNR is the peak signal-to-noise ratio of what was added, in dB (peak 255): +Inf when every byte was equal, NaN
// when nothing was compared.
func (s Squared) PSNR() float64 {
	if s.N == 0 {
		return math.NaN()
	}
	if s.Sum == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/(s.Sum/s.N))
}

// Flicker measures temporal flicker: the mean absolute frame-to-frame change (per byte, 0..255) inside the face
// region of the swap, minus that of the target over the same pixels. 0 means the swapped face changes no more
// than the original did; positive values are flicker the swap added.
type Flicker struct {
	prevSwap, prevTarget []uint8
	swap, target, n      float64
}

// Add takes the next frame of the swap and of the target (BGR, same size) and this frame's face mask; the
// change from the previous frame is measured inside this frame's mask. The buffers are copied.
func (f *Flicker) Add(swap, target, mask []uint8) error {
	if err := sameSize(mask, swap, target); err != nil {
		return err
	}
	if f.prevSwap != nil && len(f.prevSwap) == len(swap) {
		for i, m := range mask {
			if m == 0 {
				continue
			}
			for c := 3 * i; c < 3*i+3; c++ {
				f.swap += math.Abs(float64(swap[c]) - float64(f.prevSwap[c]))
				f.target += math.Abs(float64(target[c]) - float64(f.prevTarget[c]))
			}
			f.n += 3
		}
	}
	f.prevSwap = append(f.prevSwap[:0], swap...)
	f.prevTarget = append(f.prevTarget[:0], target...)
	return nil
}

// Value is the flicker so far; NaN before two frames with a face.
func (f *Flicker) Value() float64 {
	if f.n == 0 {
		return math.NaN()
	}
	return (f.swap - f.target) / f.n
}

func sameSize(mask []uint8, imgs ...[]uint8) error {
	for _, im := range imgs {
		if len(im) != 3*len(mask) {
			return fmt.Errorf("quality: image of %d bytes for a mask of %d pixels", len(im), len(mask))
		}
	}
	return nil
}
