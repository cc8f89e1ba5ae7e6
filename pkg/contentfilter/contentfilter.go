// Package contentfilter screens a target before any face is swapped: it samples the target (about one frame a
// second of a video, an image whole), scores each sample with the user's classifier (a content_filter model of the
// manifest, fed as its contract declares), and refuses the job when too many samples are flagged. The defaults
// are FaceFusion's: a sample scoring above 0.8 is flagged, and more than 10% flagged refuses the target.
package contentfilter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"slices"

	onnxruntime "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/models"
	"github.com/facefleet/facefleet/pkg/imagefile"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/ort"
)

// Defaults (FaceFusion's content analyser: PROBABILITY_LIMIT 0.80 is open_nsfw's declared threshold, RATE_LIMIT 10).
const (
	DefaultModel      = "open_nsfw"
	DefaultMaxPercent = 10.0
)

// Sentinels callers branch on.
var (
	// ErrNotInstalled: the classifier's file is not in the models directory; targets go unscreened.
	ErrNotInstalled = errors.New("no content classifier installed")
	// ErrRefused: too many samples of the target were flagged.
	ErrRefused = errors.New("refused by the content filter")
	// ErrClassifier: the classifier is not what the manifest declares, or gave an output that is not a score.
	ErrClassifier = errors.New("content classifier")
)

// Config is the filter's settings (`--content-filter-*`).
type Config struct {
	ModelsDir string
	// Model is a manifest entry of kind content_filter.
	Model string
	// Threshold flags a sample scoring above it; 0 = the model's declared threshold.
	Threshold float64
	// MaxPercent refuses a target when more than this percent of its samples are flagged.
	MaxPercent float64
	// ORTLibrary is libonnxruntime's path; "" = ort.DefaultLibraryPath().
	ORTLibrary string
	// Threads is the classifier's intra-op threads; 0 = ONNX Runtime's default.
	Threads int
}

// Default is FaceFusion's filter on the default classifier.
func Default() Config {
	return Config{ModelsDir: models.DefaultDir(), Model: DefaultModel, MaxPercent: DefaultMaxPercent}
}

// Validate checks the values, naming the flag at fault.
func (c Config) Validate() error {
	switch {
	case c.Model == "":
		return errors.New("--content-filter-model: a content_filter model of the manifest is required")
	case math.IsNaN(c.Threshold) || c.Threshold < 0 || c.Threshold >= 1:
		return fmt.Errorf("--content-filter-threshold %g: want 0 <= t < 1 (0 = the classifier's own)", c.Threshold)
	case math.IsNaN(c.MaxPercent) || c.MaxPercent < 0 || c.MaxPercent > 100:
		return fmt.Errorf("--content-filter-max-percent %g: want 0-100", c.MaxPercent)
	case c.Threads < 0:
		return fmt.Errorf("content filter threads %d: want >= 0", c.Threads)
	}
	return nil
}

// Filter scores targets with one classifier. It is safe for concurrent use: each Screen opens its own session.
type Filter struct {
	cfg       Config
	spec      models.FilterSpec
	path      string
	in, out   string // the session's input and output names
	threshold float64
}

// Open checks the classifier without keeping it loaded. A classifier that is not installed is ErrNotInstalled,
// whose message is the one line to tell the user; a file that is not what the manifest declares is ErrClassifier.
func Open(cfg Config) (*Filter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e, err := models.Lookup(cfg.Model)
	if err != nil {
		return nil, fmt.Errorf("--content-filter-model: %w", err)
	}
	if e.Kind != models.ContentFilter || e.Filter == nil {
		return nil, fmt.Errorf("--content-filter-model %s: a %s model, not a content_filter", e.Name, e.Kind)
	}
	path, err := models.Resolve(cfg.ModelsDir, e.Name)
	if errors.Is(err, models.ErrMissing) {
		return nil, fmt.Errorf("%w (%s not in %s): targets are not screened; copy your own %s there to screen them",
			ErrNotInstalled, e.File, cfg.ModelsDir, e.File)
	}
	if err != nil {
		return nil, fmt.Errorf("content filter: %w", err)
	}
	f := &Filter{cfg: cfg, spec: *e.Filter, path: path, threshold: cmp.Or(cfg.Threshold, e.Filter.Threshold)}
	if err := ort.Init(cmp.Or(cfg.ORTLibrary, ort.DefaultLibraryPath())); err != nil {
		return nil, fmt.Errorf("content filter: %w", err)
	}
	opts, err := ort.NewSessionOptions(f.session())
	if err != nil {
		return nil, fmt.Errorf("content filter: %w", err)
	}
	defer opts.Destroy()
	ins, outs, err := onnxruntime.GetInputOutputInfoWithOptions(path, opts)
	if err != nil {
		return nil, fmt.Errorf("%w %s: reading %s: %v", ErrClassifier, e.Name, path, err)
	}
	if err := f.bind(ins, outs); err != nil {
		return nil, fmt.Errorf("%w %s (%s): %v", ErrClassifier, e.Name, path, err)
	}
	return f, nil
}

func (f *Filter) session() ort.SessionConfig { return ort.SessionConfig{IntraOpThreads: f.cfg.Threads} }

// bind finds the declared input and output among the model's and checks the input takes the declared picture.
func (f *Filter) bind(ins, outs []onnxruntime.InputOutputInfo) error {
	pick := func(list []onnxruntime.InputOutputInfo, name, what string) (onnxruntime.InputOutputInfo, error) {
		for _, io := range list {
			if name == "*" || io.Name == name {
				return io, nil
			}
		}
		return onnxruntime.InputOutputInfo{}, fmt.Errorf("no %s %q", what, name)
	}
	in, err := pick(ins, f.spec.Input, "input")
	if err != nil {
		return err
	}
	out, err := pick(outs, f.spec.Output, "output")
	if err != nil {
		return err
	}
	want := f.inputShape()
	if in.DataType != onnxruntime.TensorElementDataTypeFloat || len(in.Dimensions) != len(want) {
		return fmt.Errorf("input %s is %v of type %v; the manifest declares float %v", in.Name, in.Dimensions, in.DataType, want)
	}
	for i, d := range in.Dimensions {
		if d > 0 && d != want[i] {
			return fmt.Errorf("input %s is %v; the manifest declares %v (%s)", in.Name, in.Dimensions, want, f.spec.Layout)
		}
	}
	if out.DataType != onnxruntime.TensorElementDataTypeFloat {
		return fmt.Errorf("output %s is of type %v, not float", out.Name, out.DataType)
	}
	f.in, f.out = in.Name, out.Name
	return nil
}

func (f *Filter) inputShape() onnxruntime.Shape {
	w, h := int64(f.spec.Width), int64(f.spec.Height)
	if f.spec.Layout == models.LayoutNCHW {
		return onnxruntime.NewShape(1, 3, h, w)
	}
	return onnxruntime.NewShape(1, h, w, 3)
}

// Verdict is what a screen found.
type Verdict struct {
	Samples, Flagged int
}

// Screen samples the target at path (name is the user's name for it, in messages) and scores every sample: nil
// when it may be processed, ErrRefused with the counts when too many samples were flagged, ErrClassifier when the
// classifier's output is not a score. info is the target's probe.
func (f *Filter) Screen(ctx context.Context, path, name string, info *media.Info) error {
	v, err := f.Judge(ctx, path, info)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if f.refuses(v) {
		return fmt.Errorf("%s: %w: %d of %d samples scored above %g (more than %g%% flagged)", name, ErrRefused,
			v.Flagged, v.Samples, f.threshold, f.cfg.MaxPercent)
	}
	return nil
}

// refuses is FaceFusion's rule: more than MaxPercent of the samples flagged.
func (f *Filter) refuses(v Verdict) bool {
	return v.Samples > 0 && float64(v.Flagged)*100 > f.cfg.MaxPercent*float64(v.Samples)
}

// Judge scores the samples of the target and counts them.
func (f *Filter) Judge(ctx context.Context, path string, info *media.Info) (Verdict, error) {
	s, err := f.open()
	if err != nil {
		return Verdict{}, err
	}
	defer s.close()
	var v Verdict
	score := func(bgr []byte) error {
		p, err := s.score(bgr)
		if err != nil {
			return err
		}
		v.Samples++
		if float32(p) > float32(f.threshold) { // the model's precision: a float32 0.8 is not above 0.8

			v.Flagged++
		}
		return nil
	}
	if info.IsImage {
		return v, f.image(path, score)
	}
	return v, f.video(ctx, path, info, score)
}

// image scores the picture whole, resized to the input as FaceFusion does (bilinear, the aspect not kept).
func (f *Filter) image(path string, score func([]byte) error) error {
	m, err := imagefile.Read(path)
	if err != nil {
		return err
	}
	defer m.Close()
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(m, &small, image.Pt(f.spec.Width, f.spec.Height), 0, 0, gocv.InterpolationLinear)
	return score(small.ToBytes())
}

// video scores one frame a second (every round(fps)-th frame, from the first), decoded straight at the input's
// size and turned upright as a player shows it.
func (f *Filter) video(ctx context.Context, path string, info *media.Info, score func([]byte) error) error {
	fps := info.AvgFrameRate.Float()
	if fps <= 0 || math.IsNaN(fps) || math.IsInf(fps, 0) {
		fps = info.FrameRate.Float()
	}
	step := 1
	if fps >= 1.5 && fps < 1e6 {
		step = int(math.Round(fps))
	}
	w, h := f.spec.Width, f.spec.Height
	if info.Rotation == 90 || info.Rotation == 270 {
		w, h = h, w // decoded sideways, turned upright below
	}
	d, err := media.NewDecoder(ctx, media.DecoderConfig{Path: path, Width: w, Height: h})
	if err != nil {
		return err
	}
	defer d.Close()
	buf := make([]byte, d.FrameSize())
	for i := 0; ; i++ {
		if err := d.Read(buf); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if i%step != 0 {
			continue
		}
		if err := score(rotate(buf, w, h, info.Rotation)); err != nil {
			return err
		}
	}
}

// rotate turns a w x h BGR picture clockwise by deg (0, 90, 180, 270).
func rotate(src []byte, w, h, deg int) []byte {
	if deg == 0 {
		return src
	}
	dst := make([]byte, len(src))
	for y := range h {
		for x := range w {
			var dx, dy, dw int
			switch deg {
			case 90:
				dx, dy, dw = h-1-y, x, h
			case 180:
				dx, dy, dw = w-1-x, h-1-y, w
			default: // 270
				dx, dy, dw = y, w-1-x, h
			}
			copy(dst[(dy*dw+dx)*3:][:3], src[(y*w+x)*3:][:3])
		}
	}
	return dst
}

// session is one Screen's classifier: its session and input tensor.
type session struct {
	f     *Filter
	s     *onnxruntime.DynamicAdvancedSession
	input *onnxruntime.Tensor[float32]
}

func (f *Filter) open() (*session, error) {
	opts, err := ort.NewSessionOptions(f.session())
	if err != nil {
		return nil, fmt.Errorf("content filter: %w", err)
	}
	defer opts.Destroy()
	s := &session{f: f}
	if s.input, err = onnxruntime.NewEmptyTensor[float32](f.inputShape()); err != nil {
		return nil, fmt.Errorf("content filter: %w", err)
	}
	if s.s, err = onnxruntime.NewDynamicAdvancedSession(f.path, []string{f.in}, []string{f.out}, opts); err != nil {
		s.close()
		return nil, fmt.Errorf("%w %s: loading %s: %v", ErrClassifier, f.cfg.Model, f.path, err)
	}
	return s, nil
}

func (s *session) close() {
	if s.s != nil {
		_ = s.s.Destroy()
	}
	if s.input != nil {
		_ = s.input.Destroy()
	}
}

// score feeds one BGR picture of the input's size and reads the score back, checked: the classifier's output is
// untrusted, and a NaN would compare as "not flagged".
func (s *session) score(bgr []byte) (float64, error) {
	sp := s.f.spec
	fill(s.input.GetData(), bgr, sp)
	outs := []onnxruntime.Value{nil}
	if err := s.s.Run([]onnxruntime.Value{s.input}, outs); err != nil {
		return 0, fmt.Errorf("%w %s: %v", ErrClassifier, s.f.cfg.Model, err)
	}
	defer outs[0].Destroy()
	t, ok := outs[0].(*onnxruntime.Tensor[float32])
	if !ok {
		return 0, fmt.Errorf("%w %s: output %s is not a float tensor", ErrClassifier, s.f.cfg.Model, s.f.out)
	}
	if got := []int64(t.GetShape()); !slices.Equal(got, sp.Shape) {
		return 0, fmt.Errorf("%w %s: output %s has shape %v; the manifest declares %v", ErrClassifier, s.f.cfg.Model,
			s.f.out, got, sp.Shape)
	}
	p := float64(t.GetData()[sp.Score])
	if !(p >= 0 && p <= 1) {
		return 0, fmt.Errorf("%w %s: score %g is not a probability (0-1)", ErrClassifier, s.f.cfg.Model, p)
	}
	return p, nil
}

// fill writes a BGR picture into the input tensor: (v*scale - mean[c]) / std[c], channels in the declared order
// and layout.
func fill(dst []float32, bgr []byte, sp models.FilterSpec) {
	n := sp.Width * sp.Height
	for i := range n {
		for c := range 3 {
			src := c // BGR
			if sp.Order == models.OrderRGB {
				src = 2 - c
			}
			v := (float32(bgr[i*3+src])*sp.Scale - sp.Mean[c]) / sp.Std[c]
			if sp.Layout == models.LayoutNCHW {
				dst[c*n+i] = v
			} else {
				dst[i*3+c] = v
			}
		}
	}
}
