package media

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// processDecoder reads raw frames through a pipe from an ffmpeg child: -fps_mode passthrough (no duplication or
// dropping to reach a constant rate), -noautorotate.
type processDecoder struct {
	cfg    DecoderConfig
	ctx    context.Context
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr *tailBuffer
	waited bool
}

func newProcessDecoder(ctx context.Context, cfg DecoderConfig) (*processDecoder, error) {
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
	d := &processDecoder{cfg: cfg, ctx: ctx, cmd: cmd, out: out, stderr: newTailBuffer()}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("media: decode %s: start ffmpeg: %w", cfg.Path, err)
	}
	return d, nil
}

func (d *processDecoder) read(frame []byte) error {
	n, err := io.ReadFull(d.out, frame)
	if err == nil {
		return nil
	}
	return d.finish(n, err)
}

// finish waits for ffmpeg after its output ended and decides what the end means.
func (d *processDecoder) finish(n int, readErr error) error {
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
			Detail: fmt.Sprintf("last frame has %d of %d bytes", n, FrameBytes(d.cfg.PixFmt, d.cfg.Width, d.cfg.Height))}
	case readErr != io.EOF:
		return fmt.Errorf("media: decode %s: %w", d.cfg.Path, readErr)
	}
	return endOfStream(d.cfg.Path, stderr, arg)
}

// endOfStream decides what a decoder's clean end means from what ffmpeg logged: ffmpeg finishes normally on a
// file that ends early or on packets that fail to decode, and frames are missing then.
func endOfStream(path, log string, args ...string) error {
	if m := firstMarker(log); m != "" || strings.Contains(log, "Error while decoding stream") {
		return newError(path, ErrTruncated, log, args...)
	}
	return io.EOF
}

func (d *processDecoder) wait() error {
	if d.waited {
		return nil
	}
	d.waited = true
	return d.cmd.Wait()
}

func (d *processDecoder) close() {
	if !d.waited {
		_ = d.cmd.Process.Kill() // harmless if it already exited
	}
	_ = d.wait()
}
