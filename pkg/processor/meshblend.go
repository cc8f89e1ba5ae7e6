package processor

import (
	"image"
	"math"

	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

// The mesh swap's blend works in OpenCV's 8-bit Lab (L scaled to 0..255, a and b offset by 128): a perceptual
// space in which a colour change reads the same on dark and light skin. The source is turned into Lab once
// (prepareSource: its age-carrying chroma and lightness detail damped, what its glasses cover filled from its skin)
// and warped in Lab. Per frame the swap splits both faces into a low-frequency layer (skin tone and the light on
// it) and detail: the source's low frequencies are matched region by region to the target's light, with chroma
// moves clamped, and carry the source's detail where the source keeps it (srcSkin) and the target's own detail
// where it does not (the zone of a source's glasses: the target's own eyes, brows and frames show there). The
// low-frequency work runs on a copy scaled down to lowResSide, so it costs the same whatever the face's size; only
// the target's box is converted to Lab and the result back.

const (
	// lowResSide is the face size (shorter box side) the low-frequency layers are computed at: enough for bands of
	// lowBand and wider.
	lowResSide = 24
	// lowBand is the sigma of the split between low frequencies and detail, as a fraction of the face size.
	lowBand = 0.035
	// regionBand is the sigma of the regional colour match (a fraction of the face size): the source's low
	// frequencies are shifted to the target's mean colour over neighbourhoods this wide (forehead, cheeks, chin),
	// so a light that falls differently on the two faces is matched per region, not by one mean.
	regionBand = 0.2
	// maxChromaShift bounds how far the swap moves the low frequencies' a and b (8-bit Lab units) from the
	// target's: beyond it a colour is no skin tone of this target's light but a streak.
	maxChromaShift = 18
	// sourceDetailBand (a fraction of the source face size) is the sigma that splits the source's detail from its
	// colour in prepareSource; sourceChromaDetail bounds the detail's a and b (8-bit Lab units), sourceLumaDetail
	// scales its lightness; sourceFillBand is the sigma of the fill under glasses.
	sourceDetailBand   = 0.04
	sourceChromaDetail = 1
	sourceLumaDetail   = 0.85
	sourceFillBand     = 0.1
	// glassesShare is the share of the source's glasses zone (glassesZone) off its skin colour above which the
	// source wears glasses (TestGlassesZone: between the shared faces with and without). glassesReach is how far
	// the zone reaches beyond each eye's contour, and glassesEyeKeep how far around the eye the test leaves out, as
	// fractions of the eye's width; glassesBrowGrow how far around the brows (fraction of the face size);
	// glassesZoneBlur is the sigma of the zone's edge (fraction of the face size).
	glassesShare    = 0.38
	glassesReach    = 0.9
	glassesEyeKeep  = 0.25
	glassesZoneBlur = 0.05
	glassesBrowGrow = 0.02
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

// gaussBlur blurs a w x h image of ch (1 to 4) interleaved float32 channels with a Gaussian of sigma px (OpenCV's,
// truncated at 3 sigma, edges replicated); dst may be src. sigma <= 0 copies.
func gaussBlur(dst, src []float32, w, h, ch int, sigma float64) {
	m, mp := floatMat(src, w, h, ch)
	defer m.Close()
	gaussMat(&m, sigma)
	copy(dst, mp)
}

// gaussMat is gaussBlur in place on a float Mat.
func gaussMat(m *gocv.Mat, sigma float64) {
	if sigma <= 0 {
		return
	}
	k := 2*int(math.Ceil(3*sigma)) + 1
	gocv.GaussianBlur(*m, m, image.Pt(k, k), sigma, sigma, gocv.BorderReplicate)
}

// boxMat is gaussMat's cheaper kin for wide sigmas: two passes of a (2r+1)-wide box, of the Gaussian's variance
// (2r(r+1)/3 = sigma^2), at a cost that does not grow with sigma; edges reflected.
func boxMat(m *gocv.Mat, sigma float64) {
	r := int(math.Round(math.Sqrt(0.25+1.5*sigma*sigma) - 0.5))
	if r < 1 {
		gaussMat(m, sigma)
		return
	}
	k := image.Pt(2*r+1, 2*r+1)
	gocv.Blur(*m, m, k)
	gocv.Blur(*m, m, k)
}

// floatMat is a w x h Mat of ch float32 channels holding a copy of src, with its pixels.
func floatMat(src []float32, w, h, ch int) (gocv.Mat, []float32) {
	m := gocv.NewMatWithSize(h, w, gocv.MatType(int(gocv.MatTypeCV32F)+(ch-1)*8))
	mp, err := m.DataPtrFloat32()
	if err != nil {
		panic(err) // a continuous float Mat of our own: cannot fail
	}
	copy(mp, src[:w*h*ch])
	return m, mp
}

// weightedBlur is a normalised convolution: dst = blur(src*wt) / blur(wt) per channel of the 3-channel src, so
// pixels of weight 0 (not skin) are filled from the weighted pixels around them. ok[i] is false where blur(wt) <
// minSkinWeight; dst is 0 there. wt has one value a pixel; pack is a w x h CV_32FC4 Mat of scratch: numerator and
// weight are blurred in one pass, by blur (gaussMat or boxMat).
func weightedBlur(blur func(*gocv.Mat, float64), dst, src, wt []float32, pack *gocv.Mat, ok []bool, sigma float64) {
	pp, err := pack.DataPtrFloat32()
	if err != nil {
		panic(err) // a continuous float Mat of our own: cannot fail
	}
	for i, v := range wt {
		pp[4*i], pp[4*i+1], pp[4*i+2], pp[4*i+3] = src[3*i]*v, src[3*i+1]*v, src[3*i+2]*v, v
	}
	blur(pack, sigma)
	for i := range wt {
		d := pp[4*i+3]
		ok[i] = d >= minSkinWeight
		for c := 0; c < 3; c++ {
			if ok[i] {
				dst[3*i+c] = pp[4*i+c] / d
			} else {
				dst[3*i+c] = 0
			}
		}
	}
}

// weightedBlurPair is weightedBlur of two 3-channel images under the same weights, blurred together in one pass:
// pack is a w x h Mat of 8 float32 channels of scratch.
func weightedBlurPair(blur func(*gocv.Mat, float64), dstA, dstB, srcA, srcB, wt []float32, pack *gocv.Mat, ok []bool, sigma float64) {
	pp, err := pack.DataPtrFloat32()
	if err != nil {
		panic(err) // a continuous float Mat of our own: cannot fail
	}
	for i, v := range wt {
		p, a, b := pp[8*i:8*i+7:8*i+7], srcA[3*i:3*i+3:3*i+3], srcB[3*i:3*i+3:3*i+3]
		p[0], p[1], p[2], p[3], p[4], p[5], p[6] = a[0]*v, a[1]*v, a[2]*v, b[0]*v, b[1]*v, b[2]*v, v
	}
	blur(pack, sigma)
	for i := range wt {
		p := pp[8*i : 8*i+7 : 8*i+7]
		d := p[6]
		ok[i] = d >= minSkinWeight
		for c := 0; c < 3; c++ {
			if ok[i] {
				dstA[3*i+c], dstB[3*i+c] = p[c]/d, p[3+c]/d
			} else {
				dstA[3*i+c], dstB[3*i+c] = 0, 0
			}
		}
	}
}

// blur121 blurs a w x h single-channel image in place with the [1 2 1]/4 kernel both ways (a Gaussian of sigma
// about 0.7), edges replicated; tmp is w*h scratch.
func blur121(img, tmp []float32, w, h int) {
	for y := 0; y < h; y++ {
		r := img[y*w : (y+1)*w]
		for x := range r {
			tmp[y*w+x] = (r[max(x-1, 0)] + 2*r[x] + r[min(x+1, w-1)]) / 4
		}
	}
	for y := 0; y < h; y++ {
		u, d := max(y-1, 0)*w, min(y+1, h-1)*w
		for x := 0; x < w; x++ {
			img[y*w+x] = (tmp[u+x] + 2*tmp[y*w+x] + tmp[d+x]) / 4
		}
	}
}

// lowBlend is blend's low-resolution scratch, reused between calls.
type lowBlend struct {
	t, s, f, wt, lips, tmp []float32
	lipMask                []uint8
	lt, ls, diff, region   []float32
	ok, rok                []bool
	// C memory: the scaled-down target, warped source and alpha, the blurs' scratch, the two delta fields.
	small  [3]cropBuf
	pack   cropBuf
	deltaS cropBuf
	deltaT cropBuf
}

func (lb *lowBlend) close() {
	for i := range lb.small {
		lb.small[i].close()
	}
	lb.pack.close()
	lb.deltaS.close()
	lb.deltaT.close()
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// blend turns views[mbWarped] (the source warped in Lab) into the BGR colour the swap pastes where the alpha
// (views[mbHard]) is non-zero: per pixel, k*(source + dS) + (1-k)*(target + dT) in Lab, k the share of the
// source's detail kept (srcSkin warped, views[mbSkin]), dS and dT low-frequency fields computed at lowResSide and
// scaled up: the source's low frequencies matched region by region to the target's, less the source's (dS) or
// the target's (dT) own. Only the smallest box holding the alpha is converted (the whole crop with Poisson).
func (s *MeshSwap) blend(views []gocv.Mat, w, h int, size float64, tr *faceTrack) {
	alpha := mustPix(views[mbHard])
	bb := nonZeroBox(alpha, alpha, w, h)
	if s.cfg.Poisson {
		bb = image.Rect(0, 0, w, h)
	}
	if bb.Empty() {
		return
	}
	bw, bh := bb.Dx(), bb.Dy()
	// The target in Lab at full resolution only where its detail is shown (a source with glasses) or read around the
	// mask (Poisson, which gets the target where no triangle landed).
	var lt []uint8
	warped := mustPix(views[mbWarped])
	if s.srcSkin != nil || s.cfg.Poisson {
		tgtBox := views[mbTarget].Region(bb)
		defer tgtBox.Close()
		labT := s.bufs[mbLabDst].view(bh, bw, 3)
		defer labT.Close()
		gocv.CvtColor(tgtBox, &labT, gocv.ColorBGRToLab)
		lt = mustPix(labT)
		if s.cfg.Poisson { // bb is the whole crop
			cover := mustPix(views[mbCover])
			for i, c := range cover {
				if c == 0 {
					copy(warped[3*i:3*i+3], lt[3*i:3*i+3])
				}
			}
		}
	}
	scale := math.Min(1, lowResSide/size)
	lw, lh := max(4, int(math.Round(float64(bw)*scale))), max(4, int(math.Round(float64(bh)*scale)))
	n := lw * lh
	lb := &s.low
	// small scales m's box down to lw x lh (pixel areas averaged), converted with code unless it is negative.
	small := func(k int, m gocv.Mat, code gocv.ColorConversionCode, dst []float32) {
		src := m.Region(bb)
		defer src.Close()
		r := lb.small[k].view(lh, lw, m.Channels())
		defer r.Close()
		gocv.Resize(src, &r, image.Pt(lw, lh), 0, 0, gocv.InterpolationArea)
		if code >= 0 {
			gocv.CvtColor(r, &r, code)
		}
		for i, v := range mustPix(r) {
			dst[i] = float32(v)
		}
	}
	lb.t, lb.s = grow(lb.t, 3*n), grow(lb.s, 3*n)
	lb.f = grow(lb.f, n)
	small(0, views[mbTarget], gocv.ColorBGRToLab, lb.t) // averaged in BGR, then converted: as good for a low band
	small(1, views[mbWarped], -1, lb.s)
	small(2, views[mbHard], -1, lb.f)
	for i := range lb.f {
		lb.f[i] /= 255
	}
	// Both faces' low frequencies are measured under the alpha: in the face, never in the eye and mouth openings.
	sl, sr := lowBand*size*scale, regionBand*size*scale
	lb.lt, lb.ls, lb.diff, lb.region = grow(lb.lt, 3*n), grow(lb.ls, 3*n), grow(lb.diff, 3*n), grow(lb.region, 3*n)
	lb.wt, lb.ok, lb.rok = grow(lb.wt, n), grow(lb.ok, n), grow(lb.rok, n)
	pack8 := lb.pack.viewOf(lh, lw, gocv.MatType(int(gocv.MatTypeCV32F)+7*8), 32*n)
	defer pack8.Close()
	weightedBlurPair(gaussMat, lb.lt, lb.ls, lb.t, lb.s, lb.f, &pack8, lb.ok, sl)
	pack := lb.pack.viewOf(lh, lw, gocv.MatTypeCV32FC4, 16*n)
	defer pack.Close()
	var gsum [3]float64
	var gn float64
	for i := 0; i < n; i++ {
		lb.wt[i] = 0
		for c := 0; c < 3; c++ {
			lb.diff[3*i+c] = 0
		}
		if !lb.ok[i] {
			continue
		}
		lb.wt[i] = lb.f[i]
		for c := 0; c < 3; c++ {
			d := lb.lt[3*i+c] - lb.ls[3*i+c]
			lb.diff[3*i+c] = d
			gsum[c] += float64(lb.wt[i] * d)
		}
		gn += float64(lb.wt[i])
	}
	weightedBlur(boxMat, lb.region, lb.diff, lb.wt, &pack, lb.rok, sr)
	s.smoothRegion(tr, bb, lw, lh, size)
	// The target's lips keep their own colour: there the source's low frequencies are matched to the target's
	// locally (lowBand), not by region, so the source's lip texture takes the target's lip colour.
	lb.lipMask, lb.lips, lb.tmp = grow(lb.lipMask, n), grow(lb.lips, n), grow(lb.tmp, n)
	clear(lb.lipMask)
	s.poly = s.poly[:0]
	for _, i := range face.MeshOuterLips {
		p := s.tgtPts[i]
		s.poly = append(s.poly, face.Point{X: (p.X-float32(bb.Min.X)+0.5)*float32(lw)/float32(bw) - 0.5,
			Y: (p.Y-float32(bb.Min.Y)+0.5)*float32(lh)/float32(bh) - 0.5})
	}
	s.fillPolygon(lb.lipMask, lw, lh, s.poly, 1)
	for i, v := range lb.lipMask {
		lb.lips[i] = float32(v)
	}
	blur121(lb.lips, lb.tmp, lw, lh) // a soft edge
	ds, dt := lb.deltaS.view(lh, lw, 3), lb.deltaT.view(lh, lw, 3)
	defer ds.Close()
	defer dt.Close()
	dsp, dtp := mustPix(ds), mustPix(dt)
	q := func(v float32) uint8 { return uint8(min(max(v+128.5, 1), 255)) }
	for i := 0; i < n; i++ {
		for c := 0; c < 3; c++ {
			j := 3*i + c
			if !lb.ok[i] {
				dsp[j], dtp[j] = 128, 128
				continue
			}
			r := lb.region[j]
			if !lb.rok[i] {
				r = 0
				if gn > 0 {
					r = float32(gsum[c] / gn) // far from any measured region: the face's mean difference
				}
			}
			if l := lb.lips[i]; l > 0 {
				r += l * (lb.lt[j] - lb.ls[j] - r)
			}
			m := lb.ls[j] + r
			if c > 0 {
				m = min(max(m, lb.lt[j]-maxChromaShift), lb.lt[j]+maxChromaShift)
			}
			dsp[j] = q(m - lb.ls[j])
			dtp[j] = q(m - lb.lt[j])
		}
	}
	dsUp := s.bufs[mbShift].view(bh, bw, 3)
	defer dsUp.Close()
	gocv.Resize(ds, &dsUp, image.Pt(bw, bh), 0, 0, gocv.InterpolationLinear)
	var skin, dtu []uint8
	if s.srcSkin != nil { // only a source with glasses shows the target's detail anywhere
		dtUp := s.bufs[mbBase].view(bh, bw, 3)
		defer dtUp.Close()
		gocv.Resize(dt, &dtUp, image.Pt(bw, bh), 0, 0, gocv.InterpolationLinear)
		skin, dtu = mustPix(views[mbSkin]), mustPix(dtUp)
	}
	composeLab(warped, lt, mustPix(dsUp), dtu, skin, alpha, w, bb)
	out := views[mbWarped].Region(bb)
	defer out.Close()
	gocv.CvtColor(out, &out, gocv.ColorLabToBGR)
}

// smoothRegion averages the regional colour match (s.low.region) in time on the face's track, in the face's own
// frame (centred on its stable points, turned with its eye line).
func (s *MeshSwap) smoothRegion(tr *faceTrack, bb image.Rectangle, lw, lh int, size float64) {
	lb := &s.low
	var n float64
	for _, wt := range lb.wt {
		n += float64(wt)
	}
	rot, ok := shapeFrame(&s.tgtPts)
	if n == 0 || !ok {
		return
	}
	var cx, cy float64
	for _, i := range shapeStable {
		cx += float64(s.tgtPts[i].X)
		cy += float64(s.tgtPts[i].Y)
	}
	cx, cy = cx/float64(len(shapeStable)), cy/float64(len(shapeStable))
	sx, sy := float64(lw)/float64(bb.Dx()), float64(lh)/float64(bb.Dy())
	toLow := func(u, v float64) (float64, float64) {
		p := rot.fromFace(face.Point{X: float32(u), Y: float32(v)}, size)
		return (cx+float64(p.X)-float64(bb.Min.X)+0.5)*sx - 0.5, (cy+float64(p.Y)-float64(bb.Min.Y)+0.5)*sy - 0.5
	}
	toFace := func(x, y float64) (float64, float64) {
		p := rot.toFace(face.Point{X: float32((x+0.5)/sx - 0.5 + float64(bb.Min.X) - cx),
			Y: float32((y+0.5)/sy - 0.5 + float64(bb.Min.Y) - cy)}, size)
		return float64(p.X), float64(p.Y)
	}
	tr.colourField(lb.region, lb.rok, lw, lh, toLow, toFace)
}

// composeLab writes into warped (Lab, w pixels a row), where alpha is non-zero inside bb,
//
//	k*(warped + dS) + (1-k)*(target + dT), k = skin/255,
//
// clamped to 0..255; tgt, ds and dt are bb's size, ds and dt offset by 128. A nil skin is 255 everywhere (dt is
// not read).
func composeLab(warped, tgt, ds, dt, skin, alpha []uint8, w int, bb image.Rectangle) {
	bw := bb.Dx()
	for y := bb.Min.Y; y < bb.Max.Y; y++ {
		row := y * w
		lrow := (y - bb.Min.Y) * bw
		for x := bb.Min.X; x < bb.Max.X; x++ {
			i := row + x
			if alpha[i] == 0 {
				continue
			}
			j := 3 * (lrow + x - bb.Min.X)
			d, p := ds[j:j+3:j+3], warped[3*i:3*i+3:3*i+3]
			k := int32(255)
			if skin != nil {
				k = int32(skin[i])
			}
			if k == 255 {
				p[0] = uint8(min(max(int32(p[0])+int32(d[0])-128, 0), 255))
				p[1] = uint8(min(max(int32(p[1])+int32(d[1])-128, 0), 255))
				p[2] = uint8(min(max(int32(p[2])+int32(d[2])-128, 0), 255))
				continue
			}
			t, q := dt[j:j+3:j+3], tgt[j:j+3:j+3]
			if k == 0 {
				p[0] = uint8(min(max(int32(q[0])+int32(t[0])-128, 0), 255))
				p[1] = uint8(min(max(int32(q[1])+int32(t[1])-128, 0), 255))
				p[2] = uint8(min(max(int32(q[2])+int32(t[2])-128, 0), 255))
				continue
			}
			k += k >> 7 // 0..255 to 0..256, so the mix divides by a shift
			for c := 0; c < 3; c++ {
				sv := int32(p[c]) + int32(d[c]) - 128
				tv := int32(q[c]) + int32(t[c]) - 128
				v := (k*sv + (256-k)*tv + 128) >> 8
				p[c] = uint8(min(max(v, 0), 255))
			}
		}
	}
}

func mustPix(m gocv.Mat) []uint8 {
	p, err := m.DataPtrUint8()
	if err != nil {
		panic(err) // continuous Mats of our own: cannot fail
	}
	return p
}

// prepareSource changes the source crop in Lab (lp), once: its chroma detail (above sourceDetailBand) clamped to
// sourceChromaDetail and its lightness detail scaled by sourceLumaDetail, so that the creases and blotches that
// carry a face's age, and would read as red streaks on another face, go lighter; and where srcSkin keeps less than
// all of its detail (glasses), its colour filled from the skin around (a normalised convolution of sigma
// sourceFillBand), so the warp's bilinear taps never bring a frame's dark rim into the pasted skin.
func (s *MeshSwap) prepareSource(size float64, lp []uint8) {
	w, h := s.srcW, s.srcH
	n := w * h
	f := make([]float32, 3*n)
	for i, v := range lp {
		f[i] = float32(v)
	}
	bl := make([]float32, 3*n)
	gaussBlur(bl, f, w, h, 3, sourceDetailBand*size)
	for i := 0; i < n; i++ {
		f[3*i] = bl[3*i] + sourceLumaDetail*(f[3*i]-bl[3*i])
		for ch := 1; ch < 3; ch++ {
			j := 3*i + ch
			f[j] = bl[j] + min(max(f[j]-bl[j], -sourceChromaDetail), sourceChromaDetail)
		}
	}
	if s.srcSkin != nil {
		wt := make([]float32, n)
		for i, k := range s.srcSkin {
			wt[i] = float32(k) / 255
		}
		fill := bl // the blur is done with
		pack := gocv.NewMatWithSize(h, w, gocv.MatTypeCV32FC4)
		defer pack.Close()
		ok := make([]bool, n)
		weightedBlur(gaussMat, fill, f, wt, &pack, ok, sourceFillBand*size)
		for i := 0; i < n; i++ {
			if !ok[i] || wt[i] == 1 {
				continue
			}
			for ch := 0; ch < 3; ch++ {
				j := 3*i + ch
				f[j] = wt[i]*f[j] + (1-wt[i])*fill[j]
			}
		}
	}
	for i := range lp {
		lp[i] = uint8(min(max(f[i]+0.5, 0), 255))
	}
}
