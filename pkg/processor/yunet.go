package processor

import (
	"errors"
	"fmt"
	"image"
	"math"

	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/ort"
	onnxruntime "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// YuNetConfig configures the YuNet face detector (OpenCV Zoo face_detection_yunet_2023mar.onnx or _2026may.onnx).
type YuNetConfig struct {
	// ModelPath is the .onnx file.
	ModelPath string
	// InputSize is the longest side of the network input, a multiple of 32; 0 means 640. Frames are resized keeping
	// their aspect ratio so that their longest side is InputSize (small frames are not upscaled), then padded
	// right/bottom to multiples of 32. A model with a fixed input (2023mar: 640x640) needs InputSize 0 or its size,
	// and every frame is letterboxed to it.
	InputSize int
	// ScoreThreshold drops detections scoring below it; 0 means 0.6.
	ScoreThreshold float32
	// NMSThreshold is the IoU above which the lower-scoring of two detections is dropped; 0 means 0.3.
	NMSThreshold float32
	// Session is how ONNX Runtime runs the model.
	Session ort.SessionConfig
}

// Defaults of YuNetConfig.
const (
	DefaultYuNetInputSize      = 640
	DefaultYuNetScoreThreshold = 0.6
	DefaultYuNetNMSThreshold   = 0.3
)

// DefaultYuNetConfig is the configuration with every default filled in.
func DefaultYuNetConfig(modelPath string) YuNetConfig {
	return YuNetConfig{
		ModelPath:      modelPath,
		InputSize:      DefaultYuNetInputSize,
		ScoreThreshold: DefaultYuNetScoreThreshold,
		NMSThreshold:   DefaultYuNetNMSThreshold,
	}
}

func (c YuNetConfig) withDefaults() YuNetConfig {
	if c.InputSize == 0 {
		c.InputSize = DefaultYuNetInputSize
	}
	if c.ScoreThreshold == 0 {
		c.ScoreThreshold = DefaultYuNetScoreThreshold
	}
	if c.NMSThreshold == 0 {
		c.NMSThreshold = DefaultYuNetNMSThreshold
	}
	return c
}

// Validate reports a configuration NewYuNet would refuse, without touching the model file.
func (c YuNetConfig) Validate() error {
	if c.ModelPath == "" {
		return errors.New("yunet: ModelPath is empty")
	}
	if c.InputSize < 0 || c.InputSize%32 != 0 || c.InputSize > 4096 {
		return fmt.Errorf("yunet: InputSize must be a positive multiple of 32 up to 4096 (or 0 for %d), got %d",
			DefaultYuNetInputSize, c.InputSize)
	}
	if c.ScoreThreshold < 0 || c.ScoreThreshold >= 1 {
		return fmt.Errorf("yunet: ScoreThreshold must be in [0,1), got %v", c.ScoreThreshold)
	}
	if c.NMSThreshold < 0 || c.NMSThreshold > 1 {
		return fmt.Errorf("yunet: NMSThreshold must be in [0,1], got %v", c.NMSThreshold)
	}
	return c.Session.Validate()
}

var yunetStrides = [3]int{8, 16, 32}

// yunetOutputs are the model's outputs in the order of YuNet.outputs: cls, obj, bbox, kps, each for strides 8/16/32.
var yunetOutputs = [12]string{
	"cls_8", "cls_16", "cls_32", "obj_8", "obj_16", "obj_32",
	"bbox_8", "bbox_16", "bbox_32", "kps_8", "kps_16", "kps_32",
}

// YuNet is the YuNet face detector on ONNX Runtime. Its session lives as long as it does; its input/output tensors
// and resize buffer are kept while the frame size stays the same and recreated when it changes.
type YuNet struct {
	cfg     YuNetConfig
	fixed   image.Point // the model's fixed input size (W, H); zero when it takes any multiple of 32
	session *onnxruntime.DynamicAdvancedSession

	// Per frame size.
	frameSize image.Point // the frame size the buffers below are for
	netSize   image.Point // network input W, H (multiples of 32)
	scaled    image.Point // the frame's size after resizing, inside netSize
	resized   gocv.Mat    // the resized frame, BGR uint8, scaled size; empty Mat when no resize is needed
	input     *onnxruntime.Tensor[float32]
	outputs   []*onnxruntime.Tensor[float32] // in yunetOutputs order
	inputs    []onnxruntime.Value
	outValues []onnxruntime.Value

	candidates []face.Face // reused between calls
}

// NewYuNet loads the model. ort.Init must have succeeded.
func NewYuNet(cfg YuNetConfig) (*YuNet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	opts, ins, outs, err := openModel("yunet", cfg.ModelPath, cfg.Session)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if len(ins) != 1 || len(ins[0].Dimensions) != 4 || ins[0].Dimensions[1] != 3 ||
		ins[0].DataType != onnxruntime.TensorElementDataTypeFloat {
		return nil, fmt.Errorf("yunet: %s is not a YuNet model: want one float input [1,3,H,W], got %v", cfg.ModelPath, ins)
	}
	have := map[string]bool{}
	for _, o := range outs {
		have[o.Name] = true
	}
	for _, name := range yunetOutputs {
		if !have[name] {
			return nil, fmt.Errorf("yunet: %s is not a YuNet model: no output %q", cfg.ModelPath, name)
		}
	}
	d := &YuNet{cfg: cfg}
	if h, w := ins[0].Dimensions[2], ins[0].Dimensions[3]; h > 0 && w > 0 {
		d.fixed = image.Pt(int(w), int(h))
		if d.fixed.X%32 != 0 || d.fixed.Y%32 != 0 {
			return nil, fmt.Errorf("yunet: %s has a fixed input %dx%d that is not a multiple of 32", cfg.ModelPath, w, h)
		}
		if cfg.InputSize != max(d.fixed.X, d.fixed.Y) {
			return nil, fmt.Errorf("yunet: %s takes a fixed %dx%d input, so InputSize must be %d or 0 (got %d); "+
				"face_detection_yunet_2026may.onnx takes any size", cfg.ModelPath, w, h, max(d.fixed.X, d.fixed.Y), cfg.InputSize)
		}
	}
	d.session, err = onnxruntime.NewDynamicAdvancedSession(cfg.ModelPath,
		[]string{ins[0].Name}, yunetOutputs[:], opts)
	if err != nil {
		return nil, fmt.Errorf("yunet: loading %s: %w", cfg.ModelPath, err)
	}
	return d, nil
}

// InputSize is the network input (W, H) used for the last frame size, zero before the first Detect.
func (d *YuNet) InputSize() image.Point { return d.netSize }

// Close frees the session and every buffer. It is safe to call twice.
func (d *YuNet) Close() error {
	d.freeBuffers()
	var err error
	if d.session != nil {
		err = d.session.Destroy()
		d.session = nil
	}
	return err
}

func (d *YuNet) freeBuffers() {
	closeMat(&d.resized)
	if d.input != nil {
		d.input.Destroy()
		d.input = nil
	}
	destroyTensors(d.outputs)
	d.outputs, d.inputs, d.outValues = nil, nil, nil
	d.frameSize, d.netSize, d.scaled = image.Point{}, image.Point{}, image.Point{}
}

// prepare (re)creates the per-size buffers for a w x h frame.
func (d *YuNet) prepare(w, h int) error {
	if d.frameSize == image.Pt(w, h) {
		return nil
	}
	d.freeBuffers()
	longest := max(w, h)
	var scale float64
	if d.fixed != (image.Point{}) {
		// Letterbox into the fixed input: the whole input costs the same, so small frames are upscaled.
		scale = math.Min(float64(d.fixed.X)/float64(w), float64(d.fixed.Y)/float64(h))
		d.netSize = d.fixed
	} else {
		scale = math.Min(1, float64(d.cfg.InputSize)/float64(longest))
	}
	sw := max(1, min(int(math.Round(float64(w)*scale)), max(d.fixed.X, d.cfg.InputSize)))
	sh := max(1, min(int(math.Round(float64(h)*scale)), max(d.fixed.Y, d.cfg.InputSize)))
	if d.fixed == (image.Point{}) {
		d.netSize = image.Pt((sw+31)/32*32, (sh+31)/32*32)
	}
	d.scaled = image.Pt(sw, sh)
	nw, nh := int64(d.netSize.X), int64(d.netSize.Y)

	// The input is zeroed when made: BGR 0 is YuNet's padding, and fillInput never writes outside the frame.
	shapes := []onnxruntime.Shape{onnxruntime.NewShape(1, 3, nh, nw)}
	widths := [4]int64{1, 1, 4, 10}
	for i := range yunetOutputs {
		stride := int64(yunetStrides[i%3])
		shapes = append(shapes, onnxruntime.NewShape(1, (nh/stride)*(nw/stride), widths[i/3]))
	}
	ts, err := newTensors(shapes)
	if err != nil {
		d.freeBuffers()
		return fmt.Errorf("yunet: %w", err)
	}
	d.input, d.outputs = ts[0], ts[1:]
	d.inputs, d.outValues = tensorValues(ts[:1]), tensorValues(ts[1:])
	d.frameSize = image.Pt(w, h)
	return nil
}

// Detect finds faces in img (BGR uint8). The returned slice is new; boxes may extend past the image edge.
func (d *YuNet) Detect(img gocv.Mat) ([]face.Face, error) {
	if d.session == nil {
		return nil, errors.New("yunet: Detect after Close")
	}
	if err := checkBGR("yunet input", img); err != nil {
		return nil, err
	}
	w, h := img.Cols(), img.Rows()
	if err := d.prepare(w, h); err != nil {
		return nil, err
	}
	pix, err := scaledPixels(img, d.scaled, &d.resized)
	if err != nil {
		return nil, fmt.Errorf("yunet: reading pixels: %w", err)
	}
	yunetNorm.fillNCHW(d.input.GetData(), d.netSize.X, d.netSize.Y, pix, d.scaled.X, d.scaled.Y)
	if err := d.session.Run(d.inputs, d.outValues); err != nil {
		return nil, fmt.Errorf("yunet: inference: %w", err)
	}
	sx := float32(d.scaled.X) / float32(w)
	sy := float32(d.scaled.Y) / float32(h)
	return d.decode(sx, sy), nil
}

// yunetNorm is YuNet's input: BGR, 0..255 as floats.
var yunetNorm = newPixelNorm(false, 0, 1)

// decode turns the raw outputs into faces in frame pixels (network pixels divided by sx, sy), after NMS.
func (d *YuNet) decode(sx, sy float32) []face.Face {
	thr := d.cfg.ScoreThreshold
	thr2 := thr * thr
	cands := d.candidates[:0]
	for si, stride := range yunetStrides {
		cls := d.outputs[si].GetData()
		obj := d.outputs[3+si].GetData()
		bbox := d.outputs[6+si].GetData()
		kps := d.outputs[9+si].GetData()
		cols := d.netSize.X / stride
		st := float32(stride)
		for i := range cls {
			c := min(max(cls[i], 0), 1)
			o := min(max(obj[i], 0), 1)
			if c*o < thr2 {
				continue
			}
			col, row := float32(i%cols), float32(i/cols)
			bx := bbox[4*i : 4*i+4]
			cx, cy := (col+bx[0])*st, (row+bx[1])*st
			bw := float32(math.Exp(float64(bx[2]))) * st
			bh := float32(math.Exp(float64(bx[3]))) * st
			f := face.Face{
				Box: face.Box{
					X1: (cx - bw/2) / sx, Y1: (cy - bh/2) / sy,
					X2: (cx + bw/2) / sx, Y2: (cy + bh/2) / sy,
				},
				Score: float32(math.Sqrt(float64(c * o))),
			}
			k := kps[10*i : 10*i+10]
			for j := range f.Kps {
				f.Kps[j] = face.Point{X: (col + k[2*j]) * st / sx, Y: (row + k[2*j+1]) * st / sy}
			}
			cands = append(cands, f)
		}
	}
	d.candidates = cands
	return face.NMS(cands, d.cfg.NMSThreshold)
}
