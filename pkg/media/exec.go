package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
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
func fileArg(path string) string {
	if IsURL(path) {
		return path
	}
	return "file:" + path
}

// ffmpegArgs starts every ffmpeg command line: quiet except for errors, never reading the terminal.
func ffmpegArgs(args ...string) []string {
	return append([]string{"-hide_banner", "-nostdin", "-nostats", "-v", "error"}, args...)
}

func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = waitDelay
	cmd.Env = childEnv()
	return cmd
}

// mmapThreshold fixes glibc's mmap threshold in ffmpeg children. Left alone, glibc raises the threshold each time a
// large mmapped block is freed, so frame-sized buffers move from mmap into the heap as the run goes on and a
// long-running decoder or encoder's heap fragments: a 10-minute job peaked 8% above a 10-second one. Setting the variable at all
// turns that adjustment off. At 128 KiB every frame buffer would be mapped and unmapped (+8% wall on a bare 1080p
// transcode, system time doubled); at 32 MiB frame buffers stay in the heap and are reused, and the 10-minute peak
// was 2.5% above the 10-second one (docs/BENCHMARKS.md). Our own process, which now decodes and encodes in
// process, fixes its threshold at 4 MiB with mallopt instead (memory.ReduceFragmentation says why).
const mmapThreshold = "MALLOC_MMAP_THRESHOLD_=33554432"

// childEnv is this process's environment with mmapThreshold, unless the user set one.
func childEnv() []string {
	env := os.Environ()
	for _, kv := range env {
		if strings.HasPrefix(kv, "MALLOC_MMAP_THRESHOLD_=") {
			return env
		}
	}
	return append(env, mmapThreshold)
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
	if err := CheckInput(path); err != nil {
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
