package media

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// processEncoder feeds raw frames through a pipe to an ffmpeg child; encoderArgs is its command line.
type processEncoder struct {
	cfg    EncoderConfig
	ctx    context.Context
	cmd    *exec.Cmd
	in     io.WriteCloser
	stderr *tailBuffer
}

func newProcessEncoder(ctx context.Context, cfg EncoderConfig) (*processEncoder, error) {
	cmd := command(ctx, ffmpegBin, ffmpegArgs(encoderArgs(cfg)...)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("media: encode %s: %w", cfg.Path, err)
	}
	e := &processEncoder{cfg: cfg, ctx: ctx, cmd: cmd, in: in, stderr: newTailBuffer()}
	cmd.Stderr = e.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("media: encode %s: start ffmpeg: %w", cfg.Path, err)
	}
	return e, nil
}

// encoderArgs is the ffmpeg command line of a processEncoder: the settings the in-process encoder gives libavcodec.
func encoderArgs(cfg EncoderConfig) []string {
	codec := cfg.codec()
	ext := strings.ToLower(filepath.Ext(cfg.Path))
	rate := cfg.FrameRate.reduced().String()
	args := []string{
		"-f", "rawvideo", "-pix_fmt", cmp.Or(cfg.PixFmt, PixFmtBGR24), "-video_size", fmt.Sprintf("%dx%d", cfg.Width, cfg.Height),
		"-framerate", rate, "-i", "pipe:0",
		"-map", "0:v:0", "-an", "-sn", "-dn",
		"-fps_mode", "passthrough", // rawvideo input is already CFR at FrameRate
	}
	var vf []string
	switch {
	case codec == CodecLossless:
		// Exact: RGB in, RGB out (bgr0 is bgr24 padded to 32 bits, which FFV1 codes), no colour conversion.
		args = append(args, "-c:v", codec, "-pix_fmt", "bgr0")
	case cfg.PixFmt == PixFmtYUV420P:
		// Already yuv420p at an even size: encoded as it is, with the source's colour tags.
		args = append(args, "-c:v", codec, "-pix_fmt", "yuv420p")
		args = appendTags(args, [2]string{"-colorspace", cfg.Color.Space}, [2]string{"-color_range", cfg.Color.Range},
			[2]string{"-color_primaries", cfg.Color.Primaries}, [2]string{"-color_trc", cfg.Color.Transfer})
	default:
		// Filters run on the bgr24 frames: pad (any size is fine in RGB), then one conversion to yuv420p with the
		// matrix and range the decoder read the target with (Color.matrix), tagged as the target is.
		if w, h := cfg.OutputSize(); w != cfg.Width || h != cfg.Height {
			vf = append(vf, fmt.Sprintf("pad=%d:%d:0:0:black", w, h))
		}
		matrix, rng := cfg.Color.matrix()
		vf = append(vf, "scale=out_color_matrix="+matrix+":out_range="+rng, "format=yuv420p")
		args = append(args, "-c:v", codec, "-pix_fmt", "yuv420p")
		args = appendTags(args, [2]string{"-colorspace", cfg.Color.Space}, [2]string{"-color_range", cfg.Color.Range},
			[2]string{"-color_primaries", cfg.Color.Primaries}, [2]string{"-color_trc", cfg.Color.Transfer})
	}
	if sar := cfg.OutputSampleAspect(); !sar.IsZero() {
		// rawvideo input has square pixels; max lets setsar keep an odd size's exact correction (656/651), which
		// its default (100) would round.
		vf = append(vf, "setsar=r="+sar.String()+":max="+strconv.Itoa(max(sar.Num, sar.Den)))
	}
	if len(vf) > 0 {
		args = append(args, "-vf", strings.Join(vf, ","))
	}
	for _, o := range codecOptions(cfg) {
		args = append(args, "-"+o[0], o[1])
	}
	if cfg.Threads > 0 {
		args = append(args, "-threads", strconv.Itoa(cfg.Threads))
	}
	if tag := codecTag(cfg); tag != "" {
		args = append(args, "-tag:v", tag)
	}
	if ts := cfg.timescale(); ts > 0 {
		args = append(args, "-video_track_timescale", strconv.Itoa(ts))
	}
	return append(args, "-f", containerFormats[ext], "-y", fileArg(cfg.Path))
}

// appendTags appends each option whose value is known ("" is not).
func appendTags(args []string, tags ...[2]string) []string {
	for _, t := range tags {
		if t[1] != "" {
			args = append(args, t[0], t[1])
		}
	}
	return args
}

func (e *processEncoder) write(frame []byte) error {
	if _, err := e.in.Write(frame); err != nil {
		// A broken pipe only says ffmpeg is gone; its exit status and stderr say why.
		if werr := e.result(e.cmd.Wait()); werr != nil {
			return werr
		}
		return fmt.Errorf("media: encode %s: %w", e.cfg.Path, err)
	}
	return nil
}

func (e *processEncoder) finish() error {
	_ = e.in.Close()
	return e.result(e.cmd.Wait())
}

func (e *processEncoder) abort() {
	_ = e.cmd.Process.Kill()
	_ = e.cmd.Wait() // a second Wait after write's returns at once
}

func (e *processEncoder) result(werr error) error {
	switch {
	case werr == nil:
		return nil
	case e.ctx.Err() != nil:
		return fmt.Errorf("media: encode %s: %w", e.cfg.Path, e.ctx.Err())
	case isExitError(werr):
		return newError(e.cfg.Path, ErrFFmpeg, e.stderr.String(), fileArg(e.cfg.Path))
	default:
		return fmt.Errorf("media: encode %s: %w", e.cfg.Path, werr)
	}
}
