package media

// #cgo pkg-config: libavformat libavcodec libswscale libavutil
// #include <stdlib.h>
// #include <libavcodec/packet.h>
// #include <libavutil/frame.h>
// #include <libavutil/error.h>
// #include "libav.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/facefleet/facefleet/pkg/fault"
)

const framePadding = C.FF_FRAME_PADDING

// Decoding and encoding in this process with FFmpeg's libraries (libav.c): the same work as the ffmpeg command
// without a second process, and without every frame crossing a pipe twice (decoder -> us -> encoder). On a 2-core
// machine the pipes cost more than the 5% a no-op pipeline may add over a plain transcode (docs/BENCHMARKS.md).
// Frames are passed to C by pointer for the length of one call, never kept.

// libavLog reads what FFmpeg logged for one decoder or encoder, as the ffmpeg command would have printed it.
func libavLog(read func(*C.char, C.size_t)) string {
	buf := make([]byte, 4096)
	read((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0])))
}

// averror describes an FFmpeg error code.
func averror(code C.int) string {
	switch code {
	case C.FF_ERR_NO_VIDEO:
		return "no video stream"
	case C.FF_ERR_NO_CODEC:
		return "codec not available"
	case C.FF_ERR_HELD:
		return "the encoder kept a frame it was lent"
	case C.FF_ERR_OPTION:
		return "unknown encoder option"
	}
	buf := make([]byte, 128)
	C.av_strerror(code, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0])))
}

// logOr is what FFmpeg logged, or code's meaning when it logged nothing.
func logOr(log string, code C.int) string {
	if log == "" {
		return averror(code)
	}
	return log
}

// libavError is the *Error for code: the detail is the last line FFmpeg logged, or the code's meaning. A code
// that is the system's ENOSPC, EDQUOT or ENOMEM (FFmpeg's AVERROR(e) is -e) is the machine's trouble, not the
// file's: the error then also wraps the errno, which pkg/fault classifies.
func libavError(path string, sentinel error, code C.int, log string) *Error {
	if code < 0 {
		if errno := syscall.Errno(-code); fault.Of(errno) != nil {
			sentinel = fmt.Errorf("%w: %w", sentinel, errno)
		}
	}
	return newError(path, sentinel, logOr(log, code), path)
}

// probeC calls one of libav.c's probes on path (checked first), and classifies its failure as ffprobe's would be.
func probeC(ctx context.Context, path string, call func(path, log *C.char, n C.size_t) C.int) error {
	if err := checkInput(path); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("media: probe %s: %w", path, err)
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	buf := make([]byte, 4096)
	if r := call(cpath, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf))); r < 0 {
		return inputError(path, logOr(C.GoString((*C.char)(unsafe.Pointer(&buf[0]))), r), path)
	}
	return nil
}

// cPixFmt maps our pixel formats to libav.h's.
func cPixFmt(pixFmt string) C.int {
	if pixFmt == PixFmtYUV420P {
		return C.FF_YUV420P
	}
	return C.FF_BGR24
}

// Frame is a decoded picture held by reference (FFmpeg's AVFrame): Decoder.ReadRef fills it with the decoder's own
// buffer and Encoder.WriteRef encodes it, so a frame whose pixels nobody reads crosses the pipeline without a copy,
// as it crosses the ffmpeg command. Its pixels must not be written: the decoder may still read them as a
// reference for later frames. Not safe for concurrent use.
type Frame struct{ f *C.AVFrame }

// NewFrame makes an empty Frame; Close frees it.
func NewFrame() (*Frame, error) {
	f := C.av_frame_alloc()
	if f == nil {
		return nil, errors.New("media: frame: out of memory")
	}
	return &Frame{f: f}, nil
}

// Release drops the picture it holds, if any; the Frame can be filled again.
func (f *Frame) Release() { C.av_frame_unref(f.f) }

// Close releases the picture and frees the Frame. It is idempotent.
func (f *Frame) Close() {
	if f.f != nil {
		C.av_frame_free(&f.f)
	}
}

// libavDecoder decodes with libavformat and libavcodec and converts with libswscale.
type libavDecoder struct {
	cfg DecoderConfig
	ctx context.Context
	d   *C.ffdec
}

func newLibavDecoder(ctx context.Context, cfg DecoderConfig) (*libavDecoder, error) {
	d := C.ffdec_new()
	if d == nil {
		return nil, fmt.Errorf("media: decode %s: out of memory", cfg.Path)
	}
	path := C.CString(cfg.Path)
	defer C.free(unsafe.Pointer(path))
	if r := C.ffdec_open(d, path, C.int(cfg.Threads), C.int(cfg.Width), C.int(cfg.Height), cPixFmt(cfg.PixFmt)); r < 0 {
		log := libavLog(func(b *C.char, n C.size_t) { C.ffdec_log(d, b, n) })
		C.ffdec_free(d)
		if r == C.FF_ERR_NO_VIDEO {
			return nil, &Error{Path: cfg.Path, Err: ErrNoVideo}
		}
		e := inputError(cfg.Path, logOr(log, r), cfg.Path)
		if e.Err == ErrNotMedia {
			e.Err = ErrFFmpeg // as from the ffmpeg command: Probe is where files are told apart
		}
		return nil, e
	}
	return &libavDecoder{cfg: cfg, ctx: ctx, d: d}, nil
}

func (d *libavDecoder) read(frame []byte) error {
	if err := d.ctx.Err(); err != nil {
		return fmt.Errorf("media: decode %s: %w", d.cfg.Path, err)
	}
	return d.result(C.ffdec_read(d.d, (*C.uint8_t)(unsafe.Pointer(&frame[0])), C.size_t(cap(frame))))
}

func (d *libavDecoder) readRef(f *Frame) error {
	if err := d.ctx.Err(); err != nil {
		return fmt.Errorf("media: decode %s: %w", d.cfg.Path, err)
	}
	return d.result(C.ffdec_read_ref(d.d, f.f))
}

func (d *libavDecoder) readKeep(frame []byte, f *Frame) error {
	if err := d.ctx.Err(); err != nil {
		return fmt.Errorf("media: decode %s: %w", d.cfg.Path, err)
	}
	return d.result(C.ffdec_read_keep(d.d, (*C.uint8_t)(unsafe.Pointer(&frame[0])), C.size_t(cap(frame)), f.f))
}

// Patcher writes processed BGR frames back into the YUV pictures they were decoded from (Decoder.ReadKeep), so
// that every sample a processor left alone reaches the encoder exactly as decoded: no BGR round trip, no matrix
// or range of its own. Not safe for concurrent use; one per pipeline.
type Patcher struct{ p *C.ffpatch }

// NewPatcher makes a Patcher for a target tagged c (the matrix of frames that come without their picture).
func NewPatcher(c Color) (*Patcher, error) {
	p := C.ffpatch_new()
	if p == nil {
		return nil, errors.New("media: patcher: out of memory")
	}
	space, rng := C.CString(c.Space), C.CString(c.Range)
	defer C.free(unsafe.Pointer(space))
	defer C.free(unsafe.Pointer(rng))
	C.ffpatch_color(p, space, rng)
	return &Patcher{p: p}, nil
}

// Apply codes again, into f, the 2x2 blocks of bgr (w x h, rows packed) that hold a pixel differing from f's own
// BGR conversion, and returns how many it coded; f holds a yuv420p picture of w x h after it (one made from bgr
// if it held none). f is copied before its first change: the decoder's picture is never written.
func (p *Patcher) Apply(f *Frame, bgr []byte, w, h int) (int, error) {
	return p.ApplyRects(f, bgr, w, h, []image.Rectangle{image.Rect(0, 0, w, h)})
}

// ApplyRects is Apply looking only inside rects: the caller vouches that bgr equals f's conversion everywhere
// else (a frame whose processor said where it may have written; Converter filled it).
func (p *Patcher) ApplyRects(f *Frame, bgr []byte, w, h int, rects []image.Rectangle) (int, error) {
	if len(bgr) < w*h*3 {
		return 0, fmt.Errorf("media: patch: %d bytes for a %dx%d bgr24 frame", len(bgr), w, h)
	}
	cr := make([]C.int, 0, 4*len(rects))
	for _, r := range rects {
		cr = append(cr, C.int(r.Min.X), C.int(r.Min.Y), C.int(r.Max.X), C.int(r.Max.Y))
	}
	var changed C.int
	var rp *C.int
	if len(cr) > 0 {
		rp = &cr[0]
	}
	if r := C.ffpatch_apply(p.p, f.f, (*C.uint8_t)(unsafe.Pointer(&bgr[0])), C.size_t(len(bgr)), C.int(w), C.int(h),
		rp, C.int(len(rects)), &changed); r < 0 {
		return 0, fmt.Errorf("media: patch %dx%d frame: %s", w, h, averror(r))
	}
	return int(changed), nil
}

// Close frees the Patcher. It is idempotent.
func (p *Patcher) Close() {
	if p.p != nil {
		C.ffpatch_free(p.p)
		p.p = nil
	}
}

// Converter converts parts of the yuv420p pictures a Frame holds into BGR frames, exactly as the decoder converts
// whole frames (ReadKeep): a processor that reads only a face converts only the face. Not safe for concurrent
// use.
type Converter struct{ c *C.ffconv }

// NewConverter makes a Converter; Close frees it.
func NewConverter() (*Converter, error) {
	c := C.ffconv_new()
	if c == nil {
		return nil, errors.New("media: converter: out of memory")
	}
	return &Converter{c: c}, nil
}

// Rect writes the part r of f's picture into bgr (a BGR frame of the picture's size, rows packed) at the same
// place, and returns the part it converted: r within the picture, widened to even edges and to a size it converts
// without preparing again (empty when r misses the picture). Nothing else of bgr is written.
func (c *Converter) Rect(f *Frame, bgr []byte, r image.Rectangle) (image.Rectangle, error) {
	if f.f == nil || f.f.buf[0] == nil {
		return image.Rectangle{}, errors.New("media: convert: no picture")
	}
	rect := [4]C.int{C.int(r.Min.X), C.int(r.Min.Y), C.int(r.Max.X), C.int(r.Max.Y)}
	if len(bgr) == 0 {
		return image.Rectangle{}, errors.New("media: convert: no frame")
	}
	if e := C.ffconv_rect(c.c, f.f, (*C.uint8_t)(unsafe.Pointer(&bgr[0])), C.size_t(len(bgr)), &rect[0]); e < 0 {
		return image.Rectangle{}, fmt.Errorf("media: convert %v of a %dx%d picture: %s", r, int(f.f.width),
			int(f.f.height), averror(e))
	}
	return image.Rect(int(rect[0]), int(rect[1]), int(rect[2]), int(rect[3])), nil
}

// Thumb samples f's picture at the centres of a tw x th grid into dst (BGR, tw*th*3 bytes): a thumbnail that
// reads only the pixels it shows (SampleCentre's).
func (f *Frame) Thumb(dst []byte, tw, th int) error {
	if f.f == nil || f.f.buf[0] == nil || len(dst) < tw*th*3 || tw <= 0 || th <= 0 {
		return errors.New("media: thumbnail: no picture, or a short buffer")
	}
	if e := C.ffconv_thumb(f.f, (*C.uint8_t)(unsafe.Pointer(&dst[0])), C.int(tw), C.int(th)); e < 0 {
		return fmt.Errorf("media: thumbnail: %s", averror(e))
	}
	return nil
}

// SampleCentre is the pixel Frame.Thumb shows at thumbnail column or row i of n, in a picture n0 pixels wide or
// high: the centre of the grid's cell.
func SampleCentre(i, n, n0 int) int { return int((2*int64(i) + 1) * int64(n0) / (2 * int64(n))) }

// Size is the size of the picture f holds (0, 0 when none).
func (f *Frame) Size() (w, h int) {
	if f.f == nil || f.f.buf[0] == nil {
		return 0, 0
	}
	return int(f.f.width), int(f.f.height)
}

// Close frees the Converter. It is idempotent.
func (c *Converter) Close() {
	if c.c != nil {
		C.ffconv_free(c.c)
		c.c = nil
	}
}

// result is what a read returns for r.
func (d *libavDecoder) result(r C.int) error {
	if r == 0 {
		return nil
	}
	log := libavLog(func(b *C.char, n C.size_t) { C.ffdec_log(d.d, b, n) })
	switch {
	case r != C.AVERROR_EOF:
		return libavError(d.cfg.Path, ErrFFmpeg, r, log)
	case C.ffdec_damaged(d.d) > 0:
		// Packets that failed to decode, or a read error that ended the stream early: frames are missing.
		return libavError(d.cfg.Path, ErrTruncated, r, log)
	}
	return endOfStream(d.cfg.Path, log, d.cfg.Path)
}

func (d *libavDecoder) time() Time {
	var num, den C.int
	pts := int64(C.ffdec_pts(d.d, &num, &den))
	if pts == avNoPTS {
		return Time{}
	}
	return Time{TS: pts, Base: Rational{int(num), int(den)}}
}

func (d *libavDecoder) close() {
	C.ffdec_free(d.d)
	d.d = nil
}

// libavEncoder encodes with libavcodec and muxes with libavformat.
type libavEncoder struct {
	cfg EncoderConfig
	ctx context.Context
	e   *C.ffenc
	end int64 // where the last frame ends, in the time base, when frames have their own times (0: not given)
}

func (e *libavEncoder) stamp(pts int64) { C.ffenc_stamp(e.e, C.int64_t(pts)) }
func (e *libavEncoder) endAt(end int64) { e.end = end }

func newLibavEncoder(ctx context.Context, cfg EncoderConfig) (*libavEncoder, error) {
	e := C.ffenc_new()
	if e == nil {
		return nil, fmt.Errorf("media: encode %s: out of memory", cfg.Path)
	}
	var opts []string
	for _, o := range codecOptions(cfg) {
		opts = append(opts, o[0]+"="+o[1])
	}
	var tag C.uint32_t
	if t := codecTag(cfg); len(t) == 4 {
		tag = C.uint32_t(t[0]) | C.uint32_t(t[1])<<8 | C.uint32_t(t[2])<<16 | C.uint32_t(t[3])<<24
	}
	strs := []string{cfg.Path, containerFormats[strings.ToLower(filepath.Ext(cfg.Path))], cfg.codec(), strings.Join(opts, "\n"),
		cfg.Color.Space, cfg.Color.Range, cfg.Color.Primaries, cfg.Color.Transfer}
	cs := make([]*C.char, len(strs))
	for i, s := range strs {
		cs[i] = C.CString(s)
		defer C.free(unsafe.Pointer(cs[i]))
	}
	lossless := C.int(0)
	if cfg.codec() == CodecLossless {
		lossless = 1
	}
	if !cfg.TimeBase.IsZero() {
		C.ffenc_time_base(e, C.int(cfg.TimeBase.Num), C.int(cfg.TimeBase.Den))
	}
	w, h := cfg.OutputSize()
	C.ffenc_size(e, C.int(w), C.int(h))
	sar := cfg.OutputSampleAspect()
	r := C.ffenc_open(e, cs[0], cs[1], cs[2], C.int(cfg.Width), C.int(cfg.Height), cPixFmt(cfg.PixFmt), lossless,
		C.int(cfg.FrameRate.Num), C.int(cfg.FrameRate.Den), C.int(sar.Num), C.int(sar.Den),
		C.int(cfg.timescale()), C.int(cfg.Threads), cs[3], cs[4], cs[5], cs[6], cs[7], tag)
	enc := &libavEncoder{cfg: cfg, ctx: ctx, e: e}
	if r < 0 {
		err := enc.error(r)
		enc.abort()
		return nil, err
	}
	return enc, nil
}

func (e *libavEncoder) error(code C.int) error {
	if err := e.ctx.Err(); err != nil {
		return fmt.Errorf("media: encode %s: %w", e.cfg.Path, err)
	}
	return libavError(e.cfg.Path, ErrFFmpeg, code, libavLog(func(b *C.char, n C.size_t) { C.ffenc_log(e.e, b, n) }))
}

func (e *libavEncoder) write(frame []byte) error {
	if err := e.ctx.Err(); err != nil {
		return fmt.Errorf("media: encode %s: %w", e.cfg.Path, err)
	}
	if r := C.ffenc_write(e.e, (*C.uint8_t)(unsafe.Pointer(&frame[0])), C.size_t(cap(frame))); r < 0 {
		return e.error(r)
	}
	return nil
}

func (e *libavEncoder) writeRef(f *Frame) error {
	if err := e.ctx.Err(); err != nil {
		return fmt.Errorf("media: encode %s: %w", e.cfg.Path, err)
	}
	if r := C.ffenc_write_ref(e.e, f.f); r < 0 {
		return e.error(r)
	}
	return nil
}

func (e *libavEncoder) finish() error {
	defer e.abort()
	if err := e.ctx.Err(); err != nil {
		return fmt.Errorf("media: encode %s: %w", e.cfg.Path, err)
	}
	if r := C.ffenc_finish(e.e, C.int64_t(e.end)); r < 0 {
		return e.error(r)
	}
	return nil
}

func (e *libavEncoder) abort() {
	if e.e != nil {
		C.ffenc_free(e.e)
		e.e = nil
	}
}

// videoScan is what ffprobe -select_streams V:0 shows of a file, read in this process by libavformat: a probe
// costs a few milliseconds instead of an ffprobe process (~70 ms each on 2 cores, and a job ran six).
type videoScan struct {
	found       bool     // the file has a video stream (not a cover picture)
	timeBase    Rational // the stream's
	start       float64  // stream start, seconds; NaN if unknown
	durationTS  int64    // stream duration in timeBase units; 0 if unknown
	frames      int64    // the container header's frame count (an MP4's sample table); 0 if it gives none
	formatStart float64  // container start, seconds; NaN if unknown
	packets     []rawPacket
}

// scanVideo reads path's first video stream; with packets, every packet's timestamps and flags too (nothing is
// decoded). A file libavformat cannot open is an *Error classified as ffprobe's failures are.
func scanVideo(ctx context.Context, path string, packets bool) (*videoScan, error) {
	if packets {
		return scanMode(ctx, path, 1)
	}
	return scanMode(ctx, path, 0)
}

// scanHeader is scanVideo without packets, reading only what the container's header says where it says it all (an
// MP4's moov: time base, duration, frame count): what Stitch needs of each piece, without decoding any frame. Its
// start times may differ from scanVideo's.
func scanHeader(ctx context.Context, path string) (*videoScan, error) { return scanMode(ctx, path, -1) }

// scanPiece is scanVideo with packets of a piece Split wrote: its stream is read from the piece's header, without
// decoding frames for the stream's parameters, which a count of its packets does not need.
func scanPiece(ctx context.Context, path string) (*videoScan, error) {
	return scanMode(ctx, path, C.SCAN_OWN_PIECE)
}

// scanMode is ffscan's packets argument: 1 every packet, 0 none, -1 the header only, SCAN_OWN_PIECE a piece's.
func scanMode(ctx context.Context, path string, mode C.int) (*videoScan, error) {
	return scanWith(ctx, path, func(p, log *C.char, n C.size_t, res *C.ffscan_result) C.int { return C.ffscan(p, mode, res, log, n) })
}

// scanIndex is scanVideo with packets read from an MP4's or MOV's sample tables (ffscan_index), or ErrNoIndex.
func scanIndex(ctx context.Context, path string) (*videoScan, error) {
	none := false
	s, err := scanWith(ctx, path, func(p, log *C.char, n C.size_t, res *C.ffscan_result) C.int {
		r := C.ffscan_index(p, res, log, n)
		none = r == 1
		return r
	})
	if err == nil && none {
		return nil, &Error{Path: path, Err: ErrNoIndex}
	}
	return s, err
}

// scanWith runs an ffscan call on path and converts its result.
func scanWith(ctx context.Context, path string, call func(p, log *C.char, n C.size_t, res *C.ffscan_result) C.int) (*videoScan, error) {
	var res C.ffscan_result
	defer C.ffscan_free(&res)
	if err := probeC(ctx, path, func(p, log *C.char, n C.size_t) C.int { return call(p, log, n, &res) }); err != nil {
		return nil, err
	}
	s := &videoScan{found: res.stream >= 0, formatStart: math.NaN(), start: math.NaN()}
	if res.format_start != avNoPTS {
		s.formatStart = ffprobeTime(int64(res.format_start), Rational{1, 1_000_000})
	}
	if !s.found {
		return s, nil
	}
	s.timeBase = Rational{int(res.tb_num), int(res.tb_den)}
	if res.start != avNoPTS {
		s.start = ffprobeTime(int64(res.start), s.timeBase)
	}
	if res.duration != avNoPTS {
		s.durationTS = int64(res.duration)
	}
	s.frames = int64(res.nb_frames)
	if res.n > 0 {
		for _, p := range unsafe.Slice(res.packets, int(res.n)) {
			raw := rawPacket{pts: math.NaN(), dts: math.NaN(), key: p.flags&C.AV_PKT_FLAG_KEY != 0,
				discard: p.flags&C.AV_PKT_FLAG_DISCARD != 0}
			if p.pts != avNoPTS {
				raw.pts = ffprobeTime(int64(p.pts), s.timeBase)
			}
			if p.dts != avNoPTS {
				raw.dts = ffprobeTime(int64(p.dts), s.timeBase)
			}
			if p.duration > 0 {
				raw.duration = ffprobeTime(int64(p.duration), s.timeBase)
			}
			s.packets = append(s.packets, raw)
		}
	}
	return s, nil
}

// avNoPTS is FFmpeg's AV_NOPTS_VALUE ("no timestamp"): INT64_MIN, a macro cgo cannot evaluate.
const avNoPTS = math.MinInt64

// ffprobeSeconds is ts in seconds as ffprobe prints it (ts * time base, "%f": six decimals), "" where ffprobe
// prints N/A; ffprobeTime is its value, so that times compare equal whichever read them.
func ffprobeSeconds(ts int64, tb Rational) string {
	if ts == avNoPTS || tb.Den == 0 {
		return ""
	}
	return strconv.FormatFloat(float64(ts)*(float64(tb.Num)/float64(tb.Den)), 'f', 6, 64)
}

func ffprobeTime(ts int64, tb Rational) float64 {
	v, _ := strconv.ParseFloat(ffprobeSeconds(ts, tb), 64)
	return v
}

// probeFile reads, in this process, the fields Probe takes from ffprobe -show_format -show_streams, in ffprobe's
// own JSON shapes, so that infoFrom reads both the same way.
func probeFile(ctx context.Context, path string) (*probeOutput, error) {
	var res C.ffprobe_result
	defer C.ffprobe_free(&res)
	if err := probeC(ctx, path, func(p, log *C.char, n C.size_t) C.int { return C.ffprobe_file(p, &res, log, n) }); err != nil {
		return nil, err
	}
	p := &probeOutput{Format: &probeFormat{FormatName: C.GoString(&res.format[0]),
		Duration: ffprobeSeconds(int64(res.duration), Rational{1, 1_000_000})}}
	if res.n > 0 {
		for _, s := range unsafe.Slice(res.streams, int(res.n)) {
			ps := probeStream{
				CodecName: C.GoString(&s.codec[0]), CodecType: C.GoString(&s._type[0]),
				Width: int(s.width), Height: int(s.height), PixFmt: C.GoString(&s.pix_fmt[0]),
				RFrameRate:   fmt.Sprintf("%d/%d", int(s.r_num), int(s.r_den)),
				AvgFrameRate: fmt.Sprintf("%d/%d", int(s.avg_num), int(s.avg_den)),
				ColorSpace:   C.GoString(&s.space[0]), ColorRange: C.GoString(&s._range[0]),
				ColorPrimaries: C.GoString(&s.primaries[0]), ColorTransfer: C.GoString(&s.transfer[0]),
				Duration:    ffprobeSeconds(int64(s.duration), Rational{int(s.tb_num), int(s.tb_den)}),
				Disposition: map[string]int{"attached_pic": int(s.attached_pic)},
			}
			if s.sar_num > 0 && s.sar_den > 0 {
				ps.SampleAspect = fmt.Sprintf("%d:%d", int(s.sar_num), int(s.sar_den))
			}
			if s.bits_per_raw_sample > 0 {
				ps.BitsPerRawSample = strconv.Itoa(int(s.bits_per_raw_sample))
			}
			if tag := C.GoString(&s.rotate_tag[0]); tag != "" {
				ps.Tags = map[string]string{"rotate": tag}
			}
			if s.has_rotation != 0 {
				rot := float64(s.rotation)
				ps.SideDataList = append(ps.SideDataList, struct {
					Rotation *float64 `json:"rotation"`
				}{&rot})
			}
			p.Streams = append(p.Streams, ps)
		}
	}
	return p, nil
}

// remux is stitchRun's stream copy in this process (libav.c ffremux): the same packets, tags and rotation without
// an ffmpeg to start. It cannot re-encode audio; Stitch falls back to the command for that. It returns how many
// video packets it wrote (frames: pieces are stream copies, one frame a packet).
func remux(ctx context.Context, cfg StitchConfig, listPath, out, ext string, delay float64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("media: stitch %s: %w", cfg.Output, err)
	}
	var cs cStrings
	defer cs.free()
	cstr := cs.add
	tags, ntags, free := muxTags(cfg, cstr)
	defer free()
	rotate, movflags := muxRotate(cfg), muxMovflags(ext)
	// Cancelling ctx sets the flag the remux polls between packets and in FFmpeg's I/O, so a film's stitch stops
	// within a packet instead of running to its end. C reads it only during the call, while Go keeps it pinned.
	stop := new(C.int)
	defer context.AfterFunc(ctx, func() { atomic.StoreInt32((*int32)(unsafe.Pointer(stop)), 1) })()
	buf := make([]byte, 4096)
	var packets C.int64_t
	r := C.ffremux(cstr(listPath), C.int64_t(offsetMicros(delay)), cstr(cfg.AudioFrom), cstr(out),
		cstr(containerFormats[ext]), tags, ntags, cstr(rotate), movflags, stop, &packets,
		(*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	if r < 0 && ctx.Err() != nil {
		return 0, fmt.Errorf("media: stitch %s: %w", cfg.Output, ctx.Err())
	}
	if r < 0 {
		return 0, newError(cfg.Output, ErrFFmpeg, logOr(C.GoString((*C.char)(unsafe.Pointer(&buf[0]))), r), out, listPath, cfg.AudioFrom)
	}
	return int64(packets), nil
}

// muxTags is cfg.Metadata as the key, value pairs ffremux and ffappend_open take, sorted by key, in C memory (a Go
// slice of C pointers handed to C would be Go memory holding pointers); cstr makes each string. free releases the
// array.
func muxTags(cfg StitchConfig, cstr func(string) *C.char) (tags **C.char, n C.int, free func()) {
	keys := make([]string, 0, len(cfg.Metadata))
	for k := range cfg.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ctags := C.calloc(C.size_t(2*len(keys)+1), C.size_t(unsafe.Sizeof((*C.char)(nil))))
	pairs := unsafe.Slice((**C.char)(ctags), 2*len(keys)+1)
	for i, k := range keys {
		pairs[2*i], pairs[2*i+1] = cstr(k), cstr(cfg.Metadata[k])
	}
	return &pairs[0], C.int(len(keys)), func() { C.free(ctags) }
}

// muxRotate is stitchRun's rotate tag for cfg.Rotation ("" for none).
func muxRotate(cfg StitchConfig) string {
	if cfg.Rotation == 0 {
		return ""
	}
	return strconv.Itoa((360 - cfg.Rotation) % 360)
}

// muxMovflags says whether ext's muxer takes +use_metadata_tags (else it drops keys it does not know).
func muxMovflags(ext string) C.int {
	if ext == ".mp4" || ext == ".mov" {
		return 1
	}
	return 0
}

// offsetMicros is -itsoffset's value for stitchRun's argument: the delay written with 6 decimals, in microseconds.
func offsetMicros(delay float64) int64 {
	if delay <= 0 {
		return 0
	}
	whole, frac, _ := strings.Cut(strconv.FormatFloat(delay, 'f', 6, 64), ".")
	w, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*1_000_000 + f
}

// CopyVideo writes the first video stream of in into out (the extension picks the container, as Stitch's), copied
// packet for packet and shifted to start at 0, in this process: in is opened, probed and read once, where a Stitch
// of one piece probes it four times and reads it three (its header scan, its packet count, the concat demuxer and
// the copy). It returns the packets written. out is written in place: callers write to a name of their own and
// rename it. ctx is checked before the copy, not during it: it is for one segment's piece, not a film.
func CopyVideo(ctx context.Context, in, out string) (int, error) {
	format := containerFormats[strings.ToLower(filepath.Ext(out))]
	if format == "" {
		return 0, fmt.Errorf("media: copy to %s: extension must be .mp4, .mov, .mkv or .webm", out)
	}
	if err := CheckInput(in); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("media: copy %s: %w", in, err)
	}
	cin, cout, cformat := C.CString(in), C.CString(out), C.CString(format)
	defer C.free(unsafe.Pointer(cin))
	defer C.free(unsafe.Pointer(cout))
	defer C.free(unsafe.Pointer(cformat))
	buf := make([]byte, 4096)
	var packets C.int64_t
	r := C.ffcopy(cin, cout, cformat, &packets, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	if r == C.FF_ERR_NO_VIDEO {
		return 0, &Error{Path: in, Err: ErrNoVideo}
	}
	if r < 0 {
		return 0, newError(in, ErrFFmpeg, logOr(C.GoString((*C.char)(unsafe.Pointer(&buf[0]))), r), out, in)
	}
	return int(packets), nil
}

// cStrings holds C copies of Go strings for one call into libav.c, freed together after it.
type cStrings []*C.char

func (c *cStrings) add(s string) *C.char {
	p := C.CString(s)
	*c = append(*c, p)
	return p
}

func (c *cStrings) free() {
	for _, p := range *c {
		C.free(unsafe.Pointer(p))
	}
	*c = nil
}

// errOtherContainer is openSplitter's answer for a source it leaves to the ffmpeg command.
var errOtherContainer = errors.New("media: not an MP4 or MOV: cut by the command")

// splitter is libav.c's ffsplit: the split's cut in this process, a piece a call.
type splitter struct {
	s       *C.ffsplit
	src     string
	stop    *C.int // C memory: C keeps it between calls
	unwatch func()
}

// openSplitter opens src for cutting; errOtherContainer for a container the command cuts. Cancelling ctx stops
// the cut within a packet or one of FFmpeg's reads.
func openSplitter(ctx context.Context, src string) (*splitter, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("media: split %s: %w", src, err)
	}
	sp := &splitter{src: src, stop: (*C.int)(C.calloc(1, C.size_t(unsafe.Sizeof(C.int(0)))))}
	p := (*int32)(unsafe.Pointer(sp.stop))
	set := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { atomic.StoreInt32(p, 1); close(set) })
	sp.unwatch = func() {
		if !stop() {
			<-set // being set: the flag is freed after
		}
	}
	csrc := C.CString(src)
	defer C.free(unsafe.Pointer(csrc))
	buf := make([]byte, 4096)
	r := C.ffsplit_open(&sp.s, csrc, sp.stop, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	if r >= 0 {
		return sp, nil
	}
	sp.close()
	switch {
	case r == C.FF_ERR_FORMAT:
		return nil, errOtherContainer
	case ctx.Err() != nil:
		return nil, fmt.Errorf("media: split %s: %w", src, ctx.Err())
	case r == C.FF_ERR_NO_VIDEO:
		return nil, &Error{Path: src, Err: ErrNoVideo}
	}
	return nil, libavError(src, ErrFFmpeg, r, C.GoString((*C.char)(unsafe.Pointer(&buf[0]))))
}

// piece writes the next piece into path (format: the container's muxer), up to the first keyframe at or after
// the cut-th packet of the stream, and returns its packets: 0, with nothing written, once the stream has ended.
func (sp *splitter) piece(ctx context.Context, path, format string, cut int) (int, error) {
	cpath, cformat := C.CString(path), C.CString(format)
	defer C.free(unsafe.Pointer(cpath))
	defer C.free(unsafe.Pointer(cformat))
	buf := make([]byte, 4096)
	var packets C.int64_t
	r := C.ffsplit_piece(sp.s, cpath, cformat, C.int64_t(cut), &packets, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	switch {
	case r >= 0:
		return int(packets), nil
	case ctx.Err() != nil:
		return 0, fmt.Errorf("media: split %s: %w", sp.src, ctx.Err())
	}
	// A full disk or quota where the piece is written is the machine's trouble (libavError wraps the errno).
	return 0, libavError(sp.src, ErrFFmpeg, r, C.GoString((*C.char)(unsafe.Pointer(&buf[0]))))
}

// close releases the splitter; the flag is freed only once nothing can set it.
func (sp *splitter) close() {
	sp.unwatch()
	C.ffsplit_free(sp.s)
	C.free(unsafe.Pointer(sp.stop))
}
