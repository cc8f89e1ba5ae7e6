package media

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
)

// boundsShapes are the frame sizes every conversion is tried at: portrait and landscape, odd and even, 2 px to 4K,
// and widths whose rows (3 bytes a pixel) are not multiples of 16, 32 or 64 bytes. 300x400, 360x640 and 540x960
// crashed the process (heap corruption) before frame buffers had FramePadding; 306 and 1366 lost the last pixels of
// every row (black) when converted into rows packed tight.
var boundsShapes = [][2]int{
	{2, 2}, {2, 3}, {3, 2}, {3, 3}, {5, 7}, {16, 16}, {17, 15}, {30, 40}, {33, 65}, {63, 127}, {100, 2}, {2, 100},
	{300, 400}, {400, 300}, {302, 400}, {306, 404}, {360, 640}, {640, 360}, {540, 960}, {641, 481}, {481, 641},
	{720, 1280}, {1080, 1920}, {1920, 1080}, {1366, 768}, {2160, 3840}, {3840, 2160},
}

// boundsFormats are source pixel formats beside yuv420p (each has its own converter to bgr24), decoded at the
// boundsFormatShapes.
var boundsFormatShapes = [][2]int{{2, 2}, {3, 3}, {5, 7}, {17, 15}, {100, 2}, {306, 404}, {641, 481}}

var boundsFormats = []string{"yuvj420p", "yuv422p", "yuv444p", "yuv420p10le", "nv12", "gray", "rgb24", "bgra", "yuyv422", "pal8"}

// rawClip writes two testsrc2 frames of w x h in pixFmt, uncompressed in NUT (which holds every pixel format).
func rawClip(t *testing.T, w, h int, pixFmt string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), fmt.Sprintf("%dx%d-%s.nut", w, h, pixFmt))
	ffmpeg(t, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=25", w, h), "-frames:v", "2",
		"-pix_fmt", pixFmt, "-c:v", "rawvideo", p)
	return p
}

// TestFrameBufferBounds decodes into and encodes from frame buffers that end at an inaccessible page, with and
// without FramePadding, so that any read or write past a frame by FFmpeg's converters (which no sanitizer sees)
// crashes here. The pictures must equal the ffmpeg command's whichever buffer they went through.
func TestFrameBufferBounds(t *testing.T) {
	type tc struct {
		w, h   int
		pixFmt string
	}
	var cases []tc
	for _, s := range boundsShapes {
		cases = append(cases, tc{s[0], s[1], "yuv420p"})
	}
	for _, s := range boundsFormatShapes {
		for _, f := range boundsFormats {
			cases = append(cases, tc{s[0], s[1], f})
		}
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%dx%d-%s", c.w, c.h, c.pixFmt), func(t *testing.T) {
			src := rawClip(t, c.w, c.h, c.pixFmt)
			want := decodeAll(t, DecoderConfig{Path: src, Width: c.w, Height: c.h, Threads: 1, Process: true})
			exact := decodeGuarded(t, DecoderConfig{Path: src, Width: c.w, Height: c.h, Threads: 1}, 0)
			padded := decodeGuarded(t, DecoderConfig{Path: src, Width: c.w, Height: c.h, Threads: 1}, FramePadding)
			if len(want) != 2 || len(exact) != len(want) || len(padded) != len(want) {
				t.Fatalf("frames: ffmpeg %d, exact buffers %d, padded %d; want 2 each", len(want), len(exact), len(padded))
			}
			for i := range want {
				if !bytes.Equal(exact[i], want[i]) || !bytes.Equal(padded[i], want[i]) {
					t.Fatalf("frame %d differs from the ffmpeg command's", i)
				}
			}
			if c.pixFmt != "yuv420p" {
				return // the encoder takes bgr24 whatever the source was
			}
			for _, pad := range []int{0, FramePadding} {
				// FFV1 on bgr0 is exact: what comes back must be what was written.
				out := filepath.Join(t.TempDir(), "out.mkv")
				encodeGuarded(t, EncoderConfig{Path: out, Width: c.w, Height: c.h, FrameRate: Rational{25, 1},
					Codec: CodecLossless, Threads: 1}, want, pad)
				got := decodeAll(t, DecoderConfig{Path: out, Width: c.w, Height: c.h, Threads: 1, Process: true})
				if len(got) != len(want) {
					t.Fatalf("pad %d: lossless output has %d frames, want %d", pad, len(got), len(want))
				}
				for i := range want {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("pad %d: lossless frame %d differs from what was written", pad, i)
					}
				}
				out = filepath.Join(t.TempDir(), "out.mp4")
				encodeGuarded(t, EncoderConfig{Path: out, Width: c.w, Height: c.h, FrameRate: Rational{25, 1},
					Quality: DefaultQuality, Threads: 1}, want, pad)
				if n := mustCount(t, out); n != len(want) {
					t.Fatalf("pad %d: x264 output has %d frames, want %d", pad, n, len(want))
				}
				if c.w%2 == 0 && c.h%2 == 0 {
					// The planar pictures as they are: the decoder's copy and the encoder's lent-frame path.
					yuv := decodeGuarded(t, DecoderConfig{Path: src, Width: c.w, Height: c.h, Threads: 1, PixFmt: PixFmtYUV420P}, pad)
					encodeGuarded(t, EncoderConfig{Path: out, Width: c.w, Height: c.h, FrameRate: Rational{25, 1},
						Quality: DefaultQuality, Threads: 1, PixFmt: PixFmtYUV420P}, yuv, pad)
					if n := mustCount(t, out); n != len(want) {
						t.Fatalf("pad %d: yuv420p output has %d frames, want %d", pad, n, len(want))
					}
				}
			}
		})
	}
}

// decodeGuarded reads every frame of cfg's file, each into its own guarded buffer with pad bytes of capacity to spare,
// and returns copies.
func decodeGuarded(t *testing.T, cfg DecoderConfig, pad int) [][]byte {
	t.Helper()
	dec, err := NewDecoder(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var frames [][]byte
	for {
		buf := testenv.GuardedBytes(t, dec.FrameSize(), dec.FrameSize()+pad)
		if err := dec.Read(buf); errors.Is(err, io.EOF) {
			return frames
		} else if err != nil {
			t.Fatalf("decode %s: %v", cfg.Path, err)
		}
		frames = append(frames, bytes.Clone(buf))
	}
}

// encodeGuarded writes frames to cfg's file, each from a guarded buffer with pad bytes of capacity to spare.
func encodeGuarded(t *testing.T, cfg EncoderConfig, frames [][]byte, pad int) {
	t.Helper()
	enc, err := NewEncoder(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Abort()
	for _, f := range frames {
		buf := testenv.GuardedBytes(t, len(f), len(f)+pad)
		copy(buf, f)
		if err := enc.Write(buf); err != nil {
			t.Fatalf("encode %s: %v", cfg.Path, err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatalf("close %s: %v", cfg.Path, err)
	}
}
