package standalone

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/media"
)

// TestSwapEveryShape runs whole jobs (decode, detect, swap, encode, stitch) on a face scaled into frames of every
// shape: portrait and landscape, odd and even, 2 px to 4K, rows that are no multiple of 16, 32 or 64 bytes.
// Portrait 300x400, 360x640 and 540x960 killed the process with heap corruption (free(): invalid next size) before
// the decoder kept within its frame buffers (pkg/media TestFrameBufferBounds holds each conversion to a guard page).
func TestSwapEveryShape(t *testing.T) {
	shapes := [][2]int{{2, 2}, {3, 5}, {17, 15}, {64, 48}, {300, 400}, {302, 400}, {306, 404}, {360, 640},
		{540, 960}, {641, 481}, {481, 641}, {720, 1280}, {1080, 1920}, {1366, 768}, {2160, 3840}}
	dir := t.TempDir()
	source := testenv.Face(t, "astronaut_eileen_collins.png")
	face := testenv.Face(t, "grace_hopper.jpg")
	for _, s := range shapes {
		for _, model := range []string{"mesh", "classical"} {
			if model == "classical" && s[0]*s[1] > 1366*768 {
				continue // the same paths as mesh, at the cost of another 4K job
			}
			t.Run(fmt.Sprintf("%dx%d-%s", s[0], s[1], model), func(t *testing.T) {
				w, h := s[0], s[1]
				// The face stretched to the frame; FFV1 keeps odd sizes exactly.
				target := filepath.Join(dir, fmt.Sprintf("%dx%d-%s.mkv", w, h, model))
				ffmpeg(t, "-loop", "1", "-i", face, "-frames:v", "3", "-vf",
					fmt.Sprintf("scale=%d:%d,setsar=1,format=yuv420p", w, h), "-c:v", "ffv1", target)
				out := filepath.Join(dir, fmt.Sprintf("%dx%d-%s.mp4", w, h, model))
				cfg := testConfig(t, source, target, out)
				cfg.Face.Swapper = model
				if _, err := Run(context.Background(), cfg); err != nil {
					t.Fatal(err)
				}
				info, err := media.Probe(context.Background(), out)
				if err != nil {
					t.Fatal(err)
				}
				// yuv420p outputs have even sizes: an odd side differs by one pixel.
				if info.Width < w-1 || info.Width > w+1 || info.Height < h-1 || info.Height > h+1 {
					t.Fatalf("output is %dx%d, want %dx%d", info.Width, info.Height, w, h)
				}
				got := frames(t, out, info.Width, info.Height)
				if len(got) != 3 {
					t.Fatalf("output has %d frames, want 3", len(got))
				}
				if min(w, h) < 300 || info.Width != w || info.Height != h {
					return
				}
				in := frames(t, target, w, h)
				faces := detect(t, in[0], w, h)
				if len(faces) == 0 {
					t.Fatal("no face in the target's first frame")
				}
				if d := meanAbsDiff(got[0], in[0], w, faces[0].Box); d < 8 {
					t.Errorf("face not swapped: mean difference %.1f levels inside its box", d)
				}
			})
		}
	}
}
