package processor

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/ort"
	onnxruntime "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// Face enhancer kinds (--face-enhancer-model).
const (
	EnhancerGFPGAN     = "gfpgan"     // GFPGAN 1.4 ONNX (FaceFusion's gfpgan_1.4.onnx): input "input"
	EnhancerCodeFormer = "codeformer" // CodeFormer ONNX: inputs "input" and "weight" (float64 [1])
)

// Defaults of EnhancerConfig.
const (
	DefaultEnhancerWeight = 0.5 // CodeFormer fidelity (FaceFusion's face_enhancer_weight)
	DefaultEnhancerBlend  = 80  // percent (FaceFusion's --face-enhancer-blend)
)

// EnhancerConfig configures a face enhancer.
type EnhancerConfig struct {
	// ModelPath is the .onnx file.
	ModelPath string
	// Kind is EnhancerGFPGAN or EnhancerCodeFormer; "" detects it from the model's inputs (a float64 input
	// "weight" means CodeFormer). A non-empty Kind must match the model.
	Kind string
	// Weight is CodeFormer's fidelity weight in [0, 1], fed as float64; 0 means DefaultEnhancerWeight (0.5), so
	// for the strongest restoration pass a tiny positive value such as 1e-6. GFPGAN ignores it.
	Weight float64
	// Blend is how much of the enhanced face replaces the original, in percent (1-100); 0 means
	// DefaultEnhancerBlend (80).
	Blend int
	// Session is how ONNX Runtime runs the model.
	Session ort.SessionConfig
	// PasteCap, when > 0, caps the side of the paste-back mask (--memory-optimization; see PasteCapSide).
	PasteCap int
}

// DefaultEnhancerConfig is the configuration with every default filled in.
func DefaultEnhancerConfig(modelPath string) EnhancerConfig {
	return EnhancerConfig{ModelPath: modelPath, Weight: DefaultEnhancerWeight, Blend: DefaultEnhancerBlend}
}

func (c EnhancerConfig) withDefaults() EnhancerConfig {
	if c.Weight == 0 {
		c.Weight = DefaultEnhancerWeight
	}
	if c.Blend == 0 {
		c.Blend = DefaultEnhancerBlend
	}
	return c
}

// Validate reports a configuration NewEnhancer would refuse, without touching the model file.
func (c EnhancerConfig) Validate() error {
	if c.ModelPath == "" {
		return errors.New("enhancer: ModelPath is empty")
	}
	switch c.Kind {
	case "", EnhancerGFPGAN, EnhancerCodeFormer:
	default:
		return fmt.Errorf("enhancer: Kind must be %q or %q (or empty to detect it), got %q", EnhancerGFPGAN, EnhancerCodeFormer, c.Kind)
	}
	if !(c.Weight >= 0 && c.Weight <= 1) {
		return fmt.Errorf("enhancer: Weight must be in [0, 1], got %v", c.Weight)
	}
	if c.Blend < 0 || c.Blend > 100 {
		return fmt.Errorf("enhancer: Blend must be in [0, 100], got %d", c.Blend)
	}
	return c.Session.Validate()
}

// The GFPGAN / CodeFormer contract: an FFHQ-aligned 512 crop.
const (
	enhancerSize   = 512
	enhancerPixels = 3 * enhancerSize * enhancerSize
)

// enhancerLUT maps a uint8 channel value to (x/255 - 0.5)/0.5, computed in float64 as FaceFusion does.
var enhancerLUT = func() (l [256]float32) {
	for i := range l {
		l[i] = float32((float64(i)/255 - 0.5) / 0.5)
	}
	return l
}()

// Enhancer restores faces with GFPGAN or CodeFormer. It detects nothing: it takes the faces (5 landmarks) found for
// the frame, aligns each to the FFHQ 512 template, runs the model, and pastes the result back into the face's
// rectangle, mixed with the original at Blend percent. It is not safe for concurrent use.
type Enhancer struct {
	cfg      EnhancerConfig
	kind     string
	template [5]face.Point
	session  *onnxruntime.DynamicAdvancedSession
	input    *onnxruntime.Tensor[float32]
	output   *onnxruntime.Tensor[float32]
	weight   onnxruntime.Value // CodeFormer's float64 weight: a [1] tensor or a scalar, as the model declares
	ins      []onnxruntime.Value
	outs     []onnxruntime.Value

	affine gocv.Mat // 2x3 CV_64F: frame -> crop
	crop   gocv.Mat // 512x512 BGR: the aligned face, then the model output
	paste  paster

	runs int // model calls so far (tests count them)
}

// NewEnhancer loads the model and checks its inputs and outputs. ort.Init must have succeeded.
func NewEnhancer(cfg EnhancerConfig) (*Enhancer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	path := cfg.ModelPath
	opts, ins, outs, err := openModel("enhancer", path, cfg.Session)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	kind, inName, weightDims, err := enhancerKind(ins, outs)
	if err != nil {
		return nil, fmt.Errorf("enhancer: %s is not a GFPGAN or CodeFormer model: %w", path, err)
	}
	if cfg.Kind != "" && cfg.Kind != kind {
		return nil, fmt.Errorf("enhancer: %s is a %s model, not %s (%s)", path, kind, cfg.Kind, describeIO(ins, outs))
	}
	e := &Enhancer{cfg: cfg, kind: kind, template: face.FFHQTemplate(enhancerSize), paste: paster{maxSide: cfg.PasteCap}}
	names := []string{inName}
	if kind == EnhancerCodeFormer {
		names = append(names, "weight")
	}
	e.session, err = onnxruntime.NewDynamicAdvancedSession(path, names, []string{outs[0].Name}, opts)
	if err != nil {
		return nil, fmt.Errorf("enhancer: loading %s: %w", path, err)
	}
	shape := onnxruntime.NewShape(1, 3, enhancerSize, enhancerSize)
	if e.input, err = onnxruntime.NewEmptyTensor[float32](shape); err == nil {
		e.output, err = onnxruntime.NewEmptyTensor[float32](shape)
	}
	if err == nil && kind == EnhancerCodeFormer {
		if len(weightDims) == 0 {
			e.weight, err = onnxruntime.NewScalar(cfg.Weight)
		} else {
			e.weight, err = onnxruntime.NewTensor(onnxruntime.NewShape(1), []float64{cfg.Weight})
		}
	}
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("enhancer: tensors: %w", err)
	}
	e.ins = []onnxruntime.Value{e.input}
	if e.weight != nil {
		e.ins = append(e.ins, e.weight)
	}
	e.outs = []onnxruntime.Value{e.output}
	e.affine = gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	e.crop = gocv.NewMatWithSize(enhancerSize, enhancerSize, gocv.MatTypeCV8UC3)
	return e, nil
}

// enhancerKind reads the model's kind from its inputs: a float image input [1,3,512,512] (named "input", or the only
// float input), plus for CodeFormer a float64 "weight" of shape [1] (or a scalar); the first output, float
// [1,3,512,512], is the enhanced face (dynamic dimensions are accepted). It returns the image input's name and the
// weight's declared shape.
func enhancerKind(ins, outs []onnxruntime.InputOutputInfo) (kind, inName string, weightDims []int64, err error) {
	var img, weight *onnxruntime.InputOutputInfo
	for i := range ins {
		switch {
		case ins[i].Name == "weight" && ins[i].DataType == onnxruntime.TensorElementDataTypeDouble:
			weight = &ins[i]
		case ins[i].Name == "input" || (img == nil && ins[i].DataType == onnxruntime.TensorElementDataTypeFloat):
			img = &ins[i]
		}
	}
	want := len(ins) == 1 && img != nil || len(ins) == 2 && img != nil && weight != nil
	if !want || len(outs) == 0 {
		return "", "", nil, fmt.Errorf("want an image input (and for CodeFormer a float64 weight) and an output, got %s",
			describeIO(ins, outs))
	}
	image4 := func(x onnxruntime.InputOutputInfo) bool {
		d := x.Dimensions
		if x.DataType != onnxruntime.TensorElementDataTypeFloat || len(d) != 4 {
			return false
		}
		for i, w := range []int64{1, 3, enhancerSize, enhancerSize} {
			if d[i] != w && d[i] >= 0 {
				return false
			}
		}
		return true
	}
	if !image4(*img) || !image4(outs[0]) {
		return "", "", nil, fmt.Errorf("input and first output must be float [1,3,512,512], got %s", describeIO(ins, outs))
	}
	if weight == nil {
		return EnhancerGFPGAN, img.Name, nil, nil
	}
	if wd := weight.Dimensions; len(wd) > 1 || len(wd) == 1 && wd[0] != 1 && wd[0] >= 0 {
		return "", "", nil, fmt.Errorf("weight must be float64 [1], got %v", []int64(wd))
	}
	return EnhancerCodeFormer, img.Name, weight.Dimensions, nil
}

// Kind is EnhancerGFPGAN or EnhancerCodeFormer.
func (e *Enhancer) Kind() string { return e.kind }

// Enhance restores each face of frame (BGR uint8) in place, using the faces' landmarks as given. Faces are done one
// after another, each cropped from the frame as the previous ones left it (as FaceFusion does).
func (e *Enhancer) Enhance(frame gocv.Mat, faces []face.Face) error {
	return e.EnhanceBlend(frame, faces, e.cfg.Blend)
}

// EnhanceBlend is Enhance with another blend percent (1-100): one loaded model serves jobs that blend differently.
func (e *Enhancer) EnhanceBlend(frame gocv.Mat, faces []face.Face, blend int) error {
	if e.session == nil {
		return errors.New("enhancer: Enhance after Close")
	}
	if len(faces) == 0 {
		return nil
	}
	if err := checkBGR("frame", frame); err != nil {
		return fmt.Errorf("enhancer: %w", err)
	}
	for i, f := range faces {
		if err := e.enhanceOne(frame, f, blend); err != nil {
			return fmt.Errorf("enhancer: face %d: %w", i, err)
		}
	}
	return nil
}

func (e *Enhancer) enhanceOne(frame gocv.Mat, f face.Face, blend int) error {
	if err := checkLandmarks(f); err != nil {
		return err
	}
	m, err := face.EstimateSimilarity(f.Kps[:], e.template[:])
	if err != nil {
		return err
	}
	r, _, err := pasteRect(m, enhancerSize, frame.Cols(), frame.Rows())
	if err != nil {
		return err
	}
	if r.Dx() < 2 || r.Dy() < 2 {
		return nil // outside the frame
	}
	setAffine(e.affine, m)
	// FaceFusion's warp_face_by_face_landmark_5: replicated border.
	gocv.WarpAffineWithParams(frame, &e.crop, e.affine, image.Pt(enhancerSize, enhancerSize),
		gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
	pix, err := e.crop.DataPtrUint8()
	if err != nil {
		return err
	}
	fillRGBPlanar(e.input.GetData(), pix, &enhancerLUT)
	if err := e.session.Run(e.ins, e.outs); err != nil {
		return fmt.Errorf("inference: %w", err)
	}
	e.runs++
	if err := planarRGBToBGR(e.crop, e.output.GetData(), signedToByte); err != nil {
		return err
	}
	_, err = e.paste.pasteBack(frame, e.crop, m, float32(blend)/100)
	return err
}

// signedToByte is round((clip(x, -1, 1)+1)/2*255) in float32, half to even; NaN gives 0.
func signedToByte(x float32) uint8 {
	if !(x > -1) {
		return 0
	}
	if x >= 1 {
		return 255
	}
	return uint8(math.RoundToEven(float64((x + 1) / 2 * 255)))
}

// Close frees the session, tensors and buffers. It is safe to call twice.
func (e *Enhancer) Close() error {
	if e.input != nil {
		e.input.Destroy()
		e.input = nil
	}
	if e.output != nil {
		e.output.Destroy()
		e.output = nil
	}
	if e.weight != nil {
		e.weight.Destroy()
		e.weight = nil
	}
	e.ins, e.outs = nil, nil
	closeMat(&e.affine)
	closeMat(&e.crop)
	e.paste.close()
	var err error
	if e.session != nil {
		err = e.session.Destroy()
		e.session = nil
	}
	return err
}
