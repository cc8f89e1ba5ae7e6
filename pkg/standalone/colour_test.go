package standalone

import (
	"context"
	"fmt"
	"image"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
)

// codedPlanes decodes path in its own pixel format (the coded samples, no conversion) into frames of a w x h
// 4:2:0 picture.
func codedPlanes(t *testing.T, path string, w, h int) [][]byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", path, "-f", "rawvideo", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg decode %s: %v", path, err)
	}
	size := w * h * 3 / 2
	if len(out) == 0 || len(out)%size != 0 {
		t.Fatalf("%s: %d raw bytes, not frames of %d", path, len(out), size)
	}
	var frames [][]byte
	for i := 0; i < len(out); i += size {
		frames = append(frames, out[i:i+size])
	}
	return frames
}

// TestSwapLeavesOtherPixels is issue 17's colour check with the default engine: a face pasted on a test pattern,
// encoded untagged SD, BT.709, BT.601, full range and 10-bit, swapped and passed through frame processor none, both
// losslessly (quality 0): the outputs carry the target's colour tags, and every coded sample outside the face (the
// detector's box grown by half) is none's exactly. Before, the swap re-tagged BT.709 and moved the whole frame.
func TestSwapLeavesOtherPixels(t *testing.T) {
	const w, h = 640, 480
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"untagged SD", []string{"-pix_fmt", "yuv420p"}},
		{"bt709", []string{"-pix_fmt", "yuv420p", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"}},
		{"bt601", []string{"-pix_fmt", "yuv420p", "-colorspace", "smpte170m", "-color_primaries", "smpte170m", "-color_trc", "smpte170m", "-color_range", "tv"}},
		{"full range", []string{"-pix_fmt", "yuvj420p"}},
		{"10-bit", []string{"-pix_fmt", "yuv420p10le", "-colorspace", "bt709", "-color_range", "tv"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(dir, fmt.Sprintf("target-%s.mp4", tc.name))
			args := []string{"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=25:duration=0.4", w, h),
				"-loop", "1", "-i", testenv.Face(t, "grace_hopper.jpg"),
				"-filter_complex", "[1]scale=240:280[f];[0][f]overlay=200:100:shortest=1", "-frames:v", "10"}
			args = append(append(args, tc.args...), "-c:v", "libx264", "-preset", "ultrafast", target)
			ffmpeg(t, args...)
			info, err := media.Probe(context.Background(), target)
			if err != nil {
				t.Fatal(err)
			}
			outs := map[string]string{}
			for _, p := range []string{job.ProcessorNone, job.ProcessorSwapper} {
				out := filepath.Join(dir, fmt.Sprintf("%s-%s.mp4", tc.name, p))
				cfg := testConfig(t, testenv.Face(t, "astronaut_eileen_collins.png"), target, out)
				cfg.Face.Processors, cfg.Quality = []string{p}, 0
				if _, err := Run(context.Background(), cfg); err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				got, err := media.Probe(context.Background(), out)
				if err != nil {
					t.Fatal(err)
				}
				if got.Color != info.Color {
					t.Errorf("%s: output tagged %+v, target %+v", p, got.Color, info.Color)
				}
				outs[p] = out
			}
			faces := detect(t, frames(t, target, w, h)[0], w, h)
			if len(faces) == 0 {
				t.Fatal("no face in the target")
			}
			big, _ := face.Largest(faces)
			b := big.Box
			bw, bh := b.X2-b.X1, b.Y2-b.Y1
			grown := image.Rect(int(b.X1-bw/4), int(b.Y1-bh/4), int(b.X2+bw/4)+1, int(b.Y2+bh/4)+1)
			grown = image.Rect(grown.Min.X&^1, grown.Min.Y&^1, (grown.Max.X+1)&^1, (grown.Max.Y+1)&^1) // whole chroma samples
			none, swap := codedPlanes(t, outs[job.ProcessorNone], w, h), codedPlanes(t, outs[job.ProcessorSwapper], w, h)
			if len(none) != len(swap) {
				t.Fatalf("none %d frames, face_swapper %d", len(none), len(swap))
			}
			chroma := image.Rect(grown.Min.X/2, grown.Min.Y/2, grown.Max.X/2, grown.Max.Y/2)
			inside := func(i int) bool {
				if i < w*h {
					return image.Pt(i%w, i/w).In(grown)
				}
				i = (i - w*h) % (w * h / 4)
				return image.Pt(i%(w/2), i/(w/2)).In(chroma)
			}
			outsideMax, insideMax := 0, 0
			for f := range none {
				for i := range none[f] {
					d := int(none[f][i]) - int(swap[f][i])
					d = max(d, -d)
					if inside(i) {
						insideMax = max(insideMax, d)
					} else {
						outsideMax = max(outsideMax, d)
					}
				}
			}
			t.Logf("face %v grown to %v: inside up to %d levels from none, outside %d", b, grown, insideMax, outsideMax)
			if insideMax < 20 {
				t.Errorf("the face changed by at most %d levels: not swapped", insideMax)
			}
			if outsideMax != 0 {
				t.Errorf("outside the face the swap differs from none by up to %d levels", outsideMax)
			}
		})
	}
}
