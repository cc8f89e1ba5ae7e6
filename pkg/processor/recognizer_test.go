package processor

import (
	"math"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/internal/onnxtest"
	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/ort"
)

// w600kGraph has w600k_r50's names and shapes; its "embedding" is the first 512 values of the input tensor (the
// top rows of the R plane), so the test sees exactly what the code fed in.
func w600kGraph(t *testing.T, batch int64) string {
	return onnxtest.New("w600k_r50").
		Input("input.1", onnxtest.Float, batch, 3, 112, 112).
		Output("683", onnxtest.Float, batch, 512).
		InitializerInt64("shape", []int64{2}, []int64{0, -1}).
		InitializerInt64("starts", []int64{1}, []int64{0}).
		InitializerInt64("ends", []int64{1}, []int64{512}).
		InitializerInt64("axes", []int64{1}, []int64{1}).
		Node("Reshape", []string{"input.1", "shape"}, []string{"flat"}).
		Node("Slice", []string{"flat", "starts", "ends", "axes"}, []string{"683"}).
		Save(t, t.TempDir(), "w600k_r50.onnx")
}

// facesAt places faces whose keypoints are the 112 template shifted by each offset: the alignment is then a pure
// translation and the crop is the 112x112 region at the offset, pixel for pixel.
func facesAt(offsets ...[2]float32) []face.Face {
	tpl := face.ArcFaceTemplate(112)
	var out []face.Face
	for _, o := range offsets {
		var f face.Face
		for i, p := range tpl {
			f.Kps[i] = face.Point{X: p.X + o[0], Y: p.Y + o[1]}
		}
		f.Box = face.Box{X1: o[0], Y1: o[1], X2: o[0] + 112, Y2: o[1] + 112}
		out = append(out, f)
	}
	return out
}

// expected is the normalised first 512 values the contract asks for: R plane, (x-127.5)/127.5, of the crop at o.
func expected(img gocv.Mat, o [2]float32) []float32 {
	v := make([]float32, 512)
	for i := range v {
		y, x := int(o[1])+i/112, int(o[0])+i%112
		r := img.GetVecbAt(y, x)[2]
		v[i] = (float32(r) - 127.5) / 127.5
	}
	return face.Normalize(v)
}

func TestArcFaceContract(t *testing.T) {
	initORT(t)
	img := readFace(t, "grace_hopper.jpg") // closed by the helper's cleanup
	offsets := [][2]float32{{10, 20}, {200, 300}, {350, 100}}
	faces := facesAt(offsets...)
	for _, tc := range []struct {
		name  string
		batch int64
	}{{"fixed batch 1", 1}, {"dynamic batch", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewArcFace(ArcFaceConfig{ModelPath: w600kGraph(t, tc.batch), MaxBatch: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if a.Dim() != 512 {
				t.Fatalf("dim %d", a.Dim())
			}
			got, err := a.Embed(img, faces)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(faces) {
				t.Fatalf("%d embeddings for %d faces", len(got), len(faces))
			}
			for i, o := range offsets {
				want := expected(img, o)
				for j := range want {
					if math.Abs(float64(got[i][j]-want[j])) > 1e-5 {
						t.Fatalf("face %d value %d: got %v want %v (channel order, normalisation or crop geometry)", i, j, got[i][j], want[j])
					}
				}
			}
		})
	}
}

func TestArcFaceRejectsOtherContracts(t *testing.T) {
	initORT(t)
	p := onnxtest.New("wrong").Input("x", onnxtest.Float, 1, 3, 128, 128).Output("y", onnxtest.Float, 1, 3, 128, 128).
		Node("Identity", []string{"x"}, []string{"y"}).Save(t, t.TempDir(), "wrong.onnx")
	if _, err := NewArcFace(ArcFaceConfig{ModelPath: p}); err == nil {
		t.Fatal("a 128x128 model was accepted as ArcFace")
	}
}

// BenchmarkEmbed times the recognizer path (align, normalise, run) with the real MobileFaceNet test model; the
// user's w600k_r50 is a larger network, so its time is the model's and not measured here.
func BenchmarkEmbed(b *testing.B) {
	initORT(b)
	emb, err := NewArcFace(ArcFaceConfig{ModelPath: testenv.Model(b, "mobilefacenet_paddlex_128d.onnx"), Session: ort.SessionConfig{IntraOpThreads: 2}})
	if err != nil {
		b.Fatal(err)
	}
	defer emb.Close()
	img := readFace(b, "apollo11_crew_3faces.jpg")
	det := newYuNet(b, "face_detection_yunet_2026may.onnx")
	defer det.Close()
	faces := detect(b, det, img)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := emb.Embed(img, faces); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*len(faces)), "ms/face")
}
