package processor

import (
	"image"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/internal/testimage"
	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

// meshRig is what a landmark swap test needs: a detector, a landmarker and the astronaut as the source.
type meshRig struct {
	d  *YuNet
	lm *FaceMesh
}

func newMeshRig(tb testing.TB) meshRig {
	tb.Helper()
	return meshRig{d: newYuNet(tb, yunet2026), lm: newFaceMesh(tb)}
}

// swapper builds a MeshSwap with the astronaut as the source and closes the source Mat at once, as callers may.
func (r meshRig) swapper(tb testing.TB, cfg MeshSwapConfig) *MeshSwap {
	tb.Helper()
	return r.swapperOf(tb, "astronaut_eileen_collins.png", cfg)
}

// swapperOf is swapper with the shared face source as the source.
func (r meshRig) swapperOf(tb testing.TB, source string, cfg MeshSwapConfig) *MeshSwap {
	tb.Helper()
	src := testimage.Read(tb, testenv.Face(tb, source))
	f := largestFace(tb, r.d, src)
	m := landmarks(tb, r.lm, src, f)
	s, err := NewMeshSwap(src, f, m, cfg)
	src.Close()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// faces detects every face of img and finds its mesh: the caller's order, detect then landmarks.
func (r meshRig) faces(tb testing.TB, img gocv.Mat) ([]face.Face, []face.Mesh) {
	tb.Helper()
	faces := detect(tb, r.d, img)
	meshes := make([]face.Mesh, len(faces))
	for i, f := range faces {
		meshes[i] = landmarks(tb, r.lm, img, f)
	}
	return faces, meshes
}

// swapLargest swaps the largest face of img on a copy and returns it with the face and its mesh, after checking
// that nothing outside the face box changed.
func (r meshRig) swapLargest(t *testing.T, s *MeshSwap, img gocv.Mat, name string) (gocv.Mat, face.Face, face.Mesh) {
	t.Helper()
	f := largestFace(t, r.d, img)
	m := landmarks(t, r.lm, img, f)
	out := img.Clone()
	t.Cleanup(func() { out.Close() })
	if err := s.Swap(out, []face.Face{f}, []face.Mesh{m}); err != nil {
		t.Fatal(err)
	}
	writeResult(t, name, out)
	inside, outside := compareRegions(t, img, out, clampedBoxes([]face.Face{f}, img.Cols(), img.Rows()))
	t.Logf("%s: mean abs difference inside the box %.1f, bytes changed outside %d", name, inside[0], outside)
	if outside != 0 {
		t.Errorf("%s: %d bytes changed outside the face box", name, outside)
	}
	if inside[0] < 3 { // a no-op is 0; the blend keeps the target's light, so a like-coloured face changes by ~5
		t.Errorf("%s: face barely changed: mean abs difference %.1f", name, inside[0])
	}
	return out, f, m
}

// remesh finds the largest face of the swapped image again and its mesh.
func (r meshRig) remesh(t *testing.T, img gocv.Mat, want face.Face) face.Mesh {
	t.Helper()
	f := largestFace(t, r.d, img)
	if iou := f.Box.IoU(want.Box); iou < 0.7 {
		t.Errorf("face after the swap at %v, before at %v (IoU %.2f)", f.Box, want.Box, iou)
	}
	return landmarks(t, r.lm, img, f)
}

func meshError(a, b face.Mesh) (mean, worst float64) {
	for i := range a.Points {
		e := dist(a.Points[i], b.Points[i])
		mean += e
		worst = max(worst, e)
	}
	return mean / face.MeshPoints, worst
}

func within(got, want, frac float64) bool { return math.Abs(got-want) <= frac*math.Abs(want) }

// TestMeshSwapKeepsWink: the target winks (image-left eye shut) with her mouth open; after the swap the wink and the
// open mouth are still there.
func TestMeshSwapKeepsWink(t *testing.T) {
	r := newMeshRig(t)
	s := r.swapper(t, DefaultMeshSwapConfig())
	img := readFace(t, "pexels_keijiro_facelandmark_Test2.jpg")
	out, f, before := r.swapLargest(t, s, img, "meshswap_wink.png")
	after := r.remesh(t, out, f)
	if os.Getenv("FACEFLEET_TEST_OUT") != "" {
		writeMeshDrawing(t, "meshswap_wink_mesh.png", out, f, after, nil)
	}

	// The landmarks: the eye-openness ratio and the mouth opening survive.
	bl, br := face.EyeOpenness(before)
	al, ar := face.EyeOpenness(after)
	rb, ra := float64(bl/br), float64(al/ar)
	bm, am := float64(face.MouthOpenness(before)), float64(face.MouthOpenness(after))
	t.Logf("eye openness (image left/right): before %.3f/%.3f (ratio %.2f), after %.3f/%.3f (ratio %.2f)", bl, br, rb, al, ar, ra)
	t.Logf("mouth openness: before %.3f, after %.3f", bm, am)
	if !within(ra, rb, 0.3) {
		t.Errorf("eye-openness ratio %.2f after the swap, %.2f before: more than 30%% apart", ra, rb)
	}
	if !within(am, bm, 0.25) {
		t.Errorf("mouth openness %.3f after the swap, %.3f before: more than 25%% apart", am, bm)
	}
	// This model's lids do not close on the shut eye (both eyes measure ~0.27 by EyeOpenness, before any swap), so
	// the wink itself is checked from the pixels at the eye landmarks: the open eye shows its white, the shut one
	// none.
	wl0, wr0 := eyeWhite(t, img, before)
	wl1, wr1 := eyeWhite(t, out, after)
	t.Logf("eye white share (image left/right): before %.3f/%.3f, after %.3f/%.3f", wl0, wr0, wl1, wr1)
	if !(wl0 < 0.5*wr0) {
		t.Fatalf("the target's shut eye is not seen as shut: white share %.3f vs %.3f", wl0, wr0)
	}
	if !(wl1 < 0.5*wr1) {
		t.Errorf("after the swap the shut eye shows white %.3f, the open one %.3f: the wink is gone", wl1, wr1)
	}
	if !(wr1 > 0.5*wr0) {
		t.Errorf("after the swap the open eye shows white %.3f, before %.3f: it looks shut", wr1, wr0)
	}
	mean, worst := meshError(before, after)
	t.Logf("landmarks moved by %.1f px on average, %.1f at worst (face %.0f px)", mean, worst, f.Box.Width())
}

// TestMeshSwapKeepsOpenMouth: a wide smile with teeth (pexels_keijiro_facelandmark_Test1.jpg) stays open.
func TestMeshSwapKeepsOpenMouth(t *testing.T) {
	r := newMeshRig(t)
	s := r.swapper(t, DefaultMeshSwapConfig())
	img := readFace(t, "pexels_keijiro_facelandmark_Test1.jpg")
	out, f, before := r.swapLargest(t, s, img, "meshswap_smile.png")
	after := r.remesh(t, out, f)
	bm, am := float64(face.MouthOpenness(before)), float64(face.MouthOpenness(after))
	mean, worst := meshError(before, after)
	t.Logf("mouth openness before %.3f, after %.3f; landmarks moved %.1f px on average, %.1f at worst", bm, am, mean, worst)
	if bm < 0.15 {
		t.Fatalf("the target's mouth is not open: %.3f", bm)
	}
	if !within(am, bm, 0.25) {
		t.Errorf("mouth openness %.3f after the swap, %.3f before: more than 25%% apart", am, bm)
	}
}

// TestMeshSwapKeepsHeadPose swaps three-quarter views: the output's landmarks stay where the target's were.
func TestMeshSwapKeepsHeadPose(t *testing.T) {
	r := newMeshRig(t)
	s := r.swapper(t, DefaultMeshSwapConfig())
	for _, name := range []string{
		"pexels_keijiro_facemesh_pexels-sam-lion-5709614.jpg",
		"pexels_keijiro_facemesh_pexels-tim-douglas-6567248.jpg",
	} {
		img := readFace(t, name)
		short := strings.TrimSuffix(strings.TrimPrefix(name, "pexels_keijiro_facemesh_pexels-"), ".jpg")
		out, f, before := r.swapLargest(t, s, img, "meshswap_"+short+".png")
		after := r.remesh(t, out, f)
		mean, worst := meshError(before, after)
		size := float64(min(f.Box.Width(), f.Box.Height()))
		yawB := yaw(before)
		yawA := yaw(after)
		t.Logf("%s: face %.0f px, landmarks moved %.1f px on average (%.1f%%), %.1f at worst; yaw proxy %.2f -> %.2f",
			short, size, mean, 100*mean/size, worst, yawB, yawA)
		if mean > 0.03*size {
			t.Errorf("%s: landmarks moved %.1f px on average, more than 3%% of the face (%.0f px)", short, mean, size)
		}
		if math.Abs(yawA-yawB) > 0.15 {
			t.Errorf("%s: head turn changed: yaw proxy %.2f -> %.2f", short, yawB, yawA)
		}
	}
}

// yaw is a head-turn proxy: where the nose tip lies between the two sides of the face oval at its height
// (234 on the image's left, 454 on the right): 0 frontal, towards +-1 in profile.
func yaw(m face.Mesh) float64 {
	l, r, n := m.Points[234], m.Points[454], m.Points[face.MeshNoseTip]
	dl, dr := dist(n, l), dist(n, r)
	return (dl - dr) / (dl + dr)
}

func TestMeshSwapConfigs(t *testing.T) {
	r := newMeshRig(t)
	img := readFace(t, "grace_hopper.jpg")
	for _, c := range []struct {
		name string
		cfg  MeshSwapConfig
	}{
		{"default", DefaultMeshSwapConfig()},
		{"poisson", MeshSwapConfig{MaskBlur: 0.3, Poisson: true, ColorTransfer: true}},
		{"plain", MeshSwapConfig{}},
		{"padded", MeshSwapConfig{MaskBlur: 0.3, MaskPadding: [4]float32{20, 0, 10, 0}, ColorTransfer: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := r.swapper(t, c.cfg)
			r.swapLargest(t, s, img, "meshswap_grace_"+c.name+".png")
		})
	}
}

// TestMeshSwapManyFaces swaps the three faces of a group photo in one call; nothing outside their boxes changes.
func TestMeshSwapManyFaces(t *testing.T) {
	r := newMeshRig(t)
	s := r.swapper(t, DefaultMeshSwapConfig())
	img := readFace(t, "apollo11_crew_3faces.jpg")
	faces, meshes := r.faces(t, img)
	out := img.Clone()
	defer out.Close()
	if err := s.Swap(out, faces, meshes); err != nil {
		t.Fatal(err)
	}
	writeResult(t, "meshswap_apollo.png", out)
	inside, outside := compareRegions(t, img, out, clampedBoxes(faces, img.Cols(), img.Rows()))
	t.Logf("%d faces, sides %v: mean abs difference %v, bytes changed outside %d", len(faces), faceSides(faces), inside, outside)
	if outside != 0 {
		t.Errorf("%d bytes changed outside the face boxes", outside)
	}
	for i, d := range inside {
		if d < 3 {
			t.Errorf("face %d barely changed: %.1f", i, d)
		}
	}
}

// TestMeshSwapAtFrameEdge cuts the image through the face at each edge in turn: the landmarker reads only what is
// in the frame, and the swap writes only inside the clamped box.
func TestMeshSwapAtFrameEdge(t *testing.T) {
	r := newMeshRig(t)
	s := r.swapper(t, DefaultMeshSwapConfig())
	grace := readFace(t, "grace_hopper.jpg")
	full := largestFace(t, r.d, grace)
	cx, cy := int(full.Box.Center().X), int(full.Box.Center().Y)
	for _, c := range []struct {
		name string
		r    image.Rectangle
	}{
		{"left", image.Rect(cx-40, 0, 512, 600)},
		{"top", image.Rect(0, cy-60, 512, 600)},
		{"right", image.Rect(0, 0, cx+40, 600)},
		{"bottom", image.Rect(0, 0, 512, cy+50)},
		{"corner", image.Rect(cx-50, cy-70, 512, 600)},
	} {
		t.Run(c.name, func(t *testing.T) {
			roi := grace.Region(c.r)
			img := roi.Clone()
			roi.Close()
			defer img.Close()
			moved := face.Face{Box: shiftBox(full.Box, c.r.Min), Score: 1}
			for i, p := range full.Kps {
				moved.Kps[i] = face.Point{X: p.X - float32(c.r.Min.X), Y: p.Y - float32(c.r.Min.Y)}
			}
			m := landmarks(t, r.lm, img, moved)
			out := img.Clone()
			defer out.Close()
			if err := s.Swap(out, []face.Face{moved}, []face.Mesh{m}); err != nil {
				t.Fatal(err)
			}
			inside, outside := compareRegions(t, img, out, clampedBoxes([]face.Face{moved}, img.Cols(), img.Rows()))
			t.Logf("presence %.1f, mean abs difference inside %.1f, bytes changed outside %d", m.Presence, inside[0], outside)
			if outside != 0 {
				t.Errorf("%d bytes changed outside the face box", outside)
			}
		})
	}
}

func TestMeshSwapErrors(t *testing.T) {
	r := newMeshRig(t)
	src := readFace(t, "astronaut_eileen_collins.png")
	f := largestFace(t, r.d, src)
	m := landmarks(t, r.lm, src, f)
	for _, bad := range []MeshSwapConfig{
		{MaskBlur: -1}, {MaskBlur: float32(math.NaN())}, {MaskPadding: [4]float32{60, 0, 50, 0}}, {MaskPadding: [4]float32{-5, 0, 0, 0}},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	noFace := m
	noFace.Presence = -3
	if _, err := NewMeshSwap(src, f, noFace, DefaultMeshSwapConfig()); err == nil {
		t.Error("a source mesh with presence < 0 was accepted")
	}
	moved := m.Transform(face.Translation(300, 300))
	if _, err := NewMeshSwap(src, f, moved, DefaultMeshSwapConfig()); err == nil {
		t.Error("a source mesh off the source face was accepted")
	}
	s, err := NewMeshSwap(src, f, m, DefaultMeshSwapConfig())
	if err != nil {
		t.Fatal(err)
	}
	img := readFace(t, "grace_hopper.jpg")
	tf := largestFace(t, r.d, img)
	tm := landmarks(t, r.lm, img, tf)
	frame := img.Clone()
	defer frame.Close()
	if err := s.Swap(frame, []face.Face{tf}, nil); err == nil {
		t.Error("targets without meshes accepted")
	}
	// A mesh that saw no face leaves the face alone.
	tm0 := tm
	tm0.Presence = -1
	if err := s.Swap(frame, []face.Face{tf}, []face.Mesh{tm0}); err != nil {
		t.Fatal(err)
	}
	if _, outside := compareRegions(t, img, frame, nil); outside != 0 {
		t.Errorf("a face without a mesh was changed (%d bytes)", outside)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Swap(frame, []face.Face{tf}, []face.Mesh{tm}); err == nil {
		t.Error("Swap after Close succeeded")
	}
}

// TestMeshSwapTriangulation checks the cached triangulation of the real source mesh.
func TestMeshSwapTriangulation(t *testing.T) {
	r := newMeshRig(t)
	s := r.swapper(t, DefaultMeshSwapConfig())
	tris := s.Triangles()
	used := make([]bool, face.MeshPoints)
	for _, tr := range tris {
		if a := face.SignedArea(s.srcPts[tr[0]], s.srcPts[tr[1]], s.srcPts[tr[2]]); a <= 0 {
			t.Errorf("triangle %v has area %g", tr, a)
		}
		for _, v := range tr {
			used[v] = true
		}
	}
	for i, u := range used {
		if !u {
			t.Errorf("source point %d is in no triangle", i)
		}
	}
	t.Logf("%d triangles over %d points", len(tris), face.MeshPoints)
	if os.Getenv("FACEFLEET_TEST_OUT") != "" {
		src := readFace(t, "astronaut_eileen_collins.png")
		f := largestFace(t, r.d, src)
		writeMeshDrawing(t, "meshswap_triangles.png", src, f, landmarks(t, r.lm, src, f), tris)
	}
}

func BenchmarkFaceMesh(b *testing.B) {
	r := newMeshRig(b)
	img := readFace(b, "grace_hopper.jpg")
	f := largestFace(b, r.d, img)
	landmarks(b, r.lm, img, f)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := r.lm.Landmarks(img, f); err != nil {
			b.Fatal(err)
		}
	}
	reportMs(b, start, 1)
}

func BenchmarkMeshSwap(b *testing.B) {
	r := newMeshRig(b)
	for _, c := range []struct {
		name, source string
		cfg          MeshSwapConfig
	}{
		{"default", "astronaut_eileen_collins.png", DefaultMeshSwapConfig()},
		// A source with glasses: the target's detail is shown around the eyes (the blend's second layer).
		{"glasses", "grace_hopper.jpg", DefaultMeshSwapConfig()},
		{"poisson", "astronaut_eileen_collins.png", MeshSwapConfig{MaskBlur: 0.3, Poisson: true, ColorTransfer: true}},
		// The shape transfer (off by default) and its liquify.
		{"shape", "astronaut_eileen_collins.png", MeshSwapConfig{MaskBlur: 0.3, ColorTransfer: true, ShapeStrength: 0.5}},
	} {
		for _, img := range []string{"grace_hopper.jpg", "apollo11_crew_3faces.jpg", "pexels_keijiro_facelandmark_Test2.jpg"} {
			if c.cfg.Poisson && strings.Contains(img, "Test2") {
				continue // seamlessClone on a 510x744 face takes over a second
			}
			if c.source == img {
				continue
			}
			b.Run(c.name+"/"+strings.Split(strings.TrimPrefix(img, "pexels_keijiro_facelandmark_"), "_")[0], func(b *testing.B) {
				s := r.swapperOf(b, c.source, c.cfg)
				target := readFace(b, img)
				faces, meshes := r.faces(b, target)
				frame := target.Clone()
				defer frame.Close()
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					if err := s.Swap(frame, faces, meshes); err != nil {
						b.Fatal(err)
					}
				}
				reportMs(b, start, len(faces))
				b.Logf("%d faces, sides %v", len(faces), faceSides(faces))
			})
		}
	}
}

// TestMeshSwapLeavesSourceGlasses: Grace Hopper (glasses) swapped onto faces without glasses: the frames must not
// be pasted. Around each eye of the target, in the ring where her frames land (0.35 to 1.1 eye
// widths beyond the eye's contour, without the brows), few pixels may turn much darker than the target was (8-bit Lab L down by more
// than 40, about 16 L*): the old blend pasted her frames there on every face (issue 17).
func TestMeshSwapLeavesSourceGlasses(t *testing.T) {
	r := newMeshRig(t)
	s := r.swapperOf(t, "grace_hopper.jpg", DefaultMeshSwapConfig())
	for _, c := range []struct {
		target   string
		maxShare float64
	}{
		{"codait_luciano_cc0.png", 0.02},
		{"pexels_keijiro_facemesh_pexels-sam-lion-5709614.jpg", 0.02},
	} {
		t.Run(c.target, func(t *testing.T) {
			img := readFace(t, c.target)
			f := largestFace(t, r.d, img)
			m := landmarks(t, r.lm, img, f)
			out := img.Clone()
			defer out.Close()
			if err := s.Swap(out, []face.Face{f}, []face.Mesh{m}); err != nil {
				t.Fatal(err)
			}
			writeResult(t, "meshswap_glasses_"+c.target+".png", out)
			inside, outside := compareRegions(t, img, out, clampedBoxes([]face.Face{f}, img.Cols(), img.Rows()))
			if outside != 0 || inside[0] < 2 {
				t.Errorf("mean abs difference inside the box %.1f (want a swap), bytes changed outside %d (want 0)", inside[0], outside)
			}
			ring := make([]uint8, img.Cols()*img.Rows())
			var poly []face.Point
			for _, eye := range [2][]int{face.MeshImageLeftEye[:], face.MeshImageRightEye[:]} {
				for _, grow := range []struct {
					d float64
					v uint8
				}{{1.1, 1}, {0.35, 0}} {
					poly = poly[:0]
					for _, i := range eye {
						poly = append(poly, m.Points[i])
					}
					width := dist2(poly[0], poly[len(eye)/2])
					s.fillPolygon(ring, img.Cols(), img.Rows(), offsetPolygon(poly, grow.d*width), grow.v)
				}
			}
			for _, b := range eyebrows { // the target's brows are left out: a frame's top rim runs along them
				poly = poly[:0]
				for _, i := range b {
					poly = append(poly, m.Points[i])
				}
				s.fillPolygon(ring, img.Cols(), img.Rows(), offsetPolygon(face.ConvexHull(poly), 0.03*float64(m.Bounds().Width())), 0)
			}
			before, after := gocv.NewMat(), gocv.NewMat()
			defer before.Close()
			defer after.Close()
			gocv.CvtColor(img, &before, gocv.ColorBGRToLab)
			gocv.CvtColor(out, &after, gocv.ColorBGRToLab)
			bp, _ := before.DataPtrUint8()
			ap, _ := after.DataPtrUint8()
			n, dark := 0, 0
			for i, v := range ring {
				if v == 0 {
					continue
				}
				n++
				if int(bp[3*i])-int(ap[3*i]) > 40 {
					dark++
				}
			}
			share := float64(dark) / float64(n)
			t.Logf("%s: %d of %d ring pixels turned dark (%.1f%%)", c.target, dark, n, 100*share)
			if n < 100 || share > c.maxShare {
				t.Errorf("%s: %.1f%% of the ring around the eyes turned dark: the source's frames were pasted", c.target, 100*share)
			}
		})
	}
}

// TestGlassesZone: the source with glasses is told from the one without, so only hers loses the detail around her
// eyes (makeSourceSkin).
func TestGlassesZone(t *testing.T) {
	r := newMeshRig(t)
	for _, c := range []struct {
		source  string
		glasses bool
	}{
		{"grace_hopper.jpg", true},
		{"astronaut_eileen_collins.png", false},
		{"codait_luciano_cc0.png", false},
		{"codait_bryan_cc0.png", true},
		{"pexels_keijiro_facelandmark_Test1.jpg", false},
		{"pexels_max_emotion_neutral.jpeg", false},
		{"pexels_keijiro_facemesh_pexels-sam-lion-5709614.jpg", false},
		{"pexels_keijiro_facemesh_pexels-dinielle-de-veyra-4195444.jpg", false},
		{"pexels_keijiro_facemesh_pexels-tim-douglas-6567248.jpg", false},
		{"pexels_keijiro_facelandmark_Test2.jpg", false},
	} {
		t.Run(c.source, func(t *testing.T) {
			s := r.swapperOf(t, c.source, DefaultMeshSwapConfig())
			kept := 255 // a nil srcSkin keeps all
			for _, k := range s.srcSkin {
				kept = min(kept, int(k))
			}
			t.Logf("%s: %.2f of the glasses zone off the skin colour; least detail kept %d/255", c.source, s.glasses, kept)
			if got := s.glasses >= glassesShare; got != c.glasses {
				t.Errorf("glasses: got %v (share %.2f), want %v", got, s.glasses, c.glasses)
			}
			if c.glasses != (kept < 128) {
				t.Errorf("least detail kept %d/255 with glasses %v", kept, c.glasses)
			}
		})
	}
}
