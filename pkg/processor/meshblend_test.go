package processor

import (
	"math"
	"testing"

	"github.com/facefleet/facefleet/pkg/face"
)

// labImage is an n-pixel 8-bit Lab image of one colour.
func labImage(n int, l, a, b uint8) []uint8 {
	p := make([]uint8, 3*n)
	for i := 0; i < n; i++ {
		p[3*i], p[3*i+1], p[3*i+2] = l, a, b
	}
	return p
}

func TestFitSkin(t *testing.T) {
	const n = 400
	skin := labImage(n, 170, 145, 140)
	for i := 0; i < n; i++ { // shading: L varies by +-6
		skin[3*i] = uint8(164 + i%13)
	}
	framed := append([]uint8(nil), skin...)
	for i := 0; i < n/8; i++ { // frames of glasses on an eighth of the region
		framed[3*i], framed[3*i+1], framed[3*i+2] = 60, 135, 150
	}
	all := make([]uint8, n)
	for i := range all {
		all[i] = 1
	}
	few := make([]uint8, n)
	few[0] = 1
	for _, c := range []struct {
		name        string
		lab, region []uint8
		ok          bool
		frameSkin   bool // whether a frame pixel still reads as skin
	}{
		{"skin only", skin, all, true, false},
		{"frames inside the region do not pull the skin", framed, all, true, false},
		{"too few pixels", skin, few, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, ok := fitSkin(c.lab, c.region)
			if ok != c.ok {
				t.Fatalf("ok %v, want %v", ok, c.ok)
			}
			if !ok {
				return
			}
			if math.Abs(m.mean[0]-170) > 2 || math.Abs(m.mean[1]-145) > 1 || math.Abs(m.mean[2]-140) > 1 {
				t.Errorf("skin mean %.1f, want about (170, 145, 140)", m.mean)
			}
			for i := 0; i < 13; i++ {
				if l := m.likelihood(skin[3*i : 3*i+3]); l < 0.99 {
					t.Errorf("shaded skin %v: likelihood %.2f, want 1", skin[3*i:3*i+3], l)
				}
			}
			if l := m.likelihood([]uint8{60, 135, 150}); (l > 0.5) != c.frameSkin {
				t.Errorf("frame colour: likelihood %.2f", l)
			}
		})
	}
}

func TestWeightedBlurFillsNonSkin(t *testing.T) {
	const w, h = 40, 20
	src := make([]float32, 3*w*h)
	wt := make([]float32, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			v := float32(150)
			switch {
			case x >= 18 && x < 22: // a dark frame, not skin
				v = 20
			case x >= 30: // nothing measured here
				v = 90
			default:
				wt[i] = 1
			}
			src[3*i], src[3*i+1], src[3*i+2] = v, v/2, v/3
		}
	}
	dst := make([]float32, 3*w*h)
	pack := make([]float32, 4*w*h)
	ok := make([]bool, w*h)
	weightedBlur(dst, src, wt, pack, ok, w, h, 2)
	for _, c := range []struct {
		name string
		x    int
		ok   bool
		want float32
	}{
		{"skin", 5, true, 150},
		{"the frame is filled with the skin around it", 20, true, 150},
		{"far from any skin", 38, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			i := 10*w + c.x
			if ok[i] != c.ok {
				t.Fatalf("ok %v, want %v", ok[i], c.ok)
			}
			for ch, want := range []float32{c.want, c.want / 2, c.want / 3} {
				if d := dst[3*i+ch] - want; d > 0.01 || d < -0.01 {
					t.Errorf("channel %d: got %.2f, want %.2f", ch, dst[3*i+ch], want)
				}
			}
		})
	}
}

// TestLowFreqRegionalMatch: a flat source on a target lit from the left (bright left half, dark right half) is
// matched region by region, so the swap adds no colour of its own in either half; a source frame (weight 0) adds
// nothing either.
func TestLowFreqRegionalMatch(t *testing.T) {
	const w, h = 64, 32
	n := w * h
	tgt := labImage(n, 180, 140, 140)
	for y := 0; y < h; y++ {
		for x := w / 2; x < w; x++ {
			tgt[3*(y*w+x)] = 110
		}
	}
	src := labImage(n, 150, 150, 135)
	skin, faceW := make([]float32, n), make([]float32, n)
	for i := range skin {
		skin[i], faceW[i] = 1, 1
	}
	for y := 0; y < h; y++ {
		for x := 10; x < 13; x++ {
			src[3*(y*w+x)] = 30
			skin[y*w+x] = 0
		}
	}
	shift, base := make([]float32, 3*n), make([]float32, 3*n)
	lowFreq(shift, base, tgt, src, skin, faceW, w, h, 2, 4)
	for _, c := range []struct {
		name string
		x    int
	}{{"bright half", 5}, {"under the frame", 11}, {"dark half", 55}} {
		t.Run(c.name, func(t *testing.T) {
			i := 16*w + c.x
			for ch := 0; ch < 3; ch++ {
				if d := shift[3*i+ch]; math.Abs(float64(d)) > 1 {
					t.Errorf("channel %d: shift %.2f, want about 0", ch, d)
				}
			}
		})
	}
}

func TestComposeLab(t *testing.T) {
	for _, c := range []struct {
		name        string
		tgt, src    [3]uint8
		shift, base [3]float32
		skin, alpha uint8
		detail      float32
		want        [3]uint8
	}{
		{"alpha 0: untouched", [3]uint8{100, 128, 128}, [3]uint8{200, 200, 200}, [3]float32{}, [3]float32{}, 255, 0, 1, [3]uint8{7, 7, 7}},
		{"full source detail, no shift", [3]uint8{100, 130, 130}, [3]uint8{120, 135, 125}, [3]float32{}, [3]float32{}, 255, 255, 1, [3]uint8{120, 135, 125}},
		{"not skin: the target's detail", [3]uint8{100, 130, 130}, [3]uint8{20, 135, 125}, [3]float32{5, 1, -1}, [3]float32{}, 0, 255, 1, [3]uint8{105, 131, 129}},
		{"chroma clamped, no streak", [3]uint8{100, 128, 128}, [3]uint8{100, 220, 30}, [3]float32{}, [3]float32{}, 255, 255, 1, [3]uint8{100, 128 + maxChromaShift, 128 - maxChromaShift}},
		{"L within 0..255", [3]uint8{250, 128, 128}, [3]uint8{250, 128, 128}, [3]float32{40, 0, 0}, [3]float32{}, 255, 255, 1, [3]uint8{255, 128, 128}},
		{"half the detail", [3]uint8{100, 128, 128}, [3]uint8{140, 128, 128}, [3]float32{}, [3]float32{}, 255, 255, 0.5, [3]uint8{120, 128, 128}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := []uint8{7, 7, 7}
			var sh, bs [3]uint8
			for i := range sh {
				sh[i], bs[i] = uint8(c.shift[i]+128), uint8(c.base[i]+128)
			}
			composeLab(out, c.tgt[:], c.src[:], sh[:], bs[:], []uint8{c.skin}, []uint8{c.alpha}, c.detail)
			if [3]uint8(out) != c.want {
				t.Errorf("got %v, want %v", out, c.want)
			}
		})
	}
}

func TestLowerFaceDetail(t *testing.T) {
	const w, h = 10, 100
	const lowerDetail = 0.25
	s := &MeshSwap{cfg: MeshSwapConfig{LowerDetail: lowerDetail}}
	s.tgtPts[face.MeshForeheadTop] = face.Point{X: 5, Y: 0}
	s.tgtPts[face.MeshChin] = face.Point{X: 5, Y: 99}
	s.tgtPts[face.MeshNoseTip] = face.Point{X: 5, Y: 50}
	skin := make([]uint8, w*h)
	for i := range skin {
		skin[i] = 255
	}
	skin[0] = 0
	s.lowerFaceDetail(skin, w, h, 100)
	for _, c := range []struct {
		name string
		i    int
		want uint8
	}{
		{"not skin stays 0", 0, 0},
		{"forehead keeps the source's detail", 1, 255},
		{"at the nose tip, halfway", 50*w + 5, roundU8(255 * (1 - 0.5*(1-lowerDetail)))},
		{"chin: the target's detail", 99*w + 5, roundU8(255 * lowerDetail)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if skin[c.i] != c.want {
				t.Errorf("got %d, want %d", skin[c.i], c.want)
			}
		})
	}
}

func roundU8(v float64) uint8 { return uint8(v + 0.5) }
