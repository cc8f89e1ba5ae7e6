package standalone

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/internal/testimage"
	"github.com/facefleet/facefleet/pkg/face"
)

// Two people cross in twoPeople's clip: A (grace_hopper) starts on the left, the reference position 0, and walks
// right along the top; B (a larger face, so "the largest face" is B) walks left along the bottom. Both are crops
// of a shared photo around its face, pasted at x = x0 + vx*t.
const (
	twoW, twoH, twoFPS, twoSeconds = 640, 360, 25, 3
	twoSideA, twoSideB             = 130, 170
)

type walker struct {
	photo  string
	side   int
	x0, vx float64 // pixels, pixels per second
	y      int
}

var twoWalkers = [2]walker{
	{"grace_hopper.jpg", twoSideA, 40, 130, 10},
	{"pexels_keijiro_facelandmark_Test1.jpg", twoSideB, 440, -130, 180},
}

// rect is the middle of the walker's picture in frame i, where the face is (ffmpeg's overlay rounds x down the
// same way).
func (w walker) rect(i int) face.Box {
	x := float32(int(w.x0 + w.vx*float64(i)/twoFPS))
	s := float32(w.side)
	return face.Box{X1: x + s/4, Y1: float32(w.y) + s/4, X2: x + s*3/4, Y2: float32(w.y) + s*3/4}
}

// twoPeople makes the clip: a keyframe every second, so that --segment-seconds 1 cuts it in three.
func twoPeople(t *testing.T, dir string) string {
	t.Helper()
	args := []string{"-f", "lavfi", "-i", fmt.Sprintf("color=c=0x606060:s=%dx%d:r=%d:d=%d", twoW, twoH, twoFPS, twoSeconds)}
	var filter []string
	for k, w := range twoWalkers {
		img := testimage.Read(t, testenv.Face(t, w.photo))
		b, _ := img.DataPtrUint8()
		faces := detect(t, b, img.Cols(), img.Rows())
		f, ok := face.Largest(faces)
		if !ok {
			t.Fatalf("%s: no face", w.photo)
		}
		side := int(max(f.Box.Width(), f.Box.Height()) * 1.8)
		side = min(side, img.Cols(), img.Rows())
		c := f.Box.Center()
		x, y := min(max(int(c.X)-side/2, 0), img.Cols()-side), min(max(int(c.Y)-side/2, 0), img.Rows()-side)
		img.Close()
		args = append(args, "-loop", "1", "-i", testenv.Face(t, w.photo))
		filter = append(filter, fmt.Sprintf("[%d:v]crop=%d:%d:%d:%d,scale=%d:%d,format=yuv420p[p%d]", k+1, side, side, x, y, w.side, w.side, k))
	}
	filter = append(filter, "[0:v][p0]overlay=x='trunc(40+130*t)':y=10:shortest=1[v0]",
		"[v0][p1]overlay=x='trunc(440-130*t)':y=180:shortest=1,format=yuv420p[v]")
	p := filepath.Join(dir, "two.mp4")
	args = append(args, "-filter_complex", strings.Join(filter, ";"), "-map", "[v]", "-frames:v", fmt.Sprint(twoFPS*twoSeconds),
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "12", "-g", fmt.Sprint(twoFPS), "-keyint_min", fmt.Sprint(twoFPS),
		"-sc_threshold", "0", p)
	ffmpeg(t, args...)
	return p
}

// TestFollowOnePerson: the default selector swaps the person at the reference position in the reference frame and
// only that person in every frame, as the two cross and the other is the larger face, in one segment and in
// three run by two workers (each segment finds the person again by geometry, or by embedding with a recognizer);
// --reference-face-position 1 alone (roop's meaning: the default mode's person) swaps the other one. Before, the
// largest face (B) was swapped in every frame whatever the flags.
func TestFollowOnePerson(t *testing.T) {
	dir := t.TempDir()
	target := twoPeople(t, dir)
	source := testenv.Face(t, "astronaut_eileen_collins.png")
	in := frames(t, target, twoW, twoH)
	if len(in) != twoFPS*twoSeconds {
		t.Fatalf("target has %d frames", len(in))
	}
	for _, tc := range []struct {
		name       string
		position   int
		segments   float64
		workers    int
		recognizer bool
	}{
		{"default", 0, 0, 1, false},
		{"segments", 0, 1, 2, false},
		{"segments, embedding", 0, 1, 2, true},
		{"position 1", 1, 1, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.mp4")
			cfg := testConfig(t, source, target, out)
			cfg.ReferencePosition, cfg.Workers = tc.position, tc.workers
			cfg.Quality = 5 // near-lossless (0 best, 100 worst): an untouched face must not look changed
			if tc.segments > 0 {
				cfg.SegmentSeconds = tc.segments
			}
			if tc.recognizer {
				cfg.Face.Recognizer = testenv.Model(t, "mobilefacenet_paddlex_128d.onnx") // TESTS ONLY
			}
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.segments > 0 && res.Segments < 3 {
				t.Fatalf("%d segments, want 3", res.Segments)
			}
			got := frames(t, out, twoW, twoH)
			if len(got) != len(in) {
				t.Fatalf("%d frames, want %d", len(got), len(in))
			}
			followed, other := twoWalkers[tc.position], twoWalkers[1-tc.position]
			swapped, worstOther, leastFollowed := 0, 0.0, 255.0
			for i := range got {
				d := meanAbsDiff(got[i], in[i], twoW, followed.rect(i))
				o := meanAbsDiff(got[i], in[i], twoW, other.rect(i))
				worstOther, leastFollowed = max(worstOther, o), min(leastFollowed, d)
				if o > twoChanged {
					t.Errorf("frame %d: the other person's face changed (mean difference %.1f; the followed one's %.1f)", i, o, d)
				}
				if d > twoChanged {
					swapped++
				}
			}
			t.Logf("mean difference: the other face %.2f at most, the followed one %.2f at least", worstOther, leastFollowed)
			// Every frame's person is swapped but where they pass each other (the detector may miss one there).
			if swapped < len(got)*9/10 {
				t.Errorf("the followed person is swapped in %d of %d frames", swapped, len(got))
			}
		})
	}
}

// twoChanged is the mean difference over a walker's face above which it was swapped: the re-encode and the
// pipeline's colour conversion change an untouched face by up to 2.4 levels here (issue 17 item 1 is about the
// latter), a swap by 12 or more.
const twoChanged = 6.0
