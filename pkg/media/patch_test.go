package media

import (
	"bytes"
	"fmt"
	"image"
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
			dec, p := patchRig(t, src, w, h)
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

// TestConverterRect converts parts of decoded pictures: inside the part it reports, every pixel equals the
// decoder's whole-frame conversion (so a frame converted piece by piece is the frame ReadKeep gives, and the
// patcher finds no change where a processor changed nothing); outside it, nothing is written. The BGR frame ends
// at an inaccessible page, with no room to spare: nothing writes past it.
func TestConverterRect(t *testing.T) {
	t.Parallel()
	shapes := [][2]int{{2, 2}, {16, 16}, {30, 40}, {300, 400}, {306, 404}, {640, 360}, {1366, 768}, {1280, 720}}
	for _, s := range shapes {
		for _, pixFmt := range []string{"yuv420p", "yuvj420p"} {
			w, h := s[0], s[1]
			t.Run(fmt.Sprintf("%dx%d-%s", w, h, pixFmt), func(t *testing.T) {
				t.Parallel()
				src := rawClip(t, w, h, pixFmt)
				dec, err := NewDecoder(testCtx(t), DecoderConfig{Path: src, Width: w, Height: h, Threads: 1})
				if err != nil {
					t.Fatal(err)
				}
				defer dec.Close()
				f, err := NewFrame()
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				whole := make([]byte, w*h*3, w*h*3+FramePadding)
				if err := dec.ReadKeep(whole, f); err != nil {
					t.Fatal(err)
				}
				c, err := NewConverter()
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				frame := image.Rect(0, 0, w, h)
				rects := []image.Rectangle{
					frame, image.Rect(0, 0, 1, 1), image.Rect(1, 1, 2, 2), image.Rect(w/3+1, h/4+1, w/2+3, h/2+1),
					image.Rect(w-1, h-1, w, h), image.Rect(w/2, h/2, w+50, h+50), image.Rect(-20, -20, w/2+1, 3),
					image.Rect(w+1, 0, w+5, h), image.Rect(5, 5, 5, 9),
				}
				bgr := testenv.GuardedBytes(t, w*h*3, w*h*3)
				for _, r := range rects {
					for i := range bgr {
						bgr[i] = 0xa5
					}
					got, err := c.Rect(f, bgr, r)
					if err != nil {
						t.Fatalf("%v: %v", r, err)
					}
					if want := r.Intersect(frame); !want.In(got) || !got.In(frame) {
						t.Fatalf("%v: converted %v, want a part of %v holding %v", r, got, frame, want)
					}
					for y := 0; y < h; y++ {
						for x := 0; x < w; x++ {
							i := (y*w + x) * 3
							want := []byte{0xa5, 0xa5, 0xa5}
							if image.Pt(x, y).In(got) {
								want = whole[i : i+3]
							}
							if !bytes.Equal(bgr[i:i+3], want) {
								t.Fatalf("%v (converted %v): pixel (%d, %d) is %v, want %v", r, got, x, y, bgr[i:i+3], want)
							}
						}
					}
				}
			})
		}
	}
}

// TestPatcherRects: a frame changed inside the rectangles the patcher is told of gets exactly those changed
// blocks coded; told of none, it codes nothing (the caller vouches nothing changed).
func TestPatcherRects(t *testing.T) {
	t.Parallel()
	src := clip(t, "plain.mp4", 0.2)
	const w, h = 400, 300
	tests := []struct {
		name  string
		rects []image.Rectangle
		want  int
	}{
		{"none", nil, 0},
		{"holding the change", []image.Rectangle{image.Rect(90, 50, 170, 110)}, 30 * 20},
		{"two, one holding it", []image.Rectangle{image.Rect(0, 0, 10, 10), image.Rect(100, 60, 160, 100)}, 30 * 20},
		{"half of it", []image.Rectangle{image.Rect(100, 60, 130, 100)}, 15 * 20},
		{"the frame", []image.Rectangle{image.Rect(0, 0, w, h)}, 30 * 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec, p := patchRig(t, src, w, h)
			f, err := NewFrame()
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			bgr := testenv.GuardedBytes(t, w*h*3, w*h*3)
			if err := dec.ReadKeep(bgr, f); err != nil {
				t.Fatal(err)
			}
			for y := 60; y < 100; y++ {
				for x := 100; x < 160; x++ {
					bgr[(y*w+x)*3] ^= 0x40
				}
			}
			n, err := p.ApplyRects(f, bgr, w, h, tt.rects)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.want {
				t.Errorf("%d blocks coded, want %d", n, tt.want)
			}
		})
	}
}

// TestPatcherCopiesHeldTogether: pictures patched while others are still held (frames in flight) get copies of
// their own, and a copy reused after its frame is released starts from its new picture: outside the change every
// pixel is the decoder's, inside it the change.
func TestPatcherCopiesHeldTogether(t *testing.T) {
	t.Parallel()
	src := clip(t, "plain.mp4", 0.8)
	const w, h, held = 400, 300, 4
	dec, p := patchRig(t, src, w, h)
	c, err := NewConverter()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	frames := make([]*Frame, held)
	origs, changed := make([][]byte, held), make([]image.Rectangle, held)
	for i := range frames {
		if frames[i], err = NewFrame(); err != nil {
			t.Fatal(err)
		}
		defer frames[i].Close()
	}
	got := make([]byte, w*h*3, w*h*3+FramePadding)
	for round := 0; round < 3; round++ {
		for i, f := range frames {
			bgr := make([]byte, w*h*3, w*h*3+FramePadding)
			if err := dec.ReadKeep(bgr, f); err != nil {
				t.Fatal(err)
			}
			origs[i] = append([]byte(nil), bgr...)
			changed[i] = image.Rect(20+40*i, 30, 60+40*i, 90)
			for y := changed[i].Min.Y; y < changed[i].Max.Y; y++ {
				for x := changed[i].Min.X; x < changed[i].Max.X; x++ {
					bgr[(y*w+x)*3+1] ^= 0x80 // green swings by half the range
				}
			}
			if n, err := p.Apply(f, bgr, w, h); err != nil || n == 0 {
				t.Fatalf("round %d frame %d: %d blocks coded, %v", round, i, n, err)
			}
		}
		for i, f := range frames { // every copy still held
			if _, err := c.Rect(f, got, image.Rect(0, 0, w, h)); err != nil {
				t.Fatal(err)
			}
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					k := (y*w + x) * 3
					in := image.Pt(x, y).In(changed[i].Inset(-2)) // a changed 2x2 block's chroma reaches a pixel out
					if !in && !bytes.Equal(got[k:k+3], origs[i][k:k+3]) {
						t.Fatalf("round %d frame %d: untouched pixel (%d, %d) is %v, the decoder's %v", round, i, x, y, got[k:k+3], origs[i][k:k+3])
					}
					if image.Pt(x, y).In(changed[i].Inset(2)) && absDiff(got[k+1], origs[i][k+1]) < 24 {
						t.Fatalf("round %d frame %d: changed pixel (%d, %d) green %d, was %d", round, i, x, y, got[k+1], origs[i][k+1])
					}
				}
			}
		}
		for _, f := range frames {
			f.Release()
		}
	}
}

func absDiff(a, b byte) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// patchRig is a one-thread decoder of src at w x h and a patcher for an untagged target, closed with the test.
func patchRig(t *testing.T, src string, w, h int) (*Decoder, *Patcher) {
	t.Helper()
	dec, err := NewDecoder(testCtx(t), DecoderConfig{Path: src, Width: w, Height: h, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dec.Close() })
	p, err := NewPatcher(Color{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return dec, p
}
