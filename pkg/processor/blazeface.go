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

// BlazeFaceConfig configures the MediaPipe BlazeFace detector: face_detection_front_128x128_barracuda.onnx (short
// range: faces filling a good part of the frame, as in a selfie) and face_detection_back_256x256_barracuda.onnx
// (smaller, farther faces).
//
// BlazeFace gives 6 keypoints: both eyes, the nose tip, the mouth centre and both ear tragions. It has no mouth
// corners: Face.Kps gets the eyes (image-left first), the nose tip, and mouth corners estimated from the mouth centre
// at ±BlazeFaceMouthHalfWidth eye distances along the eye line. The ears are dropped.
type BlazeFaceConfig struct {
	// ModelPath is the .onnx file.
	ModelPath string
	// InputSize is 0 or the model's fixed input size (128 or 256); BlazeFace takes no other.
	InputSize int
	// ScoreThreshold drops detections whose score (the sigmoid of the logit clipped to ±100) is below it; 0 means 0.5.
	ScoreThreshold float32
	// NMSThreshold is the IoU above which the lower-scoring of two detections is dropped; 0 means 0.3.
	NMSThreshold float32
	// Session is how ONNX Runtime runs the model.
	Session ort.SessionConfig
}

// Defaults of BlazeFaceConfig.
const (
	DefaultBlazeFaceScoreThreshold = 0.5
	DefaultBlazeFaceNMSThreshold   = 0.3
)

// BlazeFaceMouthHalfWidth is where the estimated mouth corners sit: the mouth centre ± this times the vector from the
// image-left eye to the image-right eye. For comparison, the ArcFace template's corners sit at ±0.41, and YuNet's on
// the test photos at ±0.42 to ±0.46.
const BlazeFaceMouthHalfWidth = 0.41

// DefaultBlazeFaceConfig is the configuration with every default filled in.
func DefaultBlazeFaceConfig(modelPath string) BlazeFaceConfig {
	return BlazeFaceConfig{
		ModelPath:      modelPath,
		ScoreThreshold: DefaultBlazeFaceScoreThreshold,
		NMSThreshold:   DefaultBlazeFaceNMSThreshold,
	}
}

func (c BlazeFaceConfig) withDefaults() BlazeFaceConfig {
	if c.ScoreThreshold == 0 {
		c.ScoreThreshold = DefaultBlazeFaceScoreThreshold
	}
	if c.NMSThreshold == 0 {
		c.NMSThreshold = DefaultBlazeFaceNMSThreshold
	}
	return c
}

// Validate reports a configuration NewBlazeFace would refuse, without touching the model file.
func (c BlazeFaceConfig) Validate() error {
	if c.ModelPath == "" {
		return errors.New("blazeface: ModelPath is empty")
	}
	if c.InputSize < 0 {
		return fmt.Errorf("blazeface: InputSize must be 0 or the model's input size, got %d", c.InputSize)
	}
	if c.ScoreThreshold < 0 || c.ScoreThreshold >= 1 {
		return fmt.Errorf("blazeface: ScoreThreshold must be in [0,1), got %v", c.ScoreThreshold)
	}
	if c.NMSThreshold < 0 || c.NMSThreshold > 1 {
		return fmt.Errorf("blazeface: NMSThreshold must be in [0,1], got %v", c.NMSThreshold)
	}
	return c.Session.Validate()
}

// blazeAnchorsPerCell is MediaPipe's anchor count per grid cell for the two output tensors: the fine layer has 2
// (one stride), the coarse one 6 (three layers of the same stride merged). Front (128): strides 8, 16 -> 16x16x2 +
// 8x8x6 = 896. Back (256): strides 16, 32 -> the same 896.
var blazeAnchorsPerCell = [2]int{2, 6}

// blazeNorm is MediaPipe's input: RGB in [-1,1].
var blazeNorm = newPixelNorm(true, 127.5, 127.5)

// blazeValues is the regressor width: box (cx, cy, w, h) and 6 keypoints (x, y).
const blazeValues = 16

// BlazeFace is the MediaPipe BlazeFace detector on ONNX Runtime. Its session and tensors live as long as it does; the
// resize buffer is kept while the frame size stays the same. Frames are letterboxed: padded (black, right and below)
// to a square, then resized to the input, so boxes map back exactly.
type BlazeFace struct {
	cfg     BlazeFaceConfig
	size    int          // network input side
	anchors []face.Point // anchor centres in network pixels, in output order (first tensor, then the second)
	netIO                // outputs: scores (fine, coarse), regressors (fine, coarse)

	frameSize image.Point
	scaled    image.Point
	resized   gocv.Mat

	candidates []face.Face
}

// blazeFaceLayout checks a model's inputs and outputs (input [1,S,S,3]; outputs scores [1,N1,1], [1,N2,1] and
// regressors [1,N1,16], [1,N2,16]) and returns S and the anchor centres, in network pixels, generated the MediaPipe
// way for the output counts.
func blazeFaceLayout(path string, want int, ins, outs []onnxruntime.InputOutputInfo) (int, []face.Point, error) {
	bad := func(format string, a ...any) (int, []face.Point, error) {
		return 0, nil, fmt.Errorf("blazeface: %s is not a BlazeFace model: %s (%s)", path, fmt.Sprintf(format, a...),
			describeIO(ins, outs))
	}
	if len(ins) != 1 {
		return bad("want 1 input, got %d", len(ins))
	}
	in := ins[0].Dimensions
	if ins[0].DataType != onnxruntime.TensorElementDataTypeFloat || len(in) != 4 || in[0] > 1 || in[3] != 3 ||
		in[1] <= 0 || in[1] != in[2] {
		return bad("want a float NHWC input [1,S,S,3] of a fixed size")
	}
	size := int(in[1])
	if want != 0 && want != size {
		return 0, nil, fmt.Errorf("blazeface: %s takes a fixed %dx%d input, so InputSize must be %d or 0 (got %d)",
			path, size, size, size, want)
	}
	if len(outs) != 4 {
		return bad("want 4 outputs (2 score, 2 regressor tensors), got %d", len(outs))
	}
	var anchors []face.Point
	for l, per := range blazeAnchorsPerCell {
		sc, rg := outs[l].Dimensions, outs[2+l].Dimensions
		if len(sc) != 3 || len(rg) != 3 || sc[0] > 1 || rg[0] > 1 || sc[2] != 1 || rg[2] != blazeValues ||
			sc[1] <= 0 || sc[1] != rg[1] {
			return bad("outputs %d and %d: want scores [1,N,1] and regressors [1,N,%d]", l, 2+l, blazeValues)
		}
		n := int(sc[1])
		grid := int(math.Round(math.Sqrt(float64(n / per))))
		if grid*grid*per != n || size%grid != 0 {
			return bad("output %d has %d anchors, not a square grid of %d anchors per cell dividing the %d input",
				l, n, per, size)
		}
		if l == 1 && len(anchors) != 4*grid*grid*blazeAnchorsPerCell[0] {
			return bad("the second layer's %dx%d grid is not half the first's", grid, grid)
		}
		stride := float32(size / grid)
		for y := range grid {
			for x := range grid {
				c := face.Point{X: (float32(x) + 0.5) * stride, Y: (float32(y) + 0.5) * stride}
				for range per {
					anchors = append(anchors, c)
				}
			}
		}
	}
	return size, anchors, nil
}

// NewBlazeFace loads the model and checks its layout. ort.Init must have succeeded.
func NewBlazeFace(cfg BlazeFaceConfig) (*BlazeFace, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	opts, ins, outs, err := openModel("blazeface", cfg.ModelPath, cfg.Session)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	size, anchors, err := blazeFaceLayout(cfg.ModelPath, cfg.InputSize, ins, outs)
	if err != nil {
		return nil, err
	}
	cfg.InputSize = size
	d := &BlazeFace{cfg: cfg, size: size, anchors: anchors}
	shapes := []onnxruntime.Shape{onnxruntime.NewShape(1, int64(size), int64(size), 3)}
	outNames := make([]string, len(outs))
	for i, o := range outs {
		outNames[i] = o.Name
		shapes = append(shapes, onnxruntime.NewShape(1, o.Dimensions[1], o.Dimensions[2]))
	}
	if err := d.open("blazeface", cfg.ModelPath, ins[0].Name, outNames, shapes, opts); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// InputSize is the side of the square network input (128 or 256).
func (d *BlazeFace) InputSize() int { return d.size }

// Close frees the session and every buffer. It is safe to call twice.
func (d *BlazeFace) Close() error {
	closeMat(&d.resized)
	d.frameSize, d.scaled = image.Point{}, image.Point{}
	return d.netIO.close()
}

// Detect finds faces in img (BGR uint8). The returned slice is new; boxes may extend past the image edge.
func (d *BlazeFace) Detect(img gocv.Mat) ([]face.Face, error) {
	if d.session == nil {
		return nil, errors.New("blazeface: Detect after Close")
	}
	if err := checkBGR("blazeface input", img); err != nil {
		return nil, err
	}
	w, h := img.Cols(), img.Rows()
	in := d.input.GetData()
	if d.frameSize != image.Pt(w, h) {
		// Pad to a max(w,h) square, then resize that to the input: the frame lands, scaled, in the top-left.
		long := max(w, h)
		d.scaled = image.Pt(max(1, (w*d.size+long/2)/long), max(1, (h*d.size+long/2)/long))
		fillFloats(in, blazeNorm.pad())
		d.frameSize = image.Pt(w, h)
	}
	pix, err := scaledPixels(img, d.scaled, &d.resized)
	if err != nil {
		return nil, fmt.Errorf("blazeface: reading pixels: %w", err)
	}
	blazeNorm.fillNHWC(in, d.size, pix, d.scaled.X, d.scaled.Y)
	if err := d.session.Run(d.inValues, d.outValues); err != nil {
		return nil, fmt.Errorf("blazeface: inference: %w", err)
	}
	sx := float32(d.scaled.X) / float32(w)
	sy := float32(d.scaled.Y) / float32(h)
	cands := d.candidates[:0]
	anchors := d.anchors
	for l := range 2 {
		scores := d.outputs[l].GetData()
		cands = decodeBlazeFace(cands, anchors, scores, d.outputs[2+l].GetData(), d.cfg.ScoreThreshold, sx, sy)
		anchors = anchors[len(scores):]
	}
	d.candidates = cands
	return face.NMS(cands, d.cfg.NMSThreshold), nil
}

// decodeBlazeFace appends to dst the anchors whose score is at least thr, in frame pixels (network pixels divided by
// sx, sy). MediaPipe's decode with fixed-size anchors and scale = input size: values are network-pixel offsets from
// the anchor centre (box centre, then keypoints), box width and height are network pixels.
func decodeBlazeFace(dst []face.Face, anchors []face.Point, scores, regs []float32, thr, sx, sy float32) []face.Face {
	for i, logit := range scores {
		s := float32(1 / (1 + math.Exp(-float64(min(max(logit, -100), 100)))))
		if s < thr {
			continue
		}
		a := anchors[i]
		r := regs[blazeValues*i : blazeValues*(i+1)]
		pt := func(k int) face.Point { // keypoint k in frame pixels
			return face.Point{X: (a.X + r[4+2*k]) / sx, Y: (a.Y + r[5+2*k]) / sy}
		}
		cx, cy := a.X+r[0], a.Y+r[1]
		f := face.Face{
			Box: face.Box{
				X1: (cx - r[2]/2) / sx, Y1: (cy - r[3]/2) / sy,
				X2: (cx + r[2]/2) / sx, Y2: (cy + r[3]/2) / sy,
			},
			Score: s,
		}
		le, re := pt(0), pt(1) // MediaPipe: the person's right eye (image left on an upright face), then the left
		if le.X > re.X {
			le, re = re, le
		}
		mouth := pt(3)
		ex, ey := (re.X-le.X)*BlazeFaceMouthHalfWidth, (re.Y-le.Y)*BlazeFaceMouthHalfWidth
		f.Kps[face.LeftEye], f.Kps[face.RightEye], f.Kps[face.Nose] = le, re, pt(2)
		f.Kps[face.LeftMouth] = face.Point{X: mouth.X - ex, Y: mouth.Y - ey}
		f.Kps[face.RightMouth] = face.Point{X: mouth.X + ex, Y: mouth.Y + ey}
		dst = append(dst, f)
	}
	return dst
}
