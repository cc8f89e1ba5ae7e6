// Package pipeline streams one segment through the frame processors: decode (ffmpeg) -> process -> encode (ffmpeg),
// with a fixed pool of frame buffers so a producer waits when the pool is empty, and, given an Admitter (the memory
// governor), also while it holds frames in flight below the pool. It never talks to NATS or S3.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/bgrframe"
	"github.com/facefleet/facefleet/pkg/imagefile"
	"github.com/facefleet/facefleet/pkg/media"
)

// Processor changes one BGR frame in place. index is the frame's index in the whole target.
type Processor interface {
	Process(frame gocv.Mat, index int) error
}

// BatchProcessor is a Processor that can also change several frames in one call, so a model sees a batch.
type BatchProcessor interface {
	Processor
	ProcessBatch(frames []gocv.Mat, indices []int) error
}

// ProcessorFunc adapts a function to Processor.
type ProcessorFunc func(frame gocv.Mat, index int) error

// Process calls f.
func (f ProcessorFunc) Process(frame gocv.Mat, index int) error { return f(frame, index) }

// Admitter limits the frames in flight below the pool at run time: a memory governor (memory.Governor) that one or
// more pipelines share. Admit blocks until one more frame may be decoded; Done is called once for every Admit that
// returned nil, when that frame has left the pipeline (encoded, or dropped after a failure).
type Admitter interface {
	Admit(ctx context.Context) error
	Done()
}

// ErrFrameCount is returned when a segment yields a different number of frames than planned.
var ErrFrameCount = errors.New("frame count differs from the plan")

// Config describes one segment's run.
type Config struct {
	Input, Output string
	Width, Height int
	FrameRate     media.Rational
	Encoder       string // libx264, libx265, libvpx-vp9
	Quality       int    // 0-100
	// InFlight is the number of frame buffers in the pool: the most frames decoded but not yet encoded.
	InFlight int
	// Admit, when not nil, is asked before each frame is decoded and told when it has been encoded, so it can hold
	// the frames in flight below InFlight while the run goes on (the pool stays allocated).
	Admit          Admitter
	DecoderThreads int
	EncoderThreads int
	// Lookahead is the encoder's rate-control lookahead in frames; 0 = the codec default.
	Lookahead int
	// Batch is the most frames handed to a BatchProcessor at once (those already decoded; the pipeline never waits
	// to fill a batch). 0 or 1 means one frame at a time.
	Batch int
	// FirstFrame is the index of the segment's first frame in the whole target (for frame names and processors).
	FirstFrame int
	// Expect, when > 0, is the planned frame count; a different count fails the run.
	Expect int
	// FramesDir, when set, keeps every processed frame there as <index+1>.<FrameFormat> (roop's --keep-frames).
	FramesDir    string
	FrameFormat  string // png or jpg
	FrameQuality int    // roop's --temp-frame-quality: 0 is best
	// SourcePixFmt and Color describe the input's video (Original's, when set). Frames reach the processor as BGR
	// Mats, except for a processor that never reads pixels (PixelsUnused) on a yuv420p input of even size with no
	// frames kept: then the decoder's YUV pictures go to the encoder by reference, unconverted and uncopied, tagged
	// with Color, and the processor gets empty Mats. A processor that reads pixels on such an input gets BGR Mats,
	// and what it changes is written back into the decoded YUV picture (media.Patcher): every pixel it left alone
	// is encoded exactly as frame processor none encodes it; a RegionProcessor's frames are converted to BGR only
	// where it reads, and written back only where it writes (Picture; one pass, upright, no frames kept, not
	// batched). Other inputs go through BGR both ways, converted back with the matrix and range they were decoded
	// with; every output is tagged with Color.
	SourcePixFmt string
	Color        media.Color
	// Original, when set, is the video Input was made from frame for frame by exact earlier passes (the
	// --memory-optimization FFV1 intermediate): its decoded YUV pictures are the ones this pass's changes are
	// written back into, as if the passes had been one.
	Original string
	// Rotation is the input's clockwise display rotation (0, 90, 180 or 270: media.Info.Rotation, a phone's
	// rotation tag). Processors see each frame turned as it is displayed, so a face stored sideways is found and
	// swapped upright; it is turned back before encoding, and the output keeps the stored orientation (and the
	// stitch the tag). Kept frames (FramesDir) are written as displayed.
	Rotation int
	// SampleAspect is the input's pixel shape, kept on the output (zero: square or unknown).
	SampleAspect media.Rational
	// TimeBase, when not zero, hands every frame's time from the decoder to the encoder (variable frame rate;
	// media.EncoderConfig.TimeBase), and Duration is the segment's length, where its last frame ends.
	TimeBase media.Rational
	Duration float64
	// ConvertAll has a RegionProcessor's frames converted whole, whatever parts it asks for: what it then writes
	// must be what it writes with only its parts converted (a check that it asks for all it reads).
	ConvertAll bool
}

// PixelsUnused is implemented by a processor that may report it never reads or writes a frame's pixels (frame
// processor "none"), so the pipeline may carry frames in the decoder's own YUV.
type PixelsUnused interface {
	PixelsUnused() bool
}

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if c.Input == "" || c.Output == "" {
		return errors.New("pipeline: input and output are required")
	}
	if c.Width <= 0 || c.Height <= 0 {
		return fmt.Errorf("pipeline: bad frame size %dx%d", c.Width, c.Height)
	}
	if c.InFlight <= 0 {
		c.InFlight = 4
	}
	if c.InFlight < 2 {
		c.InFlight = 2 // one decoding while one is processed keeps both processes busy
	}
	switch c.FrameFormat {
	case "":
		c.FrameFormat = "png"
	case "png", "jpg":
	default:
		return fmt.Errorf("pipeline: temp frame format %q: want png or jpg", c.FrameFormat)
	}
	if c.FrameQuality < 0 || c.FrameQuality > 100 {
		return fmt.Errorf("pipeline: temp frame quality %d: want 0-100", c.FrameQuality)
	}
	if _, ok := turns[c.Rotation]; !ok {
		return fmt.Errorf("pipeline: rotation %d: want 0, 90, 180 or 270", c.Rotation)
	}
	return nil
}

// FrameBytes is the size of one pooled BGR frame buffer, the most a frame takes.
func (c Config) FrameBytes() int { return media.FrameBytes(media.PixFmtBGR24, c.Width, c.Height) }

// yuv420p reports whether the input's pictures can reach the encoder as decoded: yuv420p (yuvj420p is the same
// planes in full range, which its tags keep) at an even size, into a lossy codec (FFV1 takes BGR).
func (c Config) yuv420p() bool {
	return (c.SourcePixFmt == media.PixFmtYUV420P || c.SourcePixFmt == media.PixFmtYUVJ420P) && c.Width%2 == 0 &&
		c.Height%2 == 0 && c.Encoder != media.CodecLossless
}

// pixFmt is the frames' format for proc (see SourcePixFmt).
func (c Config) pixFmt(proc Processor) string {
	if pu, ok := proc.(PixelsUnused); ok && pu.PixelsUnused() && c.yuv420p() && c.FramesDir == "" && c.Original == "" {
		return media.PixFmtYUV420P
	}
	return media.PixFmtBGR24
}

// patched reports whether proc's BGR frames are written back into the decoded YUV pictures (see SourcePixFmt).
func (c Config) patched(proc Processor) bool {
	return c.pixFmt(proc) == media.PixFmtBGR24 && c.yuv420p()
}

// regional reports whether proc's frames reach it as Pictures converted only where it reads (RegionProcessor): a
// patched input of one pass, upright, no frames kept, not batched.
func (c Config) regional(proc Processor) bool {
	if _, ok := proc.(RegionProcessor); !ok || !c.patched(proc) || c.Original != "" || c.Rotation != 0 || c.FramesDir != "" {
		return false
	}
	_, batches := proc.(BatchProcessor)
	return !batches || c.Batch <= 1
}

// turns maps a clockwise display rotation to the turn that shows a stored frame as displayed, and the turn back
// (-1: none).
var turns = map[int][2]gocv.RotateFlag{
	0:   {-1, -1},
	90:  {gocv.Rotate90Clockwise, gocv.Rotate90CounterClockwise},
	180: {gocv.Rotate180Clockwise, gocv.Rotate180Clockwise},
	270: {gocv.Rotate90CounterClockwise, gocv.Rotate90Clockwise},
}

type item struct {
	slot, index int
	rest        func() error // a StagedProcessor's rest of the frame's work
}

// Run processes cfg.Input into cfg.Output and returns the number of frames written. progress, if not nil, is
// called after every encoded frame with the running count.
func Run(ctx context.Context, cfg Config, proc Processor, progress func(done int)) (int, error) {
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	pixFmt, patched, regional := cfg.pixFmt(proc), cfg.patched(proc), cfg.regional(proc)
	decFmt := pixFmt
	if regional {
		decFmt = media.PixFmtYUV420P // pictures by reference, converted where the processor reads
	}
	dec, err := media.NewDecoder(ctx, media.DecoderConfig{Path: cfg.Input, Width: cfg.Width, Height: cfg.Height,
		Threads: cfg.DecoderThreads, PixFmt: decFmt})
	if err != nil {
		return 0, err
	}
	defer dec.Close()
	var orig *media.Decoder // the pictures of an earlier pass's input (Original), read beside Input's frames
	if patched && cfg.Original != "" {
		if orig, err = media.NewDecoder(ctx, media.DecoderConfig{Path: cfg.Original, Width: cfg.Width,
			Height: cfg.Height, Threads: cfg.DecoderThreads, PixFmt: media.PixFmtYUV420P}); err != nil {
			return 0, err
		}
		defer orig.Close()
	}
	encFmt := pixFmt
	var patcher *media.Patcher
	if patched {
		encFmt = media.PixFmtYUV420P
		if patcher, err = media.NewPatcher(cfg.Color); err != nil {
			return 0, fmt.Errorf("pipeline: %w", err)
		}
		defer patcher.Close()
	}
	var conv, restConv *media.Converter // the process stage's and the rest stage's (StagedProcessor)
	if regional {
		for _, c := range []**media.Converter{&conv, &restConv} {
			if *c, err = media.NewConverter(); err != nil {
				return 0, fmt.Errorf("pipeline: %w", err)
			}
			defer (*c).Close()
		}
	}
	enc, err := media.NewEncoder(ctx, media.EncoderConfig{Path: cfg.Output, Width: cfg.Width, Height: cfg.Height,
		FrameRate: cfg.FrameRate, Codec: cfg.Encoder, Quality: cfg.Quality, Threads: cfg.EncoderThreads,
		Lookahead: cfg.Lookahead, PixFmt: encFmt, Color: cfg.Color, SampleAspect: cfg.SampleAspect,
		TimeBase: cfg.TimeBase, Duration: cfg.Duration})
	if err != nil {
		return 0, err
	}
	defer enc.Abort()
	if cfg.FramesDir != "" {
		if err := os.MkdirAll(cfg.FramesDir, 0o755); err != nil {
			return 0, fmt.Errorf("pipeline: frames dir: %w", err)
		}
	}

	// The pool: frame buffers are C memory (gocv Mats) that the decoder fills in place and the encoder reads in
	// place; a frame is copied once, out of the decoder, on its way through. Frames in YUV go by reference
	// instead: the slot holds the decoder's own picture (its pixels are never written) and the processor gets an
	// empty Mat, so they are not copied at all, as in the ffmpeg command.
	byRef := pixFmt == media.PixFmtYUV420P
	pool := make([]gocv.Mat, cfg.InFlight)
	bufs := make([][]byte, cfg.InFlight)
	refs := make([]*media.Frame, cfg.InFlight)
	free := make(chan int, cfg.InFlight)
	// upright holds each slot's frame turned as displayed (Rotation), for the processor; empty otherwise.
	upright := make([]gocv.Mat, cfg.InFlight)
	for i := range upright {
		upright[i] = gocv.NewMat()
	}
	defer func() {
		for i := range pool {
			_ = upright[i].Close()
			_ = pool[i].Close()
			if refs[i] != nil {
				refs[i].Close()
			}
		}
	}()
	for i := range pool {
		if byRef {
			pool[i] = gocv.NewMat()
			if refs[i], err = media.NewFrame(); err != nil {
				return 0, fmt.Errorf("pipeline: %w", err)
			}
		} else {
			if pool[i], bufs[i], err = bgrframe.New(cfg.Width, cfg.Height); err != nil {
				return 0, fmt.Errorf("pipeline: frame buffer: %w", err)
			}
			if patched {
				if refs[i], err = media.NewFrame(); err != nil {
					return 0, fmt.Errorf("pipeline: %w", err)
				}
			}
		}
		free <- i
	}
	times := make([]media.Time, cfg.InFlight) // each slot's frame time, handed from the decoder to the encoder
	pics := make([]*Picture, cfg.InFlight)    // each slot's Picture (regional)
	for i := range pics {
		pics[i] = &Picture{all: cfg.ConvertAll}
	}
	read := func(slot int) error { return dec.Read(bufs[slot]) }
	write := func(slot int) error { return enc.WriteAt(bufs[slot], times[slot]) }
	switch {
	case regional:
		read = func(slot int) error { return dec.ReadRef(refs[slot]) }
		write = func(slot int) error {
			if d := pics[slot].dirty; len(d) > 0 {
				if _, err := patcher.ApplyRects(refs[slot], bufs[slot], cfg.Width, cfg.Height, d); err != nil {
					refs[slot].Release()
					return err
				}
			}
			return enc.WriteRefAt(refs[slot], times[slot])
		}
	case byRef:
		read = func(slot int) error { return dec.ReadRef(refs[slot]) }
		write = func(slot int) error { return enc.WriteRefAt(refs[slot], times[slot]) }
	case patched:
		read = func(slot int) error { return dec.ReadKeep(bufs[slot], refs[slot]) }
		if orig != nil {
			read = func(slot int) error {
				if err := dec.Read(bufs[slot]); err != nil {
					return err
				}
				if err := orig.ReadRef(refs[slot]); err != nil {
					if errors.Is(err, io.EOF) {
						return fmt.Errorf("pipeline: %s ends before %s: %w", cfg.Original, cfg.Input, ErrFrameCount)
					}
					return err
				}
				return nil
			}
		}
		write = func(slot int) error {
			if _, err := patcher.Apply(refs[slot], bufs[slot], cfg.Width, cfg.Height); err != nil {
				refs[slot].Release()
				return err
			}
			return enc.WriteRefAt(refs[slot], times[slot])
		}
	}

	var (
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	toProc := make(chan item, cfg.InFlight)
	toRest := make(chan item, cfg.InFlight)
	toEnc := make(chan item, cfg.InFlight)

	admit, leave := func() error { return nil }, func() {}
	if cfg.Admit != nil {
		admit, leave = func() error { return cfg.Admit.Admit(ctx) }, cfg.Admit.Done
	}
	go func() { // decode
		defer close(toProc)
		for i := 0; ; i++ {
			if err := admit(); err != nil {
				if ctx.Err() == nil {
					fail(fmt.Errorf("pipeline: admit frame %d: %w", cfg.FirstFrame+i, err))
				}
				return
			}
			var slot int
			select {
			case slot = <-free:
			case <-ctx.Done():
				leave()
				return
			}
			if err := read(slot); err != nil {
				leave() // admitted, but no frame came
				if !errors.Is(err, io.EOF) {
					fail(err)
				}
				return
			}
			times[slot] = dec.Time()
			toProc <- item{slot: slot, index: i} // never blocks: at most InFlight slots exist
		}
	}()
	go func() { // process; after a failure it only forwards slots so they return to the pool
		defer close(toRest)
		bp, batching := proc.(BatchProcessor)
		batching = batching && cfg.Batch > 1
		batch := make([]item, 0, max(1, cfg.Batch))
		frames := make([]gocv.Mat, 0, cap(batch))
		indices := make([]int, 0, cap(batch))
		for it := range toProc {
			// A batch is what is ready now, up to cfg.Batch: never wait for frames to fill it.
			batch = append(batch[:0], it)
		fill:
			for batching && len(batch) < cfg.Batch {
				select {
				case next, ok := <-toProc:
					if !ok {
						break fill
					}
					batch = append(batch, next)
				default:
					break fill
				}
			}
			if ctx.Err() == nil {
				frames, indices = frames[:0], indices[:0]
				turn := turns[cfg.Rotation]
				for _, b := range batch {
					m := pool[b.slot]
					if turn[0] >= 0 && !m.Empty() {
						gocv.Rotate(m, &upright[b.slot], turn[0])
						m = upright[b.slot]
					}
					frames, indices = append(frames, m), append(indices, cfg.FirstFrame+b.index)
				}
				var err error
				if regional {
					b := &batch[0] // never batched
					pics[b.slot].reset(pool[b.slot], bufs[b.slot], refs[b.slot], conv, cfg.Width, cfg.Height)
					if sp, ok := proc.(StagedProcessor); ok {
						b.rest, err = sp.FindPicture(pics[b.slot], indices[0])
					} else {
						err = proc.(RegionProcessor).ProcessPicture(pics[b.slot], indices[0])
					}
				} else if len(batch) > 1 {
					err = bp.ProcessBatch(frames, indices)
				} else {
					err = proc.Process(frames[0], indices[0])
				}
				if err != nil && len(indices) == 1 {
					fail(fmt.Errorf("pipeline: frame %d: %w", indices[0], err))
				} else if err != nil {
					fail(fmt.Errorf("pipeline: frames %d-%d: %w", indices[0], indices[len(indices)-1], err))
				} else {
					if cfg.FramesDir != "" {
						for i := range frames {
							if err := keepFrame(cfg, frames[i], indices[i]); err != nil {
								fail(err)
								break
							}
						}
					}
					for i, b := range batch {
						if turn[1] >= 0 && !frames[i].Empty() {
							gocv.Rotate(frames[i], &pool[b.slot], turn[1]) // in place: the same size and type
						}
					}
				}
			}
			for _, b := range batch {
				toRest <- b
			}
		}
	}()
	go func() { // the rest of a StagedProcessor's work, beside the next frame's first part
		defer close(toEnc)
		for it := range toRest {
			if it.rest != nil && ctx.Err() == nil {
				pics[it.slot].conv = restConv
				if err := it.rest(); err != nil {
					fail(fmt.Errorf("pipeline: frame %d: %w", cfg.FirstFrame+it.index, err))
				}
			}
			it.rest = nil
			toEnc <- it
		}
	}()
	n := 0
	for it := range toEnc { // encode
		if ctx.Err() == nil {
			if err := write(it.slot); err != nil {
				fail(err)
			} else {
				n++
				if progress != nil {
					progress(n)
				}
			}
		} else if refs[it.slot] != nil {
			refs[it.slot].Release() // not encoded (WriteRef releases what it encodes): back to the decoder now
		}
		free <- it.slot
		leave()
	}
	if firstErr != nil {
		return n, firstErr
	}
	if err := ctx.Err(); err != nil {
		return n, err
	}
	if err := enc.Close(); err != nil {
		return n, err
	}
	if err := dec.Close(); err != nil {
		return n, err
	}
	if cfg.Expect > 0 && n != cfg.Expect {
		return n, fmt.Errorf("pipeline: %s: %w (decoded %d, planned %d)", cfg.Input, ErrFrameCount, n, cfg.Expect)
	}
	return n, nil
}

func keepFrame(cfg Config, m gocv.Mat, idx int) error {
	p := filepath.Join(cfg.FramesDir, fmt.Sprintf("%06d.%s", idx+1, cfg.FrameFormat))
	f := imagefile.Format(cfg.FrameFormat)
	quality := 100 - cfg.FrameQuality
	if f == imagefile.PNG {
		quality = cfg.FrameQuality * 9 / 100
	}
	if err := imagefile.Write(p, m, f, quality, false); err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	return nil
}
