package processor

import (
	"errors"
	"fmt"
	"image"

	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/ort"
	onnxruntime "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// SCRFDConfig configures the SCRFD face detector: insightface's det_10g.onnx (buffalo_l) and other SCRFD exports with
// its output layout (nine outputs: scores, boxes and keypoints for strides 8, 16 and 32, two anchors per cell).
type SCRFDConfig struct {
	// ModelPath is the .onnx file.
	ModelPath string
	// InputSize is the side of the square network input, a multiple of 32. 0 means the model's own size when its
	// input is fixed (320 for scrfd_500m_bnkps_shape320x320.onnx), else 640 (det_10g takes any size). A model with a
	// fixed input needs 0 or its size. Frames are resized keeping their aspect ratio into the top-left of a black
	// square of this size (small frames are upscaled), as insightface does.
	InputSize int
	// ScoreThreshold drops detections scoring below it; 0 means 0.5.
	ScoreThreshold float32
	// NMSThreshold is the IoU above which the lower-scoring of two detections is dropped; 0 means 0.4.
	NMSThreshold float32
	// Session is how ONNX Runtime runs the model.
	Session ort.SessionConfig
}

// Defaults of SCRFDConfig (insightface's).
const (
	DefaultSCRFDInputSize      = 640
	DefaultSCRFDScoreThreshold = 0.5
	DefaultSCRFDNMSThreshold   = 0.4
)

// DefaultSCRFDConfig is the configuration with the thresholds filled in; InputSize stays 0 (the model's fixed size,
// else 640) since only the model file knows it.
func DefaultSCRFDConfig(modelPath string) SCRFDConfig {
	return SCRFDConfig{
		ModelPath:      modelPath,
		ScoreThreshold: DefaultSCRFDScoreThreshold,
		NMSThreshold:   DefaultSCRFDNMSThreshold,
	}
}

func (c SCRFDConfig) withDefaults() SCRFDConfig {
	if c.ScoreThreshold == 0 {
		c.ScoreThreshold = DefaultSCRFDScoreThreshold
	}
	if c.NMSThreshold == 0 {
		c.NMSThreshold = DefaultSCRFDNMSThreshold
	}
	return c
}

// Validate reports a configuration NewSCRFD would refuse, without touching the model file.
func (c SCRFDConfig) Validate() error {
	if c.ModelPath == "" {
		return errors.New("scrfd: ModelPath is empty")
	}
	if c.InputSize < 0 || c.InputSize%32 != 0 || c.InputSize > 4096 {
		return fmt.Errorf("scrfd: InputSize must be a positive multiple of 32 up to 4096 (or 0 for the model's size), got %d",
			c.InputSize)
	}
	if c.ScoreThreshold < 0 || c.ScoreThreshold >= 1 {
		return fmt.Errorf("scrfd: ScoreThreshold must be in [0,1), got %v", c.ScoreThreshold)
	}
	if c.NMSThreshold < 0 || c.NMSThreshold > 1 {
		return fmt.Errorf("scrfd: NMSThreshold must be in [0,1], got %v", c.NMSThreshold)
	}
	return c.Session.Validate()
}

var scrfdStrides = [3]int{8, 16, 32}

// scrfdAnchors is the number of anchors per grid cell.
const scrfdAnchors = 2

// scrfdWidths is the last dimension of the outputs in model order: scores x3, boxes x3, keypoints x3.
var scrfdWidths = [3]int64{1, 4, 10}

// scrfdNorm is insightface's input: RGB, (x-127.5)/128.
var scrfdNorm = newPixelNorm(true, 127.5, 128)

// SCRFD is the SCRFD face detector on ONNX Runtime. Its session and tensors live as long as it does (the network
// input is always InputSize x InputSize); the resize buffer is kept while the frame size stays the same.
type SCRFD struct {
	cfg   SCRFDConfig
	size  int // network input side
	netIO     // outputs in model order: scores 8/16/32, boxes 8/16/32, keypoints 8/16/32

	// Per frame size.
	frameSize image.Point
	scaled    image.Point // the frame's size inside the input
	resized   gocv.Mat    // resize buffer (see scaledPixels)

	candidates []face.Face // reused between calls
}

// scrfdLayout checks a model's inputs and outputs against the det_10g layout and returns the network input side
// (want, or the model's fixed size when want is 0) and whether the outputs have a batch dimension.
func scrfdLayout(path string, want int, ins, outs []onnxruntime.InputOutputInfo) (size int, batched bool, err error) {
	bad := func(format string, a ...any) (int, bool, error) {
		return 0, false, fmt.Errorf("scrfd: %s is not an SCRFD model with the det_10g layout: %s (%s)",
			path, fmt.Sprintf(format, a...), describeIO(ins, outs))
	}
	if len(ins) != 1 {
		return bad("want 1 input, got %d", len(ins))
	}
	in := ins[0].Dimensions
	if ins[0].DataType != onnxruntime.TensorElementDataTypeFloat || len(in) != 4 || in[0] > 1 || (in[1] != 3 && in[1] != -1) {
		return bad("want a float input [1,3,H,W]")
	}
	h, w := in[2], in[3]
	size = want
	switch {
	case h <= 0 && w <= 0:
		if size == 0 {
			size = DefaultSCRFDInputSize
		}
	case h != w || h%32 != 0:
		return bad("its fixed input %dx%d is not a square with a side multiple of 32", w, h)
	case want != 0 && int(h) != want:
		return 0, false, fmt.Errorf("scrfd: %s takes a fixed %dx%d input, so InputSize must be %d or 0 (got %d)",
			path, w, h, h, want)
	default:
		size = int(h)
	}
	if len(outs) != 9 {
		return bad("want 9 outputs (scores, boxes, keypoints for strides 8/16/32), got %d", len(outs))
	}
	rank := len(outs[0].Dimensions)
	if rank != 2 && rank != 3 {
		return bad("output 0 %q: want shape [N,1] or [1,N,1]", outs[0].Name)
	}
	for i, o := range outs {
		d := o.Dimensions
		stride := scrfdStrides[i%3]
		n := int64((size / stride) * (size / stride) * scrfdAnchors)
		if o.DataType != onnxruntime.TensorElementDataTypeFloat || len(d) != rank || d[rank-1] != scrfdWidths[i/3] ||
			(rank == 3 && d[0] > 1) || (d[rank-2] > 0 && d[rank-2] != n) {
			shape := fmt.Sprintf("[%d,%d]", n, scrfdWidths[i/3])
			if rank == 3 {
				shape = fmt.Sprintf("[1,%d,%d]", n, scrfdWidths[i/3])
			}
			return bad("output %d %q has shape %v, want %s at input %d (stride %d)", i, o.Name, []int64(d), shape, size, stride)
		}
	}
	return size, rank == 3, nil
}

// NewSCRFD loads the model and checks its layout. ort.Init must have succeeded.
func NewSCRFD(cfg SCRFDConfig) (*SCRFD, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	opts, ins, outs, err := openModel("scrfd", cfg.ModelPath, cfg.Session)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	size, batched, err := scrfdLayout(cfg.ModelPath, cfg.InputSize, ins, outs)
	if err != nil {
		return nil, err
	}
	cfg.InputSize = size
	d := &SCRFD{cfg: cfg, size: size}

	shapes := []onnxruntime.Shape{onnxruntime.NewShape(1, 3, int64(size), int64(size))}
	outNames := make([]string, len(outs))
	for i, o := range outs {
		outNames[i] = o.Name
		stride := scrfdStrides[i%3]
		n := int64((size / stride) * (size / stride) * scrfdAnchors)
		if batched {
			shapes = append(shapes, onnxruntime.NewShape(1, n, scrfdWidths[i/3]))
		} else {
			shapes = append(shapes, onnxruntime.NewShape(n, scrfdWidths[i/3]))
		}
	}
	if err := d.open("scrfd", cfg.ModelPath, ins[0].Name, outNames, shapes, opts); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// InputSize is the side of the square network input.
func (d *SCRFD) InputSize() int { return d.size }

// Close frees the session and every buffer. It is safe to call twice.
func (d *SCRFD) Close() error {
	closeMat(&d.resized)
	d.frameSize, d.scaled = image.Point{}, image.Point{}
	return d.netIO.close()
}

// Detect finds faces in img (BGR uint8). The returned slice is new; boxes may extend past the image edge.
func (d *SCRFD) Detect(img gocv.Mat) ([]face.Face, error) {
	if d.session == nil {
		return nil, errors.New("scrfd: Detect after Close")
	}
	if err := checkBGR("scrfd input", img); err != nil {
		return nil, err
	}
	w, h := img.Cols(), img.Rows()
	in := d.input.GetData()
	if d.frameSize != image.Pt(w, h) {
		d.scaled = fitInside(w, h, d.size, d.size)
		fillFloats(in, scrfdNorm.pad()) // black padding right and below the frame; the frame part is written below
		d.frameSize = image.Pt(w, h)
	}
	pix, err := scaledPixels(img, d.scaled, &d.resized)
	if err != nil {
		return nil, fmt.Errorf("scrfd: reading pixels: %w", err)
	}
	scrfdNorm.fillNCHW(in, d.size, d.size, pix, d.scaled.X, d.scaled.Y)
	if err := d.session.Run(d.inValues, d.outValues); err != nil {
		return nil, fmt.Errorf("scrfd: inference: %w", err)
	}
	var scores, boxes, kps [3][]float32
	for i := range 3 {
		scores[i] = d.outputs[i].GetData()
		boxes[i] = d.outputs[3+i].GetData()
		kps[i] = d.outputs[6+i].GetData()
	}
	sx := float32(d.scaled.X) / float32(w)
	sy := float32(d.scaled.Y) / float32(h)
	d.candidates = decodeSCRFD(d.candidates[:0], d.size, scores, boxes, kps, d.cfg.ScoreThreshold, sx, sy)
	return face.NMS(d.candidates, d.cfg.NMSThreshold), nil
}

// decodeSCRFD appends to dst the anchors scoring at least thr, decoded as insightface does, in frame pixels (network
// pixels divided by sx, sy). Anchor a of stride s sits at cell a/2 (two anchors per cell), centre (col, row)*s;
// box = [cx-d0, cy-d1, cx+d2, cy+d3] with d = prediction*s; keypoint k = centre + prediction_k*s.
func decodeSCRFD(dst []face.Face, size int, scores, boxes, kps [3][]float32, thr, sx, sy float32) []face.Face {
	for si, stride := range scrfdStrides {
		cols := size / stride
		st := float32(stride)
		sc, bb, kk := scores[si], boxes[si], kps[si]
		for i, s := range sc {
			if s < thr {
				continue
			}
			cell := i / scrfdAnchors
			cx, cy := float32(cell%cols)*st, float32(cell/cols)*st
			b := bb[4*i : 4*i+4]
			f := face.Face{
				Box: face.Box{
					X1: (cx - b[0]*st) / sx, Y1: (cy - b[1]*st) / sy,
					X2: (cx + b[2]*st) / sx, Y2: (cy + b[3]*st) / sy,
				},
				Score: s,
			}
			k := kk[10*i : 10*i+10]
			for j := range f.Kps {
				f.Kps[j] = face.Point{X: (cx + k[2*j]*st) / sx, Y: (cy + k[2*j+1]*st) / sy}
			}
			dst = append(dst, f)
		}
	}
	return dst
}
