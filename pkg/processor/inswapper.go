package processor

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/onnxfile"
	"github.com/facefleet/facefleet/pkg/ort"
	onnxruntime "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// InswapperConfig configures the inswapper_128 face swapper.
type InswapperConfig struct {
	// ModelPath is inswapper_128.onnx (or a file with its inputs and outputs).
	ModelPath string
	// MaxBatch bounds the faces per model call when the model's batch dimension is dynamic; 0 means 4. A model with
	// a fixed batch of 1 (the released inswapper_128.onnx) runs one face per call whatever MaxBatch says.
	MaxBatch int
	// Session is how ONNX Runtime runs the model.
	Session ort.SessionConfig
	// PasteCap, when > 0, caps the side of the paste-back mask (--memory-optimization; see PasteCapSide).
	PasteCap int
}

// DefaultInswapperMaxBatch is InswapperConfig.MaxBatch's default.
const DefaultInswapperMaxBatch = 4

// Validate reports a configuration NewInswapper would refuse, without touching the model file.
func (c InswapperConfig) Validate() error {
	if c.ModelPath == "" {
		return errors.New("inswapper: ModelPath is empty")
	}
	if c.MaxBatch < 0 || c.MaxBatch > 64 {
		return fmt.Errorf("inswapper: MaxBatch must be in [0, 64], got %d", c.MaxBatch)
	}
	return c.Session.Validate()
}

// The inswapper_128 contract (../shared/guide/MODEL_CONTRACTS.md).
const (
	inswapperSize   = 128
	inswapperLatent = 512
	inswapperPlane  = inswapperSize * inswapperSize
	inswapperPixels = 3 * inswapperPlane
)

// inswapperLUT maps a uint8 channel value to the model's input, x/255 (insightface: blobFromImage, scale 1/255).
var inswapperLUT = func() (l [256]float32) {
	for i := range l {
		l[i] = float32(float64(i) / 255)
	}
	return l
}()

// Inswapper swaps faces with inswapper_128: each target face is aligned to the 128 ArcFace template (shifted 8 px),
// the model repaints it with the identity of a source latent, and the result is pasted back into the face's
// rectangle through insightface's eroded, blurred mask (see paste.go). Input and output tensors, the crop buffers
// and the paste scratch are kept between calls. It is not safe for concurrent use.
type Inswapper struct {
	cfg      InswapperConfig
	batch    int  // faces per model call
	dynamic  bool // the model's batch dimension is dynamic
	outName  string
	emap     []float32 // 512 x 512, row-major
	template [5]face.Point
	session  *onnxruntime.DynamicAdvancedSession

	// Tensors per batch size n (index n-1), made on first use; those of one kind share one backing slice.
	target, source, output []float32
	tensors                []inswapperTensors

	affine gocv.Mat // 2x3 CV_64F: frame -> crop
	crops  cropBuf  // n stacked 128x128 BGR crops
	fake   gocv.Mat // one model output as 128x128 BGR uint8
	paste  paster
	jobs   []swapJob

	runs int // model calls so far (tests count them)
}

type inswapperTensors struct {
	target, source, output *onnxruntime.Tensor[float32]
}

// swapJob is one face to swap: which frame it is in and its alignment (frame -> crop).
type swapJob struct {
	frame int
	m     face.Affine
}

// NewInswapper loads the model, checks its inputs and outputs, and reads emap (its last initializer).
// ort.Init must have succeeded.
func NewInswapper(cfg InswapperConfig) (*Inswapper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultInswapperMaxBatch
	}
	path := cfg.ModelPath
	opts, ins, outs, err := openModel("inswapper", path, cfg.Session)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	dynamic, outName, err := checkInswapperIO(ins, outs)
	if err != nil {
		return nil, fmt.Errorf("inswapper: %s is not an inswapper_128 model: %w", path, err)
	}
	emap, err := onnxfile.LastInitializer(path)
	if err != nil {
		return nil, fmt.Errorf("inswapper: reading emap: %w", err)
	}
	if emap.DataType != onnxfile.TypeFloat || len(emap.Dims) != 2 || emap.Dims[0] != inswapperLatent ||
		emap.Dims[1] != inswapperLatent || len(emap.Data) != inswapperLatent*inswapperLatent {
		return nil, fmt.Errorf("inswapper: %s: the last initializer %q must be emap, a 512x512 float matrix; got shape %v, data type %d",
			path, emap.Name, emap.Dims, emap.DataType)
	}
	s := &Inswapper{
		cfg: cfg, batch: 1, dynamic: dynamic, outName: outName, emap: emap.Data,
		template: face.ArcFaceTemplate(inswapperSize), paste: paster{maxSide: cfg.PasteCap},
	}
	if dynamic {
		s.batch = cfg.MaxBatch
	}
	s.session, err = onnxruntime.NewDynamicAdvancedSession(path, []string{"target", "source"}, []string{outName}, opts)
	if err != nil {
		return nil, fmt.Errorf("inswapper: loading %s: %w", path, err)
	}
	s.target = make([]float32, s.batch*inswapperPixels)
	s.source = make([]float32, s.batch*inswapperLatent)
	s.output = make([]float32, s.batch*inswapperPixels)
	s.tensors = make([]inswapperTensors, s.batch)
	s.affine = gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	s.fake = gocv.NewMatWithSize(inswapperSize, inswapperSize, gocv.MatTypeCV8UC3)
	return s, nil
}

// checkInswapperIO checks the contract: float inputs "target" [N,3,128,128] and "source" [N,512], one float output
// [N,3,128,128], N fixed 1 or dynamic in all three. It returns whether N is dynamic and the output's name.
func checkInswapperIO(ins, outs []onnxruntime.InputOutputInfo) (dynamic bool, outName string, err error) {
	var target, source *onnxruntime.InputOutputInfo
	for i := range ins {
		switch ins[i].Name {
		case "target":
			target = &ins[i]
		case "source":
			source = &ins[i]
		}
	}
	if len(ins) != 2 || target == nil || source == nil || len(outs) != 1 {
		return false, "", fmt.Errorf("want inputs target and source and one output, got %s", describeIO(ins, outs))
	}
	want := []struct {
		info *onnxruntime.InputOutputInfo
		dims []int64
	}{
		{target, []int64{3, inswapperSize, inswapperSize}},
		{source, []int64{inswapperLatent}},
		{&outs[0], []int64{3, inswapperSize, inswapperSize}},
	}
	dyn := 0
	for _, w := range want {
		d := w.info.Dimensions
		ok := w.info.DataType == onnxruntime.TensorElementDataTypeFloat && len(d) == 1+len(w.dims) && (d[0] == 1 || d[0] < 0)
		for i := 0; ok && i < len(w.dims); i++ {
			ok = d[1+i] == w.dims[i]
		}
		if !ok {
			return false, "", fmt.Errorf("%s must be float [N,%v] with N 1 or dynamic, got %s",
				w.info.Name, w.dims, describeIO(ins, outs))
		}
		if d[0] < 0 {
			dyn++
		}
	}
	if dyn != 0 && dyn != 3 {
		return false, "", fmt.Errorf("the batch dimension must be dynamic in every input and output or in none, got %s",
			describeIO(ins, outs))
	}
	return dyn == 3, outs[0].Name, nil
}

// Batch is the number of faces per model call: MaxBatch for a model with a dynamic batch dimension, else 1.
func (s *Inswapper) Batch() int { return s.batch }

// SourceLatent turns a source face's ArcFace embedding (w600k_r50 output, raw or normalised) into the latent the
// model takes: normalise it (insightface's normed_embedding), multiply by emap, normalise the product.
func (s *Inswapper) SourceLatent(embedding []float32) ([]float32, error) {
	if len(embedding) != inswapperLatent {
		return nil, fmt.Errorf("inswapper: source embedding has %d values, want %d", len(embedding), inswapperLatent)
	}
	var n2 float64
	for _, v := range embedding {
		n2 += float64(v) * float64(v)
	}
	if !(n2 > 0) || math.IsInf(n2, 0) {
		return nil, fmt.Errorf("inswapper: source embedding has norm %v", math.Sqrt(n2))
	}
	inv := 1 / math.Sqrt(n2)
	acc := make([]float64, inswapperLatent)
	for i, v := range embedding {
		e := float64(float32(float64(v) * inv)) // normed_embedding is float32
		row := s.emap[i*inswapperLatent : (i+1)*inswapperLatent]
		for j, w := range row {
			acc[j] += e * float64(w)
		}
	}
	var l2 float64
	for _, v := range acc {
		l2 += v * v
	}
	if !(l2 > 0) || math.IsInf(l2, 0) {
		return nil, fmt.Errorf("inswapper: source latent has norm %v", math.Sqrt(l2))
	}
	inv = 1 / math.Sqrt(l2)
	latent := make([]float32, inswapperLatent)
	for j, v := range acc {
		latent[j] = float32(v * inv)
	}
	return latent, nil
}

// Swap replaces each target face of frame (BGR uint8) with the source identity given by latent (from SourceLatent),
// in place. Faces are batched into model calls when the model allows it. Every crop is taken before anything is
// pasted, so overlapping faces give the same result batched or not.
func (s *Inswapper) Swap(frame gocv.Mat, targets []face.Face, latent []float32) error {
	return s.SwapBatch([]gocv.Mat{frame}, [][]face.Face{targets}, latent)
}

// SwapBatch is Swap over several frames (targets[i] are frames[i]'s faces), filling each model call with up to
// Batch() faces from any of the frames.
func (s *Inswapper) SwapBatch(frames []gocv.Mat, targets [][]face.Face, latent []float32) error {
	if s.session == nil {
		return errors.New("inswapper: Swap after Close")
	}
	if len(frames) != len(targets) {
		return fmt.Errorf("inswapper: %d frames but %d target lists", len(frames), len(targets))
	}
	if len(latent) != inswapperLatent {
		return fmt.Errorf("inswapper: source latent has %d values, want %d", len(latent), inswapperLatent)
	}
	s.jobs = s.jobs[:0]
	for fi, frame := range frames {
		if len(targets[fi]) == 0 {
			continue
		}
		if err := checkBGR("frame", frame); err != nil {
			return fmt.Errorf("inswapper: %w", err)
		}
		for i, t := range targets[fi] {
			if err := checkLandmarks(t); err != nil {
				return fmt.Errorf("inswapper: frame %d face %d: %w", fi, i, err)
			}
			m, err := face.EstimateSimilarity(t.Kps[:], s.template[:])
			if err != nil {
				return fmt.Errorf("inswapper: frame %d face %d: %w", fi, i, err)
			}
			r, _, err := pasteRect(m, inswapperSize, frame.Cols(), frame.Rows())
			if err != nil {
				return fmt.Errorf("inswapper: frame %d face %d: %w", fi, i, err)
			}
			if r.Dx() < 2 || r.Dy() < 2 {
				continue // outside the frame
			}
			s.jobs = append(s.jobs, swapJob{frame: fi, m: m})
		}
	}
	if len(s.jobs) == 0 {
		return nil
	}

	// Every crop first, from the frames as they came in.
	crops := s.crops.view(len(s.jobs)*inswapperSize, inswapperSize, 3)
	defer crops.Close()
	for i, j := range s.jobs {
		setAffine(s.affine, j.m)
		dst := crops.Region(image.Rect(0, i*inswapperSize, inswapperSize, (i+1)*inswapperSize))
		gocv.WarpAffineWithParams(frames[j.frame], &dst, s.affine, image.Pt(inswapperSize, inswapperSize),
			gocv.InterpolationLinear, gocv.BorderConstant, color.RGBA{})
		dst.Close()
	}
	pix, err := crops.DataPtrUint8()
	if err != nil {
		return fmt.Errorf("inswapper: %w", err)
	}

	for start := 0; start < len(s.jobs); start += s.batch {
		n := min(s.batch, len(s.jobs)-start)
		ts, err := s.tensorsFor(n)
		if err != nil {
			return err
		}
		in := ts.target.GetData()
		for i := 0; i < n; i++ {
			crop := pix[(start+i)*inswapperPixels : (start+i+1)*inswapperPixels]
			fillRGBPlanar(in[i*inswapperPixels:(i+1)*inswapperPixels], crop, &inswapperLUT)
		}
		src := ts.source.GetData()
		for i := 0; i < n; i++ {
			copy(src[i*inswapperLatent:(i+1)*inswapperLatent], latent)
		}
		if err := s.session.Run([]onnxruntime.Value{ts.target, ts.source}, []onnxruntime.Value{ts.output}); err != nil {
			return fmt.Errorf("inswapper: inference: %w", err)
		}
		s.runs++
		out := ts.output.GetData()
		for i := 0; i < n; i++ {
			j := s.jobs[start+i]
			if err := planarRGBToBGR(s.fake, out[i*inswapperPixels:(i+1)*inswapperPixels], unitToByte); err != nil {
				return fmt.Errorf("inswapper: %w", err)
			}
			if _, err := s.paste.pasteBack(frames[j.frame], s.fake, j.m, 1); err != nil {
				return fmt.Errorf("inswapper: frame %d: %w", j.frame, err)
			}
		}
	}
	return nil
}

// tensorsFor returns the tensors for a call with n faces, making them on first use.
func (s *Inswapper) tensorsFor(n int) (inswapperTensors, error) {
	if t := s.tensors[n-1]; t.target != nil {
		return t, nil
	}
	var (
		t   inswapperTensors
		err error
	)
	nn := int64(n)
	if t.target, err = onnxruntime.NewTensor(onnxruntime.NewShape(nn, 3, inswapperSize, inswapperSize), s.target); err != nil {
		return t, fmt.Errorf("inswapper: target tensor: %w", err)
	}
	if t.source, err = onnxruntime.NewTensor(onnxruntime.NewShape(nn, inswapperLatent), s.source); err != nil {
		t.target.Destroy()
		return inswapperTensors{}, fmt.Errorf("inswapper: source tensor: %w", err)
	}
	if t.output, err = onnxruntime.NewTensor(onnxruntime.NewShape(nn, 3, inswapperSize, inswapperSize), s.output); err != nil {
		t.target.Destroy()
		t.source.Destroy()
		return inswapperTensors{}, fmt.Errorf("inswapper: output tensor: %w", err)
	}
	s.tensors[n-1] = t
	return t, nil
}

// Close frees the session, tensors and buffers. It is safe to call twice.
func (s *Inswapper) Close() error {
	for i, t := range s.tensors {
		for _, x := range []*onnxruntime.Tensor[float32]{t.target, t.source, t.output} {
			if x != nil {
				x.Destroy()
			}
		}
		s.tensors[i] = inswapperTensors{}
	}
	closeMat(&s.affine)
	closeMat(&s.fake)
	s.crops.close()
	s.paste.close()
	var err error
	if s.session != nil {
		err = s.session.Destroy()
		s.session = nil
	}
	return err
}

// setAffine copies m into a 2x3 CV_64F Mat.
func setAffine(dst gocv.Mat, m face.Affine) {
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			dst.SetDoubleAt(i, j, m[i][j])
		}
	}
}

// fillRGBPlanar writes BGR uint8 pixels into a planar R, G, B float input through lut.
func fillRGBPlanar(dst []float32, bgr []uint8, lut *[256]float32) {
	plane := len(bgr) / 3
	r, g, b := dst[:plane], dst[plane:2*plane], dst[2*plane:3*plane]
	for i := range r {
		px := bgr[3*i : 3*i+3]
		b[i] = lut[px[0]]
		g[i] = lut[px[1]]
		r[i] = lut[px[2]]
	}
}

// planarRGBToBGR writes a planar RGB model output into dst (BGR uint8), mapping each value with toByte (the
// model's output range: [0, 1] for inswapper, [-1, 1] for the enhancers).
func planarRGBToBGR(dst gocv.Mat, rgb []float32, toByte func(float32) uint8) error {
	pix, err := dst.DataPtrUint8()
	if err != nil {
		return err
	}
	plane := len(pix) / 3
	if len(rgb) != 3*plane {
		return fmt.Errorf("output has %d values for a %d-pixel image", len(rgb), plane)
	}
	r, g, b := rgb[:plane], rgb[plane:2*plane], rgb[2*plane:]
	for i := 0; i < plane; i++ {
		pix[3*i] = toByte(b[i])
		pix[3*i+1] = toByte(g[i])
		pix[3*i+2] = toByte(r[i])
	}
	return nil
}

// unitToByte is clip(255*x, 0, 255) rounded to nearest; NaN gives 0.
func unitToByte(x float32) uint8 {
	v := 255 * x
	if !(v > 0) {
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(v + 0.5)
}
