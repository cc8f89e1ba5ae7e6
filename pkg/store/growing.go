package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// growingUploads is how many parts of a growing file go up at once: the store's bandwidth is shared with the
// workers' transfers, and the file grows no faster than its pieces arrive.
const growingUploads = 2

// GrowingFile uploads a file to a key while the file is still being written, so that little is left to upload
// once it is complete (the coordinator's output, stitched as its pieces are committed). The file's first part
// (MinPartSize bytes: the least S3 takes, as it is put after the end) may still change until Finish: an MP4 muxer
// patches its mdat size there at the end. Every byte past it is final once Grew counts it, and each full part
// (partSize bytes) past the first goes up as soon as the file has grown past it; Finish puts the first and the
// last part and completes the upload (or Flush and Complete apart, the file no longer read between them). Over a
// store that takes no multipart uploads the whole file goes up at Finish (Flush).
//
// A GrowingFile is used by one goroutine; the uploads run in their own.
type GrowingFile struct {
	blob Blob
	key  string
	f    *os.File
	part int64
	up   Upload // nil: everything at Finish

	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup
	next   int // the next full part to start; part 1 waits for Finish
	// flushed: every part is put (or, without multipart, the file stored whole); Complete may go on.
	flushed bool

	mu      sync.Mutex
	pending map[int]partSpan // parts started and not put: a failed one is put again by Finish

	stats FinishStats
}

// FinishStats is where a GrowingFile's Finish spent its time, for the caller's debug log: the ends go up beside the
// parts still in flight, then those are waited for, then the upload is completed.
type FinishStats struct {
	InFlight      int           // parts started by Grew and not yet put when Finish began
	InFlightBytes int64         // their bytes
	Head, Last    time.Duration // the first part's put and the last one's (beside each other)
	LastBytes     int64         // the last part's bytes (0: the file ended on a part's end)
	Wait          time.Duration // from the ends' put to the parts in flight all put
	Complete      time.Duration // the upload's completion
}

// Stats says where Finish spent its time.
func (g *GrowingFile) Stats() FinishStats { return g.stats }

// GrowingPartSize is the part size for a growing file expected to reach about expected bytes: a 64th of it, from
// MinPartSize to PartSize. The part that reaches the file's end goes up only at Finish, after the file's last
// write, and with PartSize parts a small file kept most of itself for then: a 22.6 MB output stitched as its
// pieces came left 17.3 MB to upload after the job's last commit. Under 1 GiB, a file 50 times its estimate still
// takes about a third of MaxParts; from 1 GiB the parts are PartSize, as they always were.
func GrowingPartSize(expected int64) int64 {
	return min(max(expected/growingParts, MinPartSize), PartSize)
}

// growingParts is how many parts GrowingPartSize aims a file at.
const growingParts = 64

// NewGrowingFile starts an upload of f (open for reading, being written) to key in b, in parts of partSize bytes
// (at least MinPartSize).
func NewGrowingFile(ctx context.Context, b Blob, key string, f *os.File, partSize int64) (*GrowingFile, error) {
	if partSize < MinPartSize {
		return nil, fmt.Errorf("store: upload %s: part size %d under %d", clip(key), partSize, MinPartSize)
	}
	up, err := NewUpload(ctx, b, key)
	if err != nil && !errors.Is(err, ErrNoMultipart) {
		return nil, err
	}
	gctx, cancel := context.WithCancel(ctx)
	return &GrowingFile{blob: b, key: key, f: f, part: partSize, up: up, ctx: gctx, cancel: cancel,
		sem: make(chan struct{}, growingUploads), next: 2, pending: map[int]partSpan{}}, nil
}

// Grew says the file now holds size bytes, final past the first part: every full part in them starts uploading.
func (g *GrowingFile) Grew(size int64) {
	if g.up == nil {
		return
	}
	// The part that reaches the end is held for Finish (it is the last one if the file ends in it); so is any
	// part past MaxParts-1, which the last one takes whole.
	for g.next < MaxParts && g.covered()+g.part < size {
		s := partSpan{n: g.next, off: g.covered(), size: g.part}
		g.next++
		g.mu.Lock()
		g.pending[s.n] = s
		g.mu.Unlock()
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			select {
			case g.sem <- struct{}{}:
			case <-g.ctx.Done():
				return
			}
			defer func() { <-g.sem }()
			g.put(g.ctx, s)
		}()
	}
}

// covered is where the parts started end: the first is MinPartSize bytes, the others part.
func (g *GrowingFile) covered() int64 { return MinPartSize + int64(g.next-2)*g.part }

// put uploads one part; a failure leaves it pending for Finish to try again.
func (g *GrowingFile) put(ctx context.Context, s partSpan) error {
	if err := g.up.PutPart(ctx, s.n, s.off, io.NewSectionReader(g.f, s.off, s.size), s.size); err != nil {
		return err
	}
	g.mu.Lock()
	delete(g.pending, s.n)
	g.mu.Unlock()
	return nil
}

// Finish uploads what is left of the complete file, size bytes long, and completes the upload: Flush, then
// Complete. On error the upload is aborted: nothing is stored under the key.
func (g *GrowingFile) Finish(ctx context.Context, size int64) error {
	if err := g.Flush(ctx, size); err != nil {
		return err
	}
	return g.Complete(ctx)
}

// Flush uploads what is left of the complete file, size bytes long (the first part, the last, and any that
// failed), and waits for every part: the file is not read after it, and Complete stores what was put (over a store
// that takes no multipart uploads, Flush stores the file whole). On error the upload is aborted.
func (g *GrowingFile) Flush(ctx context.Context, size int64) error {
	if g.up == nil {
		defer g.cancel()
		if err := g.blob.Put(ctx, g.key, io.NewSectionReader(g.f, 0, size), size); err != nil {
			return err
		}
		g.flushed = true
		return nil
	}
	if end := g.covered(); g.next > 2 && size < end {
		g.cancel()
		g.wg.Wait()
		_ = g.up.Abort(context.WithoutCancel(ctx))
		return fmt.Errorf("store: upload %s: the file shrank to %d bytes, parts up to %d were put", clip(g.key), size, end)
	}
	g.mu.Lock()
	g.stats.InFlight = len(g.pending)
	for _, s := range g.pending {
		g.stats.InFlightBytes += s.size
	}
	g.mu.Unlock()
	// The first and the last part go up beside the parts still in flight; then any part that failed again.
	ends := []partSpan{{n: 1, size: min(MinPartSize, size)}}
	if last := g.covered(); size > last {
		ends = append(ends, partSpan{n: g.next, off: last, size: size - last})
		g.stats.LastBytes = size - last
	}
	t0 := time.Now()
	errs := make(chan error, len(ends))
	for _, s := range ends {
		go func() {
			err := g.up.PutPart(ctx, s.n, s.off, io.NewSectionReader(g.f, s.off, s.size), s.size)
			if s.n == 1 {
				g.stats.Head = time.Since(t0)
			} else {
				g.stats.Last = time.Since(t0)
			}
			errs <- err
		}()
	}
	var err error
	for range ends {
		if e := <-errs; err == nil {
			err = e
		}
	}
	t1 := time.Now()
	g.wg.Wait()
	g.stats.Wait = time.Since(t1)
	g.mu.Lock()
	left := make([]partSpan, 0, len(g.pending))
	for _, s := range g.pending {
		left = append(left, s)
	}
	g.mu.Unlock()
	for _, s := range left {
		if err == nil {
			err = g.put(ctx, s)
		}
	}
	if err != nil {
		g.cancel()
		_ = g.up.Abort(context.WithoutCancel(ctx))
		return err
	}
	g.flushed = true
	return nil
}

// Complete stores the blob of the parts Flush put. On error the upload is aborted.
func (g *GrowingFile) Complete(ctx context.Context) error {
	defer g.cancel()
	switch {
	case !g.flushed:
		g.Abort(context.WithoutCancel(ctx))
		return fmt.Errorf("store: upload %s: completed before it was flushed", clip(g.key))
	case g.up == nil: // Flush stored it whole
		return nil
	}
	t0 := time.Now()
	err := g.up.Complete(ctx) // aborts on error
	g.stats.Complete = time.Since(t0)
	return err
}

// Abort stops the upload and drops what was put. It may follow Finish (it does nothing then).
func (g *GrowingFile) Abort(ctx context.Context) {
	g.cancel()
	g.wg.Wait()
	if g.up != nil {
		_ = g.up.Abort(ctx)
	}
}
