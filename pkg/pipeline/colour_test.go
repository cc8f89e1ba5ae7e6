package pipeline_test

import (
	"fmt"
	"image"
	"os/exec"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/pipeline"
)

// colourClip writes a 640x480 testsrc2 clip of 10 frames encoded as args say (pixel format, matrix, range, tags).
func colourClip(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), name+".mp4")
	full := append([]string{"-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25:duration=0.4"}, args...)
	ffmpeg(tb, append(full, "-c:v", "libx264", "-preset", "ultrafast", "-g", "5", out)...)
	return out
}

// colourCases are the targets of issue 17's colour check: untagged SD, BT.709 and BT.601 tagged, full range (as a
// yuv420p stream tagged pc, which libavcodec decodes as yuvj420p, and as yuvj420p), and a 10-bit target, whose
// frames go through BGR even for frame processor none.
var colourCases = []struct {
	name string
	args []string
}{
	{"untagged SD", []string{"-pix_fmt", "yuv420p"}},
	{"bt709", []string{"-vf", "scale=out_color_matrix=bt709", "-pix_fmt", "yuv420p", "-colorspace", "bt709",
		"-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"}},
	{"bt601", []string{"-vf", "scale=out_color_matrix=bt601", "-pix_fmt", "yuv420p", "-colorspace", "smpte170m",
		"-color_primaries", "smpte170m", "-color_trc", "smpte170m", "-color_range", "tv"}},
	{"full range", []string{"-vf", "scale=out_range=full", "-pix_fmt", "yuv420p", "-color_range", "pc"}},
	{"yuvj420p", []string{"-pix_fmt", "yuvj420p"}},
	// Through BGR both ways, for none too: converted back with the matrix it was decoded with.
	{"10-bit bt601", []string{"-vf", "scale=out_color_matrix=bt601", "-pix_fmt", "yuv420p10le", "-colorspace", "smpte170m",
		"-color_range", "tv"}},
}

// rawPlanes decodes every frame of path in its own pixel format (no conversion: the planes as coded) with the
// ffmpeg command, and splits them into frames of w x h yuv420p-sized pictures.
func rawPlanes(tb testing.TB, path string, w, h int) [][]byte {
	tb.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", path, "-f", "rawvideo", "-").Output()
	if err != nil {
		tb.Fatalf("ffmpeg decode %s: %v", path, err)
	}
	size := w * h * 3 / 2
	if len(out)%size != 0 {
		tb.Fatalf("%s: %d raw bytes, not a multiple of %d", path, len(out), size)
	}
	var frames [][]byte
	for i := 0; i < len(out); i += size {
		frames = append(frames, out[i:i+size])
	}
	return frames
}

// outside reports whether byte i of a w x h yuv420p picture lies outside r (even coordinates) in its plane.
func outside(i, w, h int, r image.Rectangle) bool {
	if i < w*h {
		return !image.Pt(i%w, i/w).In(r)
	}
	i -= w * h
	cw, ch := w/2, h/2
	i %= cw * ch
	return !image.Pt(i%cw, i/cw).In(image.Rect(r.Min.X/2, r.Min.Y/2, r.Max.X/2, r.Max.Y/2))
}

// planeDiff is the largest and mean absolute difference of two equally long frame lists, over the bytes keep
// selects.
func planeDiff(a, b [][]byte, keep func(i int) bool) (maxDiff int, mean float64) {
	var sum, n int
	for f := range a {
		for i := range a[f] {
			if !keep(i) {
				continue
			}
			d := int(a[f][i]) - int(b[f][i])
			d = max(d, -d)
			maxDiff = max(maxDiff, d)
			sum += d
			n++
		}
	}
	return maxDiff, float64(sum) / float64(max(n, 1))
}

// paint is a processor that reads every pixel (as a swapper does) and changes only r of the frames it is given:
// a stand-in for a face swap whose mask is r. An empty r changes nothing (a frame without a face).
func paint(r image.Rectangle) pipeline.Processor {
	return pipeline.ProcessorFunc(func(m gocv.Mat, _ int) error {
		if m.Empty() {
			return fmt.Errorf("the frame came as an empty Mat")
		}
		if !r.Empty() {
			roi := m.Region(r) // exactly r: gocv.Rectangle draws anti-aliased, a pixel past its edges
			roi.SetTo(gocv.NewScalar(90, 200, 40, 0))
			_ = roi.Close()
		}
		return nil
	})
}

// regionPaint is paint as a RegionProcessor: it asks for r, tells that it may write r and paints it, so nothing
// else of a yuv420p frame is converted to BGR; a frame it is given whole (other inputs) it paints the same.
type regionPaint struct{ r image.Rectangle }

func (p regionPaint) Process(m gocv.Mat, i int) error { return paint(p.r).Process(m, i) }

func (p regionPaint) ProcessPicture(pic *pipeline.Picture, i int) error {
	if p.r.Empty() {
		return nil // nothing asked for: the frame is never converted
	}
	if err := pic.Touch(p.r); err != nil {
		return err
	}
	return paint(p.r).Process(pic.Mat(), i)
}

// stagedPaint is regionPaint as a StagedProcessor: all of its work in the second stage.
type stagedPaint struct{ regionPaint }

func (p stagedPaint) FindPicture(pic *pipeline.Picture, i int) (func() error, error) {
	return func() error { return p.ProcessPicture(pic, i) }, nil
}

// TestRunColourFidelity runs each colour case through frame processor none, a processor that reads the frame and
// changes nothing (a frame with no face) and one that paints a rectangle (a swap's mask), losslessly encoded
// (quality 0: crf 0), and holds the outputs to none's: the same colour tags as the target (untagged stays
// untagged), and every coded sample outside the rectangle the same as none gives it. Before issue 17 the
// processors' outputs were converted back from BGR with a fixed BT.709 matrix and tagged BT.709.
func TestRunColourFidelity(t *testing.T) {
	t.Parallel()
	const w, h = 640, 480
	mask := image.Rect(200, 120, 360, 300)
	for _, tt := range colourCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := colourClip(t, "target", tt.args...)
			target, err := media.Probe(testCtx(t), in)
			if err != nil {
				t.Fatal(err)
			}
			outputs := map[string]string{}
			for _, p := range []struct {
				name string
				proc pipeline.Processor
			}{{"none", pixelsUnused{noop}}, {"no face", paint(image.Rectangle{})}, {"painted", paint(mask)},
				{"no face, by parts", regionPaint{}}, {"painted by parts", regionPaint{mask}},
				{"painted in stages", stagedPaint{regionPaint{mask}}}} {
				out := filepath.Join(t.TempDir(), "out.mp4")
				cfg := config(in, out, w, h)
				cfg.Quality, cfg.SourcePixFmt, cfg.Color = 0, target.PixFmt, target.Color
				if r := run(t, testCtx(t), cfg, p.proc, nil); r.err != nil {
					t.Fatalf("%s: %v", p.name, r.err)
				}
				info, err := media.Probe(testCtx(t), out)
				if err != nil {
					t.Fatal(err)
				}
				if info.Color != target.Color {
					t.Errorf("%s: output tagged %+v, target %+v", p.name, info.Color, target.Color)
				}
				outputs[p.name] = out
			}
			none := rawPlanes(t, outputs["none"], w, h)
			// A processor that says where it reads and writes gives the same pictures as one given whole frames.
			for name, whole := range map[string]string{"no face, by parts": "none", "painted by parts": "painted",
				"painted in stages": "painted"} {
				got, want := rawPlanes(t, outputs[name], w, h), rawPlanes(t, outputs[whole], w, h)
				if mx, _ := planeDiff(want, got, func(int) bool { return true }); len(got) != len(want) || mx != 0 {
					t.Errorf("%s: %d frames differ from %s's (%d frames) by up to %d levels", name, len(got), whole, len(want), mx)
				}
			}
			for _, name := range []string{"no face", "painted"} {
				got := rawPlanes(t, outputs[name], w, h)
				if len(got) != len(none) {
					t.Fatalf("%s: %d frames, none %d", name, len(got), len(none))
				}
				mx, mean := planeDiff(none, got, func(i int) bool { return outside(i, w, h, mask) })
				t.Logf("%s vs none outside the mask: max %d, mean %.3f levels", name, mx, mean)
				if mx != 0 {
					t.Errorf("%s: samples outside the mask differ from none's by up to %d levels (mean %.3f)", name, mx, mean)
				}
				if name == "painted" {
					if inMax, _ := planeDiff(none, got, func(i int) bool { return !outside(i, w, h, mask) }); inMax < 50 {
						t.Errorf("painted: the mask changed by at most %d levels: the paint did not reach the output", inMax)
					}
				}
			}
		})
	}
}

// TestRunColourFidelityTwoPasses is --memory-optimization's multi-pass run: a first pass paints into an exact FFV1
// intermediate (BGR), the last pass reads it with the target as Original. Its output must be the one-pass output
// sample for sample (both lossless): before issue 17 the last pass converted every pixel back from BGR.
func TestRunColourFidelityTwoPasses(t *testing.T) {
	t.Parallel()
	const w, h = 640, 480
	mask := image.Rect(200, 120, 360, 300)
	for _, tt := range colourCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := colourClip(t, "target", tt.args...)
			target, err := media.Probe(testCtx(t), in)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			base := config(in, filepath.Join(dir, "one.mp4"), w, h)
			base.Quality, base.SourcePixFmt, base.Color = 0, target.PixFmt, target.Color
			if r := run(t, testCtx(t), base, paint(mask), nil); r.err != nil {
				t.Fatalf("one pass: %v", r.err)
			}
			pass1 := base
			pass1.Output, pass1.Encoder = filepath.Join(dir, "pass-1.mkv"), media.CodecLossless
			if r := run(t, testCtx(t), pass1, paint(mask), nil); r.err != nil {
				t.Fatalf("pass 1: %v", r.err)
			}
			pass2 := base
			pass2.Input, pass2.Output, pass2.Original = pass1.Output, filepath.Join(dir, "two.mp4"), in
			if r := run(t, testCtx(t), pass2, paint(image.Rectangle{}), nil); r.err != nil {
				t.Fatalf("pass 2: %v", r.err)
			}
			info, err := media.Probe(testCtx(t), pass2.Output)
			if err != nil {
				t.Fatal(err)
			}
			if info.Color != target.Color {
				t.Errorf("two passes: output tagged %+v, target %+v", info.Color, target.Color)
			}
			one, two := rawPlanes(t, base.Output, w, h), rawPlanes(t, pass2.Output, w, h)
			if len(one) != len(two) {
				t.Fatalf("two passes: %d frames, one pass %d", len(two), len(one))
			}
			mx, mean := planeDiff(one, two, func(int) bool { return true })
			t.Logf("two passes vs one: max %d, mean %.3f levels", mx, mean)
			if mx != 0 {
				t.Errorf("two passes differ from one pass by up to %d levels (mean %.3f)", mx, mean)
			}
		})
	}
}

// TestRunRotation: with a display rotation the processor sees each frame as displayed (its width and height
// swapped by a quarter turn), and what it paints at the displayed top-left corner lands in the output, stored
// unturned, where a player turning it back shows it there.
func TestRunRotation(t *testing.T) {
	t.Parallel()
	const w, h, mark = 320, 240, 16
	in := testsrc(t, w, h, 0.4)
	for _, tt := range []struct {
		rotation int
		stored   rect // where the displayed top-left mark is in the stored frame
	}{
		{0, rect{0, 0, mark, mark}},
		{90, rect{0, h - mark, mark, h}},
		{180, rect{w - mark, h - mark, w, h}},
		{270, rect{w - mark, 0, w, mark}},
	} {
		t.Run(fmt.Sprint(tt.rotation), func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out.mp4")
			cfg := config(in, out, w, h)
			cfg.Rotation, cfg.SourcePixFmt = tt.rotation, media.PixFmtYUV420P
			dw, dh := w, h
			if tt.rotation%180 != 0 {
				dw, dh = h, w
			}
			proc := pipeline.ProcessorFunc(func(m gocv.Mat, _ int) error {
				if m.Cols() != dw || m.Rows() != dh {
					return fmt.Errorf("frame shown %dx%d, want %dx%d", m.Cols(), m.Rows(), dw, dh)
				}
				roi := m.Region(image.Rect(0, 0, mark, mark))
				roi.SetTo(gocv.NewScalar(255, 255, 255, 0))
				return roi.Close()
			})
			if r := run(t, testCtx(t), cfg, proc, nil); r.err != nil {
				t.Fatal(r.err)
			}
			for i, f := range decodeAll(t, out, w, h) {
				if m := rectMean(f, w, tt.stored); m < 240 {
					t.Errorf("frame %d: the mark's stored place %v has mean %.0f, want white", i, tt.stored, m)
				}
			}
		})
	}
}
