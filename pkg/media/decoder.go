package media

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
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
}

// Raw frame pixel formats of the pipes.
const (
	PixFmtBGR24   = "bgr24"
	PixFmtYUV420P = "yuv420p"
)

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

// Decoder streams the frames of the first video stream as raw bgr24 through a pipe from ffmpeg. Frames come out
// exactly as decoded (-fps_mode passthrough: no duplication or dropping to reach a constant rate) and without
// rotation (-noautorotate). A Decoder is not safe for concurrent use.
type Decoder struct {
	cfg    DecoderConfig
	ctx    context.Context
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr *tailBuffer
	end    error // what Read returns once the stream is over: io.EOF or the failure
	waited bool
	closed bool
}

// NewDecoder checks the input and starts ffmpeg. Cancelling ctx kills the process.
func NewDecoder(ctx context.Context, cfg DecoderConfig) (*Decoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := CheckInput(cfg.Path); err != nil {
		return nil, err
	}
	var args []string
	if cfg.Threads > 0 {
		args = append(args, "-threads", strconv.Itoa(cfg.Threads)) // before -i: decoder threads
	}
	args = append(args, "-noautorotate", "-i", fileArg(cfg.Path),
		"-map", "0:V:0", "-an", "-sn", "-dn",
		"-fps_mode", "passthrough",
		// scale does the yuv->bgr conversion anyway (and passes same-size yuv420p through untouched); naming the
		// size makes the frame size a guarantee.
		"-vf", fmt.Sprintf("scale=%d:%d", cfg.Width, cfg.Height),
		"-pix_fmt", cmp.Or(cfg.PixFmt, PixFmtBGR24), "-f", "rawvideo", "pipe:1")
	cmd := command(ctx, ffmpegBin, ffmpegArgs(args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("media: decode %s: %w", cfg.Path, err)
	}
	d := &Decoder{cfg: cfg, ctx: ctx, cmd: cmd, out: out, stderr: newTailBuffer()}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("media: decode %s: start ffmpeg: %w", cfg.Path, err)
	}
	return d, nil
}

// FrameSize is the size of one frame in bytes: FrameBytes(PixFmt, Width, Height).
func (d *Decoder) FrameSize() int { return FrameBytes(d.cfg.PixFmt, d.cfg.Width, d.cfg.Height) }

// Read fills frame, whose length must be FrameSize, with the next frame. It returns io.EOF after the last frame.
// If ffmpeg fails, or the file turns out truncated or damaged (frames were lost), it returns an *Error with
// ffmpeg's stderr tail instead; frames read before stay valid.
func (d *Decoder) Read(frame []byte) error {
	if d.closed {
		return fmt.Errorf("media: decode %s: decoder is closed", d.cfg.Path)
	}
	if d.end != nil {
		return d.end
	}
	if len(frame) != d.FrameSize() {
		return fmt.Errorf("media: decode %s: frame buffer is %d bytes, want %d", d.cfg.Path, len(frame), d.FrameSize())
	}
	n, err := io.ReadFull(d.out, frame)
	if err == nil {
		return nil
	}
	d.end = d.finish(n, err)
	return d.end
}

// finish waits for ffmpeg after its output ended and decides what the end means.
func (d *Decoder) finish(n int, readErr error) error {
	werr := d.wait()
	stderr := d.stderr.String()
	arg := fileArg(d.cfg.Path)
	switch {
	case d.ctx.Err() != nil:
		return fmt.Errorf("media: decode %s: %w", d.cfg.Path, d.ctx.Err())
	case werr != nil && isExitError(werr):
		e := inputError(d.cfg.Path, stderr, arg)
		if e.Err == ErrNotMedia {
			e.Err = ErrFFmpeg
		}
		return e
	case werr != nil:
		return fmt.Errorf("media: decode %s: %w", d.cfg.Path, werr)
	case readErr == io.ErrUnexpectedEOF:
		return &Error{Path: d.cfg.Path, Err: ErrTruncated, Stderr: stderrTail(stderr),
			Detail: fmt.Sprintf("last frame has %d of %d bytes", n, d.FrameSize())}
	case readErr != io.EOF:
		return fmt.Errorf("media: decode %s: %w", d.cfg.Path, readErr)
	}
	// ffmpeg exits 0 on a file that ends early or on packets that fail to decode; frames are missing then.
	if m := firstMarker(stderr); m != "" || strings.Contains(stderr, "Error while decoding stream") {
		return newError(d.cfg.Path, ErrTruncated, stderr, arg)
	}
	return io.EOF
}

func (d *Decoder) wait() error {
	if d.waited {
		return nil
	}
	d.waited = true
	return d.cmd.Wait()
}

// Close kills ffmpeg if it is still running and waits for it. It is idempotent and returns nil: stopping early is
// the caller's choice, and decode failures are reported by Read.
func (d *Decoder) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	if d.end != nil {
		return nil
	}
	if !d.waited {
		_ = d.cmd.Process.Kill() // harmless if it already exited
	}
	_ = d.wait()
	d.end = io.EOF
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
