package processor

import (
	"image/color"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/face"
	onnxruntime "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// TestBlazeFaceAnchors checks the anchors generated from the real models' output shapes: MediaPipe's 896, strides
// 8/16 for the 128 front model and 16/32 for the 256 back model, cell centres, 2 then 6 anchors per cell.
func TestBlazeFaceAnchors(t *testing.T) {
	initORT(t)
	for _, c := range []struct {
		file         string
		size, stride int // stride of the fine layer; the coarse one is twice it
	}{
		{blazeFront, 128, 8},
		{blazeBack, 256, 16},
	} {
		ins, outs, err := onnxruntime.GetInputOutputInfo(testenv.Model(t, c.file))
		if err != nil {
			t.Fatal(err)
		}
		size, anchors, err := blazeFaceLayout(c.file, 0, ins, outs)
		if err != nil || size != c.size || len(anchors) != 896 {
			t.Fatalf("%s: size %d, %d anchors, %v", c.file, size, len(anchors), err)
		}
		s := float32(c.stride)
		for _, a := range []struct {
			i    int
			want face.Point
		}{
			{0, face.Point{X: s / 2, Y: s / 2}},
			{1, face.Point{X: s / 2, Y: s / 2}},
			{2, face.Point{X: 1.5 * s, Y: s / 2}},
			{2 * 16, face.Point{X: s / 2, Y: 1.5 * s}},
			{511, face.Point{X: 15.5 * s, Y: 15.5 * s}},
			{512, face.Point{X: s, Y: s}},
			{517, face.Point{X: s, Y: s}},
			{518, face.Point{X: 3 * s, Y: s}},
			{895, face.Point{X: 15 * s, Y: 15 * s}},
		} {
			if anchors[a.i] != a.want {
				t.Errorf("%s: anchor %d at %v, want %v", c.file, a.i, anchors[a.i], a.want)
			}
		}
	}

	// Made-up interfaces.
	scores := func(n int64) onnxruntime.InputOutputInfo { return fakeIO("s", 1, n, 1) }
	regs := func(n int64) onnxruntime.InputOutputInfo { return fakeIO("r", 1, n, 16) }
	nhwc := []onnxruntime.InputOutputInfo{fakeIO("input:0", 1, 128, 128, 3)}
	for _, c := range []struct {
		name string
		ins  []onnxruntime.InputOutputInfo
		outs []onnxruntime.InputOutputInfo
		err  string
	}{
		{"NCHW", []onnxruntime.InputOutputInfo{fakeIO("x", 1, 3, 128, 128)}, nil, "NHWC input [1,S,S,3]"},
		{"3 outputs", nhwc, []onnxruntime.InputOutputInfo{scores(512), scores(384), regs(512)}, "want 4 outputs"},
		{"counts differ", nhwc, []onnxruntime.InputOutputInfo{scores(512), scores(384), regs(384), regs(512)}, "want scores [1,N,1]"},
		{"not a grid", nhwc, []onnxruntime.InputOutputInfo{scores(500), scores(384), regs(500), regs(384)}, "500 anchors"},
		{"grids", nhwc, []onnxruntime.InputOutputInfo{scores(512), scores(96), regs(512), regs(96)}, "not half the first's"},
	} {
		if _, _, err := blazeFaceLayout("m.onnx", 0, c.ins, c.outs); err == nil || !strings.Contains(err.Error(), c.err) ||
			!strings.Contains(err.Error(), "m.onnx") {
			t.Errorf("%s: %v, want an error naming m.onnx with %q", c.name, err, c.err)
		}
	}
}

// TestBlazeFaceDecode decodes one made-up anchor: the score is the sigmoid of the clipped logit, offsets are network
// pixels from the anchor centre, eyes are put in image order and mouth corners estimated from the mouth centre.
func TestBlazeFaceDecode(t *testing.T) {
	anchors := []face.Point{{X: 40, Y: 60}, {X: 40, Y: 60}, {X: 40, Y: 60}}
	reg := []float32{
		2, -4, 20, 30, // box centre (42, 56), 20 x 30
		6, -6, -6, -6, // eyes: the image-right one first, as MediaPipe gives them for an upright face
		0, 0, // nose at the anchor
		0, 8, // mouth centre
		-10, 0, 10, 0, // ears, dropped
	}
	regs := append(append(append([]float32(nil), reg...), reg...), reg...)
	got := decodeBlazeFace(nil, anchors, []float32{0, -0.01, 1000}, regs, 0.5, 0.5, 0.5)
	if len(got) != 2 || got[0].Score != 0.5 || got[1].Score != 1 {
		t.Fatalf("scores: %+v, want logits 0 and 1000 (clipped) kept as 0.5 and 1", got)
	}
	f := got[0]
	if want := (face.Box{X1: 64, Y1: 82, X2: 104, Y2: 142}); f.Box != want {
		t.Errorf("box %v, want %v (network pixels / 0.5)", f.Box, want)
	}
	// Eyes at network (34,54) and (46,54): 24 frame px apart, so the mouth corners sit 0.41*24 = 9.84 px either side
	// of the mouth centre (80,136).
	want := [5]face.Point{{X: 68, Y: 108}, {X: 92, Y: 108}, {X: 80, Y: 120}, {X: 70.16, Y: 136}, {X: 89.84, Y: 136}}
	for k := range want {
		if !nearF32(f.Kps[k].X, want[k].X) || !nearF32(f.Kps[k].Y, want[k].Y) {
			t.Errorf("keypoints %v, want %v", f.Kps, want)
			break
		}
	}
}

// TestBlazeFaceInput checks what is fed to the model: NHWC, RGB in [-1,1], the frame letterboxed (black padding,
// -1) in the top-left, the padding rewritten when the frame size changes.
func TestBlazeFaceInput(t *testing.T) {
	d := newDetectorFor(t, blazeFront, DetectorBlazeFace).(*BlazeFace)
	orange := color.RGBA{R: 255, G: 64, B: 0}
	for _, c := range []struct {
		w, h   int
		inside func(x, y int) bool // in network pixels
	}{
		{256, 128, func(x, y int) bool { return y < 64 }},
		{100, 200, func(x, y int) bool { return x < 64 }},
	} {
		detect(t, d, solidBGR(t, c.w, c.h, orange))
		in := d.input.GetData()
		bad := 0
		for y := 0; y < 128; y++ {
			for x := 0; x < 128; x++ {
				want := [3]float32{-1, -1, -1}
				if c.inside(x, y) {
					want = [3]float32{1, (64 - 127.5) / 127.5, -1}
				}
				px := in[3*(128*y+x) : 3*(128*y+x)+3]
				if (!nearF32(px[0], want[0]) || !nearF32(px[1], want[1]) || !nearF32(px[2], want[2])) && bad < 3 {
					bad++
					t.Errorf("%dx%d frame: input (%d,%d) = %v, want %v", c.w, c.h, x, y, px, want)
				}
			}
		}
	}
}

func TestBlazeFaceConfig(t *testing.T) {
	initORT(t)
	model := testenv.Model(t, blazeBack)
	for _, bad := range []BlazeFaceConfig{
		{},
		{ModelPath: model, InputSize: -1},
		{ModelPath: model, ScoreThreshold: 1},
		{ModelPath: model, NMSThreshold: -0.1},
		{ModelPath: model, Session: testSessionWith("nosuch")},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	if c := DefaultBlazeFaceConfig(model); c.Validate() != nil || c.ScoreThreshold != 0.5 || c.NMSThreshold != 0.3 {
		t.Errorf("defaults %+v", c)
	}
	missing := filepath.Join(t.TempDir(), "nope.onnx")
	if _, err := NewBlazeFace(BlazeFaceConfig{ModelPath: missing}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing model: %v", err)
	}
	if _, err := NewBlazeFace(BlazeFaceConfig{ModelPath: testenv.Model(t, "face_landmark_barracuda.onnx")}); err == nil ||
		!strings.Contains(err.Error(), "not a BlazeFace model") {
		t.Errorf("landmark model: %v", err)
	}
	d, err := NewBlazeFace(BlazeFaceConfig{ModelPath: model, InputSize: 256, Session: testSession})
	if err != nil {
		t.Fatal(err)
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
