package coordinator

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/provenance"
	"github.com/facefleet/facefleet/pkg/store"
)

// tail is a job's progressive stitch: the output is made (media.Appender) and stored (store.GrowingFile) as the
// results arrive in segment order, so that after the last commit only the last piece, the rest of the audio, the
// trailer, the output's first and last parts and its hash are left. Stitch stays the reference and the fallback:
// whatever the tail cannot do (an output only Stitch makes, a piece the appender refuses, a result replaced after
// it was appended) ends it, and the job stitches and stores its output at the end as before (stitch), which also
// gives the reference error for a piece that is not what its commit says.
type tail struct {
	s    *Service
	log  *zap.Logger
	plan job.JobPlan
	cfg  media.StitchConfig
	key  string // the output's key; "": the output is not stored (a local job)
	dir  string

	mu    sync.Mutex
	ready map[int]fetched // fetched results by segment, not yet appended
	wake  chan struct{}
	stop  chan struct{} // closed by finish: run appends what is ready and returns
	done  chan struct{} // closed when run has returned

	// Owned by run until done is closed, then by finish.
	app  *media.Appender
	up   *store.GrowingFile // nil: the output is stored whole at the end
	file *os.File           // the appender's partial file, read by up
	keys []string           // the result keys appended, by segment
	// upStarted: the upload was started, or given up (then the output is stored whole at the end).
	upStarted bool
	err       error // why the tail gave up
}

type fetched struct {
	cm   job.Commit
	path string
}

// startTail starts the progressive stitch of a job whose results pre fetches; nil when the output is one only
// Stitch can make. It touches no store: until every segment is committed a job waits on nothing but its workers
// (the drill that pauses S3 mid-job relies on it).
func (s *Service) startTail(ctx context.Context, log *zap.Logger, plan job.JobPlan, cfg media.StitchConfig, key, dir string, pre *prefetch) *tail {
	if !plan.TimeBase.IsZero() { // a variable frame rate: the appender takes constant-rate pieces only
		log.Debug("no progressive stitch: variable frame rate")
		return nil
	}
	app, err := media.NewAppender(ctx, cfg)
	if err != nil {
		log.Debug("no progressive stitch", zap.Error(err))
		return nil
	}
	t := &tail{s: s, log: log, plan: plan, cfg: cfg, key: key, dir: dir, app: app, ready: map[int]fetched{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	pre.notify(t.fetched)
	go t.run(ctx)
	return t
}

// fetched is the prefetch's news of a result in the work dir.
func (t *tail) fetched(cm job.Commit, path string) {
	t.mu.Lock()
	t.ready[cm.Segment] = fetched{cm, path}
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *tail) run(ctx context.Context) {
	defer close(t.done)
	for {
		t.appendReady(ctx)
		if t.err != nil {
			return
		}
		select {
		case <-t.wake:
		case <-t.stop:
			t.appendReady(ctx)
			return
		case <-ctx.Done():
			return
		}
	}
}

// appendReady appends the fetched results that come next in segment order.
func (t *tail) appendReady(ctx context.Context) {
	for t.err == nil && len(t.keys) < len(t.plan.Segments) {
		i := len(t.keys)
		t.mu.Lock()
		r, ok := t.ready[i]
		delete(t.ready, i)
		t.mu.Unlock()
		if !ok {
			return
		}
		t.append(ctx, r.cm, r.path)
	}
}

// append appends one result, the next segment's, held to its planned count as stitch holds it, and starts the
// output's upload once the output has begun.
func (t *tail) append(ctx context.Context, cm job.Commit, path string) {
	i := len(t.keys)
	if want := t.plan.Segments[i].Frames(); cm.Segment != i || cm.Frames != want {
		t.err = fmt.Errorf("segment %d: commit of segment %d with %d frames, planned %d", i, cm.Segment, cm.Frames, want)
		return
	}
	var expected int64
	if t.key != "" && !t.upStarted {
		expected = t.expectedBytes(path, cm.Frames)
	}
	if err := t.app.Append(ctx, path, cm.Frames); err != nil {
		t.err = err
		return
	}
	t.keys = append(t.keys, cm.ResultKey)
	if t.key != "" && !t.upStarted {
		t.upStarted = true
		t.startUpload(ctx, expected)
	}
	if t.up != nil {
		t.up.Grew(t.app.Written())
	}
}

// startUpload starts the output's upload once the output has begun: first it aborts any upload to the key that a
// coordinator killed mid-job left (its restart or a takeover stitches again from the first piece). The upload is
// an optimisation: without it the output is stored whole at the end.
func (t *tail) startUpload(ctx context.Context, expected int64) {
	if err := store.AbortUploads(ctx, t.s.deps.Blob, t.key); err != nil {
		t.log.Warn("earlier uploads of the output not aborted: it is stored whole at the end", zap.Error(err))
		return
	}
	f, err := os.Open(t.app.Partial())
	if err != nil {
		t.log.Debug("output stored at the end", zap.Error(err))
		return
	}
	t.file = f
	if t.up, err = store.NewGrowingFile(ctx, t.s.deps.Blob, t.key, f, store.GrowingPartSize(expected)); err != nil {
		t.log.Debug("output stored at the end", zap.Error(err))
	}
}

// finish appends what is left of commits (fetching any result pre did not), closes the output, stores it
// under the tail's key and hashes it. done false: the tail gave up, nothing of it is left, and the caller stitches
// and stores as before; done true: err is the output's (its store's) failure, else the output is in place and
// stored, with sum its sha256 ("" if it could not be read). drop (nil: none) is called once the output is closed
// and the job reads its target no more.
func (t *tail) finish(ctx context.Context, commits []job.Commit, pre *prefetch, drop func()) (done bool, sum string, err error) {
	tw := time.Now()
	pre.fetched() // the last result is being fetched: waited for here, as stitch waits, not fetched again
	close(t.stop)
	<-t.done
	before := len(t.keys)
	t0 := time.Now()
	for t.err == nil && len(t.keys) < len(commits) {
		i := len(t.keys)
		cm := commits[i]
		t.mu.Lock()
		r, ok := t.ready[i]
		t.mu.Unlock()
		if !ok || r.cm.ResultKey != cm.ResultKey {
			r.path = filepath.Join(t.dir, fmt.Sprintf("result-%05d.mp4", i))
			if err := t.s.deps.Blob.GetFile(ctx, cm.ResultKey, r.path); err != nil {
				t.err = fmt.Errorf("fetch result %d: %w", i, err)
				break
			}
			defer os.Remove(r.path)
		}
		t.append(ctx, cm, r.path)
	}
	for i, k := range t.keys {
		if t.err == nil && (i >= len(commits) || commits[i].ResultKey != k) {
			t.err = fmt.Errorf("segment %d: its result changed after it was appended", i)
		}
	}
	if t.err == nil && len(t.keys) != len(commits) {
		t.err = fmt.Errorf("%d results appended of %d", len(t.keys), len(commits))
	}
	if t.err == nil {
		t.err = t.app.Close(ctx)
	}
	if t.err != nil {
		t.abort()
		if ctx.Err() != nil {
			return true, "", ctx.Err()
		}
		var pe *media.PieceError
		if !errors.As(t.err, &pe) && !errors.Is(t.err, media.ErrCannotAppend) {
			t.log.Warn("progressive stitch given up: stitching at the end", zap.Error(t.err))
		} else {
			t.log.Debug("progressive stitch given up: stitching at the end", zap.Error(t.err))
		}
		return false, "", nil
	}
	t1 := time.Now()
	dropped := make(chan struct{})
	if drop != nil && t.up != nil {
		// The store's completion writes the whole output again (versitygw's posix backend copies the parts), and
		// on machine A a page not written for seconds cost ten times one just freed (docs/BENCHMARKS.md): the
		// target's download goes before it, beside the flush (unlinking it takes a while), its pages to reuse.
		go func() { drop(); close(dropped) }()
	} else {
		close(dropped)
	}
	sums := make(chan string, 1)
	var hashed time.Duration
	go func() { h, _ := provenance.FileSHA256(t.cfg.Output); hashed = time.Since(t1); sums <- h }()
	var size int64
	var flushed time.Time
	if t.key != "" {
		if t.up != nil {
			var st os.FileInfo
			if st, err = t.file.Stat(); err == nil {
				size = st.Size()
				err = t.up.Flush(ctx, size)
			}
			flushed = time.Now()
			<-dropped
			if err == nil {
				err = t.up.Complete(ctx)
			}
		} else {
			err = t.s.deps.Blob.PutFile(ctx, t.key, t.cfg.Output)
		}
	}
	t2 := time.Now()
	<-dropped
	sum = <-sums
	t.abort() // after Complete: closes the file
	fields := []zap.Field{zap.Int("pieces", len(commits)), zap.Int("left to append", len(commits)-before),
		zap.Duration("last results fetched", t0.Sub(tw)), zap.Duration("append rest + close", t1.Sub(t0)),
		zap.Duration("store rest", t2.Sub(t1)), zap.Duration("hash", hashed), zap.Bool("progressive upload", t.up != nil),
		zap.Int64("bytes", size)}
	if t.up != nil && !flushed.IsZero() {
		st := t.up.Stats()
		fields = append(fields, zap.Int("parts in flight", st.InFlight), zap.Int64("their bytes", st.InFlightBytes),
			zap.Duration("head", st.Head), zap.Duration("last part", st.Last), zap.Int64("last part bytes", st.LastBytes),
			zap.Duration("in flight waited", st.Wait), zap.Duration("flush", flushed.Sub(t1)),
			zap.Duration("complete", st.Complete))
	}
	t.log.Debug("progressive stitch", fields...)
	return true, sum, err
}

// abort drops what the tail made and waits for run; it may be called more than once, and after finish.
func (t *tail) abort() {
	if t == nil {
		return
	}
	select {
	case <-t.stop:
	default:
		close(t.stop)
	}
	<-t.done
	t.app.Abort()
	if t.up != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.up.Abort(ctx) // after Finish it does nothing
		cancel()
	}
	if t.file != nil {
		t.file.Close()
		t.file = nil
	}
}

// expectedBytes guesses the output's size from its first result (path, frames of it): the job's frames at that
// result's bytes a frame; where the result cannot be read, a size that keeps store.PartSize.
func (t *tail) expectedBytes(path string, frames int) int64 {
	st, err := os.Stat(path)
	if err != nil || frames <= 0 {
		return math.MaxInt64
	}
	return st.Size() / int64(frames) * int64(t.plan.TotalFrames)
}
