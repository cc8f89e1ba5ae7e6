package media

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// DecoderConfig configures a Decoder.
type DecoderConfig struct {
	Path string
	// Width and Height are the frame size delivered; pass Info.Width/Height (the coded size, rotation not applied)
	// so nothing is scaled. Frames are scaled to this size if the stream differs, which also keeps the frame size
	// fixed if a stream changes resolution midway.
	Width, Height int
	Threads       int // decoder threads; 0 = ffmpeg's default (all cores)
	// PixFmt is the frames' pixel format: PixFmtBGR24 (default when "") or PixFmtYUV420P, the planar YUV most
	// videos hold, passed through without a colour conversion (even sizes only).
	PixFmt string
	// Process decodes in an ffmpeg child process through a pipe instead of in this process: the reference the
	// in-process decoder is tested and measured against.
	Process bool
}

// Raw frame pixel formats of the pipes.
const (
	PixFmtBGR24   = "bgr24"
	PixFmtYUV420P = "yuv420p"
	// PixFmtYUVJ420P is a full-range yuv420p stream as libavcodec and Probe name it: the same planes, read and
	// written as PixFmtYUV420P, its range kept by the colour tags.
	PixFmtYUVJ420P = "yuvj420p"
)

// FramePadding is the room after a frame's last byte that lets Decoder.Read and Encoder.Write convert in place:
// FFmpeg's converters write and read a little past a picture's end (libav.h, FF_FRAME_PADDING). A frame slice
// whose capacity is FrameBytes + FramePadding is converted without a copy (by the decoder, when its rows are also
// 64-byte multiples, e.g. 1920 or 1280 wide); any other is safe but goes through a copy.
const FramePadding = framePadding

// FrameBytes is the size of one raw frame of w x h pixels in pixFmt ("" is bgr24).
func FrameBytes(pixFmt string, w, h int) int {
	if pixFmt == PixFmtYUV420P {
		return w * h * 3 / 2
	}
	return w * h * 3
}

func checkPixFmt(pixFmt string, w, h int) error {
	switch {
	case pixFmt != "" && pixFmt != PixFmtBGR24 && pixFmt != PixFmtYUV420P:
		return fmt.Errorf("pixel format %q must be %s or %s", pixFmt, PixFmtBGR24, PixFmtYUV420P)
	case pixFmt == PixFmtYUV420P && (w%2 != 0 || h%2 != 0):
		return fmt.Errorf("%s needs an even size, not %dx%d", PixFmtYUV420P, w, h)
	}
	return nil
}

// Validate reports the first problem with c.
func (c DecoderConfig) Validate() error {
	switch {
	case c.Path == "":
		return errors.New("media: decoder config: Path is empty")
	case c.Width <= 0 || c.Height <= 0:
		return fmt.Errorf("media: decoder config: size %dx%d must be positive", c.Width, c.Height)
	case c.Threads < 0:
		return fmt.Errorf("media: decoder config: Threads %d is negative", c.Threads)
	}
	if err := checkPixFmt(c.PixFmt, c.Width, c.Height); err != nil {
		return fmt.Errorf("media: decoder config: %w", err)
	}
	return nil
}

// Decoder streams the frames of the first video stream (cover pictures aside) as raw frames. Frames come out
// exactly as decoded (no duplication or dropping to reach a constant rate) and without rotation. It decodes in
// this process with FFmpeg's libraries, or with DecoderConfig.Process in an ffmpeg child through a pipe; both give
// the same frames. A Decoder is not safe for concurrent use.
type Decoder struct {
	cfg    DecoderConfig
	src    frameSource
	end    error // what Read returns once the stream is over: io.EOF or the failure
	closed bool
}

// frameSource is one way of decoding.
type frameSource interface {
	// read fills frame with the next frame, or returns the end: io.EOF or why the stream stopped early.
	read(frame []byte) error
	close()
}

// NewDecoder checks the input and starts decoding. Cancelling ctx stops it.
func NewDecoder(ctx context.Context, cfg DecoderConfig) (*Decoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := CheckInput(cfg.Path); err != nil {
		return nil, err
	}
	d := &Decoder{cfg: cfg}
	var err error
	if cfg.Process {
		d.src, err = newProcessDecoder(ctx, cfg)
	} else {
		d.src, err = newLibavDecoder(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// FrameSize is the size of one frame in bytes: FrameBytes(PixFmt, Width, Height).
func (d *Decoder) FrameSize() int { return FrameBytes(d.cfg.PixFmt, d.cfg.Width, d.cfg.Height) }

// Read fills frame, whose length must be FrameSize, with the next frame. It returns io.EOF after the last frame.
// If decoding fails, or the file turns out truncated or damaged (frames were lost), it returns an *Error with
// what ffmpeg said instead; frames read before stay valid.
func (d *Decoder) Read(frame []byte) error {
	if len(frame) != d.FrameSize() {
		return fmt.Errorf("media: decode %s: frame buffer is %d bytes, want %d", d.cfg.Path, len(frame), d.FrameSize())
	}
	return d.next(func() error { return d.src.read(frame) })
}

// timeSource is a frameSource that knows its frames' times (the in-process decoder).
type timeSource interface {
	time() Time
}

// Time is the presentation time of the last frame read (its best-effort timestamp, the one ffmpeg's -fps_mode
// passthrough keeps), for Encoder.WriteAt. It is the zero Time (unknown) for a frame without one, before the
// first frame, and from the ffmpeg child (DecoderConfig.Process), whose raw frames carry no timestamps.
func (d *Decoder) Time() Time {
	if ts, ok := d.src.(timeSource); ok && !d.closed && d.end == nil {
		return ts.time()
	}
	return Time{}
}

// errNoRefs is returned by ReadRef and WriteRef on the ffmpeg child processes, whose frames cross a pipe.
var errNoRefs = errors.New("frames by reference need the in-process decoder and encoder")

// refSource is a frameSource that can lend its pictures (the in-process decoder).
type refSource interface {
	readRef(f *Frame) error
}

// ReadRef is Read without the copy: f takes the next decoded picture itself (its pixels must not be written;
// see Frame) in the configured size and format, converted first only if the stream's differ. It needs the
// in-process decoder (not DecoderConfig.Process).
func (d *Decoder) ReadRef(f *Frame) error {
	rs, ok := d.src.(refSource)
	if !ok {
		return fmt.Errorf("media: decode %s: %w", d.cfg.Path, errNoRefs)
	}
	return d.next(func() error { return rs.readRef(f) })
}

// keepSource is a frameSource that can hand over its pictures beside their BGR conversion (the in-process
// decoder).
type keepSource interface {
	readKeep(frame []byte, f *Frame) error
}

// ReadKeep is Read (PixFmtBGR24) that also keeps the decoded picture in f when it is yuv420p (or yuvj420p) of the
// configured size, else leaves f empty: a Patcher writes the processed frame back into it, so the pixels no
// processor changed reach the encoder as decoded. It needs the in-process decoder (not DecoderConfig.Process).
func (d *Decoder) ReadKeep(frame []byte, f *Frame) error {
	ks, ok := d.src.(keepSource)
	if !ok || d.cfg.PixFmt == PixFmtYUV420P {
		return fmt.Errorf("media: decode %s: %w", d.cfg.Path, errNoRefs)
	}
	if len(frame) != d.FrameSize() {
		return fmt.Errorf("media: decode %s: frame buffer is %d bytes, want %d", d.cfg.Path, len(frame), d.FrameSize())
	}
	return d.next(func() error { return ks.readKeep(frame, f) })
}

// next runs read unless the stream is over, and remembers how it ended.
func (d *Decoder) next(read func() error) error {
	if d.closed {
		return fmt.Errorf("media: decode %s: decoder is closed", d.cfg.Path)
	}
	if d.end != nil {
		return d.end
	}
	if err := read(); err != nil {
		d.end = err
		return err
	}
	return nil
}

// Close stops decoding and releases what it holds. It is idempotent and returns nil: stopping early is the
// caller's choice, and decode failures are reported by Read.
func (d *Decoder) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	d.src.close()
	if d.end == nil {
		d.end = io.EOF
	}
	return nil
}

// ReadFrame decodes the frame at index (presentation order) of path's first video stream into frame, a bgr24
// buffer of the stream's coded size. It decodes from the start: meant for one frame, such as a reference face.
func ReadFrame(ctx context.Context, path string, index int, frame []byte) error {
	info, err := Probe(ctx, path)
	if err != nil {
		return err
	}
	if len(frame) != info.Width*info.Height*3 {
		return fmt.Errorf("media: read frame: buffer of %d bytes for %dx%d", len(frame), info.Width, info.Height)
	}
	d, err := NewDecoder(ctx, DecoderConfig{Path: path, Width: info.Width, Height: info.Height})
	if err != nil {
		return err
	}
	defer d.Close()
	for i := 0; i <= index; i++ {
		if err := d.Read(frame); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%s: frame %d is past the end (%d frames)", path, index, i)
			}
			return err
		}
	}
	return nil
}
