package media

// #include <stdlib.h>
// #include "libav.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"unsafe"
)

// ErrCannotAppend says an Appender cannot make the output asked for (a container other than MP4 or MOV, audio the
// container cannot take without re-encoding, a piece whose header states no duration): Stitch can, and stays the
// reference, so a caller falls back to it.
var ErrCannotAppend = errors.New("the appender cannot make this output")

// Appender makes Stitch's output a piece at a time, as pieces become available in order (the coordinator's
// progressive stitch: most of a long job's stitch done before its last segment is committed). The output has
// what Stitch's in-process copy gives for the same pieces: the first piece's video stream, each piece shifted as
// the concat demuxer with exact durations shifts it, the first audio stream of cfg.AudioFrom copied whole and
// interleaved as the video goes, cfg.Metadata, cfg.Rotation. Each piece is held to its committed frame count (its
// header must state it, and it must give that many packets).
//
// The output is written to Partial() and renamed to cfg.Output by Close; while it grows, every byte of it
// beyond the container's first ones is final once Written counts it (the MP4 muxer patches only its mdat size,
// near offset 0, at the trailer), so it can be uploaded as it grows. An Appender is used by one goroutine.
//
// Pieces must have a constant frame rate: for variable-rate pieces (frames at their own times, each piece ending
// at the next one's start) the output's video stream came out longer than Stitch's (5.98 s against 5.97 s for a
// one-piece job, with the same packets) and a later piece's timestamps were refused by the muxer; why was not
// found. Callers stitch those with Stitch.
type Appender struct {
	cfg     StitchConfig
	ext     string
	partial string
	delay   float64
	a       *C.ffappend
	stop    *C.int // C memory: C keeps it between calls
	pieces  int
	ended   bool
}

// NewAppender checks cfg (its Pieces and Frames are ignored: each piece comes with its count to Append) and the
// audio's file; ErrCannotAppend for an output only Stitch can make.
func NewAppender(ctx context.Context, cfg StitchConfig) (*Appender, error) {
	if err := cfg.validateOutput(); err != nil {
		return nil, err
	}
	ext := strings.ToLower(filepath.Ext(cfg.Output))
	if ext != ".mp4" && ext != ".mov" {
		return nil, fmt.Errorf("media: append %s: %w: only .mp4 and .mov outputs are appended", cfg.Output, ErrCannotAppend)
	}
	delay := 0.0
	if cfg.AudioFrom != "" {
		if err := CheckInput(cfg.AudioFrom); err != nil {
			return nil, err
		}
		var err error
		if delay, err = videoDelay(ctx, cfg.AudioFrom); err != nil {
			return nil, err
		}
	}
	return &Appender{cfg: cfg, ext: ext, delay: delay,
		partial: filepath.Join(filepath.Dir(cfg.Output), "."+filepath.Base(cfg.Output)+".partial"),
		stop:    (*C.int)(C.calloc(1, C.size_t(unsafe.Sizeof(C.int(0)))))}, nil
}

// Partial is the file the output is written to until Close renames it.
func (a *Appender) Partial() string { return a.partial }

// Pieces is how many pieces were appended.
func (a *Appender) Pieces() int { return a.pieces }

// Written is how many bytes of Partial are written.
func (a *Appender) Written() int64 {
	if a.a == nil {
		return 0
	}
	return int64(C.ffappend_written(a.a))
}

// Append appends the piece at path, which must hold frames frames, as piece number Pieces(). A piece that is not
// what its commit says is a *PieceError (wrapping ErrFrameCount when the counts disagree); ErrCannotAppend when
// Stitch must make this output. After any error the Appender is spent: Abort it.
func (a *Appender) Append(ctx context.Context, path string, frames int) error {
	if a.ended {
		return fmt.Errorf("media: append %s: the appender has ended", a.cfg.Output)
	}
	piece := func(err error) error { a.ended = true; return &PieceError{Piece: a.pieces, Err: err} }
	if err := CheckInput(path); err != nil {
		return piece(err)
	}
	s, err := scanHeader(ctx, path)
	if err != nil {
		return piece(err)
	}
	if !s.found {
		return piece(&Error{Path: path, Err: ErrNoVideo})
	}
	if frames <= 0 {
		return piece(&Error{Path: path, Err: ErrFrameCount, Detail: fmt.Sprintf("its commit says %d frames", frames)})
	}
	if err := pieceFrames(ctx, path, s, frames); err != nil {
		return piece(err)
	}
	if durationOf(s) == "" {
		a.ended = true
		return fmt.Errorf("media: append %s: %w: piece %s states no duration", a.cfg.Output, ErrCannotAppend, path)
	}
	var cs cStrings
	defer cs.free()
	cstr := cs.add
	defer a.watch(ctx)()
	buf := make([]byte, 4096)
	logbuf := (*C.char)(unsafe.Pointer(&buf[0]))
	if a.a == nil {
		tags, ntags, free := muxTags(a.cfg, cstr)
		defer free()
		r := C.ffappend_open(&a.a, cstr(path), C.int64_t(offsetMicros(a.delay)), cstr(a.cfg.AudioFrom), cstr(a.partial),
			cstr(containerFormats[a.ext]), tags, ntags, cstr(muxRotate(a.cfg)), muxMovflags(a.ext), a.stop, logbuf, C.size_t(len(buf)))
		if r < 0 {
			a.ended = true
			if ctx.Err() != nil {
				return fmt.Errorf("media: append %s: %w", a.cfg.Output, ctx.Err())
			}
			// Mostly audio the container cannot hold copied: Stitch re-encodes it.
			return fmt.Errorf("%w: %w", ErrCannotAppend, newError(a.cfg.Output, ErrFFmpeg, logOr(C.GoString(logbuf), r), a.partial, path, a.cfg.AudioFrom))
		}
	}
	var packets C.int64_t
	r := C.ffappend_piece(a.a, cstr(path), C.int64_t(s.durationTS), C.int(s.timeBase.Num), C.int(s.timeBase.Den), &packets,
		logbuf, C.size_t(len(buf)))
	switch {
	case r < 0 && ctx.Err() != nil:
		a.ended = true
		return fmt.Errorf("media: append %s: %w", a.cfg.Output, ctx.Err())
	case r < 0:
		return piece(newError(path, ErrFFmpeg, logOr(C.GoString(logbuf), r), a.partial, a.cfg.AudioFrom))
	case int64(packets) != int64(frames):
		return piece(&Error{Path: path, Err: ErrFrameCount, Detail: fmt.Sprintf("it holds %d frames, its commit says %d", packets, frames)})
	}
	a.pieces++
	return nil
}

// Close writes the rest of the audio and the trailer, checks the rotation as Stitch does, and renames the output
// into place. On error nothing is left at cfg.Output or Partial.
func (a *Appender) Close(ctx context.Context) error {
	if a.ended || a.a == nil {
		a.Abort()
		return fmt.Errorf("media: append %s: nothing to close", a.cfg.Output)
	}
	unwatch := a.watch(ctx)
	buf := make([]byte, 4096)
	logbuf := (*C.char)(unsafe.Pointer(&buf[0]))
	r := C.ffappend_close(a.a, logbuf, C.size_t(len(buf)))
	unwatch()
	var err error
	switch {
	case r < 0 && ctx.Err() != nil:
		err = fmt.Errorf("media: append %s: %w", a.cfg.Output, ctx.Err())
	case r < 0:
		err = newError(a.cfg.Output, ErrFFmpeg, logOr(C.GoString(logbuf), r), a.partial, a.cfg.AudioFrom)
	}
	if err == nil {
		err = checkRotation(ctx, a.cfg, a.partial)
	}
	if err == nil {
		if err = os.Rename(a.partial, a.cfg.Output); err != nil {
			err = fmt.Errorf("media: append %s: %w", a.cfg.Output, err)
		}
	}
	a.release()
	if err != nil {
		_ = os.Remove(a.partial)
	}
	return err
}

// Abort drops the output: the partial file is removed. It may be called more than once, and after Close.
func (a *Appender) Abort() {
	if a.stop == nil {
		return
	}
	a.release()
	_ = os.Remove(a.partial)
}

// watch sets the flag the C side polls (between packets and in FFmpeg's I/O) once ctx ends; the function it
// returns stops watching, waiting for a flag being set, so that release never frees the flag under it.
func (a *Appender) watch(ctx context.Context) func() {
	p := (*int32)(unsafe.Pointer(a.stop))
	set := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { atomic.StoreInt32(p, 1); close(set) })
	return func() {
		if !stop() {
			<-set
		}
	}
}

func (a *Appender) release() {
	a.ended = true
	if a.a != nil {
		C.ffappend_free(a.a)
		a.a = nil
	}
	if a.stop != nil {
		C.free(unsafe.Pointer(a.stop))
		a.stop = nil
	}
}
