package media

import (
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
)

// TestPatcherChangedBlocks decodes frames with ReadKeep, changes a rectangle of the BGR frame (or nothing) and
// patches: the blocks coded again are exactly the 2x2 blocks the rectangle touches, none for an unchanged frame;
// a frame with no picture kept is coded whole. The BGR frame ends at an inaccessible page: nothing reads past it.
func TestPatcherChangedBlocks(t *testing.T) {
	t.Parallel()
	src := clip(t, "plain.mp4", 0.2)
	const w, h = 400, 300
	tests := []struct {
		name           string
		x0, y0, x1, y1 int // changed pixels [x0,x1) x [y0,y1)
		want           int
	}{
		{"unchanged", 0, 0, 0, 0, 0},
		{"even rectangle", 100, 60, 160, 100, 30 * 20},
		{"odd corners", 101, 61, 161, 101, 31 * 21},
		{"one pixel", 7, 9, 8, 10, 1},
		{"last block", w - 1, h - 1, w, h, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec, err := NewDecoder(testCtx(t), DecoderConfig{Path: src, Width: w, Height: h, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			p, err := NewPatcher(Color{})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			f, err := NewFrame()
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			bgr := testenv.GuardedBytes(t, w*h*3, w*h*3)
			for i := 0; i < 3; i++ {
				if err := dec.ReadKeep(bgr, f); err != nil {
					t.Fatal(err)
				}
				for y := tt.y0; y < tt.y1; y++ {
					for x := tt.x0; x < tt.x1; x++ {
						bgr[(y*w+x)*3] ^= 0x40
					}
				}
				n, err := p.Apply(f, bgr, w, h)
				if err != nil {
					t.Fatal(err)
				}
				if n != tt.want {
					t.Errorf("frame %d: %d blocks coded, want %d", i, n, tt.want)
				}
				f.Release()
			}
		})
	}
}

// TestPatcherWithoutPicture: a frame whose picture was not kept (a stream that changed size midway) is coded whole
// from BGR, with the target's matrix.
func TestPatcherWithoutPicture(t *testing.T) {
	const w, h = 64, 48
	p, err := NewPatcher(Color{Space: "bt709", Range: "tv"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f, err := NewFrame()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bgr := testenv.GuardedBytes(t, w*h*3, w*h*3)
	for i := range bgr {
		bgr[i] = byte(i)
	}
	n, err := p.Apply(f, bgr, w, h)
	if err != nil {
		t.Fatal(err)
	}
	if n != w*h/4 {
		t.Errorf("%d blocks coded, want all %d", n, w*h/4)
	}
	if _, err := p.Apply(f, bgr[:w*h*3-1], w, h); err == nil {
		t.Error("a short BGR frame was patched")
	}
}
