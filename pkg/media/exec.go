package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// Binaries; resolved through PATH when a process starts.
const (
	ffmpegBin  = "ffmpeg"
	ffprobeBin = "ffprobe"
)

// waitDelay bounds how long Wait keeps waiting for ffmpeg's pipes after the process is gone or killed.
const waitDelay = 5 * time.Second

// fileArg names a local file for ffmpeg. The "file:" prefix stops ffmpeg from reading "a:b.mp4" as protocol "a"
// or "-x.mp4" as an option.
func fileArg(path string) string { return "file:" + path }

// ffmpegArgs starts every ffmpeg command line: quiet except for errors, never reading the terminal.
func ffmpegArgs(args ...string) []string {
	return append([]string{"-hide_banner", "-nostdin", "-nostats", "-v", "error"}, args...)
}

func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = waitDelay
	return cmd
}

// run runs a short-lived ffmpeg or ffprobe and returns its stdout and stderr. err is ctx.Err() when the context
// ended the run, an *exec.ExitError for a non-zero exit, or why the process could not start.
func run(ctx context.Context, name string, args ...string) (stdout []byte, stderr string, err error) {
	cmd := command(ctx, name, args...)
	var out bytes.Buffer
	errBuf := newTailBuffer()
	cmd.Stdout = &out
	cmd.Stderr = errBuf
	err = cmd.Run()
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return out.Bytes(), errBuf.String(), err
}

// ffprobe runs ffprobe with args on the file path (checked first) and returns its stdout. A failure to read the
// file becomes an *Error classified by inputError; what names the operation in other errors.
func ffprobe(ctx context.Context, what, path string, args ...string) ([]byte, error) {
	if err := checkInput(path); err != nil {
		return nil, err
	}
	arg := fileArg(path)
	full := append(append([]string{"-hide_banner", "-v", "error"}, args...), arg)
	out, stderr, err := run(ctx, ffprobeBin, full...)
	switch {
	case err == nil:
		return out, nil
	case isExitError(err):
		return nil, inputError(path, stderr, arg)
	default:
		return nil, fmt.Errorf("media: %s %s: %w", what, path, err)
	}
}

func isExitError(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}
