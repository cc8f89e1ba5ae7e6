package processor

import (
	"image"
	"image/color"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/onnxtest"
	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

// gfpganGraph has GFPGAN 1.4's names and shapes: "input" float32 [1,3,512,512] -> "output" float32 [1,3,512,512].
// With constant nil the output is the input; otherwise it is input*0 + constant.
func gfpganGraph(tb testing.TB, constant *float32) string {
	tb.Helper()
	g := onnxtest.New("gfpgan_1.4").
		Input("input", onnxtest.Float, 1, 3, 512, 512).
		Output("output", onnxtest.Float, 1, 3, 512, 512)
	name := "gfpgan_identity.onnx"
	if constant == nil {
		g.Node("Identity", []string{"input"}, []string{"output"})
	} else {
		name = "gfpgan_const.onnx"
		g.Initializer("zero", []int64{1}, []float32{0}).
			Initializer("c", []int64{1}, []float32{*constant}).
			Node("Mul", []string{"input", "zero"}, []string{"z"}).
			Node("Add", []string{"z", "c"}, []string{"output"})
	}
	return g.Save(tb, tb.TempDir(), name)
}

// codeformerGraph has CodeFormer's inputs "input" float32 [1,3,512,512] and "weight" float64 [1], and output
// "output" = input*0 + float(weight) + float((weight - 0.7)*1e9), the difference computed in float64 against
// 0.7 made in float64 (7/10): a weight of exactly float64 0.7 gives 0.7 everywhere; float64(float32(0.7)) is off by
// 1.2e-8, which the 1e9 turns into -11.9, and any other weight moves the output too.
func codeformerGraph(tb testing.TB) string {
	tb.Helper()
	return onnxtest.New("codeformer").
		Input("input", onnxtest.Float, 1, 3, 512, 512).
		Input("weight", onnxtest.Double, 1).
		Output("output", onnxtest.Float, 1, 3, 512, 512).
		Initializer("zero", []int64{1}, []float32{0}).
		Initializer("seven", []int64{1}, []float32{7}).
		Initializer("ten", []int64{1}, []float32{10}).
		Initializer("giga", []int64{1}, []float32{1e9}).
		Node("Cast", []string{"seven"}, []string{"seven64"}, onnxtest.Int("to", int64(onnxtest.Double))).
		Node("Cast", []string{"ten"}, []string{"ten64"}, onnxtest.Int("to", int64(onnxtest.Double))).
		Node("Cast", []string{"giga"}, []string{"giga64"}, onnxtest.Int("to", int64(onnxtest.Double))).
		Node("Div", []string{"seven64", "ten64"}, []string{"ref64"}).
		Node("Sub", []string{"weight", "ref64"}, []string{"d64"}).
		Node("Mul", []string{"d64", "giga64"}, []string{"e64"}).
		Node("Cast", []string{"e64"}, []string{"e32"}, onnxtest.Int("to", int64(onnxtest.Float))).
		Node("Cast", []string{"weight"}, []string{"w32"}, onnxtest.Int("to", int64(onnxtest.Float))).
		Node("Mul", []string{"input", "zero"}, []string{"z"}).
		Node("Add", []string{"z", "w32"}, []string{"zw"}).
		Node("Add", []string{"zw", "e32"}, []string{"output"}).
		Save(tb, tb.TempDir(), "codeformer.onnx")
}

func newEnhancer(tb testing.TB, cfg EnhancerConfig) *Enhancer {
	tb.Helper()
	initORT(tb)
	cfg.Session = testSession
	e, err := NewEnhancer(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

// alignFFHQ is the alignment (frame -> 512 crop) the enhancer computes for f.
func alignFFHQ(tb testing.TB, f face.Face) face.Affine {
	tb.Helper()
	tpl := face.FFHQTemplate(512)
	m, err := face.EstimateSimilarity(f.Kps[:], tpl[:])
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func f32p(v float32) *float32 { return &v }

// Normalisation: every uint8 value goes in as (x/255-0.5)/0.5 (computed in float64, as FaceFusion) in planar RGB,
// and an identity model gives it back exactly: a flat frame is byte-identical after Enhance. With x/255 in, the
// identity output (x/255+1)/2*255 would brighten every value.
func TestEnhancerNormalisation(t *testing.T) {
	for v := 0; v < 256; v++ {
		want := float32((float64(v)/255 - 0.5) / 0.5)
		if enhancerLUT[v] != want {
			t.Fatalf("input for %d = %v, want %v", v, enhancerLUT[v], want)
		}
		if got := signedToByte(enhancerLUT[v]); got != uint8(v) {
			t.Fatalf("identity maps %d to %d", v, got)
		}
	}
	e := newEnhancer(t, EnhancerConfig{ModelPath: gfpganGraph(t, nil), Blend: 100})
	bgr := [3]float64{20, 128, 235}
	frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(bgr[0], bgr[1], bgr[2], 0), 300, 400, gocv.MatTypeCV8UC3)
	defer frame.Close()
	before := frame.Clone()
	defer before.Close()
	f := faceFromTemplate(face.FFHQTemplate(512), similarity(0.4, -8, 90, 40), 512)
	if err := e.Enhance(frame, []face.Face{f}); err != nil {
		t.Fatal(err)
	}
	in := e.input.GetData()
	const plane = 512 * 512
	for c, v := range []float64{bgr[2], bgr[1], bgr[0]} { // R, G, B planes
		want := float32((v/255 - 0.5) / 0.5)
		for _, i := range []int{0, plane/2 + 256, plane - 1} {
			if got := in[c*plane+i]; got != want {
				t.Fatalf("plane %d value %d = %v, want %v (RGB order, (x/255-0.5)/0.5)", c, i, got, want)
			}
		}
	}
	if _, n := diffWhere(t, before, frame, nil, func(int, int) bool { return true }); n != 0 {
		t.Errorf("identity model changed %d bytes of a flat frame", n)
	}
}

// Output mapping: a constant output of +1 is white and -1 black inside the mask at Blend 100; at Blend 80 the mask
// centre is exactly round(0.8*255 + 0.2*original); 0 is 127.5, which rounds half to even to 128.
func TestEnhancerOutputMappingAndBlend(t *testing.T) {
	d := newYuNet(t, yunet2026)
	img := readFace(t, "grace_hopper.jpg")
	faces := detect(t, d, img)
	if len(faces) != 1 {
		t.Fatalf("%d faces", len(faces))
	}
	m := alignFFHQ(t, faces[0])
	centre := frameAt(t, m, 256, 256)
	probes := []image.Point{centre, frameAt(t, m, 200, 220), frameAt(t, m, 320, 330)}
	for _, c := range []struct {
		value float32
		blend int
		want  func(orig uint8) uint8
	}{
		{1, 100, func(uint8) uint8 { return 255 }},
		{-1, 100, func(uint8) uint8 { return 0 }},
		{0, 100, func(uint8) uint8 { return 128 }},
		{1, 80, func(o uint8) uint8 { return uint8(math.Round(0.8*255 + 0.2*float64(o))) }},
		{-1, 80, func(o uint8) uint8 { return uint8(math.Round(0.2 * float64(o))) }},
		{1, 0, func(o uint8) uint8 { return uint8(math.Round(0.8*255 + 0.2*float64(o))) }}, // 0 means the default, 80
	} {
		e := newEnhancer(t, EnhancerConfig{ModelPath: gfpganGraph(t, f32p(c.value)), Blend: c.blend})
		frame := img.Clone()
		if err := e.Enhance(frame, faces); err != nil {
			t.Fatal(err)
		}
		for _, p := range probes {
			o, got := bgrAt(img, p.X, p.Y), bgrAt(frame, p.X, p.Y)
			for ch := 0; ch < 3; ch++ {
				want := c.want(o[ch])
				if got[ch] != want {
					t.Errorf("output %v, blend %d: pixel %v channel %d = %d, want %d (original %d)",
						c.value, c.blend, p, ch, got[ch], want, o[ch])
				}
			}
		}
		frame.Close()
	}
}

// CodeFormer gets its weight as float64, exactly: the graph's output is 0.7 only when "weight" holds float64 0.7
// (see codeformerGraph); the frame shows round((0.7+1)/2*255) = 217. The default weight is 0.5.
func TestCodeFormerWeightIsFloat64(t *testing.T) {
	path := codeformerGraph(t)
	e := newEnhancer(t, EnhancerConfig{ModelPath: path, Weight: 0.7, Blend: 100})
	if e.Kind() != EnhancerCodeFormer {
		t.Fatalf("Kind() = %q", e.Kind())
	}
	frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(10, 20, 30, 0), 300, 400, gocv.MatTypeCV8UC3)
	defer frame.Close()
	f := faceFromTemplate(face.FFHQTemplate(512), similarity(0.45, 15, 120, 20), 512)
	if err := e.Enhance(frame, []face.Face{f}); err != nil {
		t.Fatal(err)
	}
	out := e.output.GetData()
	for _, i := range []int{0, 512*512 + 1000, 3*512*512 - 1} {
		if out[i] != float32(0.7) {
			t.Fatalf("output[%d] = %v, want float32(0.7): the weight did not arrive as float64 0.7", i, out[i])
		}
	}
	p := frameAt(t, alignFFHQ(t, f), 256, 256)
	if got := bgrAt(frame, p.X, p.Y); got != [3]uint8{217, 217, 217} {
		t.Errorf("mask centre = %v, want 217 in every channel", got)
	}

	def := newEnhancer(t, EnhancerConfig{ModelPath: path, Blend: 100})
	if err := def.Enhance(frame, []face.Face{f}); err != nil {
		t.Fatal(err)
	}
	// 0.5 - 0.7 in float64 times 1e9: far below -1, so the output clips to black.
	if got := def.output.GetData()[0]; got > -1e8 {
		t.Errorf("default weight: output %v, want about 0.5-2e8 (weight 0.5)", got)
	}
	if w := def.weight.(interface{ GetData() []float64 }).GetData()[0]; w != DefaultEnhancerWeight {
		t.Errorf("default weight %v", w)
	}
}

// The enhancer aligns by the landmarks it is given: dots drawn at the landmarks on a grey frame (no face for any
// detector to find) land at the FFHQ 512 template points of the model input. It has no detector to call.
func TestEnhancerUsesGivenLandmarks(t *testing.T) {
	e := newEnhancer(t, EnhancerConfig{ModelPath: gfpganGraph(t, nil), Blend: 100})
	typ := reflect.TypeOf(*e)
	det := reflect.TypeOf((*Detector)(nil)).Elem()
	for i := 0; i < typ.NumField(); i++ {
		ft := typ.Field(i).Type
		if ft.Implements(det) || ft.Kind() == reflect.Interface && det.Implements(ft) && ft.NumMethod() > 0 {
			t.Errorf("Enhancer field %s (%v) could hold a detector", typ.Field(i).Name, ft)
		}
	}
	frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 90, 90, 0), 360, 480, gocv.MatTypeCV8UC3)
	defer frame.Close()
	tpl := face.FFHQTemplate(512)
	f := faceFromTemplate(tpl, similarity(0.5, -25, 150, 120), 512)
	dots := [5]color.RGBA{{255, 0, 0, 0}, {0, 255, 0, 0}, {0, 0, 255, 0}, {255, 255, 0, 0}, {255, 0, 255, 0}} // RGB
	for i, p := range f.Kps {
		gocv.Circle(&frame, image.Pt(int(math.Round(float64(p.X))), int(math.Round(float64(p.Y)))), 4, dots[i], -1)
	}
	if err := e.Enhance(frame, []face.Face{f}); err != nil {
		t.Fatal(err)
	}
	in := e.input.GetData()
	const plane = 512 * 512
	for i, p := range tpl {
		j := int(math.Round(float64(p.Y)))*512 + int(math.Round(float64(p.X)))
		got := [3]float32{in[j], in[plane+j], in[2*plane+j]}
		want := [3]float32{enhancerLUT[dots[i].R], enhancerLUT[dots[i].G], enhancerLUT[dots[i].B]}
		if got != want {
			t.Errorf("landmark %d: input at FFHQ template point %v = %v, want %v", i, p, got, want)
		}
	}
	if e.runs != 1 {
		t.Errorf("%d model calls for one face", e.runs)
	}
}

// Identity models on real faces (one face, three faces, faces cut by the frame edge): the face comes back up to
// interpolation, nothing outside the warped crop squares changes.
func TestEnhancerIdentityOnRealFaces(t *testing.T) {
	d := newYuNet(t, yunet2026)
	e := newEnhancer(t, EnhancerConfig{ModelPath: gfpganGraph(t, nil), Blend: 100})
	enhance := func(frame gocv.Mat, faces []face.Face) {
		if err := e.Enhance(frame, faces); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"grace_hopper.jpg", "apollo11_crew_3faces.jpg"} {
		t.Run(name, func(t *testing.T) {
			img := readFace(t, name)
			faces := detect(t, d, img)
			runs := e.runs
			checkIdentityRoundTrip(t, img, faces, enhance, 512, alignFFHQ)
			if e.runs-runs != len(faces) {
				t.Errorf("%d model calls for %d faces", e.runs-runs, len(faces))
			}
		})
	}
	img := readFace(t, "grace_hopper.jpg")
	faces := detect(t, d, img)
	c := faces[0].Box.Center()
	for _, cut := range []image.Rectangle{
		image.Rect(int(c.X), 0, img.Cols(), img.Rows()),
		image.Rect(0, int(c.Y)-20, img.Cols(), img.Rows()),
		image.Rect(0, 0, int(c.X)+10, int(c.Y)+30),
	} {
		t.Run("edge"+cut.String(), func(t *testing.T) {
			region := img.Region(cut)
			frame := region.Clone()
			region.Close()
			defer frame.Close()
			f := faces[0]
			off := face.Translation(-float64(cut.Min.X), -float64(cut.Min.Y))
			for i := range f.Kps {
				f.Kps[i] = off.Apply(f.Kps[i])
			}
			checkIdentityRoundTrip(t, frame, []face.Face{f}, enhance, 512, alignFFHQ)
		})
	}
}

// Configurations and models outside the contract are refused with one line naming the problem (and the file).
func TestEnhancerConfigAndKind(t *testing.T) {
	initORT(t)
	gfp, cf := gfpganGraph(t, nil), codeformerGraph(t)
	if e := newEnhancer(t, EnhancerConfig{ModelPath: gfp}); e.Kind() != EnhancerGFPGAN || e.cfg.Blend != 80 || e.weight != nil {
		t.Errorf("gfpgan: kind %q, blend %d, weight %v", e.Kind(), e.cfg.Blend, e.weight)
	}
	if e := newEnhancer(t, EnhancerConfig{ModelPath: cf, Kind: EnhancerCodeFormer}); e.Kind() != EnhancerCodeFormer {
		t.Errorf("codeformer: kind %q", e.Kind())
	}
	dir := t.TempDir()
	small := onnxtest.New("small").Input("input", onnxtest.Float, 1, 3, 256, 256).
		Output("output", onnxtest.Float, 1, 3, 256, 256).Node("Identity", []string{"input"}, []string{"output"}).
		Save(t, dir, "small.onnx")
	floatWeight := onnxtest.New("fw").Input("input", onnxtest.Float, 1, 3, 512, 512).Input("weight", onnxtest.Float, 1).
		Output("output", onnxtest.Float, 1, 3, 512, 512).Node("Add", []string{"input", "weight"}, []string{"output"}).
		Save(t, dir, "float_weight.onnx")
	for _, c := range []struct {
		cfg  EnhancerConfig
		want string
	}{
		{EnhancerConfig{ModelPath: gfp, Kind: EnhancerCodeFormer}, gfp},
		{EnhancerConfig{ModelPath: cf, Kind: EnhancerGFPGAN}, cf},
		{EnhancerConfig{ModelPath: small}, small},
		{EnhancerConfig{ModelPath: floatWeight}, floatWeight},
		{EnhancerConfig{ModelPath: gfp, Kind: "gpen"}, "Kind"},
		{EnhancerConfig{ModelPath: gfp, Blend: 101}, "Blend"},
		{EnhancerConfig{ModelPath: gfp, Weight: 1.5}, "Weight"},
		{EnhancerConfig{ModelPath: gfp, Weight: math.NaN()}, "Weight"},
		{EnhancerConfig{}, "ModelPath"},
	} {
		_, err := NewEnhancer(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: err = %v, want one line mentioning %q", c.cfg, err, c.want)
		}
	}
	if d := DefaultEnhancerConfig("m.onnx"); d.Weight != 0.5 || d.Blend != 80 {
		t.Errorf("defaults %+v", d)
	}
}

// Pre/post-processing and paste-back cost per face with a model that does nothing (identity graph): the real
// GFPGAN/CodeFormer inference comes on top of this.
func BenchmarkEnhancerIdentityGraph(b *testing.B) {
	initORT(b)
	d := newYuNet(b, yunet2026)
	for _, img := range []string{"grace_hopper.jpg", "apollo11_crew_3faces.jpg"} {
		b.Run(strings.Split(img, "_")[0], func(b *testing.B) {
			target := readFace(b, img)
			faces := detect(b, d, target)
			e := newEnhancer(b, EnhancerConfig{ModelPath: gfpganGraph(b, nil)})
			frame := target.Clone()
			defer frame.Close()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := e.Enhance(frame, faces); err != nil {
					b.Fatal(err)
				}
			}
			reportMs(b, start, len(faces))
		})
	}
}
