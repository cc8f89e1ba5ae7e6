package processor

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/onnxtest"
	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/face"
	onnxruntime "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// det10gOutputs are det_10g.onnx's output names in model order: scores, boxes, keypoints for strides 8, 16, 32.
var det10gOutputs = [3][3]string{{"448", "471", "494"}, {"451", "474", "497"}, {"454", "477", "500"}}

// Constant predictions of the det_10g contract graph, per stride 8, 16, 32.
var (
	contractBoxes = [3][]float32{{2, 2, 2, 2}, {1, 1, 1, 1}, {1, 2, 3, 4}}
	contractKps   = [3][]float32{
		{0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		{-0.5, -0.5, 0.5, -0.5, 0, 0, -0.5, 0.5, 0.5, 0.5},
		{0.5, 0.25, 1.5, 0.25, 1, 1, 0.5, 2, 1.5, 2},
	}
)

// det10gGraph writes a model with det_10g's exact interface (input "input.1" [1,3,H,W] with dynamic H and W; nine
// outputs without a batch dimension, [N,1] x3, [N,4] x3, [N,10] x3) whose outputs reveal what was fed in. The scores
// of stride s are the mean of one input channel over each s x s cell, repeated for the cell's two anchors: stride 8
// reads channel 2, 16 channel 1, 32 channel 0 (so fed RGB, blue lights stride 8 and red stride 32). Boxes and
// keypoints are the constant predictions contractBoxes and contractKps.
func det10gGraph(t *testing.T) string {
	g := onnxtest.New("det_10g_contract")
	g.Input("input.1", onnxtest.Float, 1, 3, -1, -1)
	g.InitializerInt64("axes", []int64{1}, []int64{1})
	g.InitializerInt64("column", []int64{2}, []int64{-1, 1})
	g.Initializer("zero", []int64{1, 1}, []float32{0})
	for i, s := range []int64{8, 16, 32} {
		c := int64(2 - i)
		p := func(name string) string { return fmt.Sprintf("%s_%d", name, s) }
		g.InitializerInt64(p("start"), []int64{1}, []int64{c})
		g.InitializerInt64(p("end"), []int64{1}, []int64{c + 1})
		g.Initializer(p("box"), []int64{1, 4}, contractBoxes[i])
		g.Initializer(p("kps"), []int64{1, 10}, contractKps[i])
		g.Node("Slice", []string{"input.1", p("start"), p("end"), "axes"}, []string{p("channel")})
		g.Node("AveragePool", []string{p("channel")}, []string{p("pool")},
			onnxtest.Ints("kernel_shape", s, s), onnxtest.Ints("strides", s, s))
		g.Node("Reshape", []string{p("pool"), "column"}, []string{p("cells")})                            // [G*G,1], row-major
		g.Node("Concat", []string{p("cells"), p("cells")}, []string{p("pairs")}, onnxtest.Int("axis", 1)) // 2 anchors
		g.Node("Reshape", []string{p("pairs"), "column"}, []string{det10gOutputs[0][i]})
		// The zeros come from an intermediate, not from the score output: onnxtest names every dynamic dimension
		// "dyn", so ONNX Runtime would take all outputs' N for one size and share a buffer between strides.
		g.Node("Mul", []string{p("pairs"), "zero"}, []string{p("zero_pairs")})
		g.Node("Reshape", []string{p("zero_pairs"), "column"}, []string{p("zeros")})
		g.Node("Add", []string{p("zeros"), p("box")}, []string{det10gOutputs[1][i]})
		g.Node("Add", []string{p("zeros"), p("kps")}, []string{det10gOutputs[2][i]})
	}
	for k, width := range []int64{1, 4, 10} {
		for i := range 3 {
			g.Output(det10gOutputs[k][i], onnxtest.Float, -1, width)
		}
	}
	return g.Save(t, t.TempDir(), "det_10g.onnx")
}

// solidBGR makes a w x h BGR image of one colour, closed at the end of the test.
func solidBGR(t *testing.T, w, h int, bgr color.RGBA) gocv.Mat {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(float64(bgr.B), float64(bgr.G), float64(bgr.R), 0), h, w,
		gocv.MatTypeCV8UC3)
	t.Cleanup(func() { m.Close() })
	return m
}

func nearF32(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-4 }

// TestSCRFDDet10gContract checks the det_10g contract end to end against a generated graph with its exact interface:
// the input is RGB, (x-127.5)/128, in the top-left of a black 640x640 square (the padding rewritten when the frame
// size changes), and the nine outputs are read by position and decoded as insightface does.
func TestSCRFDDet10gContract(t *testing.T) {
	initORT(t)
	model := det10gGraph(t)
	if kind, err := DetectorKindForFile(model); err != nil || kind != DetectorSCRFD {
		t.Fatalf("DetectorKindForFile: %q, %v", kind, err)
	}
	d, err := NewSCRFD(SCRFDConfig{ModelPath: model, ScoreThreshold: 0.999, Session: testSession})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.InputSize() != 640 {
		t.Fatalf("dynamic input: size %d, want 640", d.InputSize())
	}

	// 1. What is fed in: a uniform colour R=255 G=64 B=0. Landscape 1280x640 fills the top 640x320 of the input.
	const (
		red   = float32(255-127.5) / 128 // 0.99609375
		green = float32(64-127.5) / 128  // -0.49609375
		black = float32(0-127.5) / 128   // the padding
	)
	orange := color.RGBA{R: 255, G: 64, B: 0}
	cell := func(out, cols, col, row int) float32 {
		s := d.outputs[out].GetData()
		i := 2 * (row*cols + col)
		if s[i] != s[i+1] {
			t.Errorf("output %d cell (%d,%d): anchors differ: %v %v", out, col, row, s[i], s[i+1])
		}
		return s[i]
	}
	for _, c := range []struct {
		w, h int
		// what stride 32 (red), 16 (green) and 8 (blue) see in the cell at (col, row) of a 20x20 grid
		inFrame func(col, row int) bool
	}{
		{1280, 640, func(col, row int) bool { return row < 10 }},
		{640, 1280, func(col, row int) bool { return col < 10 }}, // portrait: the left half; old padding rewritten
		{640, 640, func(col, row int) bool { return true }},
	} {
		if faces := detect(t, d, solidBGR(t, c.w, c.h, orange)); len(faces) != 0 {
			t.Fatalf("%dx%d: %d faces above 0.999", c.w, c.h, len(faces))
		}
		bad := 0
		for row := range 20 {
			for col := range 20 {
				want32, want16, want8 := black, black, black
				if c.inFrame(col, row) {
					want32, want16 = red, green
				}
				g32 := cell(2, 20, col, row)
				g16 := cell(1, 40, 2*col+1, 2*row+1)
				g8 := cell(0, 80, 4*col+2, 4*row+2)
				if !nearF32(g32, want32) || !nearF32(g16, want16) || !nearF32(g8, want8) {
					if bad++; bad < 5 {
						t.Errorf("%dx%d frame, cell (%d,%d) of 32 px: channels %v %v %v, want %v %v %v (RGB, (x-127.5)/128, top-left)",
							c.w, c.h, col, row, g32, g16, g8, want32, want16, want8)
					}
				}
			}
		}
	}

	// 2. The decode: a black 1280x640 frame (scale 0.5) with one block per stride, each exactly one cell of that
	// stride in the input: red lights cell (3,2) of stride 32, green (30,15) of 16, blue (70,35) of 8.
	d.cfg.ScoreThreshold = 0.5
	frame := solidBGR(t, 1280, 640, color.RGBA{})
	for _, b := range []struct {
		r   image.Rectangle
		bgr gocv.Scalar
	}{
		{image.Rect(192, 128, 256, 192), gocv.NewScalar(0, 0, 255, 0)},
		{image.Rect(960, 480, 992, 512), gocv.NewScalar(0, 255, 0, 0)},
		{image.Rect(1120, 560, 1136, 576), gocv.NewScalar(255, 0, 0, 0)},
	} {
		roi := frame.Region(b.r)
		roi.SetTo(b.bgr)
		roi.Close()
	}
	want := []face.Face{
		{ // stride 32, centre (96,64): box [96-32, 64-64, 96+96, 64+128] in the input, x2 in the frame
			Box: face.Box{X1: 128, Y1: 0, X2: 384, Y2: 384},
			Kps: [5]face.Point{{X: 224, Y: 144}, {X: 288, Y: 144}, {X: 256, Y: 192}, {X: 224, Y: 256}, {X: 288, Y: 256}},
		},
		{ // stride 16, centre (480,240)
			Box: face.Box{X1: 928, Y1: 448, X2: 992, Y2: 512},
			Kps: [5]face.Point{{X: 944, Y: 464}, {X: 976, Y: 464}, {X: 960, Y: 480}, {X: 944, Y: 496}, {X: 976, Y: 496}},
		},
		{ // stride 8, centre (560,280)
			Box: face.Box{X1: 1088, Y1: 528, X2: 1152, Y2: 592},
			Kps: [5]face.Point{{X: 1120, Y: 560}, {X: 1120, Y: 560}, {X: 1120, Y: 560}, {X: 1120, Y: 560}, {X: 1120, Y: 560}},
		},
	}
	faces := detect(t, d, frame)
	if len(faces) != len(want) {
		t.Fatalf("%d faces, want %d (two anchors per cell merged by NMS): %+v", len(faces), len(want), faces)
	}
	for _, w := range want {
		found := false
		for _, f := range faces {
			if f.Box.IoU(w.Box) < 0.999 {
				continue
			}
			found = true
			if !nearF32(f.Score, red) {
				t.Errorf("score %v, want %v", f.Score, red)
			}
			for k := range f.Kps {
				if !nearF32(f.Kps[k].X, w.Kps[k].X) || !nearF32(f.Kps[k].Y, w.Kps[k].Y) {
					t.Errorf("box %v: keypoints %v, want %v", w.Box, f.Kps, w.Kps)
					break
				}
			}
		}
		if !found {
			t.Errorf("no face with box %v in %+v", w.Box, faces)
		}
	}
}

func fakeIO(name string, dims ...int64) onnxruntime.InputOutputInfo {
	return onnxruntime.InputOutputInfo{Name: name, OrtValueType: onnxruntime.ONNXTypeTensor, Dimensions: dims,
		DataType: onnxruntime.TensorElementDataTypeFloat}
}

// scrfdInfos is an SCRFD interface: input H=W=side (-1 dynamic), output N for a 640 input, with or without a batch
// dimension; edit changes output i.
func scrfdInfos(side int64, batched bool, edit func(i int, o *onnxruntime.InputOutputInfo)) ([]onnxruntime.InputOutputInfo, []onnxruntime.InputOutputInfo) {
	ins := []onnxruntime.InputOutputInfo{fakeIO("input.1", 1, 3, side, side)}
	var outs []onnxruntime.InputOutputInfo
	for k, width := range []int64{1, 4, 10} {
		for i, n := range []int64{12800, 3200, 800} {
			o := fakeIO(det10gOutputs[k][i], n, width)
			if batched {
				o.Dimensions = []int64{1, n, width}
			}
			if edit != nil {
				edit(3*k+i, &o)
			}
			outs = append(outs, o)
		}
	}
	return ins, outs
}

// TestSCRFDLayout checks the load-time checks of the det_10g layout on made-up interfaces.
func TestSCRFDLayout(t *testing.T) {
	dynamicN := func(i int, o *onnxruntime.InputOutputInfo) { o.Dimensions[0] = -1 }
	for _, c := range []struct {
		name    string
		want    int // InputSize asked for
		side    int64
		batched bool
		edit    func(int, *onnxruntime.InputOutputInfo)
		size    int    // expected input side
		err     string // expected in the error, "" for none
	}{
		{"det_10g, dynamic N", 0, -1, false, dynamicN, 640, ""},
		{"det_10g at 320, dynamic N", 320, -1, false, dynamicN, 320, ""},
		{"fixed 640, no batch", 0, 640, false, nil, 640, ""},
		{"fixed 640, batch", 0, 640, true, nil, 640, ""},
		{"fixed 640 asked 320", 320, 640, false, nil, 0, "fixed 640x640 input, so InputSize must be 640 or 0"},
		{"counts for 640 at 320", 320, -1, false, nil, 0, `output 0 "448" has shape [12800 1], want [3200,1] at input 320`},
		{"bbox width 5", 0, 640, false, func(i int, o *onnxruntime.InputOutputInfo) {
			if i == 4 {
				o.Dimensions[1] = 5
			}
		}, 0, `output 4 "474" has shape [3200 5], want [3200,4]`},
		{"strides swapped", 0, 640, true, func(i int, o *onnxruntime.InputOutputInfo) {
			if i == 0 {
				o.Dimensions[1] = 800
			}
		}, 0, "want [1,12800,1]"},
		{"batch of 2", 0, 640, true, func(i int, o *onnxruntime.InputOutputInfo) {
			if i == 8 {
				o.Dimensions[0] = 2
			}
		}, 0, `output 8 "500"`},
		{"mixed ranks", 0, 640, true, func(i int, o *onnxruntime.InputOutputInfo) {
			if i == 3 {
				o.Dimensions = o.Dimensions[1:]
			}
		}, 0, `output 3 "451"`},
		{"non-square input", 0, 0, false, nil, 0, "not a square"},
	} {
		ins, outs := scrfdInfos(c.side, c.batched, c.edit)
		if c.name == "non-square input" {
			ins[0].Dimensions = []int64{1, 3, 480, 640}
		}
		size, batched, err := scrfdLayout("m.onnx", c.want, ins, outs)
		switch {
		case c.err == "" && (err != nil || size != c.size || batched != c.batched):
			t.Errorf("%s: %d %v %v, want %d %v", c.name, size, batched, err, c.size, c.batched)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "m.onnx")):
			t.Errorf("%s: %v, want an error naming m.onnx with %q", c.name, err, c.err)
		}
	}
	ins, outs := scrfdInfos(640, false, nil)
	if _, _, err := scrfdLayout("m.onnx", 0, ins, outs[:6]); err == nil || !strings.Contains(err.Error(), "want 9 outputs") {
		t.Errorf("6 outputs: %v", err)
	}
	ins[0].Dimensions = []int64{1, 640, 640, 3}
	if _, _, err := scrfdLayout("m.onnx", 0, ins, outs); err == nil || !strings.Contains(err.Error(), "[1,3,H,W]") {
		t.Errorf("NHWC input: %v", err)
	}
}

func TestSCRFDConfig(t *testing.T) {
	initORT(t)
	model := testenv.Model(t, scrfd320)
	for _, bad := range []SCRFDConfig{
		{},
		{ModelPath: model, InputSize: 100},
		{ModelPath: model, InputSize: -32},
		{ModelPath: model, ScoreThreshold: 1},
		{ModelPath: model, NMSThreshold: 2},
		{ModelPath: model, Session: testSessionWith("nosuch")},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	if c := DefaultSCRFDConfig(model); c.Validate() != nil || c.ScoreThreshold != 0.5 || c.NMSThreshold != 0.4 {
		t.Errorf("defaults %+v", c)
	}
	missing := filepath.Join(t.TempDir(), "nope.onnx")
	if _, err := NewSCRFD(SCRFDConfig{ModelPath: missing}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing model: %v", err)
	}
	d, err := NewSCRFD(SCRFDConfig{ModelPath: testenv.Model(t, scrfd640), Session: testSession})
	if err != nil {
		t.Fatal(err)
	}
	if d.InputSize() != 640 {
		t.Errorf("hpc203 model: input %d", d.InputSize())
	}
	gray := gocv.NewMatWithSize(10, 10, gocv.MatTypeCV8UC1)
	defer gray.Close()
	if _, err := d.Detect(gray); err == nil {
		t.Error("grey image accepted")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Detect(readFace(t, "grace_hopper.jpg")); err == nil {
		t.Error("Detect after Close succeeded")
	}
}
