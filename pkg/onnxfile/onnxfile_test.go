package onnxfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/facefleet/facefleet/internal/onnxtest"
	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/ort"
)

// A generated graph runs in ONNX Runtime (so the builder writes valid models) and its last initializer reads back
// exactly (so the reader finds inswapper's emap).
func TestLastInitializerOfAGeneratedModel(t *testing.T) {
	if err := ort.Init(testenv.ORTLib(t)); err != nil {
		t.Fatal(err)
	}
	emap := make([]float32, 4*4)
	for i := range emap {
		emap[i] = float32(i) - 7.5
	}
	p := onnxtest.New("mul").
		Input("x", onnxtest.Float, 1, 3).
		Output("y", onnxtest.Float, 1, 3).
		Initializer("w", []int64{1, 3}, []float32{2, 3, 4}).
		Initializer("emap", []int64{4, 4}, emap).
		Node("Mul", []string{"x", "w"}, []string{"y"}).
		Save(t, t.TempDir(), "m.onnx")

	in, _ := ortgo.NewTensor(ortgo.NewShape(1, 3), []float32{1, 1, 1})
	defer in.Destroy()
	out, _ := ortgo.NewEmptyTensor[float32](ortgo.NewShape(1, 3))
	defer out.Destroy()
	s, err := ortgo.NewAdvancedSession(p, []string{"x"}, []string{"y"}, []ortgo.Value{in}, []ortgo.Value{out}, nil)
	if err != nil {
		t.Fatalf("ONNX Runtime refused the generated model: %v", err)
	}
	defer s.Destroy()
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	if got := out.GetData(); got[0] != 2 || got[1] != 3 || got[2] != 4 {
		t.Fatalf("y = %v", got)
	}

	tensor, err := LastInitializer(p)
	if err != nil {
		t.Fatal(err)
	}
	if tensor.Name != "emap" || len(tensor.Dims) != 2 || tensor.Dims[0] != 4 || tensor.Dims[1] != 4 {
		t.Fatalf("got %q %v", tensor.Name, tensor.Dims)
	}
	for i, v := range tensor.Data {
		if v != emap[i] {
			t.Fatalf("emap[%d] = %v, want %v", i, v, emap[i])
		}
	}
}

func TestLastInitializerOfRealModels(t *testing.T) {
	// Real models from the mirror: each has initializers and parses cleanly.
	for _, name := range []string{"face_detection_yunet_2026may.onnx", "face_landmark_barracuda.onnx", "mobilefacenet_paddlex_128d.onnx"} {
		inits, err := Initializers(testenv.Model(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		floats := 0
		for _, in := range inits {
			if in.Name == "" || in.DataType == 0 {
				t.Fatalf("%s: incomplete initializer %+v", name, in)
			}
			if in.DataType == TypeFloat {
				floats++
			}
		}
		if len(inits) < 10 || floats < 10 {
			t.Fatalf("%s: %d initializers, %d float", name, len(inits), floats)
		}
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noInit := onnxtest.New("id").Input("x", onnxtest.Float, 1).Output("y", onnxtest.Float, 1).
		Node("Identity", []string{"x"}, []string{"y"}).Save(t, dir, "noinit.onnx")
	for _, p := range []string{
		write("empty.onnx", nil),
		write("text.onnx", []byte("this is not a model\n")),
		write("truncated.onnx", onnxtest.New("g").Initializer("w", []int64{64}, make([]float32, 64)).Bytes()[:100]),
		noInit,
	} {
		if _, err := LastInitializer(p); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err = %v, want ErrFormat", filepath.Base(p), err)
		}
	}
	if _, err := LastInitializer(filepath.Join(dir, "missing.onnx")); err == nil {
		t.Error("missing file accepted")
	}
}
