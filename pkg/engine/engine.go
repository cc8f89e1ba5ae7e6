// Package engine builds, once per worker slot, the frame processors a job asks for from loaded models, and keeps
// per-job state (the prepared source face) between the segments of a job. It holds no algorithms of its own.
package engine

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/ort"
	"github.com/facefleet/facefleet/pkg/pipeline"
	"github.com/facefleet/facefleet/pkg/processor"
)

// Sentinels callers branch on: bad input fails a job for good, anything else may be retried.
var (
	ErrBadInput = errors.New("bad input")
	ErrNoFace   = errors.New("no face found")
)

// FrameProcessors the engine knows.
const FaceSwapper = "face_swapper"

// Config selects models and runtime settings.
type Config struct {
	ORTLibrary    string // absolute path of libonnxruntime; default ort.DefaultLibraryPath()
	DetectorModel string // path of the YuNet model file
	DetectorSize  int    // network input's longest side, multiple of 32
	Threads       int    // ONNX Runtime intra-op threads
	Provider      string // execution provider: cpu
	// SourceCache is how many jobs' prepared source faces are kept, default 2.
	SourceCache int
}

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if c.DetectorModel == "" {
		return errors.New("engine: detector model path is required")
	}
	if c.ORTLibrary == "" {
		c.ORTLibrary = ort.DefaultLibraryPath()
	}
	if c.Provider == "" {
		c.Provider = "cpu"
	}
	if c.SourceCache <= 0 {
		c.SourceCache = 2
	}
	return nil
}

// Engine is one slot's loaded models. It is not safe for concurrent use: give each worker slot its own.
type Engine struct {
	cfg      Config
	detector processor.Detector
	mu       sync.Mutex
	sources  []cached
}

type cached struct {
	job     string
	swapper *processor.Classical
}

// New loads the models.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ort.Init(cfg.ORTLibrary); err != nil {
		return nil, err
	}
	det, err := processor.NewYuNet(processor.YuNetConfig{ModelPath: cfg.DetectorModel, InputSize: cfg.DetectorSize,
		Session: ort.SessionConfig{IntraOpThreads: cfg.Threads, Provider: cfg.Provider}})
	if err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg, detector: det}, nil
}

// Detector is the loaded face detector.
func (e *Engine) Detector() processor.Detector { return e.detector }

// SourceFace reads an image and finds its largest face.
func (e *Engine) SourceFace(path string) (gocv.Mat, face.Face, error) {
	if st, err := os.Stat(path); err != nil {
		return gocv.Mat{}, face.Face{}, fmt.Errorf("%s: %w: file not found", path, ErrBadInput)
	} else if st.Size() == 0 {
		return gocv.Mat{}, face.Face{}, fmt.Errorf("%s: %w: file is empty", path, ErrBadInput)
	}
	img := gocv.IMRead(path, gocv.IMReadColor)
	if img.Empty() {
		_ = img.Close()
		return gocv.Mat{}, face.Face{}, fmt.Errorf("%s: %w: not an image OpenCV can read", path, ErrBadInput)
	}
	faces, err := e.detector.Detect(img)
	if err != nil {
		_ = img.Close()
		return gocv.Mat{}, face.Face{}, fmt.Errorf("%s: detect: %w", path, err)
	}
	f, ok := face.Largest(faces)
	if !ok {
		_ = img.Close()
		return gocv.Mat{}, face.Face{}, fmt.Errorf("%s: %w in the source image", path, ErrNoFace)
	}
	return img, f, nil
}

// Options are a job's frame-processing choices.
type Options struct {
	Processors []string
	ManyFaces  bool
	Blend      string // classical swap blend: "feather" (default) or "poisson"
}

// Blends the classical swapper offers.
const (
	BlendFeather = "feather"
	BlendPoisson = "poisson"
)

// ForJob returns the frame processor for a job whose source image is at sourcePath, preparing the source face
// once per job and reusing it for the job's later segments.
func (e *Engine) ForJob(jobID, sourcePath string, opt Options) (pipeline.Processor, error) {
	for _, p := range opt.Processors {
		if p != FaceSwapper {
			return nil, fmt.Errorf("%w: frame processor %q is not available (have: %s)", ErrBadInput, p, FaceSwapper)
		}
	}
	if opt.Blend != "" && opt.Blend != BlendFeather && opt.Blend != BlendPoisson {
		return nil, fmt.Errorf("%w: blend %q: want %s or %s", ErrBadInput, opt.Blend, BlendFeather, BlendPoisson)
	}
	sw, err := e.swapper(jobID, sourcePath, opt.Blend == BlendPoisson)
	if err != nil {
		return nil, err
	}
	return &FaceSwap{Detector: e.detector, Swapper: sw, ManyFaces: opt.ManyFaces}, nil
}

func (e *Engine) swapper(jobID, sourcePath string, poisson bool) (*processor.Classical, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.sources {
		if c.job == jobID {
			return c.swapper, nil
		}
	}
	img, f, err := e.SourceFace(sourcePath)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	cc := processor.DefaultClassicalConfig()
	cc.Poisson = poisson
	sw, err := processor.NewClassical(img, f, cc)
	if err != nil {
		return nil, fmt.Errorf("engine: prepare source: %w", err)
	}
	if len(e.sources) >= e.cfg.SourceCache {
		_ = e.sources[0].swapper.Close()
		e.sources = e.sources[1:]
	}
	e.sources = append(e.sources, cached{job: jobID, swapper: sw})
	return sw, nil
}

// Close releases the models and cached sources.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.sources {
		_ = c.swapper.Close()
	}
	e.sources = nil
	return e.detector.Close()
}

// FaceSwap detects faces in a frame and swaps the largest one (or all with ManyFaces). Frames without a face pass
// through unchanged.
type FaceSwap struct {
	Detector  processor.Detector
	Swapper   processor.Swapper
	ManyFaces bool
}

// Process implements pipeline.Processor.
func (f *FaceSwap) Process(frame gocv.Mat, _ int) error {
	faces, err := f.Detector.Detect(frame)
	if err != nil {
		return err
	}
	if len(faces) == 0 {
		return nil
	}
	if !f.ManyFaces {
		largest, _ := face.Largest(faces)
		faces = []face.Face{largest}
	}
	return f.Swapper.Swap(frame, faces)
}
