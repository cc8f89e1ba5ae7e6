package processor

import (
	"errors"
	"fmt"
	"image"
	"image/color"

	onnxruntime "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/ort"
)

// Embedder turns faces into identity embeddings, one normalised vector per face.
type Embedder interface {
	Embed(img gocv.Mat, faces []face.Face) ([][]float32, error)
	Dim() int
	Close() error
}

// ArcFaceConfig configures an ArcFace-contract recognizer (insightface w600k_r50.onnx: input [N,3,112,112] RGB
// (x-127.5)/127.5 on a crop aligned to the 112 ArcFace template, output [N,D], D = 512).
type ArcFaceConfig struct {
	ModelPath string
	// MaxBatch bounds faces per model call when the model's batch dimension is dynamic; 0 means 8.
	MaxBatch int
	Session  ort.SessionConfig
}

// Validate reports a configuration NewArcFace would refuse.
func (c ArcFaceConfig) Validate() error {
	if c.ModelPath == "" {
		return errors.New("arcface: ModelPath is empty")
	}
	if c.MaxBatch < 0 {
		return fmt.Errorf("arcface: MaxBatch %d < 0", c.MaxBatch)
	}
	return c.Session.Validate()
}

const arcfaceSize = 112

// ArcFace is a recognizer. It is not safe for concurrent use.
type ArcFace struct {
	cfg      ArcFaceConfig
	session  *onnxruntime.DynamicAdvancedSession
	batch    int // faces per call: 1 for a fixed batch dimension
	dim      int
	in       *onnxruntime.Tensor[float32]
	out      *onnxruntime.Tensor[float32]
	inN      int
	crop     gocv.Mat
	affine   gocv.Mat // 2x3 CV_64F, reused for every face
	template [5]face.Point
}

// NewArcFace loads the model and checks its contract. ort.Init must have succeeded.
func NewArcFace(cfg ArcFaceConfig) (*ArcFace, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 8
	}
	opts, ins, outs, err := openModel("arcface", cfg.ModelPath, cfg.Session)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if len(ins) != 1 || len(outs) != 1 {
		return nil, fmt.Errorf("arcface: %s: want 1 input and 1 output, got %d and %d", cfg.ModelPath, len(ins), len(outs))
	}
	d := ins[0].Dimensions
	if len(d) != 4 || d[1] != 3 || d[2] != arcfaceSize || d[3] != arcfaceSize || ins[0].DataType != onnxruntime.TensorElementDataTypeFloat {
		return nil, fmt.Errorf("arcface: %s: want a float input [N,3,112,112], got %v", cfg.ModelPath, ins[0])
	}
	od := outs[0].Dimensions
	if len(od) != 2 || od[1] <= 0 {
		return nil, fmt.Errorf("arcface: %s: want an output [N,D], got %v", cfg.ModelPath, outs[0])
	}
	a := &ArcFace{cfg: cfg, dim: int(od[1]), batch: 1, template: face.ArcFaceTemplate(arcfaceSize)}
	if d[0] <= 0 {
		a.batch = cfg.MaxBatch
	}
	a.session, err = onnxruntime.NewDynamicAdvancedSession(cfg.ModelPath, []string{ins[0].Name}, []string{outs[0].Name}, opts)
	if err != nil {
		return nil, fmt.Errorf("arcface: loading %s: %w", cfg.ModelPath, err)
	}
	a.crop = gocv.NewMatWithSize(arcfaceSize, arcfaceSize, gocv.MatTypeCV8UC3)
	return a, nil
}

// Dim is the embedding length.
func (a *ArcFace) Dim() int { return a.dim }

// Embed returns one normalised embedding per face, computed in batches of up to the model's batch size.
func (a *ArcFace) Embed(img gocv.Mat, faces []face.Face) ([][]float32, error) {
	if a.session == nil {
		return nil, errors.New("arcface: Embed after Close")
	}
	if err := checkBGR("arcface input", img); err != nil {
		return nil, err
	}
	out := make([][]float32, 0, len(faces))
	for start := 0; start < len(faces); start += a.batch {
		n := min(a.batch, len(faces)-start)
		if err := a.tensors(n); err != nil {
			return nil, err
		}
		data := a.in.GetData()
		for i := 0; i < n; i++ {
			if err := a.fill(img, faces[start+i], data[i*3*arcfaceSize*arcfaceSize:(i+1)*3*arcfaceSize*arcfaceSize]); err != nil {
				return nil, err
			}
		}
		if err := a.session.Run([]onnxruntime.Value{a.in}, []onnxruntime.Value{a.out}); err != nil {
			return nil, fmt.Errorf("arcface: inference: %w", err)
		}
		res := a.out.GetData()
		for i := 0; i < n; i++ {
			out = append(out, face.Normalize(res[i*a.dim:(i+1)*a.dim]))
		}
	}
	return out, nil
}

// tensors keeps input/output tensors for n faces, reallocating only when n changes.
func (a *ArcFace) tensors(n int) error {
	if a.in != nil && a.inN == n {
		return nil
	}
	a.freeTensors()
	var err error
	if a.in, err = onnxruntime.NewEmptyTensor[float32](onnxruntime.NewShape(int64(n), 3, arcfaceSize, arcfaceSize)); err != nil {
		return fmt.Errorf("arcface: input tensor: %w", err)
	}
	if a.out, err = onnxruntime.NewEmptyTensor[float32](onnxruntime.NewShape(int64(n), int64(a.dim))); err != nil {
		a.freeTensors()
		return fmt.Errorf("arcface: output tensor: %w", err)
	}
	a.inN = n
	return nil
}

// fill aligns one face to the 112 template and writes it as planar RGB, (x-127.5)/127.5.
func (a *ArcFace) fill(img gocv.Mat, f face.Face, dst []float32) error {
	m, err := face.EstimateSimilarity(f.Kps[:], a.template[:])
	if err != nil {
		return fmt.Errorf("arcface: align: %w", err)
	}
	if a.affine.Ptr() == nil {
		a.affine = gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	}
	setAffine(a.affine, m)
	// Border black, as insightface's norm_crop.
	gocv.WarpAffineWithParams(img, &a.crop, a.affine, image.Pt(arcfaceSize, arcfaceSize), gocv.InterpolationLinear,
		gocv.BorderConstant, color.RGBA{})
	pix, err := a.crop.DataPtrUint8()
	if err != nil {
		return err
	}
	const plane = arcfaceSize * arcfaceSize
	for i := 0; i < plane; i++ {
		dst[i] = (float32(pix[3*i+2]) - 127.5) / 127.5 // R
		dst[plane+i] = (float32(pix[3*i+1]) - 127.5) / 127.5
		dst[2*plane+i] = (float32(pix[3*i]) - 127.5) / 127.5 // B
	}
	return nil
}

func (a *ArcFace) freeTensors() {
	if a.in != nil {
		a.in.Destroy()
		a.in = nil
	}
	if a.out != nil {
		a.out.Destroy()
		a.out = nil
	}
	a.inN = 0
}

// Close frees the session and buffers; safe to call twice.
func (a *ArcFace) Close() error {
	a.freeTensors()
	closeMat(&a.crop)
	closeMat(&a.affine)
	var err error
	if a.session != nil {
		err = a.session.Destroy()
		a.session = nil
	}
	return err
}
