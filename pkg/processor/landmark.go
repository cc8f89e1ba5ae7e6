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

// Landmarker finds dense landmarks on a face the detector found.
type Landmarker interface {
	// Landmarks returns the mesh of face f of img (BGR uint8), in img pixel coordinates.
	Landmarks(img gocv.Mat, f face.Face) (face.Mesh, error)
	Close() error
}

// FaceMeshConfig configures the MediaPipe Face Mesh landmarker (face_landmark_barracuda.onnx).
type FaceMeshConfig struct {
	// ModelPath is the .onnx file.
	ModelPath string
	// Margin is the margin added on each side of the detected box, as a fraction of its longer side, to make the
	// square crop the model sees: 0.25 (the default) gives a crop 1.5 times the box, as MediaPipe's face-detection
	// to landmark ROI does.
	Margin float32
	// Session is how ONNX Runtime runs the model.
	Session ort.SessionConfig
}

// DefaultFaceMeshMargin is the default FaceMeshConfig.Margin.
const DefaultFaceMeshMargin = 0.25

// DefaultFaceMeshConfig is the configuration with every default filled in.
func DefaultFaceMeshConfig(modelPath string) FaceMeshConfig {
	return FaceMeshConfig{ModelPath: modelPath, Margin: DefaultFaceMeshMargin}
}

// Validate reports a configuration NewFaceMesh would refuse, without touching the model file.
func (c FaceMeshConfig) Validate() error {
	if c.ModelPath == "" {
		return errors.New("facemesh: ModelPath is empty")
	}
	if !(c.Margin >= 0 && c.Margin <= 1) { // also catches NaN
		return fmt.Errorf("facemesh: Margin must be in [0, 1] (0 for %v), got %v", DefaultFaceMeshMargin, c.Margin)
	}
	return c.Session.Validate()
}

// The model's contract (../shared/models/MANIFEST.tsv).
const (
	faceMeshSize     = 192
	faceMeshInput    = "input_1"
	faceMeshLandmark = "conv2d_20" // [1,1404,1,1]: 468 x (x, y, z) in crop pixels
	faceMeshPresence = "conv2d_30" // [1,1,1,1]: face-presence logit
)

// FaceMesh is the MediaPipe Face Mesh landmarker on ONNX Runtime. For each face it cuts a square crop around the
// detected box, rotated upright by the line through the detector's eye keypoints, resizes it to 192x192, runs the
// model and maps the 468 landmarks back through the crop's inverse transform. Only the 192x192 crop is converted
// to float.
//
// This model (MediaPipe's first face mesh, without the attention/iris refinement) follows the mouth well but not
// the eyelids: on a wink (pexels_keijiro_facelandmark_Test2.jpg) both eyes measure about 0.27 by face.EyeOpenness.
// Do not rely on its lid landmarks to tell an open eye from a shut one.
type FaceMesh struct {
	cfg      FaceMeshConfig
	session  *onnxruntime.AdvancedSession
	input    *onnxruntime.Tensor[float32]
	points   *onnxruntime.Tensor[float32]
	presence *onnxruntime.Tensor[float32]
	crop     gocv.Mat // 192x192 BGR uint8
	affine   gocv.Mat // 2x3 CV_64F
}

// NewFaceMesh loads the model. ort.Init must have succeeded.
func NewFaceMesh(cfg FaceMeshConfig) (*FaceMesh, error) {
	if cfg.Margin == 0 {
		cfg.Margin = DefaultFaceMeshMargin
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts, ins, outs, err := openModel("facemesh", cfg.ModelPath, cfg.Session)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if len(ins) != 1 || ins[0].Name != faceMeshInput || ins[0].DataType != onnxruntime.TensorElementDataTypeFloat ||
		len(ins[0].Dimensions) != 4 || ins[0].Dimensions[1] != 3 ||
		ins[0].Dimensions[2] != faceMeshSize || ins[0].Dimensions[3] != faceMeshSize {
		return nil, fmt.Errorf("facemesh: %s is not a MediaPipe Face Mesh model: want one float input %s [1,3,192,192], got %v",
			cfg.ModelPath, faceMeshInput, ins)
	}
	have := map[string]bool{}
	for _, o := range outs {
		have[o.Name] = true
	}
	for _, name := range []string{faceMeshLandmark, faceMeshPresence} {
		if !have[name] {
			return nil, fmt.Errorf("facemesh: %s is not a MediaPipe Face Mesh model: no output %q", cfg.ModelPath, name)
		}
	}

	m := &FaceMesh{cfg: cfg}
	fail := func(what string, err error) (*FaceMesh, error) {
		m.Close()
		return nil, fmt.Errorf("facemesh: %s: %w", what, err)
	}
	if m.input, err = onnxruntime.NewEmptyTensor[float32](onnxruntime.NewShape(1, 3, faceMeshSize, faceMeshSize)); err != nil {
		return fail("input tensor", err)
	}
	if m.points, err = onnxruntime.NewEmptyTensor[float32](onnxruntime.NewShape(1, 3*face.MeshPoints, 1, 1)); err != nil {
		return fail("landmark tensor", err)
	}
	if m.presence, err = onnxruntime.NewEmptyTensor[float32](onnxruntime.NewShape(1, 1, 1, 1)); err != nil {
		return fail("presence tensor", err)
	}
	m.session, err = onnxruntime.NewAdvancedSession(cfg.ModelPath,
		[]string{faceMeshInput}, []string{faceMeshLandmark, faceMeshPresence},
		[]onnxruntime.Value{m.input}, []onnxruntime.Value{m.points, m.presence}, opts)
	if err != nil {
		return fail("loading "+cfg.ModelPath, err)
	}
	m.crop = gocv.NewMatWithSize(faceMeshSize, faceMeshSize, gocv.MatTypeCV8UC3)
	m.affine = gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	return m, nil
}

// Close frees the session, tensors and buffers. It is safe to call twice.
func (m *FaceMesh) Close() error {
	var err error
	if m.session != nil {
		err = m.session.Destroy()
		m.session = nil
	}
	for _, t := range []**onnxruntime.Tensor[float32]{&m.input, &m.points, &m.presence} {
		if *t != nil {
			(*t).Destroy()
			*t = nil
		}
	}
	for _, mat := range []*gocv.Mat{&m.crop, &m.affine} {
		if mat.Ptr() != nil {
			mat.Close()
		}
		*mat = gocv.Mat{}
	}
	return err
}

// CropTransform is the affine map from img pixels to the model's 192x192 crop for face f: a square of side
// (1+2*margin) times the box's longer side, centred on the box, rotated so that the line through the two eye
// keypoints is horizontal.
func CropTransform(f face.Face, margin float32) (face.Affine, error) {
	if err := checkLandmarks(f); err != nil {
		return face.Affine{}, err
	}
	side := float64(1+2*margin) * float64(max(f.Box.Width(), f.Box.Height()))
	if !(side > 1) {
		return face.Affine{}, fmt.Errorf("face box %v is too small", f.Box)
	}
	le, re := f.Kps[face.LeftEye], f.Kps[face.RightEye]
	theta := math.Atan2(float64(re.Y-le.Y), float64(re.X-le.X)) // 0 when the two keypoints coincide
	s := faceMeshSize / side
	cos, sin := s*math.Cos(theta), s*math.Sin(theta)
	c := f.Box.Center()
	cx, cy := float64(c.X), float64(c.Y)
	// p' = s R(-theta) (p - c) + (96, 96)
	return face.Affine{
		{cos, sin, faceMeshSize/2 - (cos*cx + sin*cy)},
		{-sin, cos, faceMeshSize/2 - (-sin*cx + cos*cy)},
	}, nil
}

// cropRegion is the part of a w x h image that the crop toFrame maps from lies in (with the pixels bilinear
// sampling reads beside its edges).
func cropRegion(toFrame face.Affine, w, h int) image.Rectangle {
	region := image.Rectangle{Min: image.Pt(math.MaxInt32, math.MaxInt32), Max: image.Pt(math.MinInt32, math.MinInt32)}
	for _, q := range [4][2]float32{{0, 0}, {faceMeshSize, 0}, {0, faceMeshSize}, {faceMeshSize, faceMeshSize}} {
		p := toFrame.Apply(face.Point{X: q[0], Y: q[1]})
		region.Min.X = min(region.Min.X, int(math.Floor(float64(p.X)))-1)
		region.Min.Y = min(region.Min.Y, int(math.Floor(float64(p.Y)))-1)
		region.Max.X = max(region.Max.X, int(math.Ceil(float64(p.X)))+2)
		region.Max.Y = max(region.Max.Y, int(math.Ceil(float64(p.Y)))+2)
	}
	return region.Intersect(image.Rect(0, 0, w, h))
}

// Region is the part of a w x h image that Landmarks reads for face f (the whole image when f has no usable
// crop: Landmarks then fails without reading).
func (m *FaceMesh) Region(f face.Face, w, h int) image.Rectangle {
	toCrop, err := CropTransform(f, m.cfg.Margin)
	if err != nil {
		return image.Rect(0, 0, w, h)
	}
	toFrame, err := toCrop.Invert()
	if err != nil {
		return image.Rect(0, 0, w, h)
	}
	return cropRegion(toFrame, w, h)
}

// Landmarks runs the model on face f of img (BGR uint8) and returns its mesh in img pixels. The mesh's Presence
// is the model's logit: below 0 the crop most likely holds no face and the points mean nothing.
func (m *FaceMesh) Landmarks(img gocv.Mat, f face.Face) (face.Mesh, error) {
	if m.session == nil {
		return face.Mesh{}, errors.New("facemesh: Landmarks after Close")
	}
	if err := checkBGR("facemesh input", img); err != nil {
		return face.Mesh{}, err
	}
	toCrop, err := CropTransform(f, m.cfg.Margin)
	if err != nil {
		return face.Mesh{}, fmt.Errorf("facemesh: %w", err)
	}
	return m.run(img, toCrop)
}

// run runs the model on the crop toCrop maps img to.
func (m *FaceMesh) run(img gocv.Mat, toCrop face.Affine) (face.Mesh, error) {
	toFrame, err := toCrop.Invert()
	if err != nil {
		return face.Mesh{}, fmt.Errorf("facemesh: %w", err)
	}
	// Read only the frame region under the rotated crop.
	region := cropRegion(toFrame, img.Cols(), img.Rows())
	if region.Dx() < 2 || region.Dy() < 2 {
		return face.Mesh{}, fmt.Errorf("facemesh: the face crop %v is outside the %dx%d image", region, img.Cols(), img.Rows())
	}
	fromRegion := face.Translation(float64(region.Min.X), float64(region.Min.Y)).Then(toCrop)
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			m.affine.SetDoubleAt(i, j, fromRegion[i][j])
		}
	}
	roi := img.Region(region)
	gocv.WarpAffineWithParams(roi, &m.crop, m.affine, image.Pt(faceMeshSize, faceMeshSize),
		gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
	roi.Close()

	pix, err := m.crop.DataPtrUint8()
	if err != nil {
		return face.Mesh{}, fmt.Errorf("facemesh: reading the crop: %w", err)
	}
	in := m.input.GetData()
	const plane = faceMeshSize * faceMeshSize
	r, g, b := in[:plane], in[plane:2*plane], in[2*plane:]
	const scale = 1.0 / 255 // RGB in [0, 1]
	for i := range r {
		b[i] = float32(pix[3*i]) * scale
		g[i] = float32(pix[3*i+1]) * scale
		r[i] = float32(pix[3*i+2]) * scale
	}
	if err := m.session.Run(); err != nil {
		return face.Mesh{}, fmt.Errorf("facemesh: inference: %w", err)
	}
	out := m.points.GetData()
	var mesh face.Mesh
	for i := range mesh.Points {
		mesh.Points[i] = face.Point{X: out[3*i], Y: out[3*i+1]}
		mesh.Z[i] = out[3*i+2]
	}
	mesh.Presence = m.presence.GetData()[0]
	mesh = mesh.Transform(toFrame)
	if !mesh.Finite() {
		return face.Mesh{}, errors.New("facemesh: the model returned non-finite landmarks")
	}
	return mesh, nil
}

var _ Landmarker = (*FaceMesh)(nil)
