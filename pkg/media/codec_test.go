package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
)

func TestDecodeEncodeRoundTrip(t *testing.T) {
	src := clip(t, "clip.mp4", 2)
	out := filepath.Join(t.TempDir(), "out.mp4")
	transcodePiece(t, src, out, Rational{25, 1})

	if got, want := mustCount(t, out), mustCount(t, src); got != want {
		t.Fatalf("re-encode has %d frames, source %d", got, want)
	}
	info, err := Probe(testCtx(t), out)
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 400 || info.Height != 300 || info.PixFmt != "yuv420p" || info.FrameRate != (Rational{25, 1}) || info.HasAudio {
		t.Errorf("output %dx%d %s %s audio=%v", info.Width, info.Height, info.PixFmt, info.FrameRate, info.HasAudio)
	}
	// Compared in BGR, as the pipeline sees frames: each file is converted with its own colour matrix.
	if p := psnr(t, src, out, 400, 300); p < 38 {
		t.Errorf("PSNR %.1f dB, want >= 38", p)
	} else {
		t.Logf("PSNR %.1f dB", p)
	}
}

// psnr decodes a and b with Decoder and returns the PSNR over all frames.
func psnr(t *testing.T, a, b string, w, h int) float64 {
	t.Helper()
	ctx := testCtx(t)
	da, err := NewDecoder(ctx, DecoderConfig{Path: a, Width: w, Height: h})
	if err != nil {
		t.Fatal(err)
	}
	defer da.Close()
	db, err := NewDecoder(ctx, DecoderConfig{Path: b, Width: w, Height: h})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fa, fb := make([]byte, da.FrameSize()), make([]byte, db.FrameSize())
	var sum float64
	var n int
	for {
		ea, eb := da.Read(fa), db.Read(fb)
		if errors.Is(ea, io.EOF) && errors.Is(eb, io.EOF) {
			break
		}
		if ea != nil || eb != nil {
			t.Fatalf("frame %d: %v / %v", n, ea, eb)
		}
		sum += testenv.SquaredError(fa, fb)
		n++
	}
	mse := sum / float64(n*len(fa))
	return 10 * math.Log10(255*255/mse)
}

// frames returns n synthetic bgr24 frames of w x h: a moving gradient, so the encoder has something to do.
func frames(w, h, n int) [][]byte {
	out := make([][]byte, n)
	for f := range out {
		b := make([]byte, w*h*3)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				i := (y*w + x) * 3
				b[i], b[i+1], b[i+2] = byte(x+f*4), byte(y), byte(x+y)
			}
		}
		out[f] = b
	}
	return out
}

func encode(t *testing.T, cfg EncoderConfig, fs [][]byte) {
	t.Helper()
	enc, err := NewEncoder(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Abort()
	for _, f := range fs {
		if err := enc.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func ratFloat(r *big.Rat) float64 { f, _ := r.Float64(); return f }

// TestEncoderOddSize: a 641x481 target displays at its own aspect whatever the codec: H.264 and H.265 (4:2:0, whose
// cropping works in 2-pixel units) are padded to 642x482 with a sample aspect that makes the padded picture display
// at 641:481, and say so; VP9 codes 641x481 as it is.
func TestEncoderOddSize(t *testing.T) {
	for _, tc := range []struct {
		codec, ext string
		w, h       int // coded size
		sar        Rational
		padded     bool
	}{
		{CodecH264, ".mp4", 642, 482, Rational{1, 1}, true},
		{CodecH265, ".mp4", 642, 482, Rational{1, 1}, true},
		{CodecH264, ".mov", 642, 482, Rational{4, 3}, true}, // anamorphic as well
		{CodecVP9, ".webm", 641, 481, Rational{}, false},
	} {
		t.Run(tc.codec+tc.ext+"-"+tc.sar.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "odd"+tc.ext)
			cfg := EncoderConfig{Quality: DefaultQuality, Path: out, Width: 641, Height: 481, FrameRate: Rational{25, 1},
				Codec: tc.codec, SampleAspect: tc.sar}
			encode(t, cfg, frames(641, 481, 5))
			info, err := Probe(testCtx(t), out)
			if err != nil {
				t.Fatal(err)
			}
			if w, h := cfg.OutputSize(); info.Width != tc.w || info.Height != tc.h || w != tc.w || h != tc.h {
				t.Errorf("encoded %dx%d, OutputSize %dx%d, want %dx%d", info.Width, info.Height, w, h, tc.w, tc.h)
			}
			sar, src := info.SampleAspect, tc.sar
			if sar.IsZero() {
				sar = Rational{1, 1}
			}
			if src.IsZero() {
				src = Rational{1, 1}
			}
			got := big.NewRat(int64(info.Width*sar.Num), int64(info.Height*sar.Den))
			want := big.NewRat(int64(641*src.Num), int64(481*src.Den))
			// The container's sample aspect (MP4/MOV pasp) is exact, 154481:154401; the stream's, which Probe reads
			// as ffprobe does, is the nearest libx264 stores (1931:1930, 1e-8 off).
			if gf, _ := got.Float64(); math.Abs(gf/ratFloat(want)-1) > 1e-6 {
				t.Errorf("displays at %s (sample aspect %s), want %s", got.RatString(), info.SampleAspect, want.RatString())
			}
			if tc.padded {
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if i := bytes.Index(b, []byte("pasp")); i < 0 || i+12 > len(b) {
					t.Error("no pasp box")
				} else if got := big.NewRat(int64(binary.BigEndian.Uint32(b[i+4:]))*642, int64(binary.BigEndian.Uint32(b[i+8:]))*482); got.Cmp(want) != 0 {
					t.Errorf("the container displays at %s, want %s", got.RatString(), want.RatString())
				}
			}
			if note := cfg.SizeNote(); (note != "") != tc.padded || (tc.padded && !strings.Contains(note, "padded to 642x482")) {
				t.Errorf("size note %q", note)
			}
			if n := mustCount(t, out); n != 5 {
				t.Errorf("%d frames, want 5", n)
			}
		})
	}
}

func TestEncoderCodecs(t *testing.T) {
	tests := []struct {
		codec, ext, want string
	}{
		{CodecH265, ".mp4", "hevc"},
		{CodecVP9, ".webm", "vp9"},
		{CodecH264, ".mkv", "h264"},
	}
	for _, tt := range tests {
		t.Run(tt.codec, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out"+tt.ext)
			encode(t, EncoderConfig{Quality: DefaultQuality, Path: out, Codec: tt.codec, Width: 64, Height: 48, FrameRate: Rational{30000, 1001}, Threads: 1}, frames(64, 48, 5))
			info, err := Probe(testCtx(t), out)
			if err != nil {
				t.Fatal(err)
			}
			if info.Codec != tt.want || info.FrameRate != (Rational{30000, 1001}) {
				t.Errorf("codec %s rate %s, want %s 30000/1001", info.Codec, info.FrameRate, tt.want)
			}
			if n := mustCount(t, out); n != 5 {
				t.Errorf("%d frames, want 5", n)
			}
		})
	}
}

// TestEncoderPiecesConcat: pieces encoded with equal configs join with -c copy into exactly the sum of their
// frames, at exact timestamps even at 30000/1001 fps (MP4's millisecond container duration would drift).
func TestEncoderPiecesConcat(t *testing.T) {
	dir := t.TempDir()
	rate := Rational{30000, 1001}
	counts := []int{7, 7, 7, 7, 7, 7, 7, 7, 11, 3}
	var pieces []string
	total := 0
	for i, n := range counts {
		p := filepath.Join(dir, "piece"+string(rune('a'+i))+".mp4")
		encode(t, EncoderConfig{Quality: DefaultQuality, Path: p, Width: 64, Height: 48, FrameRate: rate, Threads: 1}, frames(64, 48, n))
		pieces = append(pieces, p)
		total += n
	}
	out := filepath.Join(dir, "joined.mp4")
	if err := Stitch(testCtx(t), StitchConfig{Pieces: pieces, Output: out}); err != nil {
		t.Fatal(err)
	}
	if n := mustCount(t, out); n != total {
		t.Errorf("joined %d frames, want %d", n, total)
	}
	idx, err := ScanFrames(testCtx(t), out)
	if err != nil {
		t.Fatal(err)
	}
	for i, pts := range idx.PTS {
		if want := float64(i) * 1001 / 30000; math.Abs(pts-want) > 0.0001 {
			t.Fatalf("frame %d at %.6f s, want %.6f", i, pts, want)
		}
	}
	if len(idx.Keyframes) != len(counts) {
		t.Errorf("keyframes %v: want one IDR per piece", idx.Keyframes)
	}
}

func TestEncoderFailure(t *testing.T) {
	out := filepath.Join(t.TempDir(), "no", "such", "dir", "out.mp4")
	for _, process := range []bool{false, true} {
		err := encodeAll(EncoderConfig{Quality: DefaultQuality, Path: out, Width: 64, Height: 48, FrameRate: Rational{25, 1}, Process: process},
			frames(64, 48, 50))
		if !errors.Is(err, ErrFFmpeg) || !strings.HasPrefix(err.Error(), out+": ffmpeg failed (") || strings.Contains(err.Error(), "\n") {
			t.Errorf("process %v: %v", process, err)
		}
		t.Log(err)
	}
}

// encodeAll writes frames with a new Encoder and closes it: the first error, whether at the start (in-process
// encoding opens the file at once), at a Write (the same error Close then returns) or at Close.
func encodeAll(cfg EncoderConfig, frames [][]byte) error {
	enc, err := NewEncoder(context.Background(), cfg)
	if err != nil {
		return err
	}
	var werr error
	for _, f := range frames {
		if werr = enc.Write(f); werr != nil {
			break
		}
	}
	err = enc.Close()
	if werr != nil && werr != err {
		return fmt.Errorf("Write returned %v, Close %v", werr, err)
	}
	enc.Abort() // after Close: no effect
	if err2 := enc.Close(); err2 != err {
		return fmt.Errorf("second Close: %v, first %v", err2, err)
	}
	return err
}

func TestEncoderAbort(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.mp4")
	enc, err := NewEncoder(testCtx(t), EncoderConfig{Quality: DefaultQuality, Path: out, Width: 64, Height: 48, FrameRate: Rational{25, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Write(frames(64, 48, 1)[0]); err != nil {
		t.Fatal(err)
	}
	if err := enc.Write(make([]byte, 10)); err == nil {
		t.Error("Write of a short frame succeeded")
	}
	enc.Abort()
	enc.Abort()
	if err := enc.Close(); !errors.Is(err, ErrFFmpeg) {
		t.Errorf("Close after Abort: %v", err)
	}
	if err := enc.Write(frames(64, 48, 1)[0]); err == nil {
		t.Error("Write after Abort succeeded")
	}
}

func TestDecoderCloseEarlyAndCancel(t *testing.T) {
	src := clip(t, "clip.mp4", 2)
	dec, err := NewDecoder(testCtx(t), DecoderConfig{Path: src, Width: 400, Height: 300, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, dec.FrameSize())
	if err := dec.Read(frame); err != nil {
		t.Fatal(err)
	}
	if err := dec.Read(frame[:10]); err == nil {
		t.Error("Read into a short buffer succeeded")
	}
	if err := dec.Close(); err != nil {
		t.Errorf("Close mid-stream: %v", err)
	}
	if err := dec.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := dec.Read(frame); err == nil {
		t.Error("Read after Close succeeded")
	}

	ctx, cancel := context.WithCancel(testCtx(t))
	dec, err = NewDecoder(ctx, DecoderConfig{Path: src, Width: 400, Height: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	cancel()
	for err == nil {
		err = dec.Read(frame)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancel: %v", err)
	}
}

// TestDecoderTruncated: an MP4 with its moov first (faststart) still opens when cut in half; ffmpeg exits 0 after
// the frames it could read, and Read must not call that a clean end.
func TestDecoderTruncated(t *testing.T) {
	src := clip(t, "fast.mp4", 2, "-movflags", "+faststart")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(t.TempDir(), "half.mp4")
	if err := os.WriteFile(half, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(testCtx(t), DecoderConfig{Path: half, Width: 400, Height: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	frame := make([]byte, dec.FrameSize())
	n := 0
	for err = dec.Read(frame); err == nil; err = dec.Read(frame) {
		n++
	}
	if !errors.Is(err, ErrTruncated) || n == 0 || n >= 50 {
		t.Errorf("after %d frames: %v; want some frames, then ErrTruncated", n, err)
	}
	t.Log(err)
	if err2 := dec.Read(frame); err2 != err {
		t.Errorf("Read after the end: %v, want %v again", err2, err)
	}
}

func TestDecoderBadInput(t *testing.T) {
	text := filepath.Join(t.TempDir(), "text.mp4")
	if err := os.WriteFile(text, []byte("not a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, process := range []bool{false, true} {
		_, err := NewDecoder(testCtx(t), DecoderConfig{Path: "/nonexistent.mp4", Width: 4, Height: 4, Process: process})
		checkInputError(t, err, "/nonexistent.mp4", ErrNotFound)

		// In process the file is opened at once; a child process says so at the first Read.
		dec, err := NewDecoder(testCtx(t), DecoderConfig{Path: text, Width: 4, Height: 4, Process: process})
		if err == nil {
			err = dec.Read(make([]byte, dec.FrameSize()))
			dec.Close()
		}
		checkInputError(t, err, text, ErrFFmpeg)
	}
}

// TestDecoderVFRPassthrough: a file with a one-second gap in its timestamps must decode to its real frames; a CFR
// conversion (ffmpeg's default for rawvideo output) would fill the gap with duplicates.
func TestDecoderVFRPassthrough(t *testing.T) {
	vfr := filepath.Join(t.TempDir(), "vfr.mkv")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=s=64x48:r=25:d=1", "-vf", "setpts='(N+gte(N,10)*25)/25/TB'",
		"-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "ultrafast", vfr)
	idx, err := ScanFrames(testCtx(t), vfr)
	if err != nil {
		t.Fatal(err)
	}
	if idx.Count != 25 || idx.PTS[10]-idx.PTS[9] < 1 {
		t.Fatalf("test file: %d frames, gap %.2f s", idx.Count, idx.PTS[10]-idx.PTS[9])
	}
	dec, err := NewDecoder(testCtx(t), DecoderConfig{Path: vfr, Width: 64, Height: 48})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	frame := make([]byte, dec.FrameSize())
	n := 0
	for err = dec.Read(frame); err == nil; err = dec.Read(frame) {
		n++
	}
	if !errors.Is(err, io.EOF) || n != 25 {
		t.Errorf("decoded %d frames (%v), want 25", n, err)
	}
}

// TestEncoderLossless: the intermediate codec gives back exactly the frames written, through our own Decoder; odd
// sizes need no padding in RGB.
func TestEncoderLossless(t *testing.T) {
	for _, tc := range []struct {
		ext string
		tb  Rational // frames written with their own times, read back exactly (MOV keeps any time base)
	}{
		{".mkv", Rational{}},
		{".mov", Rational{}},
		{".mov", Rational{1, 15360}},
	} {
		t.Run(tc.ext+"-"+tc.tb.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "pass1"+tc.ext)
			in := frames(41, 31, 6)
			cfg := EncoderConfig{Path: out, Codec: CodecLossless, Width: 41, Height: 31, FrameRate: Rational{30000, 1001},
				Threads: 1, TimeBase: tc.tb}
			times := []int64{0, 512, 1536, 1537, 4096, 5000} // a variable rate, two frames one tick apart
			enc, err := NewEncoder(testCtx(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, f := range in {
				if err := enc.WriteAt(f, Time{TS: times[i], Base: tc.tb}); err != nil {
					t.Fatal(err)
				}
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			d, err := NewDecoder(testCtx(t), DecoderConfig{Path: out, Width: 41, Height: 31})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			buf := make([]byte, d.FrameSize())
			var first Time
			for i, want := range in {
				if err := d.Read(buf); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if !bytes.Equal(buf, want) {
					t.Fatalf("frame %d differs after the lossless round trip", i)
				}
				if i == 0 {
					first = d.Time()
				}
				if tb := tc.tb; !tb.IsZero() {
					got := new(big.Rat).Sub(d.Time().seconds(), first.seconds())
					if want := big.NewRat(times[i], int64(tb.Den)); got.Cmp(want) != 0 {
						t.Errorf("frame %d at %s s, written at %s s", i, got.RatString(), want.RatString())
					}
				}
			}
			if err := d.Read(buf); !errors.Is(err, io.EOF) {
				t.Fatalf("after %d frames: %v", len(in), err)
			}
		})
	}
	if err := (EncoderConfig{Path: "x.mp4", Codec: CodecLossless, Width: 2, Height: 2, FrameRate: Rational{25, 1}}).Validate(); err == nil {
		t.Error("lossless into .mp4 accepted")
	}
}
