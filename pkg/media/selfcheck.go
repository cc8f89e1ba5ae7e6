package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
)

// ErrSelfCheck is a SelfCheck that failed: this process's FFmpeg libraries cannot do a worker's work.
var ErrSelfCheck = errors.New("media self-check failed")

// selfCheckFrames is the length of SelfCheck's clip: more than one GOP's worth of reordering is not needed, only
// every step once.
const selfCheckFrames = 8

// SelfCheck runs once through every step of a segment's media path, in files under dir that it removes: it encodes a
// short clip into a matroska piece as the split stores them, copies the piece's stream into an MP4 (what a
// simulating worker does, and the remux of a result), and decodes the MP4 back, counting its frames. A worker runs it
// before it takes a task: libraries that cannot (a container image built without H.264) fail the worker at start,
// named, instead of every segment it takes. It also pays each library's first-use costs (code paged in, allocator
// arenas grown: 15 ms of CPU and 640 page faults for a process's first stream copy, 1.4 ms and none from the fourth
// on, docs/BENCHMARKS.md) before the first segment rather than inside it.
//
// The libraries are the process's: once a check has passed, later calls (each in-process worker of `coordinator
// run`, which checked before starting them) return nil at once. A failed check is tried again.
func SelfCheck(ctx context.Context, dir string) error {
	if selfChecked.Load() {
		return nil
	}
	d, err := os.MkdirTemp(dir, "selfcheck-")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSelfCheck, err)
	}
	defer os.RemoveAll(d)
	if err := selfCheck(ctx, d); err != nil {
		return fmt.Errorf("%w: %w", ErrSelfCheck, err)
	}
	selfChecked.Store(true)
	return nil
}

// selfChecked is set once a SelfCheck passed in this process.
var selfChecked atomic.Bool

func selfCheck(ctx context.Context, dir string) error {
	const w, h = 64, 48
	piece, out := filepath.Join(dir, "piece.mkv"), filepath.Join(dir, "result.mp4")
	enc, err := NewEncoder(ctx, EncoderConfig{Path: piece, Width: w, Height: h, FrameRate: Rational{Num: 25, Den: 1},
		Quality: DefaultQuality, Threads: 1})
	if err != nil {
		return err
	}
	frame := make([]byte, FrameBytes(PixFmtBGR24, w, h))
	for i := range selfCheckFrames {
		for p := range frame {
			frame[p] = byte(p*7 + i*13) // moving stripes: P- and B-frames with something to code
		}
		if err := enc.Write(frame); err != nil {
			enc.Abort()
			return err
		}
	}
	if err := enc.Close(); err != nil {
		return err
	}
	n, err := CopyVideo(ctx, piece, out)
	if err != nil {
		return err
	}
	if n != selfCheckFrames {
		return fmt.Errorf("copy of %d frames gave %d", selfCheckFrames, n)
	}
	dec, err := NewDecoder(ctx, DecoderConfig{Path: out, Width: w, Height: h, Threads: 1})
	if err != nil {
		return err
	}
	defer dec.Close()
	for n = 0; ; n++ {
		if err := dec.Read(frame); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
	}
	if n != selfCheckFrames {
		return fmt.Errorf("decode of %d frames gave %d", selfCheckFrames, n)
	}
	return nil
}
