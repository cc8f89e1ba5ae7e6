package processor

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

// Helpers shared by the paste, inswapper and enhancer tests.

// affineMat is a 2x3 CV_64F Mat of m; the caller Closes it.
func affineMat(m face.Affine) gocv.Mat {
	a := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	setAffine(a, m)
	return a
}

// similarity is the similarity transform scale*rotation(deg) followed by a translation.
func similarity(scale, deg, tx, ty float64) face.Affine {
	c, s := scale*math.Cos(deg*math.Pi/180), scale*math.Sin(deg*math.Pi/180)
	return face.Affine{{c, -s, tx}, {s, c, ty}}
}

// faceFromTemplate is a face whose landmarks are tpl mapped by a (crop -> frame): aligning it to tpl gives exactly
// a's inverse.
func faceFromTemplate(tpl [5]face.Point, a face.Affine, size float32) face.Face {
	var f face.Face
	for i, p := range tpl {
		f.Kps[i] = a.Apply(p)
	}
	c0, c1 := a.Apply(face.Point{}), a.Apply(face.Point{X: size, Y: size})
	f.Box = face.Box{X1: min(c0.X, c1.X), Y1: min(c0.Y, c1.Y), X2: max(c0.X, c1.X), Y2: max(c0.Y, c1.Y)}
	f.Score = 1
	return f
}

// inCrop reports whether frame pixel (x, y) maps, by m (frame -> crop), into [lo, hi) on both crop axes.
func inCrop(m face.Affine, x, y int, lo, hi float32) bool {
	p := m.Apply(face.Point{X: float32(x), Y: float32(y)})
	return p.X >= lo && p.X < hi && p.Y >= lo && p.Y < hi
}

// diffWhere compares two same-size BGR images: the mean absolute difference over pixels where in is true, and the
// number of differing bytes where out is true.
func diffWhere(tb testing.TB, before, after gocv.Mat, in, out func(x, y int) bool) (mean float64, changed int) {
	tb.Helper()
	a, w := bytesOf(tb, before)
	b, _ := bytesOf(tb, after)
	if len(a) != len(b) {
		tb.Fatal("image sizes differ")
	}
	var sum, n float64
	for i := 0; i < len(a); i += 3 {
		x, y := (i/3)%w, (i/3)/w
		if in != nil && in(x, y) {
			for c := 0; c < 3; c++ {
				sum += math.Abs(float64(a[i+c]) - float64(b[i+c]))
			}
			n += 3
		}
		if out != nil && out(x, y) {
			for c := 0; c < 3; c++ {
				if a[i+c] != b[i+c] {
					changed++
				}
			}
		}
	}
	if n > 0 {
		mean = sum / n
	}
	return mean, changed
}

// bgrAt is the pixel at (x, y).
func bgrAt(m gocv.Mat, x, y int) [3]uint8 {
	v := m.GetVecbAt(y, x)
	return [3]uint8{v[0], v[1], v[2]}
}

// referencePaste is insightface's paste-back (inswapper.py get(paste_back=True)) as written there, on full-frame
// float32 arrays, except that it rounds the blend (as pasteBack does) and scales the mask by blend.
func referencePaste(tb testing.TB, frame, crop gocv.Mat, m face.Affine, blend float32) gocv.Mat {
	tb.Helper()
	W, H, S := frame.Cols(), frame.Rows(), crop.Rows()
	inv, err := m.Invert()
	if err != nil {
		tb.Fatal(err)
	}
	im := affineMat(inv)
	defer im.Close()
	fake := gocv.NewMat()
	defer fake.Close()
	gocv.WarpAffineWithParams(crop, &fake, im, image.Pt(W, H), gocv.InterpolationLinear, gocv.BorderConstant, color.RGBA{})
	white := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 0, 0, 0), S, S, gocv.MatTypeCV8UC1)
	defer white.Close()
	mask := gocv.NewMat()
	defer mask.Close()
	gocv.WarpAffineWithParams(white, &mask, im, image.Pt(W, H), gocv.InterpolationLinear, gocv.BorderConstant, color.RGBA{})
	mb, _ := mask.DataPtrUint8()
	minX, minY, maxX, maxY := W, H, -1, -1
	for i, v := range mb {
		if v > 20 {
			mb[i] = 255
			x, y := i%W, i/W
			minX, maxX, minY, maxY = min(minX, x), max(maxX, x), min(minY, y), max(maxY, y)
		}
	}
	out := frame.Clone()
	if maxX < 0 {
		return out
	}
	s := int(math.Sqrt(float64((maxY - minY) * (maxX - minX))))
	k := max(s/10, 10)
	kernel := gocv.GetStructuringElement(gocv.MorphRect, image.Pt(k, k))
	defer kernel.Close()
	gocv.Erode(mask, &mask, kernel)
	soft := gocv.NewMat()
	defer soft.Close()
	mask.ConvertTo(&soft, gocv.MatTypeCV32F)
	kb := 2*max(s/20, 5) + 1
	gocv.GaussianBlur(soft, &soft, image.Pt(kb, kb), 0, 0, gocv.BorderDefault)
	sf, _ := soft.DataPtrFloat32()
	fb, _ := fake.DataPtrUint8()
	ob, _ := out.DataPtrUint8()
	for i, mv := range sf {
		a := float64(mv) / 255 * float64(blend)
		if a > 1 {
			a = 1
		}
		for c := 3 * i; c < 3*i+3; c++ {
			ob[c] = uint8(math.Floor(a*float64(fb[c]) + (1-a)*float64(ob[c]) + 0.5))
		}
	}
	return out
}

// smoothCrop is a size x size BGR image of gentle gradients (at most ~12 levels per pixel). OpenCV's warpAffine
// rounds sample positions to 1/32 px, and where it rounds depends on the destination's origin, so the crop-local and
// full-frame warps may sample 1/32 px apart; on smooth content that moves a value by under one level.
func smoothCrop(size int) gocv.Mat {
	m := gocv.NewMatWithSize(size, size, gocv.MatTypeCV8UC3)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			m.SetUCharAt(y, 3*x, uint8(128+100*math.Sin(float64(x)/9)))
			m.SetUCharAt(y, 3*x+1, uint8(128+100*math.Cos(float64(y)/7)))
			m.SetUCharAt(y, 3*x+2, uint8((x+y)*255/(2*size)))
		}
	}
	return m
}

// The crop-local paste equals insightface's full-frame recipe: same mask size, erosion and blur, byte for byte up to
// one grey level of rounding (see smoothCrop), and nothing outside the rectangle it reports changes. Faces inside the frame, across
// its edges and mostly outside it; blend 1 and 0.8.
func TestPasteMatchesFullFrameRecipe(t *testing.T) {
	frame := readFace(t, "grace_hopper.jpg")
	W, H := float64(frame.Cols()), float64(frame.Rows())
	crop := smoothCrop(128)
	defer crop.Close()
	// One paster for every case, so its buffers hold the previous case's bytes beyond each view.
	var p paster
	defer p.close()
	for _, c := range []struct {
		name  string
		a     face.Affine // crop -> frame
		blend float32
	}{
		{"inside", similarity(2.1, 12, 150, 120), 1},
		{"inside-blend80", similarity(2.1, 12, 150, 120), 0.8},
		{"small", similarity(0.7, -30, 300, 300), 1},
		{"tiny", similarity(0.4, 25, 60, 400), 1}, // s < 100: the erosion and blur minimums (10, 5) apply
		{"left-top-edge", similarity(2.5, 5, -120, -90), 1},
		{"right-bottom-edge", similarity(3.0, 40, W-150, H-200), 0.8},
		{"mostly-outside", similarity(2, 0, W-40, 100), 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := c.a.Invert()
			if err != nil {
				t.Fatal(err)
			}
			want := referencePaste(t, frame, crop, m, c.blend)
			defer want.Close()
			got := frame.Clone()
			defer got.Close()
			rect, err := p.pasteBack(got, crop, m, c.blend)
			if err != nil {
				t.Fatal(err)
			}
			a, _ := bytesOf(t, want)
			b, _ := bytesOf(t, got)
			o, _ := bytesOf(t, frame)
			maxd, differ, changedOutside, changed := 0, 0, 0, 0
			for i := range a {
				d := int(a[i]) - int(b[i])
				maxd = max(maxd, d, -d)
				if d != 0 {
					differ++
				}
				if b[i] != o[i] {
					changed++
					if !image.Pt((i/3)%frame.Cols(), (i/3)/frame.Cols()).In(rect) {
						changedOutside++
					}
				}
			}
			t.Logf("rect %v, %d bytes changed, %d differ from the full-frame recipe (max %d)", rect, changed, differ, maxd)
			if maxd > 1 || differ > len(a)/1000 {
				t.Errorf("crop-local paste differs from the full-frame recipe: %d bytes, max %d", differ, maxd)
			}
			if changedOutside != 0 {
				t.Errorf("%d bytes changed outside the reported rectangle %v", changedOutside, rect)
			}
			if changed == 0 {
				t.Error("nothing was pasted")
			}
			// Reuse: a second paste with the buffers grown gives the same bytes.
			again := frame.Clone()
			defer again.Close()
			if _, err := p.pasteBack(again, crop, m, c.blend); err != nil {
				t.Fatal(err)
			}
			if _, n := diffWhere(t, got, again, nil, func(int, int) bool { return true }); n != 0 {
				t.Errorf("second paste differs in %d bytes", n)
			}
		})
	}
}

// A crop that maps entirely outside the frame writes nothing; a zero blend writes nothing.
func TestPasteOutsideAndZeroBlend(t *testing.T) {
	frame := readFace(t, "grace_hopper.jpg")
	crop := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 0, 255, 0), 128, 128, gocv.MatTypeCV8UC3)
	defer crop.Close()
	var p paster
	defer p.close()
	for _, c := range []struct {
		a     face.Affine
		blend float32
	}{
		{similarity(1, 0, float64(frame.Cols()+50), 10), 1},
		{similarity(1, 0, -400, -400), 1},
		{similarity(1, 0, 100, 100), 0},
	} {
		m, _ := c.a.Invert()
		got := frame.Clone()
		rect, err := p.pasteBack(got, crop, m, c.blend)
		if err != nil {
			t.Fatal(err)
		}
		_, n := diffWhere(t, frame, got, nil, func(int, int) bool { return true })
		got.Close()
		if n != 0 || !rect.Empty() {
			t.Errorf("%v blend %v: rect %v, %d bytes changed", c.a, c.blend, rect, n)
		}
	}
}

// The capped paste (--memory-optimization) of a close-up: the mask is made at a capped size, the face still at
// full size. Against the full recipe it differs only a little, at the mask's blurred edge, writes nothing outside
// the rectangle, and its buffers hold about 4 bytes a rectangle pixel instead of 11.
func TestPasteCapped(t *testing.T) {
	frame := gocv.NewMatWithSize(1400, 1400, gocv.MatTypeCV8UC3)
	defer frame.Close()
	tex := smoothCrop(1400)
	defer tex.Close()
	gocv.BitwiseNot(tex, &frame)
	crop := smoothCrop(128)
	defer crop.Close()
	for _, c := range []struct {
		name  string
		a     face.Affine // crop -> frame
		blend float32
	}{
		{"close-up", similarity(8, 10, 220, 120), 1},
		{"close-up-blend80", similarity(8, -20, 300, 200), 0.8},
		{"across-the-edge", similarity(9, 0, 600, -100), 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, _ := c.a.Invert()
			full, capped := paster{}, paster{maxSide: 256}
			defer full.close()
			defer capped.close()
			want, got := frame.Clone(), frame.Clone()
			defer want.Close()
			defer got.Close()
			r1, err := full.pasteBack(want, crop, m, c.blend)
			if err != nil {
				t.Fatal(err)
			}
			r2, err := capped.pasteBack(got, crop, m, c.blend)
			if err != nil || r1 != r2 || max(r1.Dx(), r1.Dy()) <= 256 {
				t.Fatalf("rect %v vs %v (%v): the case must exceed the cap", r1, r2, err)
			}
			a, _ := bytesOf(t, want)
			b, _ := bytesOf(t, got)
			o, _ := bytesOf(t, frame)
			var se float64
			n, outside := 0, 0
			for i := range a {
				if !image.Pt((i/3)%frame.Cols(), (i/3)/frame.Cols()).In(r1) {
					if b[i] != o[i] {
						outside++
					}
					continue
				}
				d := float64(a[i]) - float64(b[i])
				se += d * d
				n++
			}
			psnr := 10 * math.Log10(255*255/math.Max(se/float64(n), 1e-9))
			fullBytes := full.face.capacity + full.hard.capacity + full.frame.capacity + full.soft.capacity
			cappedBytes := capped.face.capacity + capped.hard.capacity + capped.mask.capacity + capped.soft.capacity
			t.Logf("rect %v: PSNR vs the full recipe %.1f dB; scratch %.1f MB vs %.1f MB", r1, psnr, float64(cappedBytes)/1e6, float64(fullBytes)/1e6)
			if psnr < 40 || outside != 0 {
				t.Errorf("PSNR %.1f dB (want >= 40), %d bytes changed outside the rectangle", psnr, outside)
			}
			if cappedBytes*2 > fullBytes {
				t.Errorf("capped scratch %d bytes is not well under the full recipe's %d", cappedBytes, fullBytes)
			}
		})
	}
}
