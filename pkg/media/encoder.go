package media

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Encoder codecs.
const (
	CodecH264 = "libx264"
	CodecH265 = "libx265"
	CodecVP9  = "libvpx-vp9"
	// CodecLossless is FFV1 on bgr0 in .mkv, or .mov where frames keep their own times (matroska rounds them to
	// milliseconds): exact frames, for an intermediate file between two passes (never an output; Quality, Preset
	// and Lookahead do not apply).
	CodecLossless = "ffv1"
)

// Encoder defaults.
const (
	DefaultCodec   = CodecH264
	DefaultQuality = 35 // roop's --output-video-quality default: crf 18 for x264/x265
	// DefaultPreset is used for x264/x265 when Preset is "": on 2 cores it encodes 1080p at ~90 fps, faster than
	// the face pipeline feeds it, at a few percent more bits than "medium" for the same crf.
	DefaultPreset = "veryfast"
)

// containerFormats maps the output extensions this package writes to ffmpeg muxer names. The format is passed
// with -f, so the choice never depends on ffmpeg's guessing.
var containerFormats = map[string]string{".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}

var x26xPresets = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}

// EncoderConfig configures an Encoder. Every setting that the concat demuxer needs identical across pieces
// (codec, crf, preset, pix_fmt, rate, timescale) is derived from these fields alone, so pieces encoded with equal
// configs can be joined with -c copy.
type EncoderConfig struct {
	Path string // output file; the extension picks the container: .mp4 (best for pieces), .mov, .mkv, .webm
	// Width and Height are the size of the frames written. For H.264 and H.265, odd sizes are padded to even with
	// one black column at the right and/or one black row at the bottom, and the sample aspect is set so that the
	// padded picture displays at the frames' aspect; VP9 codes odd sizes as they are. See OutputSize, SizeNote.
	Width, Height int
	// FrameRate is the nominal rate. Without TimeBase it is the constant output rate: frame i is stamped
	// i/FrameRate.
	FrameRate Rational
	// TimeBase, when not zero (1/T), keeps each frame's own time (WriteAt: variable frame rate, the target's
	// timestamps): the first frame is stamped 0, each later one its distance from the first, in units of 1/T;
	// MP4/MOV tracks get timescale T. In process only (not Process: a raw pipe carries no timestamps).
	TimeBase Rational
	// Duration, with TimeBase, is where the output ends in seconds after its first frame (the next piece's
	// start), so that its last frame lasts until then; 0 gives the last frame the duration of the one before.
	Duration float64
	Codec    string // CodecH264 (default when ""), CodecH265 or CodecVP9
	// Quality is roop's --output-video-quality, 0 (best) to 100 (worst), mapped to a crf by CRF exactly as roop
	// does: 0 is crf 0. Callers start from DefaultQuality (35, crf 18).
	Quality int
	// Preset is the x264/x265 preset, DefaultPreset when "". It must be "" for VP9, which always uses
	// -deadline good -cpu-used 4 -row-mt 1.
	Preset  string
	Threads int // encoder threads; 0 = ffmpeg's default
	// Lookahead is the rate-control lookahead in frames (x264 -rc-lookahead, x265 rc-lookahead, VP9
	// -lag-in-frames); 0 = the codec default. Each frame of lookahead holds pictures in the encoder's memory.
	Lookahead int
	// PixFmt is the raw frames' format: PixFmtBGR24 (default when "": converted to yuv420p with the matrix and
	// range the decoder read a target tagged Color with, the inverse of its conversion) or PixFmtYUV420P (encoded
	// as they are, even sizes only). Both are tagged with Color: an untagged target gives an untagged output.
	PixFmt string
	Color  Color
	// SampleAspect is the shape of a pixel, stored in the stream and container as the ffmpeg command keeps the
	// source's (Info.SampleAspect); zero leaves it unset.
	SampleAspect Rational
	// Process encodes in an ffmpeg child process fed through a pipe instead of in this process: the reference the
	// in-process encoder is tested and measured against.
	Process bool
}

// maxDuration bounds EncoderConfig.Duration (seconds; 1000 days), which comes from a task: its ticks stay far
// inside int64.
const maxDuration = 1000 * 24 * 3600.0

// Validate reports the first problem with c.
func (c EncoderConfig) Validate() error {
	codec := c.codec()
	ext := strings.ToLower(filepath.Ext(c.Path))
	switch {
	case c.Path == "":
		return errors.New("media: encoder config: Path is empty")
	case containerFormats[ext] == "":
		return fmt.Errorf("media: encoder config: %s: extension must be .mp4, .mov, .mkv or .webm", c.Path)
	case codec != CodecH264 && codec != CodecH265 && codec != CodecVP9 && codec != CodecLossless:
		return fmt.Errorf("media: encoder config: codec %q must be %s, %s, %s or %s", c.Codec, CodecH264, CodecH265, CodecVP9, CodecLossless)
	case codec == CodecLossless && ext != ".mkv" && ext != ".mov":
		return fmt.Errorf("media: encoder config: %s: %s is written to .mkv or .mov only", c.Path, CodecLossless)
	case ext == ".webm" && codec != CodecVP9:
		return fmt.Errorf("media: encoder config: %s: webm holds only %s here, not %s", c.Path, CodecVP9, codec)
	case c.Quality < 0 || c.Quality > 100:
		return fmt.Errorf("media: encoder config: quality %d must be within 0..100", c.Quality)
	case c.Width <= 0 || c.Height <= 0:
		return fmt.Errorf("media: encoder config: size %dx%d must be positive", c.Width, c.Height)
	case c.FrameRate.Num <= 0 || c.FrameRate.Den <= 0:
		return fmt.Errorf("media: encoder config: frame rate %s must be positive", c.FrameRate)
	case c.Threads < 0:
		return fmt.Errorf("media: encoder config: Threads %d is negative", c.Threads)
	case c.Lookahead < 0:
		return fmt.Errorf("media: encoder config: Lookahead %d is negative", c.Lookahead)
	case c.SampleAspect.Num < 0 || c.SampleAspect.Den < 0:
		return fmt.Errorf("media: encoder config: sample aspect %s is negative", c.SampleAspect)
	case codec == CodecVP9 && c.Preset != "":
		return fmt.Errorf("media: encoder config: preset %q does not apply to %s", c.Preset, CodecVP9)
	case c.Preset != "" && !slices.Contains(x26xPresets, c.Preset):
		return fmt.Errorf("media: encoder config: preset %q is not an x264/x265 preset", c.Preset)
	case c.PixFmt == PixFmtYUV420P && codec == CodecLossless:
		return fmt.Errorf("media: encoder config: %s takes %s frames only", CodecLossless, PixFmtBGR24)
	case !c.TimeBase.IsZero() && (c.TimeBase.Num != 1 || c.TimeBase.Den <= 0):
		return fmt.Errorf("media: encoder config: time base %s must be 1/T", c.TimeBase)
	case !c.TimeBase.IsZero() && c.Process:
		return fmt.Errorf("media: encoder config: frames keep their times (TimeBase) in process only: a raw pipe carries no timestamps")
	case !(c.Duration >= 0 && c.Duration <= maxDuration): // NaN too
		return fmt.Errorf("media: encoder config: duration %v must be 0 or a positive number of seconds up to %v", c.Duration, maxDuration)
	}
	if err := checkPixFmt(c.PixFmt, c.Width, c.Height); err != nil {
		return fmt.Errorf("media: encoder config: %w", err)
	}
	return nil
}

func (c EncoderConfig) codec() string {
	if c.Codec == "" {
		return DefaultCodec
	}
	return c.Codec
}

// OutputSize is the size of the encoded video: Width and Height, rounded up to even for H.264 and H.265, whose
// 4:2:0 streams cannot code an odd size (their cropping works in 2-pixel units). VP9 codes any size, and FFV1
// works in RGB.
//
// Odd sizes are padded rather than cropped: no pixel of the target is lost (a face at the edge keeps its last
// column), and the encoder sets the sample aspect (OutputSampleAspect) so that the padded picture displays at
// the target's aspect; the one black column or row is all that is added.
func (c EncoderConfig) OutputSize() (width, height int) {
	if codec := c.codec(); codec == CodecVP9 || codec == CodecLossless {
		return c.Width, c.Height
	}
	return (c.Width + 1) &^ 1, (c.Height + 1) &^ 1
}

// OutputSampleAspect is the sample aspect written: SampleAspect (square when zero) scaled so that the output
// (OutputSize) displays at the same aspect as Width x Height, zero where the size is kept and SampleAspect is
// zero (left unset, as before).
func (c EncoderConfig) OutputSampleAspect() Rational {
	w, h := c.OutputSize()
	if w == c.Width && h == c.Height {
		return c.SampleAspect
	}
	sar := c.SampleAspect
	if sar.IsZero() {
		sar = Rational{1, 1}
	}
	// w*sar'/h = Width*sar/Height
	num := new(big.Rat).SetFrac64(int64(sar.Num)*int64(c.Width)*int64(h), int64(sar.Den)*int64(c.Height)*int64(w))
	return Rational{Num: int(num.Num().Int64()), Den: int(num.Denom().Int64())}
}

// SizeNote says, in one line for the user, how an odd size is coded ("" when it is coded as it is).
func (c EncoderConfig) SizeNote() string {
	w, h := c.OutputSize()
	if w == c.Width && h == c.Height {
		return ""
	}
	sar := c.OutputSampleAspect()
	return fmt.Sprintf("%dx%d has an odd side, which %s cannot code: padded to %dx%d with black at the right/bottom, "+
		"sample aspect %d:%d so it displays at the target's shape (use %s to keep the size exactly)",
		c.Width, c.Height, c.codec(), w, h, sar.Num, sar.Den, CodecVP9)
}

// CRF maps roop's quality (0 best .. 100 worst) to the codec's crf scale the way roop does:
// (q+1)*51/100 for x264/x265 (crf 0..51) and, scaled the same way, (q+1)*63/100 for VP9 (crf 0..63).
// Quality 35 gives crf 18 (x264/x265) or 22 (VP9). Out-of-range qualities are clamped.
func CRF(codec string, quality int) int {
	quality = max(0, min(100, quality))
	top := 51
	if codec == CodecVP9 {
		top = 63
	}
	return min(top, (quality+1)*top/100)
}

// Timescale is the MP4/MOV video track timescale used for frame rate r: the smallest multiple of r.Num that is at
// least 10000. A multiple of Num makes every frame duration (Den*timescale/Num ticks) an integer, so timestamps
// are exact; it only depends on r, so all pieces share it; 10000 is the floor ffmpeg's mov muxer itself aims for.
func Timescale(r Rational) int {
	r = r.reduced()
	if r.Num <= 0 {
		return 0
	}
	k := (10000 + r.Num - 1) / r.Num
	return r.Num * k
}

// codecOptions are the codec's settings by AVOption name, in the order the ffmpeg command line gives them.
func codecOptions(cfg EncoderConfig) [][2]string {
	codec := cfg.codec()
	if codec == CodecLossless {
		// Quality, Preset and Lookahead do not apply. Level 3 codes slices in parallel, but FFmpeg 5.1's level 3
		// garbles pictures under 3 pixels wide or high (TestFrameBufferBounds): those take level 1, one slice.
		if cfg.Width < 3 || cfg.Height < 3 {
			return [][2]string{{"level", "1"}}
		}
		return [][2]string{{"level", "3"}}
	}
	opts := [][2]string{{"crf", strconv.Itoa(CRF(codec, cfg.Quality))}}
	switch codec {
	case CodecH264, CodecH265:
		opts = append(opts, [2]string{"preset", cmp.Or(cfg.Preset, DefaultPreset)})
		if codec == CodecH264 && cfg.Lookahead > 0 {
			opts = append(opts, [2]string{"rc-lookahead", strconv.Itoa(cfg.Lookahead)})
		}
		if codec == CodecH265 {
			params := "log-level=error"
			if cfg.Lookahead > 0 {
				params += ":rc-lookahead=" + strconv.Itoa(cfg.Lookahead)
			}
			opts = append(opts, [2]string{"x265-params", params})
		}
	case CodecVP9:
		opts = append(opts, [2]string{"b", "0"}, [2]string{"deadline", "good"}, [2]string{"cpu-used", "4"}, [2]string{"row-mt", "1"})
		if cfg.Lookahead > 0 {
			opts = append(opts, [2]string{"lag-in-frames", strconv.Itoa(cfg.Lookahead)})
		}
	}
	return opts
}

// codecTag is the track's codec tag when it is not the muxer's default: hvc1, which Apple players require for HEVC.
func codecTag(cfg EncoderConfig) string {
	ext := strings.ToLower(filepath.Ext(cfg.Path))
	if cfg.codec() == CodecH265 && (ext == ".mp4" || ext == ".mov") {
		return "hvc1"
	}
	return ""
}

// timescale is the video track timescale for MP4/MOV (see Timescale; T of a TimeBase 1/T), 0 for other
// containers.
func (c EncoderConfig) timescale() int {
	if ext := strings.ToLower(filepath.Ext(c.Path)); ext == ".mp4" || ext == ".mov" {
		if !c.TimeBase.IsZero() {
			return c.TimeBase.Den
		}
		return Timescale(c.FrameRate)
	}
	return 0
}

// Encoder writes raw frames into a video file: codec and crf from the config, yuv420p (bgr24 frames converted with
// the BT.709 matrix, limited range, and tagged so), constant frame rate or, with TimeBase, each frame's own time;
// no audio. It encodes in this process with FFmpeg's libraries, or with EncoderConfig.Process in an ffmpeg child
// fed through a pipe. Not safe for concurrent use.
type Encoder struct {
	cfg  EncoderConfig
	sink frameSink
	done bool
	err  error // the result of Close once done
	// With TimeBase: the first frame's time (seconds), and the last two stamps given (ticks of TimeBase).
	first          *big.Rat
	last, previous int64
	stamps         int
}

// frameSink is one way of encoding.
type frameSink interface {
	write(frame []byte) error
	// finish completes the file; abort stops without completing it. One of them is called, once, and ends the sink.
	finish() error
	abort()
}

// NewEncoder starts writing cfg.Path (overwriting it). Cancelling ctx stops it: the next Write or Close fails.
func NewEncoder(ctx context.Context, cfg EncoderConfig) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Encoder{cfg: cfg}
	var err error
	if cfg.Process {
		e.sink, err = newProcessEncoder(ctx, cfg)
	} else {
		e.sink, err = newLibavEncoder(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Write sends one frame; len(frame) must be FrameBytes(PixFmt, Width, Height). If encoding has failed, Write
// returns why, and so does Close. With TimeBase, the frame is stamped one nominal frame after the last.
func (e *Encoder) Write(frame []byte) error { return e.WriteAt(frame, Time{}) }

// WriteAt is Write for a frame that keeps its time t (Decoder.Time) when the config has a TimeBase; the zero Time
// (unknown) is one nominal frame after the last. Without TimeBase, t is ignored.
func (e *Encoder) WriteAt(frame []byte, t Time) error {
	if want := FrameBytes(e.cfg.PixFmt, e.cfg.Width, e.cfg.Height); len(frame) != want {
		return fmt.Errorf("media: encode %s: frame is %d bytes, want %d", e.cfg.Path, len(frame), want)
	}
	return e.send(func() error { e.stamp(t); return e.sink.write(frame) })
}

// Time is a frame's presentation time: TS units of Base (its stream's time base). The zero Time is unknown.
type Time struct {
	TS   int64
	Base Rational
}

// known reports whether t holds a time.
func (t Time) known() bool { return t.Base.Num > 0 && t.Base.Den > 0 }

// seconds is t exactly.
func (t Time) seconds() *big.Rat {
	return new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(t.TS), big.NewInt(int64(t.Base.Num))), big.NewInt(int64(t.Base.Den)))
}

// ticks rounds seconds to the nearest tick of the time base 1/T.
func ticks(seconds *big.Rat, T int) int64 {
	v := new(big.Rat).Mul(seconds, new(big.Rat).SetInt64(int64(T)))
	v.Add(v, big.NewRat(1, 2))
	q := new(big.Int).Div(v.Num(), v.Denom()) // floor, the denominator being positive
	return q.Int64()
}

// stampSink is a frameSink that takes frame times (the in-process encoder).
type stampSink interface {
	stamp(pts int64)
	endAt(end int64)
}

// stamp gives the next frame its time in TimeBase ticks: its distance from the first frame, rounded; a frame
// without a time, or one that would not come after the last, goes one nominal frame (at least one tick) later.
func (e *Encoder) stamp(t Time) {
	ss, ok := e.sink.(stampSink)
	if !ok || e.cfg.TimeBase.IsZero() {
		return
	}
	T := e.cfg.TimeBase.Den
	pts := int64(0)
	switch {
	case e.stamps == 0 && t.known():
		e.first = t.seconds()
	case e.stamps == 0:
		e.first = new(big.Rat)
	case t.known():
		pts = ticks(new(big.Rat).Sub(t.seconds(), e.first), T)
	}
	if e.stamps > 0 && (!t.known() || pts <= e.last) {
		pts = e.last + e.frameTicks()
		if t.known() {
			pts = e.last + 1 // two times within one tick: the order is kept, the frame is not lost
		}
	}
	e.previous, e.last = e.last, pts
	e.stamps++
	ss.stamp(pts)
}

// frameTicks is one nominal frame (1/FrameRate) in ticks of TimeBase, at least 1.
func (e *Encoder) frameTicks() int64 {
	return max(1, ticks(big.NewRat(int64(e.cfg.FrameRate.Den), int64(e.cfg.FrameRate.Num)), e.cfg.TimeBase.Den))
}

// endStamps tells the sink where the last frame ends: at Duration, or as long after as the one before lasted.
func (e *Encoder) endStamps() {
	ss, ok := e.sink.(stampSink)
	if !ok || e.cfg.TimeBase.IsZero() || e.stamps == 0 {
		return
	}
	d := e.frameTicks()
	if e.stamps > 1 {
		d = e.last - e.previous
	}
	end := e.last + d
	if e.cfg.Duration > 0 {
		if at := ticks(new(big.Rat).SetFloat64(e.cfg.Duration), e.cfg.TimeBase.Den); at > e.last {
			end = at
		}
	}
	ss.endAt(end)
}

// refSink is a frameSink that can encode pictures held by reference (the in-process encoder).
type refSink interface {
	writeRef(f *Frame) error
}

// WriteRef sends one picture from Decoder.ReadRef, of the configured size and PixFmt yuv420p, without copying it,
// and releases f. It needs the in-process encoder (not EncoderConfig.Process).
func (e *Encoder) WriteRef(f *Frame) error { return e.WriteRefAt(f, Time{}) }

// WriteRefAt is WriteRef for a picture that keeps its time t, as WriteAt.
func (e *Encoder) WriteRefAt(f *Frame, t Time) error {
	defer f.Release()
	rs, ok := e.sink.(refSink)
	if !ok {
		return fmt.Errorf("media: encode %s: %w", e.cfg.Path, errNoRefs)
	}
	return e.send(func() error { e.stamp(t); return rs.writeRef(f) })
}

// send runs write unless encoding is over, and ends it if write fails.
func (e *Encoder) send(write func() error) error {
	if e.done {
		if e.err != nil {
			return e.err
		}
		return fmt.Errorf("media: encode %s: encoder is closed", e.cfg.Path)
	}
	if err := write(); err != nil {
		e.sink.abort()
		e.done, e.err = true, err
		return err
	}
	return nil
}

// Close finishes the file and returns an *Error with what ffmpeg said if that failed. It is idempotent.
func (e *Encoder) Close() error {
	if e.done {
		return e.err
	}
	e.done = true
	e.endStamps()
	e.err = e.sink.finish()
	return e.err
}

// Abort stops encoding; for error paths. It is idempotent and removes nothing: the partial output stays for the
// caller to delete. Close after Abort returns an error.
func (e *Encoder) Abort() {
	if e.done {
		return
	}
	e.sink.abort()
	e.done = true
	e.err = &Error{Path: e.cfg.Path, Err: ErrFFmpeg, Detail: "encoder aborted"}
}
