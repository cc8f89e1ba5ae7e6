package processor

import (
	"image"
	"image/color"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/onnxtest"
	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

// Test graphs with inswapper_128's exact names, shapes and dtypes: inputs "target" float32 [N,3,128,128] and
// "source" float32 [N,512], output "output" float32 [N,3,128,128], N = 1 or dynamic (-1), and emap, a 512x512
// float matrix, as the LAST initializer with other initializers before it. What the output is depends on the kind:
const (
	graphLatent   = "latent"   // output[n, c, :, :] = source[n, c] for c = 0, 1, 2 (target*0 + reshaped source slice)
	graphIdentity = "identity" // output = target
	graphRed      = "red"      // output = target*0 + (1, 0, 0): pure red in RGB
	graphMix      = "mix"      // output = target*0.5 + source[n, 0:3] per channel: depends on both, per face
)

// testEmapPerm is emap's permutation: emap[i][perm(i)] = testEmapScale(i), zero elsewhere (7 is coprime with 512).
func testEmapPerm(i int) int { return (7*i + 3) % 512 }

func testEmapScale(i int) float32 { return 0.5 + float32(i%5)*0.25 }

func testEmap() []float32 {
	e := make([]float32, 512*512)
	for i := 0; i < 512; i++ {
		e[i*512+testEmapPerm(i)] = testEmapScale(i)
	}
	return e
}

// inswapperGraph writes a test graph of the given kind; batch is 1 or -1 (dynamic). emapDims overrides the last
// initializer's shape (nil: 512x512).
func inswapperGraph(tb testing.TB, kind string, batch int64, emapDims []int64) string {
	tb.Helper()
	g := onnxtest.New("inswapper_"+kind).
		Input("target", onnxtest.Float, batch, 3, 128, 128).
		Input("source", onnxtest.Float, batch, 512).
		Output("output", onnxtest.Float, batch, 3, 128, 128).
		Initializer("zero", []int64{1}, []float32{0}).
		Initializer("half", []int64{1}, []float32{0.5}).
		Initializer("red", []int64{1, 3, 1, 1}, []float32{1, 0, 0}).
		InitializerInt64("starts", []int64{1}, []int64{0}).
		InitializerInt64("ends", []int64{1}, []int64{3}).
		InitializerInt64("axes", []int64{1}, []int64{1}).
		InitializerInt64("shape", []int64{4}, []int64{-1, 3, 1, 1})
	switch kind {
	case graphLatent:
		g.Node("Mul", []string{"target", "zero"}, []string{"z"}).
			Node("Slice", []string{"source", "starts", "ends", "axes"}, []string{"s3"}).
			Node("Reshape", []string{"s3", "shape"}, []string{"s4"}).
			Node("Add", []string{"z", "s4"}, []string{"output"})
	case graphIdentity:
		g.Node("Identity", []string{"target"}, []string{"output"})
	case graphRed:
		g.Node("Mul", []string{"target", "zero"}, []string{"z"}).
			Node("Add", []string{"z", "red"}, []string{"output"})
	case graphMix:
		g.Node("Mul", []string{"target", "half"}, []string{"z"}).
			Node("Slice", []string{"source", "starts", "ends", "axes"}, []string{"s3"}).
			Node("Reshape", []string{"s3", "shape"}, []string{"s4"}).
			Node("Add", []string{"z", "s4"}, []string{"output"})
	default:
		tb.Fatalf("unknown graph %q", kind)
	}
	emap := testEmap()
	if emapDims == nil {
		emapDims = []int64{512, 512}
	} else {
		emap = emap[:emapDims[0]*emapDims[1]]
	}
	g.Initializer("emap", emapDims, emap)
	suffix := "_n1.onnx"
	if batch < 0 {
		suffix = "_dyn.onnx"
	}
	return g.Save(tb, tb.TempDir(), "inswapper_"+kind+suffix)
}

func newInswapper(tb testing.TB, path string, maxBatch int) *Inswapper {
	tb.Helper()
	initORT(tb)
	s, err := NewInswapper(InswapperConfig{ModelPath: path, MaxBatch: maxBatch, Session: testSession})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// testEmbedding is an un-normalised embedding whose latent has large first values: the entries that emap sends to
// latent[0], [1], [2] are 8, 4 and 2; the rest are small.
func testEmbedding() []float32 {
	e := make([]float32, 512)
	for i := range e {
		e[i] = 0.05 * float32(math.Sin(float64(i)*0.37))
	}
	for i := 0; i < 512; i++ {
		switch testEmapPerm(i) {
		case 0:
			e[i] = 8
		case 1:
			e[i] = 4
		case 2:
			e[i] = 2
		}
	}
	return e
}

// wantLatent is normalize(normalize(emb) @ emap) for the test emap, in float64.
func wantLatent(emb []float32) []float64 {
	var n2 float64
	for _, v := range emb {
		n2 += float64(v) * float64(v)
	}
	l := make([]float64, 512)
	for i, v := range emb {
		l[testEmapPerm(i)] = float64(v) / math.Sqrt(n2) * float64(testEmapScale(i))
	}
	var l2 float64
	for _, v := range l {
		l2 += v * v
	}
	for i := range l {
		l[i] /= math.Sqrt(l2)
	}
	return l
}

// alignFor is the alignment (frame -> 128 crop) the swapper computes for f.
func alignFor(tb testing.TB, f face.Face) face.Affine {
	tb.Helper()
	tpl := face.ArcFaceTemplate(128)
	m, err := face.EstimateSimilarity(f.Kps[:], tpl[:])
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// frameAt maps a crop point back into the frame, rounded to a pixel.
func frameAt(tb testing.TB, m face.Affine, x, y float32) image.Point {
	tb.Helper()
	inv, err := m.Invert()
	if err != nil {
		tb.Fatal(err)
	}
	p := inv.Apply(face.Point{X: x, Y: y})
	return image.Pt(int(math.Round(float64(p.X))), int(math.Round(float64(p.Y))))
}

// SourceLatent is normalize(normalize(embedding) @ emap) with emap read from the model's last initializer, and the
// latent is what reaches the model's "source" input: the graph copies source[0:3] into the output's three channels,
// which come back in the frame as BGR.
func TestInswapperSourceLatentReachesTheModel(t *testing.T) {
	s := newInswapper(t, inswapperGraph(t, graphLatent, 1, nil), 0)
	if s.Batch() != 1 {
		t.Fatalf("Batch() = %d for a fixed-batch model", s.Batch())
	}
	emb := testEmbedding()
	latent, err := s.SourceLatent(emb)
	if err != nil {
		t.Fatal(err)
	}
	want := wantLatent(emb)
	var maxErr, norm, plainDiff float64
	n := face.Normalize(emb)
	for i := range want {
		maxErr = math.Max(maxErr, math.Abs(float64(latent[i])-want[i]))
		norm += float64(latent[i]) * float64(latent[i])
		plainDiff = math.Max(plainDiff, math.Abs(float64(latent[i]-n[i])))
	}
	if maxErr > 1e-6 || math.Abs(norm-1) > 1e-5 {
		t.Fatalf("latent differs from normalize(normalize(emb) @ emap) by %g (norm^2 %v)", maxErr, norm)
	}
	if plainDiff < 0.1 {
		t.Fatal("test emap does not change the embedding: the test would not see emap being skipped")
	}
	if _, err := s.SourceLatent(emb[:511]); err == nil {
		t.Error("511-value embedding accepted")
	}
	if _, err := s.SourceLatent(make([]float32, 512)); err == nil {
		t.Error("zero embedding accepted")
	}

	frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(60, 70, 80, 0), 360, 480, gocv.MatTypeCV8UC3)
	defer frame.Close()
	f := faceFromTemplate(face.ArcFaceTemplate(128), similarity(1.5, 10, 140, 60), 128)
	if err := s.Swap(frame, []face.Face{f}, latent); err != nil {
		t.Fatal(err)
	}
	src := s.tensors[0].source.GetData()
	for i := range latent {
		if src[i] != latent[i] {
			t.Fatalf("source tensor[%d] = %v, latent %v", i, src[i], latent[i])
		}
	}
	out := s.tensors[0].output.GetData()
	for c := 0; c < 3; c++ {
		if v := out[c*128*128+64*128+64]; v != latent[c] {
			t.Fatalf("output channel %d = %v, want latent[%d] = %v: the graph did not get the latent as source", c, v, c, latent[c])
		}
	}
	p := frameAt(t, alignFor(t, f), 64, 64)
	wantPx := [3]uint8{unitToByte(latent[2]), unitToByte(latent[1]), unitToByte(latent[0])}
	if got := bgrAt(frame, p.X, p.Y); got != wantPx {
		t.Errorf("frame at the mask centre %v = %v, want BGR %v = clip(255*latent[2,1,0])", p, got, wantPx)
	}
	t.Logf("latent[0:3] = %v -> BGR %v at the mask centre", latent[:3], wantPx)
}

// The target crop is the 128 ArcFace template shifted +8 px: dots drawn at the face's landmarks land, in the
// model's input tensor (planar RGB, x/255), at ArcFaceTemplate(128) — and not 8 px left of it. The landmarks are
// a scaled, rotated copy of the template on a grey frame, so there is no real face to find: they are used as given.
func TestInswapperCropGeometryAndChannels(t *testing.T) {
	s := newInswapper(t, inswapperGraph(t, graphIdentity, 1, nil), 0)
	frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 90, 90, 0), 360, 480, gocv.MatTypeCV8UC3)
	defer frame.Close()
	tpl := face.ArcFaceTemplate(128)
	f := faceFromTemplate(tpl, similarity(1.7, 20, 200, 30), 128)
	// gocv writes color.RGBA{R, G, B} into a Mat as B, G, R: these are the dots' true RGB colours.
	dots := [5]color.RGBA{{255, 0, 0, 0}, {0, 255, 0, 0}, {0, 0, 255, 0}, {255, 255, 0, 0}, {255, 0, 255, 0}}
	for i, p := range f.Kps {
		c := dots[i]
		gocv.Circle(&frame, image.Pt(int(math.Round(float64(p.X))), int(math.Round(float64(p.Y)))), 6, c, -1)
	}
	before := frame.Clone()
	defer before.Close()
	latent := make([]float32, 512)
	latent[0] = 1
	if err := s.Swap(frame, []face.Face{f}, latent); err != nil {
		t.Fatal(err)
	}
	in := s.tensors[0].target.GetData()
	const plane = 128 * 128
	at := func(x, y float32) [3]float32 {
		i := int(math.Round(float64(y)))*128 + int(math.Round(float64(x)))
		return [3]float32{in[i], in[plane+i], in[2*plane+i]}
	}
	for i, p := range tpl {
		want := [3]float32{float32(dots[i].R) / 255, float32(dots[i].G) / 255, float32(dots[i].B) / 255}
		if got := at(p.X, p.Y); got != want {
			t.Errorf("landmark %d: input RGB at template point %v = %v, want %v", i, p, got, want)
		}
		if got := at(p.X-8, p.Y); got == want {
			t.Errorf("landmark %d: the dot is also 8 px left of the template point: the test cannot tell the shift", i)
		}
	}
	if v := at(5, 120); v != [3]float32{90.0 / 255, 90.0 / 255, 90.0 / 255} {
		t.Errorf("grey background reads %v, want 90/255", v)
	}
	// Identity model: the crop goes back where it came from.
	m := alignFor(t, f)
	mean, _ := diffWhere(t, before, frame, func(x, y int) bool { return inCrop(m, x, y, 32, 96) }, nil)
	if mean > 3 {
		t.Errorf("identity round trip: mean abs difference %.2f in the crop centre", mean)
	}
}

// A constant red output (RGB 1, 0, 0) lands as BGR (0, 0, 255) inside the mask, and the face region of a real
// image survives an identity model up to interpolation, byte-identical outside the warped crop square.
func TestInswapperRedAndIdentityOnRealFaces(t *testing.T) {
	d := newYuNet(t, yunet2026)
	latent := make([]float32, 512)
	latent[0] = 1
	for _, name := range []string{"grace_hopper.jpg", "grace_hopper.jpg/2", "apollo11_crew_3faces.jpg"} {
		img := readFace(t, strings.TrimSuffix(name, "/2"))
		faces := detect(t, d, img)
		if strings.HasSuffix(name, "/2") {
			img, faces = halfSize(img, faces)
			defer img.Close()
		}
		if len(faces) == 0 {
			t.Fatalf("%s: no faces", name)
		}
		t.Run("red/"+name, func(t *testing.T) {
			s := newInswapper(t, inswapperGraph(t, graphRed, 1, nil), 0)
			frame := img.Clone()
			defer frame.Close()
			if err := s.Swap(frame, faces, latent); err != nil {
				t.Fatal(err)
			}
			for i, f := range faces {
				m := alignFor(t, f)
				for _, c := range [][2]float32{{64, 64}, {48, 48}, {80, 48}, {48, 80}, {80, 80}, {64, 40}, {64, 88}} {
					p := frameAt(t, m, c[0], c[1])
					if got := bgrAt(frame, p.X, p.Y); got != [3]uint8{0, 0, 255} {
						t.Errorf("face %d: crop point %v (frame %v) = BGR %v, want (0, 0, 255)", i, c, p, got)
					}
				}
			}
			if s.runs != len(faces) {
				t.Errorf("%d model calls for %d faces with a fixed-batch model", s.runs, len(faces))
			}
		})
		t.Run("identity/"+name, func(t *testing.T) {
			s := newInswapper(t, inswapperGraph(t, graphIdentity, 1, nil), 0)
			checkIdentityRoundTrip(t, img, faces, func(frame gocv.Mat, faces []face.Face) {
				if err := s.Swap(frame, faces, latent); err != nil {
					t.Fatal(err)
				}
			}, 128, alignFor)
		})
	}
}

// halfSize is img at half its size with faces scaled to match; the caller Closes the Mat.
func halfSize(img gocv.Mat, faces []face.Face) (gocv.Mat, []face.Face) {
	small := gocv.NewMat()
	gocv.Resize(img, &small, image.Pt(img.Cols()/2, img.Rows()/2), 0, 0, gocv.InterpolationArea)
	out := make([]face.Face, len(faces))
	for i, f := range faces {
		for j, p := range f.Kps {
			f.Kps[j] = face.Point{X: p.X / 2, Y: p.Y / 2}
		}
		f.Box = face.Box{X1: f.Box.X1 / 2, Y1: f.Box.Y1 / 2, X2: f.Box.X2 / 2, Y2: f.Box.Y2 / 2}
		out[i] = f
	}
	return small, out
}

// checkIdentityRoundTrip runs process (a swap or enhance with an identity model) on a copy of img and checks:
//   - for a single face, the result equals the full-frame reference (OpenCV warp with the alignment, then
//     insightface's paste back on the whole frame): at most 0.5% of bytes differ by more than one level and none by
//     more than 8 (OpenCV rounds sample positions to 1/32 px depending on the destination's origin, which moves
//     sharp edges by a few levels), so the warp and its inverse match;
//   - the crop's inner area equals the input up to interpolation: mean abs difference < 3 where the crop enlarges the
//     face (scale >= 1.2), < 8 elsewhere (two bilinear resamplings of a sharp photo near scale 1 blur it by ~5
//     levels on average; at scale 0.5 the crop also drops detail);
//   - no byte changes outside the warped crop squares grown by 2.5 frame pixels: insightface's mask reaches up to
//     2 px past the square (values > 20 become 255, a k x k erosion takes k/2-1 px on one side, the blur spreads
//     k/2), where it blends in a faint trace of the black border (one grey level at most; see the paste test).
func checkIdentityRoundTrip(t *testing.T, img gocv.Mat, faces []face.Face, process func(gocv.Mat, []face.Face),
	size int, align func(testing.TB, face.Face) face.Affine) {
	t.Helper()
	frame := img.Clone()
	defer frame.Close()
	process(frame, faces)
	ms := make([]face.Affine, len(faces))
	for i, f := range faces {
		ms[i] = align(t, f)
	}
	if len(faces) == 1 {
		m := ms[0]
		crop := gocv.NewMat()
		defer crop.Close()
		am := affineMat(m)
		defer am.Close()
		border := gocv.BorderConstant
		if size == enhancerSize {
			border = gocv.BorderReplicate
		}
		gocv.WarpAffineWithParams(img, &crop, am, image.Pt(size, size), gocv.InterpolationLinear, border, color.RGBA{})
		want := referencePaste(t, img, crop, m, 1)
		defer want.Close()
		a, _ := bytesOf(t, want)
		b, _ := bytesOf(t, frame)
		differ, maxd := 0, 0
		for i := range a {
			d := int(a[i]) - int(b[i])
			if d > 1 || d < -1 {
				differ++
			}
			maxd = max(maxd, d, -d)
		}
		t.Logf("vs the full-frame reference: %d bytes differ by more than 1 (max %d)", differ, maxd)
		if maxd > 8 || differ > len(a)/200 {
			t.Errorf("differs from the full-frame reference round trip in %d bytes (max %d)", differ, maxd)
		}
	}
	lo, hi := float32(size)*3/16, float32(size)*13/16
	for i, m := range ms {
		mean, _ := diffWhere(t, img, frame, func(x, y int) bool { return inCrop(m, x, y, lo, hi) }, nil)
		t.Logf("face %d (crop scale %.2f): mean abs difference %.2f in the crop's inner area", i, m.Scale(), mean)
		if limit := map[bool]float64{true: 3, false: 8}[m.Scale() >= 1.2]; mean > limit {
			t.Errorf("face %d: identity round trip off by %.2f on average", i, mean)
		}
	}
	_, changed := diffWhere(t, img, frame, nil, func(x, y int) bool {
		for _, m := range ms {
			reach := 1.5 + 2.5*float32(m.Scale())
			if inCrop(m, x, y, -reach, float32(size)+reach) {
				return false
			}
		}
		return true
	})
	if changed != 0 {
		t.Errorf("%d bytes changed outside the warped crop squares", changed)
	}
}

// Faces cut by the frame edge, and a face entirely outside it (skipped, no model call). Grace Hopper at half size,
// so that the 128 crop does not downscale her face.
func TestInswapperFrameEdge(t *testing.T) {
	d := newYuNet(t, yunet2026)
	full := readFace(t, "grace_hopper.jpg")
	img, faces := halfSize(full, detect(t, d, full))
	defer img.Close()
	if len(faces) != 1 {
		t.Fatalf("%d faces", len(faces))
	}
	c := faces[0].Box.Center()
	s := newInswapper(t, inswapperGraph(t, graphIdentity, 1, nil), 0)
	latent := make([]float32, 512)
	latent[0] = 1
	for _, cut := range []image.Rectangle{
		image.Rect(int(c.X), 0, img.Cols(), img.Rows()),    // left half of the face cut off
		image.Rect(0, int(c.Y)-10, img.Cols(), img.Rows()), // top cut off
		image.Rect(0, 0, int(c.X)+5, int(c.Y)+15),          // right and bottom cut off
	} {
		region := img.Region(cut)
		frame := region.Clone()
		region.Close()
		f := faces[0]
		off := face.Translation(-float64(cut.Min.X), -float64(cut.Min.Y))
		for i := range f.Kps {
			f.Kps[i] = off.Apply(f.Kps[i])
		}
		f.Box = face.Box{X1: f.Box.X1 - float32(cut.Min.X), Y1: f.Box.Y1 - float32(cut.Min.Y),
			X2: f.Box.X2 - float32(cut.Min.X), Y2: f.Box.Y2 - float32(cut.Min.Y)}
		t.Run(cut.String(), func(t *testing.T) {
			runs := s.runs
			checkIdentityRoundTrip(t, frame, []face.Face{f}, func(fr gocv.Mat, faces []face.Face) {
				if err := s.Swap(fr, faces, latent); err != nil {
					t.Fatal(err)
				}
			}, 128, alignFor)
			if s.runs != runs+1 {
				t.Errorf("%d model calls", s.runs-runs)
			}
		})
		frame.Close()
	}
	// Entirely outside: moved a frame width to the left.
	f := faces[0]
	for i := range f.Kps {
		f.Kps[i].X -= float32(img.Cols())
	}
	f.Box.X1, f.Box.X2 = f.Box.X1-float32(img.Cols()), f.Box.X2-float32(img.Cols())
	frame := img.Clone()
	defer frame.Close()
	runs := s.runs
	if err := s.Swap(frame, []face.Face{f}, latent); err != nil {
		t.Fatal(err)
	}
	if _, n := diffWhere(t, img, frame, nil, func(int, int) bool { return true }); n != 0 || s.runs != runs {
		t.Errorf("face outside the frame: %d bytes changed, %d model calls", n, s.runs-runs)
	}
}

// A dynamic-batch model swaps 3 faces in one call, MaxBatch splits the calls, SwapBatch fills calls across frames,
// and every result is byte-identical to the one-face-per-call model's.
func TestInswapperBatching(t *testing.T) {
	d := newYuNet(t, yunet2026)
	apollo := readFace(t, "apollo11_crew_3faces.jpg")
	grace := readFace(t, "grace_hopper.jpg")
	fa, fg := detect(t, d, apollo), detect(t, d, grace)
	if len(fa) != 3 || len(fg) != 1 {
		t.Fatalf("%d and %d faces", len(fa), len(fg))
	}
	single := newInswapper(t, inswapperGraph(t, graphMix, 1, nil), 8)
	dyn := inswapperGraph(t, graphMix, -1, nil)
	latent, err := single.SourceLatent(testEmbedding())
	if err != nil {
		t.Fatal(err)
	}
	swapped := func(s *Inswapper, frames []gocv.Mat, faces [][]face.Face) ([]gocv.Mat, int) {
		var outs []gocv.Mat
		for _, f := range frames {
			c := f.Clone()
			t.Cleanup(func() { c.Close() })
			outs = append(outs, c)
		}
		runs := s.runs
		if err := s.SwapBatch(outs, faces, latent); err != nil {
			t.Fatal(err)
		}
		return outs, s.runs - runs
	}
	refA, runs := swapped(single, []gocv.Mat{apollo}, [][]face.Face{fa})
	if runs != 3 {
		t.Fatalf("fixed-batch model: %d calls for 3 faces", runs)
	}
	refG, _ := swapped(single, []gocv.Mat{grace}, [][]face.Face{fg})
	same := func(what string, a, b gocv.Mat) {
		if _, n := diffWhere(t, a, b, nil, func(int, int) bool { return true }); n != 0 {
			t.Errorf("%s: %d bytes differ from one face per call", what, n)
		}
	}
	if _, n := diffWhere(t, apollo, refA[0], nil, func(int, int) bool { return true }); n == 0 {
		t.Fatal("the mix graph changed nothing")
	}
	for _, c := range []struct {
		maxBatch, wantRuns, wantRuns2 int
	}{{4, 1, 1}, {2, 2, 2}, {3, 1, 2}} {
		s := newInswapper(t, dyn, c.maxBatch)
		if s.Batch() != c.maxBatch {
			t.Fatalf("Batch() = %d, want MaxBatch %d", s.Batch(), c.maxBatch)
		}
		out, runs := swapped(s, []gocv.Mat{apollo}, [][]face.Face{fa})
		if runs != c.wantRuns {
			t.Errorf("MaxBatch %d: %d calls for 3 faces, want %d", c.maxBatch, runs, c.wantRuns)
		}
		same("apollo", refA[0], out[0])
		outs, runs := swapped(s, []gocv.Mat{apollo, grace}, [][]face.Face{fa, fg})
		if runs != c.wantRuns2 {
			t.Errorf("MaxBatch %d: SwapBatch made %d calls for 4 faces in 2 frames, want %d", c.maxBatch, runs, c.wantRuns2)
		}
		same("SwapBatch apollo", refA[0], outs[0])
		same("SwapBatch grace", refG[0], outs[1])
	}
	// A frame without faces is passed through; mismatched arguments are refused.
	empty := gocv.NewMat()
	defer empty.Close()
	if err := single.SwapBatch([]gocv.Mat{empty}, [][]face.Face{nil}, latent); err != nil {
		t.Errorf("frame without faces: %v", err)
	}
	if err := single.SwapBatch([]gocv.Mat{grace}, nil, latent); err == nil {
		t.Error("1 frame with 0 target lists accepted")
	}
	g2 := grace.Clone()
	defer g2.Close()
	if err := single.Swap(g2, fg, latent[:3]); err == nil {
		t.Error("3-value latent accepted")
	}
}

// Models that break the contract are refused with one line naming the file.
func TestInswapperRejectsOtherModels(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	wrongEmap := inswapperGraph(t, graphIdentity, 1, []int64{512, 256})
	noInit := onnxtest.New("noinit").
		Input("target", onnxtest.Float, 1, 3, 128, 128).Input("source", onnxtest.Float, 1, 512).
		Output("output", onnxtest.Float, 1, 3, 128, 128).
		Node("Identity", []string{"target"}, []string{"output"}).Save(t, dir, "noinit.onnx")
	wrongSource := onnxtest.New("src256").
		Input("target", onnxtest.Float, 1, 3, 128, 128).Input("source", onnxtest.Float, 1, 256).
		Output("output", onnxtest.Float, 1, 3, 128, 128).Initializer("emap", []int64{512, 512}, testEmap()).
		Node("Identity", []string{"target"}, []string{"output"}).Save(t, dir, "src256.onnx")
	wrongSize := onnxtest.New("t256").
		Input("target", onnxtest.Float, 1, 3, 256, 256).Input("source", onnxtest.Float, 1, 512).
		Output("output", onnxtest.Float, 1, 3, 256, 256).Initializer("emap", []int64{512, 512}, testEmap()).
		Node("Identity", []string{"target"}, []string{"output"}).Save(t, dir, "t256.onnx")
	for _, c := range []struct{ path, want string }{
		{wrongEmap, "512x512"},
		{noInit, "no initializers"},
		{wrongSource, "source"},
		{wrongSize, "target"},
	} {
		_, err := NewInswapper(InswapperConfig{ModelPath: c.path, Session: testSession})
		if err == nil {
			t.Errorf("%s accepted", c.path)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.path) || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("error for %s should be one line naming the file and %q: %v", c.path, c.want, msg)
		}
	}
	if _, err := NewInswapper(InswapperConfig{ModelPath: "x.onnx", MaxBatch: -1}); err == nil {
		t.Error("MaxBatch -1 accepted")
	}
}

// Pre/post-processing and paste-back cost per face with a model that does nothing (identity graph): the real
// inswapper_128 inference comes on top of this.
func BenchmarkInswapperIdentityGraph(b *testing.B) {
	initORT(b)
	d := newYuNet(b, yunet2026)
	for _, c := range []struct {
		img   string
		batch int64
	}{{"grace_hopper.jpg", 1}, {"apollo11_crew_3faces.jpg", 1}, {"apollo11_crew_3faces.jpg", -1}} {
		name := strings.Split(c.img, "_")[0]
		if c.batch < 0 {
			name += "/batched"
		}
		b.Run(name, func(b *testing.B) {
			img := readFace(b, c.img)
			faces := detect(b, d, img)
			s := newInswapper(b, inswapperGraph(b, graphIdentity, c.batch, nil), 4)
			latent := make([]float32, 512)
			latent[0] = 1
			frame := img.Clone()
			defer frame.Close()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := s.Swap(frame, faces, latent); err != nil {
					b.Fatal(err)
				}
			}
			reportMs(b, start, len(faces))
		})
	}
}
