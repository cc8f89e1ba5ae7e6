// Package engine loads, once per worker slot, the models a job's frame processors need, prepares each job's source
// face once, and composes the processors into one per-frame function: detect once, select, swap, enhance. It holds
// no algorithms of its own.
package engine

import (
	"cmp"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/models"
	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/fault"
	"github.com/facefleet/facefleet/pkg/imagefile"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/ort"
	"github.com/facefleet/facefleet/pkg/pipeline"
	"github.com/facefleet/facefleet/pkg/processor"
	"github.com/facefleet/facefleet/pkg/provenance"
)

// Sentinels callers branch on: bad input fails a job for good, anything else may be retried.
var (
	ErrBadInput = errors.New("bad input")
	ErrNoFace   = errors.New("no face found")
)

// Blends the model-free swappers offer.
const (
	BlendFeather = "feather"
	BlendPoisson = "poisson"
)

// Default model names (manifest names).
const (
	DefaultDetector   = "yunet"
	DefaultLandmarker = "face_landmark"
	DefaultRecognizer = "w600k_r50"
	DefaultEnhancer   = "gfpgan_1.4"
	DefaultSwapper    = job.SwapperMesh
)

// Config selects where models come from and how ONNX Runtime runs them; it is the worker's, not the job's.
type Config struct {
	ORTLibrary string // absolute path of libonnxruntime; default ort.DefaultLibraryPath()
	ModelsDir  string // default models.DefaultDir()
	// Detector is a manifest name or a model file (--face-detector-model); DetectorSize and DetectorScore are
	// --face-detector-size and --face-detector-score (0 = the detector's defaults).
	Detector      string
	DetectorSize  int
	DetectorScore float32
	Session       ort.SessionConfig
	// SourceCache is how many jobs' prepared source faces are kept, default 2.
	SourceCache int
	// Batch is the most faces or frames per model call where a model allows batches (--batch-size, as the memory
	// plan sized it); 0 means each model's default.
	Batch int
	// MemoryOptimization caps the paste-back mask of the ONNX swapper and enhancers at processor.PasteCapSide.
	MemoryOptimization bool
	// OnOOM is called when a model reports an allocation failure, before the frame is retried once; the memory
	// governor halves the frames in flight there.
	OnOOM func()
	// DetectEvery is how often selector one runs the detector while it follows its person (0: DefaultDetectEvery;
	// 1: every frame).
	DetectEvery int
	// MeshEvery is how often the landmark model runs while selector one follows its person by landmarks (0:
	// DefaultMeshEvery; 1: every frame).
	MeshEvery int
}

func (c Config) pasteCap() int {
	if c.MemoryOptimization {
		return processor.PasteCapSide
	}
	return 0
}

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if c.ORTLibrary == "" {
		c.ORTLibrary = ort.DefaultLibraryPath()
	}
	if c.ModelsDir == "" {
		c.ModelsDir = models.DefaultDir()
	}
	if c.Detector == "" {
		c.Detector = DefaultDetector
	}
	if c.SourceCache <= 0 {
		c.SourceCache = 2
	}
	return c.Session.Validate()
}

// Engine is one slot's loaded models. It is not safe for concurrent use: give each worker slot its own.
type Engine struct {
	cfg      Config
	detector processor.Detector
	// Loaded on first use and kept: a worker pays each model's load once.
	landmarker  processor.Landmarker
	recognizers map[string]processor.Embedder
	inswappers  map[string]*processor.Inswapper // by model path: jobs may name different files
	enhancers   map[string]*processor.Enhancer
	digests     map[string]string // recognizer file -> sha256
	models      []string          // files loaded, for provenance

	mu   sync.Mutex
	jobs []*prepared
	// hintMu guards meshes: selector one hands them over while the mesh swap may take the previous frame's.
	hintMu sync.Mutex
	// meshes are the meshes selector one found its person's face by, per frame buffer, for the mesh swap to use
	// rather than run the landmark model again on the same face.
	meshes map[*uint8]meshHint
}

type meshHint struct {
	face face.Face
	mesh face.Mesh
}

// frameKey names a frame buffer (the pipeline's pool reuses them, so a hint is checked against its face too).
func frameKey(frame gocv.Mat) *uint8 {
	b, err := frame.DataPtrUint8()
	if err != nil || len(b) == 0 {
		return nil
	}
	return &b[0]
}

func (e *Engine) hintMesh(frame gocv.Mat, f face.Face, m face.Mesh) {
	e.hintMu.Lock()
	defer e.hintMu.Unlock()
	if k := frameKey(frame); k != nil {
		e.meshes[k] = meshHint{f, m}
	}
}

// landmarks is lm's mesh of face f in frame, or the mesh selector one already found it by.
func (e *Engine) landmarks(lm processor.Landmarker, frame gocv.Mat, f face.Face) (face.Mesh, error) {
	if h, ok := e.takeHint(frame); ok && h.face == f {
		return h.mesh, nil
	}
	return lm.Landmarks(frame, f)
}

// takeHint removes and returns the mesh hinted for frame, if any.
func (e *Engine) takeHint(frame gocv.Mat) (meshHint, bool) {
	e.hintMu.Lock()
	defer e.hintMu.Unlock()
	k := frameKey(frame)
	h, ok := e.meshes[k]
	if ok {
		delete(e.meshes, k)
	}
	return h, ok
}

// New prepares an engine; models, and ONNX Runtime itself, load when a job first needs them, so frame processor
// "none" loads nothing.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg, recognizers: map[string]processor.Embedder{}, enhancers: map[string]*processor.Enhancer{},
		inswappers: map[string]*processor.Inswapper{}, digests: map[string]string{}, meshes: map[*uint8]meshHint{}}, nil
}

// model initialises ONNX Runtime on first use and resolves a model name or file.
func (e *Engine) model(nameOrPath string) (string, error) {
	if err := ort.Init(e.cfg.ORTLibrary); err != nil {
		return "", err
	}
	return e.cfg.resolve(nameOrPath)
}

// resolve turns a manifest name or a file path into a verified model file.
func (c Config) resolve(nameOrPath string) (string, error) {
	if IsModelFile(nameOrPath) {
		if _, err := os.Stat(nameOrPath); err != nil {
			return "", fmt.Errorf("%s: model file not found", nameOrPath)
		}
		return nameOrPath, nil
	}
	return models.Resolve(c.ModelsDir, nameOrPath)
}

// Models lists the model files this engine has loaded so far.
func (e *Engine) Models() []string {
	out := append([]string(nil), e.models...)
	slices.Sort(out)
	return slices.Compact(out) // a model unloaded and loaded again (--memory-optimization) is listed once
}

// Detector is the face detector, loaded on first use.
func (e *Engine) Detector() (processor.Detector, error) {
	if e.detector != nil {
		return e.detector, nil
	}
	path, err := e.model(e.cfg.Detector)
	if err != nil {
		return nil, modelError(err)
	}
	det, err := processor.NewDetector(processor.DetectorConfig{ModelPath: path, InputSize: e.cfg.DetectorSize,
		ScoreThreshold: e.cfg.DetectorScore, Session: e.cfg.Session})
	if err != nil {
		return nil, modelError(err)
	}
	e.detector, e.models = det, append(e.models, filepath.Base(path))
	return det, nil
}

// Preload loads the models the default swap needs, so a worker measures its footprint and fails on a missing
// model at start rather than on its first task.
func (e *Engine) Preload() error {
	if _, err := e.Detector(); err != nil {
		return err
	}
	_, err := e.loadLandmarker()
	return err
}

func (e *Engine) loadLandmarker() (processor.Landmarker, error) {
	if e.landmarker != nil {
		return e.landmarker, nil
	}
	path, err := e.model(DefaultLandmarker)
	if err != nil {
		return nil, modelError(err)
	}
	cfg := processor.DefaultFaceMeshConfig(path)
	cfg.Session = e.cfg.Session
	if !cfg.Session.OnGPU() {
		cfg.Session.IntraOpThreads = landmarkerThreads
	}
	lm, err := processor.NewFaceMesh(cfg)
	if err != nil {
		return nil, modelError(err)
	}
	e.landmarker, e.models = &lockedLandmarker{lm: lm}, append(e.models, filepath.Base(path))
	return e.landmarker, nil
}

// landmarkerThreads is the landmark model's intra-op threads on the CPU, whatever --execution-threads says: the
// 192x192 model is too small to split (every operator's parallel part wakes the other threads and waits for
// them), and it runs beside the swap of the frame before (StagedProcessor), which keeps the other cores busy.
const landmarkerThreads = 1

// lockedLandmarker is the landmark model shared by the two stages of a frame's work (FindPicture, which follows
// the person, and the mesh swap after it, which may run at the same time on the previous frame).
type lockedLandmarker struct {
	mu sync.Mutex
	lm processor.Landmarker
}

func (l *lockedLandmarker) Landmarks(img gocv.Mat, f face.Face) (face.Mesh, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lm.Landmarks(img, f)
}

func (l *lockedLandmarker) Close() error { return l.lm.Close() }

// Region is the model's (readRegion).
func (l *lockedLandmarker) Region(f face.Face, w, h int) image.Rectangle {
	return readRegion(l.lm, f, w, h)
}

func (e *Engine) loadRecognizer(name string) (processor.Embedder, error) {
	if name == "" {
		name = DefaultRecognizer
	}
	if r, ok := e.recognizers[name]; ok {
		return r, nil
	}
	path, err := e.model(name)
	if err != nil {
		return nil, modelError(err)
	}
	r, err := processor.NewArcFace(processor.ArcFaceConfig{ModelPath: path, MaxBatch: e.cfg.Batch, Session: e.cfg.Session})
	if err != nil {
		return nil, modelError(err)
	}
	e.recognizers[name], e.models = r, append(e.models, filepath.Base(path))
	return r, nil
}

// RecognizerDigest is the sha256 of the recognizer's model file (name as in FaceOptions.Recognizer), which names
// the identity space of its embeddings. Hashed once per file.
func (e *Engine) RecognizerDigest(name string) (string, error) {
	if name == "" {
		name = DefaultRecognizer
	}
	path, err := e.model(name)
	if err != nil {
		return "", err
	}
	if d, ok := e.digests[path]; ok {
		return d, nil
	}
	d, err := provenance.FileSHA256(path)
	if err != nil {
		return "", fmt.Errorf("recognizer %s: %w", path, err)
	}
	e.digests[path] = d
	return d, nil
}

func (e *Engine) loadInswapper(nameOrPath string) (*processor.Inswapper, error) {
	path, err := e.model(nameOrPath)
	if err != nil {
		return nil, modelError(err)
	}
	if s, ok := e.inswappers[path]; ok {
		return s, nil
	}
	s, err := processor.NewInswapper(processor.InswapperConfig{ModelPath: path, MaxBatch: e.cfg.Batch, Session: e.cfg.Session,
		PasteCap: e.cfg.pasteCap()})
	if err != nil {
		return nil, modelError(err)
	}
	e.inswappers[path], e.models = s, append(e.models, filepath.Base(path))
	return s, nil
}

// loadEnhancer loads an enhancer once per model; the blend is applied per call (Enhancer.EnhanceBlend).
func (e *Engine) loadEnhancer(name string) (*processor.Enhancer, error) {
	if name == "" {
		name = DefaultEnhancer
	}
	if en, ok := e.enhancers[name]; ok {
		return en, nil
	}
	path, err := e.model(name)
	if err != nil {
		return nil, modelError(err)
	}
	cfg := processor.DefaultEnhancerConfig(path)
	cfg.Session, cfg.PasteCap = e.cfg.Session, e.cfg.pasteCap()
	en, err := processor.NewEnhancer(cfg)
	if err != nil {
		return nil, modelError(err)
	}
	e.enhancers[name], e.models = en, append(e.models, filepath.Base(path))
	return en, nil
}

// SourceFace reads an image and finds its largest face. The caller closes the Mat.
func (e *Engine) SourceFace(path string) (gocv.Mat, face.Face, error) {
	if st, err := os.Stat(path); err != nil {
		return gocv.Mat{}, face.Face{}, fmt.Errorf("%s: %w: file not found", path, ErrBadInput)
	} else if st.Size() == 0 {
		return gocv.Mat{}, face.Face{}, fmt.Errorf("%s: %w: file is empty", path, ErrBadInput)
	}
	img, err := imagefile.Read(path)
	if err != nil {
		return gocv.Mat{}, face.Face{}, fmt.Errorf("%w (%w)", err, ErrBadInput)
	}
	det, err := e.Detector()
	if err != nil {
		_ = img.Close()
		return gocv.Mat{}, face.Face{}, err
	}
	faces, err := det.Detect(img)
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

// Reference returns the identity of the face at position (counted left to right, as roop does) in img, for
// --face-selector-mode reference.
func (e *Engine) Reference(img gocv.Mat, position int, recognizer string) ([]float32, error) {
	f, ok, err := e.referenceFace(img, position)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: --reference-face-position %d: the reference frame has no face", ErrBadInput, position)
	}
	r, err := e.loadRecognizer(recognizer)
	if err != nil {
		return nil, err
	}
	emb, err := r.Embed(img, []face.Face{f})
	if err != nil {
		return nil, err
	}
	return emb[0], nil
}

// CheckOptions validates a job's options without loading anything.
func CheckOptions(opt job.FaceOptions) error {
	if len(opt.Processors) == 0 {
		return fmt.Errorf("%w: no frame processor", ErrBadInput)
	}
	for _, p := range opt.Processors {
		switch p {
		case job.ProcessorSwapper, job.ProcessorEnhancer:
		case job.ProcessorNone:
			if len(opt.Processors) != 1 {
				return fmt.Errorf("%w: frame processor %s cannot be combined with others", ErrBadInput, job.ProcessorNone)
			}
		default:
			return fmt.Errorf("%w: frame processor %q: want %s, %s or %s", ErrBadInput, p, job.ProcessorSwapper, job.ProcessorEnhancer, job.ProcessorNone)
		}
	}
	if swapperKind(opt.Swapper) == "" {
		return fmt.Errorf("%w: face swapper model %q: want %s, %s, %s or an inswapper .onnx file", ErrBadInput, opt.Swapper, job.SwapperMesh, job.SwapperClassical, job.SwapperInswapper)
	}
	switch opt.Selector {
	case "", face.SelectOne, face.SelectMany:
	case face.SelectReference:
		if len(opt.Reference) == 0 {
			return fmt.Errorf("%w: face selector mode reference needs a reference face", ErrBadInput)
		}
	default:
		return fmt.Errorf("%w: face selector mode %q: want one, many or reference", ErrBadInput, opt.Selector)
	}
	switch opt.Blend {
	case "", BlendFeather, BlendPoisson:
	default:
		return fmt.Errorf("%w: face blend %q: want %s or %s", ErrBadInput, opt.Blend, BlendFeather, BlendPoisson)
	}
	if opt.EnhancerBlend < 0 || opt.EnhancerBlend > 100 {
		return fmt.Errorf("%w: face enhancer blend %d: want 0-100", ErrBadInput, opt.EnhancerBlend)
	}
	// !(x >= 0) also refuses NaN, which every other comparison lets through.
	if !(opt.SimilarDistance >= 0) || math.IsInf(float64(opt.SimilarDistance), 0) {
		return fmt.Errorf("%w: similar face distance %g: want a number >= 0", ErrBadInput, opt.SimilarDistance)
	}
	if !(opt.MaskBlur >= 0) || math.IsInf(float64(opt.MaskBlur), 0) {
		return fmt.Errorf("%w: face mask blur %g: want a number >= 0", ErrBadInput, opt.MaskBlur)
	}
	for _, p := range opt.MaskPadding {
		if !(p >= 0 && p <= 100) {
			return fmt.Errorf("%w: face mask padding %g: want 0-100", ErrBadInput, p)
		}
	}
	return nil
}

// inswapperModel is the model --face-swapper-model inswapper_128 or a file names.
func inswapperModel(swapper string) string {
	if strings.HasSuffix(swapper, ".onnx") {
		return swapper
	}
	return job.SwapperInswapper
}

// IsModelFile reports whether a model option names a file (a path, or an .onnx name) rather than a manifest entry.
func IsModelFile(nameOrPath string) bool {
	return strings.ContainsRune(nameOrPath, os.PathSeparator) || strings.HasSuffix(nameOrPath, ".onnx")
}

// JobModels lists the models a job's options load besides the detector (a worker's own choice): manifest names or
// files, as the options give them, with the kind each must be.
func JobModels(opt job.FaceOptions) []JobModel {
	var out []JobModel
	recognizer := opt.Selector == face.SelectReference || followsByEmbedding(opt)
	for _, p := range opt.Processors {
		switch p {
		case job.ProcessorSwapper:
			if swapperKind(opt.Swapper) == job.SwapperInswapper {
				out = append(out, JobModel{models.Swapper, inswapperModel(opt.Swapper)})
				recognizer = true
			}
		case job.ProcessorEnhancer:
			out = append(out, JobModel{models.Enhancer, cmp.Or(opt.Enhancer, DefaultEnhancer)})
		}
	}
	if recognizer {
		out = append(out, JobModel{models.Recognizer, cmp.Or(opt.Recognizer, DefaultRecognizer)})
	}
	return out
}

// followsByEmbedding: selector one carries its person's embedding (opt.Reference), to be re-identified with the
// job's recognizer.
func followsByEmbedding(opt job.FaceOptions) bool {
	return (opt.Selector == face.SelectOne || opt.Selector == "") && len(opt.Reference) > 0
}

// JobModel is one model a job names: a manifest name or a file (IsModelFile).
type JobModel struct {
	Kind models.Kind
	Name string
}

// swapperKind maps --face-swapper-model to a swapper: the model-free ones by name, inswapper by name or by file.
func swapperKind(s string) string {
	switch {
	case s == "":
		return DefaultSwapper
	case s == job.SwapperClassical, s == job.SwapperMesh, s == job.SwapperInswapper:
		return s
	case strings.HasSuffix(s, ".onnx"):
		return job.SwapperInswapper
	}
	return ""
}

// prepared is one job's source, ready for every segment of the job.
type prepared struct {
	job   string
	swap  step
	reset func() // forgets what the swap carries from frame to frame; nil when nothing
	close func()
}

// CheckFiles finds every model file a job with opt loads (the detector, Face Mesh for the mesh swapper, and
// JobModels), loading none, so that a missing file is the job's first error: before ONNX Runtime starts or a
// provider the library lacks is met. A user told about cuda first was told about the missing GFPGAN file only
// after installing the GPU build.
func (e *Engine) CheckFiles(opt job.FaceOptions) error {
	if len(opt.Processors) == 1 && opt.Processors[0] == job.ProcessorNone {
		return nil
	}
	names := []string{e.cfg.Detector}
	if slices.Contains(opt.Processors, job.ProcessorSwapper) && swapperKind(opt.Swapper) == job.SwapperMesh {
		names = append(names, DefaultLandmarker)
	}
	for _, m := range JobModels(opt) {
		names = append(names, m.Name)
	}
	for _, n := range names {
		if _, err := e.cfg.resolve(n); err != nil {
			return modelError(err)
		}
	}
	return nil
}

// ForJob returns the frame processor for a job whose source image is at sourcePath. The source face is prepared
// once per job (warp sources, landmarks or the inswapper latent) and reused for the job's later segments.
func (e *Engine) ForJob(jobID, sourcePath string, opt job.FaceOptions) (pipeline.Processor, error) {
	if err := CheckOptions(opt); err != nil {
		return nil, err
	}
	if len(opt.Processors) == 1 && opt.Processors[0] == job.ProcessorNone {
		return &FrameProcessor{none: true}, nil
	}
	if err := e.CheckFiles(opt); err != nil {
		return nil, err
	}
	det, err := e.Detector()
	if err != nil {
		return nil, err
	}
	fp := &FrameProcessor{detector: det, selector: opt.Selector, reference: opt.Reference,
		distance: opt.SimilarDistance, onOOM: e.cfg.OnOOM}
	if fp.distance <= 0 {
		fp.distance = face.DefaultSimilarDistance
	}
	if opt.Selector == face.SelectReference || followsByEmbedding(opt) {
		r, err := e.loadRecognizer(opt.Recognizer)
		if err != nil {
			return nil, err
		}
		if len(opt.Reference) != r.Dim() {
			return nil, fmt.Errorf("%w: reference embedding has %d values, the recognizer gives %d", ErrBadInput, len(opt.Reference), r.Dim())
		}
		if opt.ReferenceModel != "" {
			d, err := e.RecognizerDigest(opt.Recognizer)
			if err != nil {
				return nil, err
			}
			if d != opt.ReferenceModel {
				return nil, fmt.Errorf("%w: the reference face was embedded with a recognizer file of sha256 %.12s..., this "+
					"machine's %s is %.12s...: identities from two models cannot be compared", ErrBadInput,
					opt.ReferenceModel, cmp.Or(opt.Recognizer, DefaultRecognizer), d)
			}
		}
		fp.recognizer = r
	}
	if opt.Selector == face.SelectOne || opt.Selector == "" {
		fp.follow = &follower{ref: opt.Follow, every: cmp.Or(e.cfg.DetectEvery, DefaultDetectEvery),
			meshEvery: cmp.Or(e.cfg.MeshEvery, DefaultMeshEvery), hint: func(gocv.Mat, face.Face, face.Mesh) {}}
		if swapperKind(opt.Swapper) == job.SwapperMesh && slices.Contains(opt.Processors, job.ProcessorSwapper) {
			// Only the mesh swap takes the meshes; the last segment's are stale (the pool's buffers are new).
			e.hintMu.Lock()
			clear(e.meshes)
			e.hintMu.Unlock()
			fp.follow.hint = e.hintMesh
		}
		switch {
		case fp.recognizer != nil:
			fp.follow.recognizer, fp.follow.embedding, fp.follow.distance = fp.recognizer, opt.Reference, fp.distance
			fp.recognizer = nil // embeddings are asked for only when the tracker cannot tell
		case opt.Follow != nil && len(opt.Follow.Geometry) > 0:
			if len(opt.Follow.Geometry) != face.GeometryValues {
				return nil, fmt.Errorf("%w: follow geometry has %d values, this build's has %d", ErrBadInput, len(opt.Follow.Geometry), face.GeometryValues)
			}
			fp.follow.geometry = true
		}
		if fp.follow.geometry || fp.follow.every > 1 {
			lm, err := e.loadLandmarker()
			if err != nil {
				return nil, err
			}
			fp.follow.landmarker = lm
		}
	}
	for _, p := range opt.Processors {
		switch p {
		case job.ProcessorSwapper:
			prep, err := e.prepare(jobID, sourcePath, opt)
			if err != nil {
				return nil, err
			}
			if prep.reset != nil {
				prep.reset() // a segment's output must not depend on which segment this worker swapped before
			}
			fp.steps = append(fp.steps, prep.swap)
		case job.ProcessorEnhancer:
			en, err := e.loadEnhancer(opt.Enhancer)
			if err != nil {
				return nil, err
			}
			blend := opt.EnhancerBlend
			if blend <= 0 {
				blend = processor.DefaultEnhancerBlend
			}
			fp.steps = append(fp.steps, step{one: func(frame gocv.Mat, faces []face.Face) error {
				return en.EnhanceBlend(frame, faces, blend)
			}})
		}
	}
	return fp, nil
}

func (e *Engine) prepare(jobID, sourcePath string, opt job.FaceOptions) (*prepared, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.jobs {
		if p.job == jobID {
			return p, nil
		}
	}
	img, src, err := e.SourceFace(sourcePath)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	p := &prepared{job: jobID, close: func() {}}
	switch swapperKind(opt.Swapper) {
	case job.SwapperClassical:
		cc := processor.DefaultClassicalConfig()
		cc.Poisson = opt.Blend == BlendPoisson
		if opt.MaskBlur > 0 {
			cc.MaskBlur = opt.MaskBlur
		}
		sw, err := processor.NewClassical(img, src, cc)
		if err != nil {
			return nil, fmt.Errorf("%s: prepare source: %w", sourcePath, err)
		}
		p.swap, p.close = step{one: sw.Swap}, func() { _ = sw.Close() }
	case job.SwapperMesh:
		lm, err := e.loadLandmarker()
		if err != nil {
			return nil, err
		}
		mesh, err := lm.Landmarks(img, src)
		if err != nil {
			return nil, fmt.Errorf("%s: source landmarks: %w", sourcePath, err)
		}
		mc := processor.DefaultMeshSwapConfig()
		mc.Poisson = opt.Blend == BlendPoisson
		if opt.MaskBlur > 0 {
			mc.MaskBlur = opt.MaskBlur
		}
		mc.MaskPadding = opt.MaskPadding
		sw, err := processor.NewMeshSwap(img, src, mesh, mc)
		if err != nil {
			return nil, fmt.Errorf("%s: prepare source: %w", sourcePath, err)
		}
		meshes := make([]face.Mesh, 0, 4)
		p.swap.one = func(frame gocv.Mat, faces []face.Face) error {
			meshes = meshes[:0]
			for _, f := range faces {
				m, err := e.landmarks(lm, frame, f)
				if err != nil {
					return err
				}
				meshes = append(meshes, m)
			}
			return sw.Swap(frame, faces, meshes)
		}
		// The swap reads and writes the face's box; its mesh, unless selector one's, is read around it.
		p.swap.region = func(f face.Face, w, h int) (read, write image.Rectangle) {
			box := f.Box.Clamp(w, h)
			return box.Union(readRegion(lm, f, w, h)), box
		}
		p.reset, p.close = sw.Reset, func() { _ = sw.Close() }
	case job.SwapperInswapper:
		ins, err := e.loadInswapper(inswapperModel(opt.Swapper))
		if err != nil {
			return nil, err
		}
		r, err := e.loadRecognizer(opt.Recognizer)
		if err != nil {
			return nil, err
		}
		emb, err := r.Embed(img, []face.Face{src})
		if err != nil {
			return nil, fmt.Errorf("%s: source embedding: %w", sourcePath, err)
		}
		latent, err := ins.SourceLatent(emb[0])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sourcePath, err)
		}
		p.swap.one = func(frame gocv.Mat, faces []face.Face) error { return ins.Swap(frame, faces, latent) }
		// Across frames too: ProcessBatch hands every ready frame's faces to one model call.
		p.swap.batch = func(frames []gocv.Mat, faces [][]face.Face) error { return ins.SwapBatch(frames, faces, latent) }
	}
	if len(e.jobs) >= e.cfg.SourceCache {
		e.jobs[0].close()
		e.jobs = e.jobs[1:]
	}
	e.jobs = append(e.jobs, p)
	return p, nil
}

// Unload closes the models only the named processor uses, so the next processor's models do not sit beside them
// (--memory-optimization runs a job's processors one pass at a time). Frame processors made before Unload must not
// be used after it; ForJob loads what a later one needs again. The detector stays: every pass detects.
func (e *Engine) Unload(processorName string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch processorName {
	case job.ProcessorSwapper:
		for _, p := range e.jobs {
			p.close()
		}
		e.jobs = nil
		if e.landmarker != nil {
			_ = e.landmarker.Close()
			e.landmarker = nil
		}
		for path, s := range e.inswappers {
			_ = s.Close()
			delete(e.inswappers, path)
		}
		for name, r := range e.recognizers {
			_ = r.Close()
			delete(e.recognizers, name)
		}
	case job.ProcessorEnhancer:
		for name, en := range e.enhancers {
			_ = en.Close()
			delete(e.enhancers, name)
		}
	}
}

// Close releases every model and prepared source.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.jobs {
		p.close()
	}
	e.jobs = nil
	if e.landmarker != nil {
		_ = e.landmarker.Close()
	}
	for _, r := range e.recognizers {
		_ = r.Close()
	}
	for _, s := range e.inswappers {
		_ = s.Close()
	}
	for _, en := range e.enhancers {
		_ = en.Close()
	}
	if e.detector != nil {
		return e.detector.Close()
	}
	return nil
}

// FrameProcessor runs a job's processors on one frame: it detects faces once, selects the ones to change and hands
// the same faces (boxes and keypoints) to every step. Frames without a selected face pass through unchanged.
type FrameProcessor struct {
	detector   processor.Detector
	recognizer processor.Embedder
	selector   string
	follow     *follower // selector one
	reference  []float32
	distance   float32
	steps      []step
	onOOM      func()
	none       bool // frame processor "none": no detection, the frame passes through untouched
	// log, when set, records each frame's selected faces (replay false) or supplies them (replay true).
	log    *FaceLog
	replay bool
	// faces counts the faces selected so far (replayed ones are the first pass's, not counted again).
	faces atomic.Int64
}

// Faces is how many faces the processor has selected, and so worked on, in the frames it processed: 0 after a
// segment tells that no face was found in it. Frame processor none looks for none: counted is false.
func (p *FrameProcessor) Faces() (n int, counted bool) { return int(p.faces.Load()), !p.none }

// FaceLog carries the faces the first pass of a multi-pass run selected in each frame to the later passes, so
// every pass works on the faces found in the original frame, and detection runs once.
type FaceLog struct {
	mu    sync.Mutex
	faces map[int][]face.Face
}

// NewFaceLog returns an empty log.
func NewFaceLog() *FaceLog { return &FaceLog{faces: map[int][]face.Face{}} }

func (l *FaceLog) put(index int, faces []face.Face) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.faces[index] = append([]face.Face(nil), faces...)
}

func (l *FaceLog) get(index int) []face.Face {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.faces[index]
}

// ForPass is ForJob for one pass of a multi-pass run (--memory-optimization): the first pass (replay false)
// records the faces it selects in log, later passes (replay true) use them instead of detecting.
func (e *Engine) ForPass(jobID, sourcePath string, opt job.FaceOptions, log *FaceLog, replay bool) (pipeline.Processor, error) {
	proc, err := e.ForJob(jobID, sourcePath, opt)
	if fp, ok := proc.(*FrameProcessor); ok && log != nil {
		fp.log, fp.replay = log, replay
	}
	return proc, err
}

// facesOf returns the faces to work on in frame index: detected and selected, or replayed from the log.
func (p *FrameProcessor) facesOf(pic *pipeline.Picture, index int) ([]face.Face, error) {
	if p.log != nil && p.replay {
		return p.log.get(index), nil
	}
	sel, err := p.selectFaces(pic, index)
	p.faces.Add(int64(len(sel)))
	if err == nil && p.log != nil {
		p.log.put(index, sel)
	}
	return sel, err
}

// Process implements pipeline.Processor. An allocation failure in a model is reported to OnOOM and the frame is
// tried once more; a second failure is the frame's error.
func (p *FrameProcessor) Process(frame gocv.Mat, index int) error {
	if p.none {
		return nil
	}
	return outOfMemory(p.process(pipeline.WholePicture(frame), index))
}

// ProcessPicture implements pipeline.RegionProcessor: Process converting only what the detector, the landmarks
// and the steps read (the whole frame for detection; a face's surroundings while it is followed).
func (p *FrameProcessor) ProcessPicture(pic *pipeline.Picture, index int) error {
	if p.none {
		return nil
	}
	return outOfMemory(p.process(pic, index))
}

// FindPicture implements pipeline.StagedProcessor: the faces are found (the follower needs the frames in order),
// and the steps that change them are the rest, which may run while the next frame's faces are found.
func (p *FrameProcessor) FindPicture(pic *pipeline.Picture, index int) (rest func() error, err error) {
	if p.none {
		return nil, nil
	}
	faces, err := p.find(pic, index)
	if err != nil || len(faces) == 0 {
		return nil, outOfMemory(err)
	}
	return func() error { return outOfMemory(p.change(pic, faces)) }, nil
}

// outOfMemory marks an allocation failure that outlived its retry as the worker's own trouble
// (fault.ErrOutOfMemory), not the frame's: another worker, or this one with fewer frames in flight, may process it.
func outOfMemory(err error) error {
	if err != nil && IsOutOfMemory(err) && !errors.Is(err, fault.ErrOutOfMemory) {
		return fmt.Errorf("%w: %w", fault.ErrOutOfMemory, err)
	}
	return err
}

// modelError marks a model that would not load (a missing file, ONNX Runtime refusing it) as the worker's own
// trouble (fault.ErrModel): another worker, whose files are in order, can take the segment.
func modelError(err error) error {
	if errors.Is(err, fault.ErrModel) {
		return err
	}
	return fmt.Errorf("%w: %w", fault.ErrModel, err)
}

// again runs one unit of work (detection, or one step on one frame) and, when a model reports an allocation
// failure, tells OnOOM and runs it once more. Only the failed unit is redone: steps that already changed the frame
// are not run twice.
func (p *FrameProcessor) again(fn func() error) error {
	err := fn()
	if err != nil && p.onOOM != nil && IsOutOfMemory(err) {
		p.onOOM()
		err = fn()
	}
	return err
}

// PixelsUnused implements pipeline.PixelsUnused: frame processor "none" never reads a pixel.
func (p *FrameProcessor) PixelsUnused() bool { return p.none }

// IsOutOfMemory recognises an allocation failure as ONNX Runtime (CPU or CUDA) and OpenCV report it.
func IsOutOfMemory(err error) bool {
	if err == nil {
		return false
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"out of memory", "failed to allocate memory", "bad_alloc", "insufficient memory", "cublas_status_alloc_failed"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// step is one processor of a frame's selected faces; batch, when set, takes several frames in one model call.
// region, when set, is the part of a w x h frame the step reads for face f and the part it may write; without it
// the step may read and write the whole frame.
type step struct {
	one    func(frame gocv.Mat, faces []face.Face) error
	batch  func(frames []gocv.Mat, faces [][]face.Face) error
	region func(f face.Face, w, h int) (read, write image.Rectangle)
}

// readRegion is the part of a w x h frame lm reads for face f: the whole frame unless lm says (FaceMesh.Region).
func readRegion(lm processor.Landmarker, f face.Face, w, h int) image.Rectangle {
	if r, ok := lm.(interface {
		Region(f face.Face, w, h int) image.Rectangle
	}); ok {
		return r.Region(f, w, h)
	}
	return image.Rect(0, 0, w, h)
}

// prepare asks pic for what s reads of faces and tells it what s may write.
func (s step) prepare(pic *pipeline.Picture, faces []face.Face) error {
	all := pic.Bounds()
	if s.region == nil {
		return pic.Touch(all)
	}
	for _, f := range faces {
		read, write := s.region(f, all.Dx(), all.Dy())
		if err := pic.Need(read); err != nil {
			return err
		}
		if err := pic.Touch(write); err != nil {
			return err
		}
	}
	return nil
}

// ProcessBatch implements pipeline.BatchProcessor: steps that batch (inswapper) see every frame's faces in one
// call, the others run frame by frame. On an allocation failure the frames are redone one at a time.
func (p *FrameProcessor) ProcessBatch(frames []gocv.Mat, indices []int) error {
	if p.none {
		return nil
	}
	return outOfMemory(p.processBatch(frames, indices))
}

func (p *FrameProcessor) processBatch(frames []gocv.Mat, indices []int) error {
	var (
		withFaces []gocv.Mat
		faces     [][]face.Face
	)
	for i, f := range frames {
		var sel []face.Face
		err := p.again(func() (err error) { sel, err = p.facesOf(pipeline.WholePicture(f), indices[i]); return err })
		if err != nil {
			return err
		}
		if len(sel) > 0 {
			withFaces, faces = append(withFaces, f), append(faces, sel)
		}
	}
	for _, s := range p.steps {
		if s.batch != nil {
			err := s.batch(withFaces, faces)
			if err == nil || p.onOOM == nil || !IsOutOfMemory(err) {
				if err != nil {
					return err
				}
				continue
			}
			p.onOOM() // too big together: the same step one frame at a time
		}
		for i, f := range withFaces {
			if err := p.again(func() error { return s.one(f, faces[i]) }); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *FrameProcessor) process(pic *pipeline.Picture, index int) error {
	faces, err := p.find(pic, index)
	if err != nil || len(faces) == 0 {
		return err
	}
	return p.change(pic, faces)
}

// find is the faces the steps change in frame index.
func (p *FrameProcessor) find(pic *pipeline.Picture, index int) (faces []face.Face, err error) {
	err = p.again(func() (err error) { faces, err = p.facesOf(pic, index); return err })
	return faces, err
}

// change runs every step on faces.
func (p *FrameProcessor) change(pic *pipeline.Picture, faces []face.Face) error {
	frame := pic.Mat()
	for _, s := range p.steps {
		if err := s.prepare(pic, faces); err != nil {
			return err
		}
		if err := p.again(func() error { return s.one(frame, faces) }); err != nil {
			return err
		}
	}
	return nil
}

// selectFaces detects the frame's faces once and returns those the selector mode picks.
func (p *FrameProcessor) selectFaces(pic *pipeline.Picture, index int) ([]face.Face, error) {
	if p.follow != nil {
		return p.follow.faces(pic, index, p.detector)
	}
	if err := pic.Need(pic.Bounds()); err != nil {
		return nil, err
	}
	frame := pic.Mat()
	faces, err := p.detector.Detect(frame)
	if err != nil {
		return nil, err
	}
	if len(faces) == 0 {
		return nil, nil
	}
	var embeddings [][]float32
	if p.recognizer != nil {
		if embeddings, err = p.recognizer.Embed(frame, faces); err != nil {
			return nil, err
		}
	}
	idx, err := face.Select(p.selector, faces, embeddings, p.reference, p.distance)
	if err != nil {
		return nil, err
	}
	sel := make([]face.Face, len(idx))
	for i, k := range idx {
		sel[i] = faces[k]
	}
	return sel, nil
}
