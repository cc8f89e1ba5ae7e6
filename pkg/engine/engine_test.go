package engine

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/internal/onnxtest"
	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/internal/testimage"
	"github.com/facefleet/facefleet/models"
	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/fault"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/ort"
	"github.com/facefleet/facefleet/pkg/processor"
)

func newEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := New(Config{ORTLibrary: testenv.ORTLib(t), ModelsDir: filepath.Join(testenv.SharedDir(t), "models"),
		Session: ort.SessionConfig{IntraOpThreads: 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func read(t *testing.T, name string) gocv.Mat {
	t.Helper()
	m := testimage.Read(t, testenv.Face(t, name))
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// changed reports, for each face, whether its box changed clearly between before and after.
func changed(t *testing.T, before, after gocv.Mat, faces []face.Face) []bool {
	t.Helper()
	out := make([]bool, len(faces))
	for i, f := range faces {
		r := f.Box.Clamp(before.Cols(), before.Rows())
		a, b := before.Region(r), after.Region(r)
		diff := gocv.NewMat()
		gocv.AbsDiff(a, b, &diff)
		mean := diff.Mean()
		out[i] = (mean.Val1+mean.Val2+mean.Val3)/3 > 5
		_ = diff.Close()
		_ = a.Close()
		_ = b.Close()
	}
	return out
}

type countingDetector struct {
	processor.Detector
	calls int
}

func (c *countingDetector) Detect(img gocv.Mat) ([]face.Face, error) {
	c.calls++
	return c.Detector.Detect(img)
}

// Every processor of a frame gets the faces of one detection.
func TestDetectOncePerFrame(t *testing.T) {
	e := newEngine(t)
	det := &countingDetector{Detector: mustDetector(t, e)}
	var seen [][]face.Face
	record := func(_ gocv.Mat, faces []face.Face) error {
		seen = append(seen, append([]face.Face(nil), faces...))
		return nil
	}
	fp := &FrameProcessor{detector: det, selector: face.SelectMany, steps: []step{{one: record}, {one: record}}}
	img := read(t, "apollo11_crew_3faces.jpg")
	if err := fp.Process(img, 0); err != nil {
		t.Fatal(err)
	}
	if det.calls != 1 || len(seen) != 2 || len(seen[0]) != 3 || seen[0][1] != seen[1][1] {
		t.Fatalf("detector calls %d, steps saw %v", det.calls, seen)
	}
}

func TestSelectorModes(t *testing.T) {
	e := newEngine(t)
	target := read(t, "apollo11_crew_3faces.jpg")
	faces, err := mustDetector(t, e).Detect(target)
	if err != nil || len(faces) != 3 {
		t.Fatalf("%d faces, %v", len(faces), err)
	}
	face.SortLeftToRight(faces)
	largest := 0
	for i, f := range faces {
		if f.Box.Area() > faces[largest].Box.Area() {
			largest = i
		}
	}
	recognizer := testenv.Model(t, "mobilefacenet_paddlex_128d.onnx") // TESTS ONLY
	source := testenv.Face(t, "astronaut_eileen_collins.png")
	type tc struct {
		name     string
		selector string
		position int
		want     []bool
	}
	cases := []tc{
		{"one swaps the largest", face.SelectOne, 0, []bool{largest == 0, largest == 1, largest == 2}},
		{"many swaps all", face.SelectMany, 0, []bool{true, true, true}},
	}
	for p := 0; p < 3; p++ {
		want := []bool{false, false, false}
		want[p] = true
		cases = append(cases, tc{"reference position " + string(rune('0'+p)), face.SelectReference, p, want})
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opt := job.FaceOptions{Processors: []string{job.ProcessorSwapper}, Swapper: job.SwapperClassical,
				Selector: c.selector, Recognizer: recognizer}
			if c.selector == face.SelectReference {
				if opt.Reference, err = e.Reference(target, c.position, recognizer); err != nil {
					t.Fatal(err)
				}
			}
			proc, err := e.ForJob("job-"+string(rune('a'+i)), source, opt)
			if err != nil {
				t.Fatal(err)
			}
			out := target.Clone()
			defer out.Close()
			if err := proc.Process(out, 0); err != nil {
				t.Fatal(err)
			}
			got := changed(t, target, out, faces)
			for k := range got {
				if got[k] != c.want[k] {
					t.Fatalf("changed faces %v, want %v", got, c.want)
				}
			}
		})
	}
	if _, err := e.Reference(target, 3, recognizer); !errors.Is(err, ErrBadInput) {
		t.Fatalf("position 3 of 3 faces: %v", err)
	}

	// An identity carries its recognizer file's sha256 (a cluster job's, from the client): this engine takes it
	// only from the same file.
	ref, err := e.Reference(target, 0, recognizer)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := e.RecognizerDigest(recognizer)
	if err != nil || len(digest) != 64 {
		t.Fatalf("digest %q, %v", digest, err)
	}
	for _, c := range []struct {
		model string
		ok    bool
	}{{digest, true}, {"", true}, {strings.Repeat("0", 64), false}} {
		opt := job.FaceOptions{Processors: []string{job.ProcessorSwapper}, Swapper: job.SwapperClassical,
			Selector: face.SelectReference, Recognizer: recognizer, Reference: ref, ReferenceModel: c.model}
		_, err := e.ForJob("job-digest", source, opt)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrBadInput)) {
			t.Errorf("reference model %.12q: %v, want ok=%v", c.model, err, c.ok)
		}
	}
}

// redInswapper is a graph with inswapper_128's contract that paints its whole crop red (in RGB); batch -1 makes
// its batch dimension dynamic.
func redInswapper(t *testing.T, dir string, batch int64) string {
	emap := make([]float32, 512*512)
	for i := 0; i < 512; i++ {
		emap[i*512+i] = 1
	}
	red := make([]float32, 3*128*128)
	for i := 0; i < 128*128; i++ {
		red[i] = 1 // R plane
	}
	return onnxtest.New("inswapper").
		Input("target", onnxtest.Float, batch, 3, 128, 128).Input("source", onnxtest.Float, batch, 512).
		Output("output", onnxtest.Float, batch, 3, 128, 128).
		Initializer("red", []int64{1, 3, 128, 128}, red).
		Initializer("zero", []int64{1}, []float32{0}).
		Initializer("emap", []int64{512, 512}, emap).
		Node("Mul", []string{"target", "zero"}, []string{"z"}).
		Node("Add", []string{"z", "red"}, []string{"output"}).
		Save(t, dir, fmt.Sprintf("inswapper_batch%d.onnx", batch))
}

// w600kGraph has w600k_r50's contract; its embedding is the first 512 input values.
func w600kGraph(t *testing.T, dir string) string {
	return onnxtest.New("w600k").
		Input("input.1", onnxtest.Float, 1, 3, 112, 112).Output("683", onnxtest.Float, 1, 512).
		InitializerInt64("shape", []int64{2}, []int64{0, -1}).
		InitializerInt64("starts", []int64{1}, []int64{0}).
		InitializerInt64("ends", []int64{1}, []int64{512}).
		InitializerInt64("axes", []int64{1}, []int64{1}).
		Node("Reshape", []string{"input.1", "shape"}, []string{"flat"}).
		Node("Slice", []string{"flat", "starts", "ends", "axes"}, []string{"683"}).
		Save(t, dir, "w600k_r50.onnx")
}

// A batch of frames through a batching model gives exactly what the frames give one by one.
func TestProcessBatchMatchesFrames(t *testing.T) {
	e, err := New(Config{ORTLibrary: testenv.ORTLib(t), ModelsDir: filepath.Join(testenv.SharedDir(t), "models"), Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	dir := t.TempDir()
	opt := job.FaceOptions{Processors: []string{job.ProcessorSwapper}, Swapper: redInswapper(t, dir, -1),
		Recognizer: w600kGraph(t, dir), Selector: face.SelectMany}
	proc, err := e.ForJob("batch", testenv.Face(t, "astronaut_eileen_collins.png"), opt)
	if err != nil {
		t.Fatal(err)
	}
	bp := proc.(interface {
		Process(gocv.Mat, int) error
		ProcessBatch([]gocv.Mat, []int) error
	})
	a, b := read(t, "apollo11_crew_3faces.jpg"), read(t, "grace_hopper.jpg")
	one := []gocv.Mat{a.Clone(), b.Clone()}
	batch := []gocv.Mat{a.Clone(), b.Clone()}
	defer func() {
		for _, m := range append(one, batch...) {
			_ = m.Close()
		}
	}()
	for i, m := range one {
		if err := bp.Process(m, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := bp.ProcessBatch(batch, []int{0, 1}); err != nil {
		t.Fatal(err)
	}
	faces, _ := mustDetector(t, e).Detect(b)
	c := faces[0].Box.Center()
	if px := batch[1].GetVecbAt(int(c.Y), int(c.X)); px[2] < 240 || px[0] > 15 {
		t.Fatalf("batched frame's face is BGR %v, want the generated model's red", px)
	}
	for i := range one {
		diff := gocv.NewMat()
		gocv.AbsDiff(one[i], batch[i], &diff)
		nz := gocv.CountNonZero(diff.Reshape(1, 0))
		_ = diff.Close()
		if nz != 0 {
			t.Fatalf("frame %d: %d values differ between batched and one-by-one", i, nz)
		}
	}
}

// The ONNX processors are wired in order with the frame's faces: a generated inswapper that paints its crop red
// (in RGB), then a generated GFPGAN that passes its crop through.
func TestInswapperAndEnhancerWiring(t *testing.T) {
	e := newEngine(t)
	dir := t.TempDir()
	inswapper := redInswapper(t, dir, 1)
	arcface := w600kGraph(t, dir)
	gfpgan := onnxtest.New("gfpgan").
		Input("input", onnxtest.Float, 1, 3, 512, 512).Output("output", onnxtest.Float, 1, 3, 512, 512).
		Node("Identity", []string{"input"}, []string{"output"}).
		Save(t, dir, "gfpgan_1.4.onnx")

	target := read(t, "grace_hopper.jpg")
	faces, _ := mustDetector(t, e).Detect(target)
	proc, err := e.ForJob("onnx", testenv.Face(t, "astronaut_eileen_collins.png"), job.FaceOptions{
		Processors: []string{job.ProcessorSwapper, job.ProcessorEnhancer}, Swapper: inswapper,
		Recognizer: arcface, Enhancer: gfpgan, EnhancerBlend: 100})
	if err != nil {
		t.Fatal(err)
	}
	out := target.Clone()
	defer out.Close()
	if err := proc.Process(out, 0); err != nil {
		t.Fatal(err)
	}
	c := faces[0].Box.Center()
	px := out.GetVecbAt(int(c.Y), int(c.X))
	if px[2] < 240 || px[1] > 15 || px[0] > 15 {
		t.Fatalf("face centre is BGR %v, want red from the generated inswapper", px)
	}
	models := strings.Join(e.Models(), ",")
	for _, m := range []string{"inswapper_batch1.onnx", "w600k_r50.onnx", "gfpgan_1.4.onnx"} {
		if !strings.Contains(models, m) {
			t.Errorf("models %s lack %s", models, m)
		}
	}
}

func TestMissingUserModelSaysHowToGetIt(t *testing.T) {
	e, err := New(Config{ORTLibrary: testenv.ORTLib(t), ModelsDir: filepath.Join(testenv.SharedDir(t), "models")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, err = e.ForJob("x", testenv.Face(t, "grace_hopper.jpg"), job.FaceOptions{Processors: []string{job.ProcessorSwapper}, Swapper: job.SwapperInswapper})
	if err == nil || !strings.Contains(err.Error(), "inswapper_128.onnx") || !strings.Contains(err.Error(), "coordinator models fetch inswapper_128") {
		t.Fatalf("error %v does not name the file and the command", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error is not one line: %q", err)
	}
	// A worker lacking a model is its own trouble, not the segment's: another worker may have the file.
	if fault.Of(err) != fault.ErrModel {
		t.Fatalf("error %v is of class %v, want %v", err, fault.Of(err), fault.ErrModel)
	}
}

// A missing model file is a job's first error, whatever else is wrong: under --execution-provider cuda without the
// GPU build of ONNX Runtime, roop's `--frame-processor face_swapper face_enhancer --execution-provider cuda` was told
// about cuda first and about the GFPGAN file only once cuda worked.
func TestMissingModelBeforeProvider(t *testing.T) {
	for _, tc := range []struct {
		name, provider, file string
		opt                  job.FaceOptions
	}{
		{"enhancer, cpu", ort.ProviderCPU, "gfpgan_1.4.onnx", job.FaceOptions{Processors: []string{job.ProcessorSwapper, job.ProcessorEnhancer}}},
		{"enhancer, cuda", ort.ProviderCUDA, "gfpgan_1.4.onnx", job.FaceOptions{Processors: []string{job.ProcessorSwapper, job.ProcessorEnhancer}}},
		{"inswapper, cuda", ort.ProviderCUDA, "inswapper_128.onnx", job.FaceOptions{Processors: []string{job.ProcessorSwapper}, Swapper: job.SwapperInswapper}},
		{"recognizer, tensorrt", ort.ProviderTensorRT, "w600k_r50.onnx", job.FaceOptions{Processors: []string{job.ProcessorSwapper},
			Selector: face.SelectReference, Reference: make([]float32, 512)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(Config{ORTLibrary: testenv.ORTLib(t), ModelsDir: filepath.Join(testenv.SharedDir(t), "models"),
				Session: ort.SessionConfig{Provider: tc.provider}})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			_, err = e.ForJob("x", testenv.Face(t, "grace_hopper.jpg"), tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.file) || !errors.Is(err, models.ErrMissing) {
				t.Fatalf("error %v, want %s missing", err, tc.file)
			}
		})
	}
}

func TestCheckOptions(t *testing.T) {
	ok := job.FaceOptions{Processors: []string{job.ProcessorSwapper}}
	tests := []struct {
		name string
		mod  func(*job.FaceOptions)
		good bool
	}{
		{"defaults", func(*job.FaceOptions) {}, true},
		{"swap and enhance", func(o *job.FaceOptions) { o.Processors = append(o.Processors, job.ProcessorEnhancer) }, true},
		{"inswapper file", func(o *job.FaceOptions) { o.Swapper = "/models/inswapper_128_fp16.onnx" }, true},
		{"no processor", func(o *job.FaceOptions) { o.Processors = nil }, false},
		{"unknown processor", func(o *job.FaceOptions) { o.Processors = []string{"frame_colorizer"} }, false},
		{"unknown swapper", func(o *job.FaceOptions) { o.Swapper = "simswap" }, false},
		{"reference without a face", func(o *job.FaceOptions) { o.Selector = face.SelectReference }, false},
		{"unknown selector", func(o *job.FaceOptions) { o.Selector = "all" }, false},
		{"unknown blend", func(o *job.FaceOptions) { o.Blend = "laplacian" }, false},
		{"blend over 100", func(o *job.FaceOptions) { o.EnhancerBlend = 101 }, false},
		{"none", func(o *job.FaceOptions) { o.Processors = []string{job.ProcessorNone} }, true},
		{"none with a swap", func(o *job.FaceOptions) { o.Processors = append(o.Processors, job.ProcessorNone) }, false},
		{"negative distance", func(o *job.FaceOptions) { o.SimilarDistance = -1 }, false},
		{"NaN distance", func(o *job.FaceOptions) { o.SimilarDistance = float32(math.NaN()) }, false},
		{"infinite distance", func(o *job.FaceOptions) { o.SimilarDistance = float32(math.Inf(1)) }, false},
		{"negative mask blur", func(o *job.FaceOptions) { o.MaskBlur = -0.1 }, false},
		{"NaN mask blur", func(o *job.FaceOptions) { o.MaskBlur = float32(math.NaN()) }, false},
		{"padding over 100", func(o *job.FaceOptions) { o.MaskPadding = [4]float32{0, 101, 0, 0} }, false},
		{"NaN padding", func(o *job.FaceOptions) { o.MaskPadding = [4]float32{float32(math.NaN()), 0, 0, 0} }, false},
	}
	for _, tc := range tests {
		o := ok
		tc.mod(&o)
		err := CheckOptions(o)
		if (err == nil) != tc.good || (err != nil && !errors.Is(err, ErrBadInput)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// JobModels names what a job loads besides the detector, as the options give it, with the kind each must be.
func TestJobModels(t *testing.T) {
	swap, enhance := job.ProcessorSwapper, job.ProcessorEnhancer
	for _, tc := range []struct {
		name string
		opt  job.FaceOptions
		want []JobModel
	}{
		{"mesh", job.FaceOptions{Processors: []string{swap}}, nil},
		{"mesh, reference", job.FaceOptions{Processors: []string{swap}, Selector: face.SelectReference},
			[]JobModel{{models.Recognizer, DefaultRecognizer}}},
		{"inswapper", job.FaceOptions{Processors: []string{swap}, Swapper: job.SwapperInswapper, Recognizer: "/r.onnx"},
			[]JobModel{{models.Swapper, job.SwapperInswapper}, {models.Recognizer, "/r.onnx"}}},
		{"inswapper file and enhancer", job.FaceOptions{Processors: []string{swap, enhance}, Swapper: "my.onnx", Enhancer: "codeformer"},
			[]JobModel{{models.Swapper, "my.onnx"}, {models.Enhancer, "codeformer"}, {models.Recognizer, DefaultRecognizer}}},
		{"enhancer alone", job.FaceOptions{Processors: []string{enhance}}, []JobModel{{models.Enhancer, DefaultEnhancer}}},
		{"none", job.FaceOptions{Processors: []string{job.ProcessorNone}, Enhancer: "x"}, nil},
	} {
		if got := JobModels(tc.opt); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Frame processor "none" (the pipeline-overhead benchmark's) leaves a frame with faces byte-identical and never
// runs the detector.
func TestProcessorNone(t *testing.T) {
	e := newEngine(t)
	det := &countingDetector{Detector: mustDetector(t, e)}
	e.detector = det
	fp, err := e.ForJob("none-job", testenv.Face(t, "astronaut_eileen_collins.png"),
		job.FaceOptions{Processors: []string{job.ProcessorNone}})
	if err != nil {
		t.Fatal(err)
	}
	img := read(t, "apollo11_crew_3faces.jpg")
	before, err := img.DataPtrUint8()
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), before...)
	for i := 0; i < 3; i++ {
		if err := fp.Process(img, i); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := img.DataPtrUint8()
	if string(got) != string(want) {
		t.Error("frame processor none changed the frame")
	}
	if det.calls != 0 {
		t.Errorf("frame processor none ran the detector %d times", det.calls)
	}
}

// Identity moves to the source with both model-free swappers: measured by a real embedding network
// (MobileFaceNet, TESTS ONLY), the swapped face is clearly closer to the source than the target face was.
func TestModelFreeSwapsMoveIdentity(t *testing.T) {
	e := newEngine(t)
	// The engine starts ONNX Runtime on its first model; this test's own recognizer may come first.
	if err := ort.Init(testenv.ORTLib(t)); err != nil {
		t.Fatal(err)
	}
	emb, err := processor.NewArcFace(processor.ArcFaceConfig{ModelPath: testenv.Model(t, "mobilefacenet_paddlex_128d.onnx")})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	identity := func(img gocv.Mat) []float32 {
		faces, err := mustDetector(t, e).Detect(img)
		f, ok := face.Largest(faces)
		if err != nil || !ok {
			t.Fatalf("no face: %v", err)
		}
		v, err := emb.Embed(img, []face.Face{f})
		if err != nil {
			t.Fatal(err)
		}
		return v[0]
	}
	pairs := [][2]string{
		{"astronaut_eileen_collins.png", "grace_hopper.jpg"},
		{"grace_hopper.jpg", "astronaut_eileen_collins.png"},
		{"codait_luciano_cc0.png", "pexels_max_emotion_neutral.jpeg"},
		{"astronaut_eileen_collins.png", "codait_luciano_cc0.png"},
		{"pexels_max_emotion_neutral.jpeg", "grace_hopper.jpg"},
		{"grace_hopper.jpg", "pexels_keijiro_facelandmark_Test1.jpg"},
	}
	for _, swapper := range []string{job.SwapperMesh, job.SwapperClassical} {
		for i, p := range pairs {
			src, tgt := read(t, p[0]), read(t, p[1])
			srcID, tgtID := identity(src), identity(tgt)
			proc, err := e.ForJob(swapper+string(rune('a'+i)), testenv.Face(t, p[0]),
				job.FaceOptions{Processors: []string{job.ProcessorSwapper}, Swapper: swapper})
			if err != nil {
				t.Fatal(err)
			}
			out := tgt.Clone()
			if err := proc.Process(out, 0); err != nil {
				t.Fatal(err)
			}
			before, after := face.Distance(tgtID, srcID), face.Distance(identity(out), srcID)
			_ = out.Close()
			t.Logf("%s %s onto %s: distance to the source %.3f -> %.3f", swapper, p[0], p[1], before, after)
			if after > before-0.3 {
				t.Errorf("%s %s onto %s: not clearly closer to the source (%.3f -> %.3f)", swapper, p[0], p[1], before, after)
			}
		}
	}
}

// An allocation failure in a model is reported once and the frame retried once; other errors are not retried.
func TestOutOfMemoryRetriesOnce(t *testing.T) {
	e := newEngine(t)
	img := read(t, "grace_hopper.jpg")
	for _, tc := range []struct {
		name      string
		failures  int
		err       error
		wantOOM   int
		wantCalls int
		wantErr   bool
		class     error // fault.Of the error: an allocation failure that outlives its retry is the worker's trouble
	}{
		{"recovers", 1, errors.New("onnxruntime: Failed to allocate memory for requested buffer of size 67108864"), 1, 2, false, nil},
		{"fails twice", 2, errors.New("CUDA failure 2: out of memory"), 1, 2, true, fault.ErrOutOfMemory},
		{"other errors are not retried", 1, errors.New("shape mismatch"), 0, 1, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls, ooms := 0, 0
			flaky := func(gocv.Mat, []face.Face) error {
				calls++
				if calls <= tc.failures {
					return tc.err
				}
				return nil
			}
			fp := &FrameProcessor{detector: mustDetector(t, e), steps: []step{{one: flaky}}, onOOM: func() { ooms++ }}
			err := fp.Process(img, 0)
			if (err != nil) != tc.wantErr || ooms != tc.wantOOM || calls != tc.wantCalls || fault.Of(err) != tc.class {
				t.Fatalf("err %v (class %v), OnOOM %d times, step %d times", err, fault.Of(err), ooms, calls)
			}
		})
	}
	// Only the failed step is redone: a swap that already changed the frame is not run again because the enhancer
	// after it ran out of memory.
	first, second := 0, 0
	fp := &FrameProcessor{detector: mustDetector(t, e), onOOM: func() {}, steps: []step{
		{one: func(gocv.Mat, []face.Face) error { first++; return nil }},
		{one: func(gocv.Mat, []face.Face) error {
			second++
			if second == 1 {
				return errors.New("CUDA failure 2: out of memory")
			}
			return nil
		}},
	}}
	if err := fp.Process(img, 0); err != nil || first != 1 || second != 2 {
		t.Fatalf("err %v: first step ran %d times (want 1), second %d (want 2)", err, first, second)
	}
}

// Unload closes one processor's models and nothing else; a later ForJob loads them again, and provenance lists
// each model once.
func TestUnload(t *testing.T) {
	e := newEngine(t)
	dir := t.TempDir()
	gfpgan := onnxtest.New("gfpgan").
		Input("input", onnxtest.Float, 1, 3, 512, 512).Output("output", onnxtest.Float, 1, 3, 512, 512).
		Node("Identity", []string{"input"}, []string{"output"}).
		Save(t, dir, "gfpgan_1.4.onnx")
	opt := job.FaceOptions{Processors: []string{job.ProcessorSwapper, job.ProcessorEnhancer}, Swapper: job.SwapperMesh,
		Enhancer: gfpgan, EnhancerBlend: 80}
	src := testenv.Face(t, "astronaut_eileen_collins.png")
	frame := read(t, "grace_hopper.jpg")
	for round := 0; round < 2; round++ {
		proc, err := e.ForJob("unload", src, opt)
		if err != nil {
			t.Fatal(err)
		}
		if err := proc.Process(frame, 0); err != nil {
			t.Fatal(err)
		}
		if e.landmarker == nil || len(e.jobs) != 1 || len(e.enhancers) != 1 {
			t.Fatalf("round %d: models not loaded", round)
		}
		e.Unload(job.ProcessorSwapper)
		if e.landmarker != nil || len(e.jobs) != 0 || len(e.enhancers) != 1 || e.detector == nil {
			t.Fatalf("round %d: after unloading the swapper: landmarker %v, %d prepared, %d enhancers", round, e.landmarker != nil, len(e.jobs), len(e.enhancers))
		}
		e.Unload(job.ProcessorEnhancer)
		if len(e.enhancers) != 0 {
			t.Fatalf("round %d: enhancer still loaded", round)
		}
	}
	if got := strings.Join(e.Models(), ","); strings.Count(got, "gfpgan_1.4.onnx") != 1 || strings.Count(got, "face_landmark") != 1 {
		t.Errorf("models listed %s", got)
	}
}

// mustDetector is e's detector, loaded on first use.
func mustDetector(t testing.TB, e *Engine) processor.Detector {
	t.Helper()
	det, err := e.Detector()
	if err != nil {
		t.Fatal(err)
	}
	return det
}
