package processor

import (
	"fmt"
	"gocv.io/x/gocv"
	"image"
	"math"
	"testing"
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
	pack := gocv.NewMatWithSize(h, w, gocv.MatTypeCV32FC4)
	defer pack.Close()
	ok := make([]bool, w*h)
	weightedBlur(gaussMat, dst, src, wt, &pack, ok, 2)
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

func TestComposeLab(t *testing.T) {
	for _, c := range []struct {
		name        string
		warped, tgt [3]uint8
		ds, dt      [3]int
		skin, alpha uint8
		want        [3]uint8
	}{
		{"alpha 0: untouched", [3]uint8{200, 200, 200}, [3]uint8{100, 128, 128}, [3]int{9, 9, 9}, [3]int{}, 255, 0, [3]uint8{200, 200, 200}},
		{"skin: the source's detail, shifted", [3]uint8{120, 135, 125}, [3]uint8{100, 130, 130}, [3]int{-10, 2, -3}, [3]int{5, 5, 5}, 255, 255, [3]uint8{110, 137, 122}},
		{"glasses: the target's detail, shifted", [3]uint8{20, 135, 125}, [3]uint8{100, 130, 130}, [3]int{9, 9, 9}, [3]int{5, 1, -1}, 0, 255, [3]uint8{105, 131, 129}},
		{"half and half", [3]uint8{140, 128, 128}, [3]uint8{100, 128, 128}, [3]int{}, [3]int{}, 128, 200, [3]uint8{120, 128, 128}},
		{"within 0..255", [3]uint8{250, 5, 128}, [3]uint8{250, 128, 128}, [3]int{40, -20, 0}, [3]int{}, 255, 255, [3]uint8{255, 0, 128}},
	} {
		for _, noSkin := range []bool{false, true} {
			if noSkin && c.skin != 255 {
				continue
			}
			t.Run(fmt.Sprintf("%s/nil skin %v", c.name, noSkin), func(t *testing.T) {
				warped := c.warped
				var ds, dt [3]uint8
				for i := range ds {
					ds[i], dt[i] = uint8(c.ds[i]+128), uint8(c.dt[i]+128)
				}
				skin, dts := []uint8{c.skin}, dt[:]
				if noSkin {
					skin, dts = nil, nil
				}
				composeLab(warped[:], c.tgt[:], ds[:], dts, skin, []uint8{c.alpha}, 1, image.Rect(0, 0, 1, 1))
				if warped != c.want {
					t.Errorf("got %v, want %v", warped, c.want)
				}
			})
		}
	}
}

// TestBlur121: a single bright pixel spreads to its neighbours by [1 2 1]/4 both ways, edges replicated, and a
// flat image stays flat.
func TestBlur121(t *testing.T) {
	const w, h = 5, 4
	img, tmp := make([]float32, w*h), make([]float32, w*h)
	img[1*w+2] = 16
	blur121(img, tmp, w, h)
	for _, c := range []struct {
		x, y int
		want float32
	}{{2, 1, 4}, {1, 1, 2}, {2, 0, 2}, {1, 0, 1}, {2, 2, 2}, {0, 0, 0}, {2, 3, 0}} {
		if got := img[c.y*w+c.x]; got != c.want {
			t.Errorf("(%d, %d): got %v, want %v", c.x, c.y, got, c.want)
		}
	}
	flat := make([]float32, w*h)
	for i := range flat {
		flat[i] = 7
	}
	blur121(flat, tmp, w, h)
	for i, v := range flat {
		if v != 7 {
			t.Fatalf("flat image changed at %d: %v", i, v)
		}
	}
}

// TestWeightedBlurPair: blurring two images together under one weight gives what two weightedBlurs give.
func TestWeightedBlurPair(t *testing.T) {
	const w, h = 23, 17
	n := w * h
	a, b, wt := make([]float32, 3*n), make([]float32, 3*n), make([]float32, n)
	for i := 0; i < n; i++ {
		wt[i] = float32(i%7) / 6
		for c := 0; c < 3; c++ {
			a[3*i+c], b[3*i+c] = float32((i*31+c*7)%256), float32((i*17+c*13)%256)
		}
	}
	pack4 := gocv.NewMatWithSize(h, w, gocv.MatTypeCV32FC4)
	defer pack4.Close()
	pack8 := gocv.NewMatWithSize(h, w, gocv.MatType(int(gocv.MatTypeCV32F)+7*8))
	defer pack8.Close()
	wantA, wantB, gotA, gotB := make([]float32, 3*n), make([]float32, 3*n), make([]float32, 3*n), make([]float32, 3*n)
	okA, okB, ok := make([]bool, n), make([]bool, n), make([]bool, n)
	weightedBlur(gaussMat, wantA, a, wt, &pack4, okA, 1.5)
	weightedBlur(gaussMat, wantB, b, wt, &pack4, okB, 1.5)
	weightedBlurPair(gaussMat, gotA, gotB, a, b, wt, &pack8, ok, 1.5)
	for i := 0; i < n; i++ {
		if ok[i] != okA[i] || ok[i] != okB[i] {
			t.Fatalf("pixel %d: ok %v, want %v", i, ok[i], okA[i])
		}
		for c := 0; c < 3; c++ {
			j := 3*i + c
			if math.Abs(float64(gotA[j]-wantA[j])) > 1e-3 || math.Abs(float64(gotB[j]-wantB[j])) > 1e-3 {
				t.Fatalf("pixel %d channel %d: got %v, %v; want %v, %v", i, c, gotA[j], gotB[j], wantA[j], wantB[j])
			}
		}
	}
}
