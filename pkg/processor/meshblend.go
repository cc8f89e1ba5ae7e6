package processor

import (
	"image"
	"math"

	"gocv.io/x/gocv"
)

// The mesh swap's blend works in OpenCV's 8-bit Lab (L scaled to 0..255, a and b offset by 128): a perceptual
// space in which a colour change reads the same on dark and light skin. It splits each face into a low-frequency
// layer (skin tone, the shading that carries the face's shape) and detail (pores, wrinkles, stubble, frames of
// glasses, the folds of a smile). The swap takes the source's low frequencies, measured only over the source's skin
// and matched region by region to the target's light, and mostly the target's own detail, so the source's age,
// accessories and expression lines stay behind. The low-frequency work runs on a copy scaled down to lowResSide, so
// it costs the same whatever the face's size.

const (
	// lowResSide is the face size (shorter box side) the low-frequency layers are computed at: enough for bands of
	// lowBand and wider.
	lowResSide = 40
	// lowBand is the sigma of the split between low frequencies and detail, as a fraction of the face size.
	lowBand = 0.035
	// regionBand is the sigma of the regional colour match (a fraction of the face size): the source's low
	// frequencies are shifted to the target's mean colour over neighbourhoods this wide (forehead, each cheek,
	// nose, chin), so a light that falls differently on the two faces is matched per region, not by one mean.
	regionBand = 0.12
	// maxChromaShift bounds how far the swap moves a pixel's a and b (8-bit Lab units) from the target's: beyond
	// it a colour is no skin tone of this target's light but a streak.
	maxChromaShift = 18
	// minSkinWeight is the blurred skin weight below which a low-resolution pixel has no source skin near enough
	// to measure: the target's own low frequencies stand there.
	minSkinWeight = 0.05
)

// skinModel is a Lab mean and inverse spread per channel: a diagonal Mahalanobis model of one face's skin.
type skinModel struct {
	mean, inv [3]float64
}

// fitSkin fits a skin model to the Lab pixels (3 bytes each) where region is non-zero: mean and spread, then again
// over the pixels within 2.5 spreads of the first fit, so the frames of glasses, brows or a shadow inside the region
// do not pull the skin's colour. Spreads are floored by skinMinSpread. false when fewer than 32 pixels count.
func fitSkin(lab, region []uint8) (skinModel, bool) {
	var m skinModel
	ok := false
	for pass := 0; pass < 2; pass++ {
		var n float64
		var sum, sq [3]float64
		for i, r := range region {
			if r == 0 {
				continue
			}
			p := lab[3*i : 3*i+3]
			if pass == 1 && m.dist2(p) > 2.5*2.5 {
				continue
			}
			n++
			for ch := 0; ch < 3; ch++ {
				v := float64(p[ch])
				sum[ch] += v
				sq[ch] += v * v
			}
		}
		if n < 32 {
			return m, ok
		}
		for ch := 0; ch < 3; ch++ {
			mean := sum[ch] / n
			sd := math.Sqrt(math.Max(sq[ch]/n-mean*mean, 0))
			m.mean[ch] = mean
			m.inv[ch] = 1 / math.Max(sd, blendSkinSpread[ch])
		}
		ok = true
	}
	return m, ok
}

func (m *skinModel) dist2(p []uint8) float64 {
	var d2 float64
	for ch := 0; ch < 3; ch++ {
		z := (float64(p[ch]) - m.mean[ch]) * m.inv[ch]
		d2 += z * z
	}
	return d2
}

// likelihood is 1 for a colour within skinNear spreads of the skin, 0 beyond skinFar, smooth in between.
func (m *skinModel) likelihood(p []uint8) float64 {
	return 1 - smoothstep(blendSkinNear, blendSkinFar, math.Sqrt(m.dist2(p)))
}

// skinMap writes into dst (one byte a pixel) 255 times each Lab pixel's skin likelihood.
func (m *skinModel) skinMap(dst, lab []uint8) {
	for i := range dst {
		dst[i] = uint8(255*m.likelihood(lab[3*i:3*i+3]) + 0.5)
	}
}

// gaussBlur blurs a w x h image of ch (1 to 4) interleaved float32 channels with a Gaussian of sigma px (OpenCV's,
// truncated at 3 sigma, edges replicated); dst may be src. sigma <= 0 copies.
func gaussBlur(dst, src []float32, w, h, ch int, sigma float64) {
	if sigma <= 0 {
		copy(dst, src)
		return
	}
	m := gocv.NewMatWithSize(h, w, gocv.MatType(int(gocv.MatTypeCV32F)+(ch-1)*8))
	defer m.Close()
	mp, err := m.DataPtrFloat32()
	if err != nil {
		panic(err) // a continuous float Mat of our own: cannot fail
	}
	copy(mp, src[:w*h*ch])
	k := 2*int(math.Ceil(3*sigma)) + 1
	gocv.GaussianBlur(m, &m, image.Pt(k, k), sigma, sigma, gocv.BorderReplicate)
	copy(dst, mp)
}

// weightedBlur is a normalised convolution: dst = blur(src*wt) / blur(wt) per channel of the 3-channel src, so
// pixels of weight 0 (not skin) are filled from the weighted pixels around them. ok[i] is false where blur(wt) <
// minSkinWeight; dst is 0 there. wt has one value a pixel; pack (4 values a pixel) is scratch: numerator and
// weight are blurred in one pass.
func weightedBlur(dst, src, wt, pack []float32, ok []bool, w, h int, sigma float64) {
	for i, v := range wt {
		pack[4*i], pack[4*i+1], pack[4*i+2], pack[4*i+3] = src[3*i]*v, src[3*i+1]*v, src[3*i+2]*v, v
	}
	gaussBlur(pack, pack, w, h, 4, sigma)
	for i := range wt {
		d := pack[4*i+3]
		ok[i] = d >= minSkinWeight
		for c := 0; c < 3; c++ {
			if ok[i] {
				dst[3*i+c] = pack[4*i+c] / d
			} else {
				dst[3*i+c] = 0
			}
		}
	}
}

// lowFreq computes, on a w x h low-resolution copy of the crop, the two layers the blend adds to the target:
// shift = the source's low frequencies matched to the target's regional colour, minus the target's low
// frequencies; base = the source's unmatched low frequencies minus the target's (what the source's detail is
// measured against). tgt and src are 8-bit Lab (3 bytes a pixel); srcSkin is the source's skin weight (0..1) where
// it was warped, face where the target's face is (0..1). The sigmas are in low-resolution pixels. shift and base
// are w*h*3; where no source skin lies near, both are 0 (the target stays).
func lowFreq(shift, base []float32, tgt, src []uint8, srcSkin, faceW []float32, w, h int, sigLow, sigRegion float64) {
	n := w * h
	t := make([]float32, 3*n)
	s := make([]float32, 3*n)
	for i := range t {
		t[i], s[i] = float32(tgt[i]), float32(src[i])
	}
	lt := make([]float32, 3*n)
	gaussBlur(lt, t, w, h, 3, sigLow)
	ls := make([]float32, 3*n)
	pack := make([]float32, 4*n)
	ok := make([]bool, n)
	weightedBlur(ls, s, srcSkin, pack, ok, w, h, sigLow)
	// The regional colour difference target - source, measured where both are face and the source is skin.
	diff := make([]float32, 3*n)
	wt := make([]float32, n)
	var gsum [3]float64
	var gn float64
	for i := 0; i < n; i++ {
		if !ok[i] {
			continue
		}
		wt[i] = srcSkin[i] * faceW[i]
		for c := 0; c < 3; c++ {
			diff[3*i+c] = lt[3*i+c] - ls[3*i+c]
			gsum[c] += float64(wt[i] * diff[3*i+c])
		}
		gn += float64(wt[i])
	}
	region := make([]float32, 3*n)
	rok := make([]bool, n)
	weightedBlur(region, diff, wt, pack, rok, w, h, sigRegion)
	for i := 0; i < n; i++ {
		for c := 0; c < 3; c++ {
			j := 3*i + c
			if !ok[i] {
				shift[j], base[j] = 0, 0
				continue
			}
			r := region[j]
			if !rok[i] {
				r = 0
				if gn > 0 {
					r = float32(gsum[c] / gn) // far from any measured region: the face's mean difference
				}
			}
			shift[j] = ls[j] + r - lt[j]
			base[j] = ls[j] - lt[j]
		}
	}
}

// bilinearUp samples the lw x lh image of ch float32 channels at full resolution w x h (pixel centres aligned, as
// cv::resize's INTER_LINEAR) into dst.
func bilinearUp(dst, src []float32, lw, lh, w, h, ch int) {
	sx, sy := float64(lw)/float64(w), float64(lh)/float64(h)
	for y := 0; y < h; y++ {
		fy := math.Min(math.Max((float64(y)+0.5)*sy-0.5, 0), float64(lh-1))
		y0 := int(fy)
		y1 := min(y0+1, lh-1)
		wy := float32(fy - float64(y0))
		for x := 0; x < w; x++ {
			fx := math.Min(math.Max((float64(x)+0.5)*sx-0.5, 0), float64(lw-1))
			x0 := int(fx)
			x1 := min(x0+1, lw-1)
			wx := float32(fx - float64(x0))
			for c := 0; c < ch; c++ {
				a := src[(y0*lw+x0)*ch+c]*(1-wx) + src[(y0*lw+x1)*ch+c]*wx
				b := src[(y1*lw+x0)*ch+c]*(1-wx) + src[(y1*lw+x1)*ch+c]*wx
				dst[(y*w+x)*ch+c] = a*(1-wy) + b*wy
			}
		}
	}
}

// composeLab writes into out (8-bit Lab) the swapped colour of each pixel whose alpha is non-zero:
//
//	out = target + shift + detail*skin*((source - target) - base)
//
// that is, the target with its low frequencies replaced by the source's matched ones, and with a share detail of
// the source's own detail where the source is skin (the rest of the detail is the target's). shift and base are 3
// bytes a pixel offset by 128. a and b move at most maxChromaShift from the target's; every channel is clamped to
// 0..255. skin is 0..255 a pixel. out may be src.
func composeLab(out, tgt, src, shift, base, skin, alpha []uint8, detail float32) {
	d := int32(detail*256 + 0.5) // fixed point: s = skin*d, 0..255*256
	const one = 255 * 256
	for i, a := range alpha {
		if a == 0 {
			continue
		}
		s := int32(skin[i]) * d
		for c := 0; c < 3; c++ {
			j := 3*i + c
			t := int32(tgt[j])
			x := (int32(src[j]) - t) - (int32(base[j]) - 128)
			v := t + int32(shift[j]) - 128 + (s*x+one/2*sign(x))/one
			if c > 0 {
				v = min(max(v, t-maxChromaShift), t+maxChromaShift)
			}
			out[j] = uint8(min(max(v, 0), 255))
		}
	}
}

func sign(x int32) int32 {
	if x < 0 {
		return -1
	}
	return 1
}
