package processor

import (
	"image"
	"math"
	"sort"
	"testing"

	"github.com/facefleet/facefleet/pkg/face"
)

// refWarp and refDrawTriangle are the triangle raster as it was before it was sped up (one float32 bilinear tap per
// pixel, a cgo call for the source's size per triangle, sort.Slice), kept as the reference the fast one must equal.
func (s *MeshSwap) refWarp(dst, cover []uint8, w, h int, mesh *face.Mesh) {
	if cap(s.order) < len(s.tris) {
		s.order = make([]int, len(s.tris))
		s.depth = make([]float32, len(s.tris))
	}
	s.order, s.depth = s.order[:len(s.tris)], s.depth[:len(s.tris)]
	for i, tr := range s.tris {
		s.order[i] = i
		s.depth[i] = mesh.Z[tr[0]] + mesh.Z[tr[1]] + mesh.Z[tr[2]]
	}
	// MediaPipe depth: smaller is nearer. Draw the largest first.
	sort.Slice(s.order, func(a, b int) bool { return s.depth[s.order[a]] > s.depth[s.order[b]] })
	for _, ti := range s.order {
		tr := s.tris[ti]
		s.refDrawTriangle(dst, cover, w, h,
			[3]face.Point{s.tgtPts[tr[0]], s.tgtPts[tr[1]], s.tgtPts[tr[2]]},
			[3]face.Point{s.srcPts[tr[0]], s.srcPts[tr[1]], s.srcPts[tr[2]]})
	}
}

func (s *MeshSwap) refDrawTriangle(dst, cover []uint8, w, h int, t, q [3]face.Point) {
	area2 := 2 * face.SignedArea(t[0], t[1], t[2])
	if area2 <= 2*minFoldArea {
		return
	}
	x0, y0 := float64(t[0].X), float64(t[0].Y)
	x1, y1 := float64(t[1].X), float64(t[1].Y)
	x2, y2 := float64(t[2].X), float64(t[2].Y)
	// Barycentric weights as affine functions of (x, y): l_i = (a_i x + b_i y + c_i) / area2.
	a := [3]float64{y1 - y2, y2 - y0, y0 - y1}
	b := [3]float64{x2 - x1, x0 - x2, x1 - x0}
	c := [3]float64{x1*y2 - x2*y1, x2*y0 - x0*y2, x0*y1 - x1*y0}
	// Source coordinate as an affine function of (x, y).
	var sxa, sxb, sxc, sya, syb, syc float64
	for i := 0; i < 3; i++ {
		qx, qy := float64(q[i].X), float64(q[i].Y)
		sxa += a[i] * qx
		sxb += b[i] * qx
		sxc += c[i] * qx
		sya += a[i] * qy
		syb += b[i] * qy
		syc += c[i] * qy
	}
	sxa, sxb, sxc, sya, syb, syc = sxa/area2, sxb/area2, sxc/area2, sya/area2, syb/area2, syc/area2

	ymin := max(0, int(math.Ceil(min(y0, y1, y2))))
	ymax := min(h-1, int(math.Floor(max(y0, y1, y2))))
	sw, sh := s.src.Cols(), s.src.Rows()
	maxX, maxY := float32(sw-1), float32(sh-1)
	const eps = 1e-9
	for y := ymin; y <= ymax; y++ {
		fy := float64(y)
		// Each weight a_i x + (b_i y + c_i) >= 0 bounds x on one side.
		lo, hi := math.Inf(-1), math.Inf(1)
		empty := false
		for i := 0; i < 3; i++ {
			r := b[i]*fy + c[i]
			switch {
			case a[i] > 0:
				lo = math.Max(lo, -r/a[i]-eps)
			case a[i] < 0:
				hi = math.Min(hi, -r/a[i]+eps)
			case r < -eps*area2:
				empty = true
			}
		}
		if empty || lo > hi {
			continue
		}
		xs := max(0, int(math.Ceil(lo)))
		xe := min(w-1, int(math.Floor(hi)))
		if xs > xe {
			continue
		}
		sx := float32(sxa*float64(xs) + sxb*fy + sxc)
		sy := float32(sya*float64(xs) + syb*fy + syc)
		dx, dy := float32(sxa), float32(sya)
		row := y * w
		for x := xs; x <= xe; x, sx, sy = x+1, sx+dx, sy+dy {
			px := min(max(sx, 0), maxX)
			py := min(max(sy, 0), maxY)
			ix, iy := int(px), int(py)
			fx, fy := px-float32(ix), py-float32(iy)
			ix1, iy1 := min(ix+1, sw-1), min(iy+1, sh-1)
			p00 := 3 * (iy*sw + ix)
			p01 := 3 * (iy*sw + ix1)
			p10 := 3 * (iy1*sw + ix)
			p11 := 3 * (iy1*sw + ix1)
			w00 := (1 - fx) * (1 - fy)
			w01 := fx * (1 - fy)
			w10 := (1 - fx) * fy
			w11 := fx * fy
			o := 3 * (row + x)
			sp := s.srcPix
			for ch := 0; ch < 3; ch++ {
				v := float32(sp[p00+ch])*w00 + float32(sp[p01+ch])*w01 + float32(sp[p10+ch])*w10 + float32(sp[p11+ch])*w11
				dst[o+ch] = uint8(v + 0.5)
			}
			si := int(py+0.5)*sw + int(px+0.5)
			cover[row+x] = max(1, s.srcMask[si])
			if s.skinOut != nil {
				s.skinOut[row+x] = s.srcSkin[si]
			}
		}
	}
}

// TestWarpMatchesReference: on real faces the fixed-point raster draws what the float reference does, within the
// rounding of its weights: the warped colour (Lab), the cover (source mask) and the warped skin.
func TestWarpMatchesReference(t *testing.T) {
	r := newMeshRig(t)
	// Grace Hopper wears glasses: her srcSkin is filled, so the warped skin is checked too.
	s := r.swapperOf(t, "grace_hopper.jpg", DefaultMeshSwapConfig())
	if s.srcSkin == nil {
		t.Fatal("no srcSkin for a source with glasses")
	}
	for _, name := range []string{"grace_hopper.jpg", "apollo11_crew_3faces.jpg", "pexels_keijiro_facelandmark_Test1.jpg",
		"pexels_keijiro_facelandmark_Test2.jpg", "camera_cc0_profile.png", "pexels_keijiro_facemesh_pexels-sam-lion-5709614.jpg"} {
		t.Run(name, func(t *testing.T) {
			img := readFace(t, name)
			faces, meshes := r.faces(t, img)
			if len(faces) == 0 {
				t.Fatal("no face")
			}
			for fi, f := range faces {
				crop := f.Box.Clamp(img.Cols(), img.Rows())
				w, h := crop.Dx(), crop.Dy()
				for i, p := range meshes[fi].Points {
					s.tgtPts[i] = face.Point{X: p.X - float32(crop.Min.X), Y: p.Y - float32(crop.Min.Y)}
				}
				var got, want [3][]uint8 // colour, cover, skin
				for k, warp := range []func([]uint8, []uint8, int, int, *face.Mesh){s.warp, s.refWarp} {
					dst, cover, skin := make([]uint8, 3*w*h), make([]uint8, w*h), make([]uint8, w*h)
					s.skinOut = skin
					warp(dst, cover, w, h, &meshes[fi])
					s.skinOut = nil
					if k == 0 {
						got = [3][]uint8{dst, cover, skin}
					} else {
						want = [3][]uint8{dst, cover, skin}
					}
				}
				drawn := 0
				for _, c := range want[1] {
					if c != 0 {
						drawn++
					}
				}
				if drawn < w*h/4 {
					t.Errorf("face %d: the reference drew only %d of %d pixels", fi, drawn, w*h)
				}
				// Colour: within 1 of the reference (rounding of the fixed-point weights), equal on nearly all bytes.
				// Cover and skin: the nearest source pixel, which may be the neighbour where the reference's float32
				// position, drifting along the row, was within about 1e-3 px of half way: rare (0.002% of bytes on
				// these faces), but by up to a neighbour's difference, which is large at the skin map's brows. Where a triangle landed: exactly the same pixels.
				for k, c := range []struct {
					what     string
					maxDiff  int
					maxShare float64
				}{{"colour", 1, 0.01}, {"cover", 255, 0.0002}, {"skin", 255, 0.0002}} {
					n, worst := 0, 0
					for i := range want[k] {
						d := int(got[k][i]) - int(want[k][i])
						if d != 0 {
							n++
							worst = max(worst, d, -d)
						}
					}
					share := float64(n) / float64(len(want[k]))
					t.Logf("face %d (%dx%d): %s: %d bytes differ (%.3f%%), by at most %d", fi, w, h, c.what, n, 100*share, worst)
					if worst > c.maxDiff || share > c.maxShare {
						t.Errorf("face %d: %s: %.3f%% of bytes differ from the reference, by up to %d; want at most %.1f%%, by %d",
							fi, c.what, 100*share, worst, 100*c.maxShare, c.maxDiff)
					}
				}
				for i := range want[1] {
					if (got[1][i] == 0) != (want[1][i] == 0) {
						t.Fatalf("face %d: pixel %d covered %v, by the reference %v", fi, i, got[1][i] != 0, want[1][i] != 0)
					}
				}
			}
		})
	}
}

func TestNonZeroBox(t *testing.T) {
	const w, h = 6, 4
	for _, c := range []struct {
		name string
		a, b []int // pixel indices set in a and b
		want image.Rectangle
	}{
		{"none", nil, nil, image.Rectangle{}},
		{"one pixel", []int{7}, nil, image.Rect(1, 1, 2, 2)},
		{"both images", []int{7}, []int{22}, image.Rect(1, 1, 5, 4)},
		{"corners", []int{0}, []int{23}, image.Rect(0, 0, 6, 4)},
		{"one row", nil, []int{12, 14}, image.Rect(0, 2, 3, 3)},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := make([]uint8, w*h), make([]uint8, w*h)
			for _, i := range c.a {
				a[i] = 9
			}
			for _, i := range c.b {
				b[i] = 1
			}
			if got := nonZeroBox(a, b, w, h); got != c.want {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}
