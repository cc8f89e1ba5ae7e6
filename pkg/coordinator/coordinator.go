// Package coordinator runs a job's coordinator side, one lifecycle for `coordinator serve` and `coordinator run`
// alike: it plans segments at keyframes, splits the target, stores the pieces, publishes one task per segment,
// follows the commits, then stitches the results frame-exactly, muxes the original audio once and labels the output.
// This file holds those steps; service.go the job's life around them. It holds no algorithms: media cuts and joins,
// job plans, queue and store move bytes.
package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/queue"
)

// ErrJobFailed wraps the reason a worker gave for failing a job.
var ErrJobFailed = errors.New("job failed")

// Progress reports frames done of total.
type Progress func(done, total int)

// split plans segments at keyframes, cuts the target into video-only pieces and stores them under the job's
// segment keys, handing each segment to cut (nil: none) as soon as its piece is stored, while the rest are still
// cut: workers start on the first segment while the coordinator splits the others. The plan cut sees has every
// field set; its segments are all planned, not all stored.
//
// target is a file or a stored target's URL (media.IsURL): its frames are then read from its MP4 index (scanned
// is that scan, started beside the probe: scanAhead) and the pieces cut from the URL, or, where it has no index
// to read (media.ErrNoIndex) or it cannot be read in place, from the file local gives (the target's download).
func (s *Service) split(ctx context.Context, id, target string, info *media.Info, seconds float64, dir string, cut cutFunc, local func(context.Context) (string, error), scanned <-chan scanResult) (job.JobPlan, error) {
	plan := job.JobPlan{Width: info.Width, Height: info.Height, FPSNum: info.FrameRate.Num, FPSDen: info.FrameRate.Den,
		HasAudio: info.HasAudio, Rotation: info.Rotation, PixFmt: info.PixFmt, Color: info.Color,
		SampleAspect: info.SampleAspect}
	if cut == nil {
		cut = func(job.JobPlan, job.Segment) error { return nil }
	}
	t0 := time.Now()
	var idx *media.FrameIndex
	var err error
	if media.IsURL(target) {
		r := <-scanned
		if idx, err = r.idx, r.err; err != nil {
			s.log.Debug("target not scanned in place", zap.String("job", id), zap.Bool("no_index", errors.Is(err, media.ErrNoIndex)))
			if target, err = local(ctx); err != nil {
				return plan, err
			}
		}
	}
	if idx == nil {
		if idx, err = media.ScanFrames(ctx, target); err != nil {
			return plan, err
		}
	}
	s.log.Debug("target scanned", zap.String("job", id), zap.Bool("in_place", media.IsURL(target)), zap.Duration("scan", time.Since(t0)))
	segs, err := job.Plan(idx, seconds)
	if err != nil {
		return plan, fmt.Errorf("%s: %w", target, err)
	}
	if media.IsURL(target) {
		// Read in place, the first task waits only for the first piece's cut and store: a short first piece.
		segs = job.QuickStart(idx, segs, quickStartSeconds, quickStartAbove)
	}
	plan.Segments, plan.TotalFrames = segs, idx.Count
	plan.TimeBase = idx.OutputTimeBase(info.FrameRate) // zero for a constant rate: frame i at i/rate, as before
	if len(segs) == 1 {
		// One segment is the whole target: stored as it is, without a copy through ffmpeg. Its decoder reads the
		// first video stream only, frames an edit list hides stay hidden (which a stream copy cannot promise), and
		// the pipeline checks the frame count against the plan.
		if target, err = local(ctx); err != nil {
			return plan, err
		}
		if err := s.deps.Blob.PutFile(ctx, job.SegmentKey(id, 0), target); err != nil {
			return plan, fmt.Errorf("store segment 0: %w", err)
		}
		return plan, cut(plan, segs[0])
	}
	starts := make([]int, len(segs))
	for i, s := range segs {
		starts[i] = s.Start
	}
	// Pieces are stored and queued by up to storers at once while the cut goes on: one at a time, the last of a
	// long job's many pieces was queued seconds after the first (a store and a queue round trip each), and the
	// workers beyond the first few waited for them.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	pool := newPool(storers, stop)
	_, err = media.SplitEachExt(ctx, target, media.PieceExt(info.FrameRate, idx), starts, idx.Count, filepath.Join(dir, "split"), func(i int, p string) error {
		if err := pool.err(); err != nil {
			return err
		}
		cutAt := time.Now()
		pool.do(func() error {
			t0 := time.Now()
			if err := s.deps.Blob.PutFile(ctx, job.SegmentKey(id, i), p); err != nil {
				return fmt.Errorf("store segment %d: %w", i, err)
			}
			_ = os.Remove(p)
			t1 := time.Now()
			if err := cut(plan, segs[i]); err != nil {
				return err
			}
			s.log.Debug("segment queued", zap.String("job", id), zap.Int("segment", i), zap.Duration("wait", t0.Sub(cutAt)),
				zap.Duration("store", t1.Sub(t0)), zap.Duration("queue", time.Since(t1)))
			return nil
		})
		return nil
	})
	err = splitErr(err, pool.wait())
	if err != nil && media.IsURL(target) && errors.Is(err, media.ErrFrameCount) {
		// The plan came from the MP4's index (its sync-sample table) without reading a frame; a cut that disagrees
		// means the table names a keyframe whose data is not one: a damaged or mislabelled file, said so.
		err = fmt.Errorf("%w; its MP4 index marks as keyframes frames that are not (a damaged file?)", err)
	}
	return plan, err
}

// scanResult is an index scan's outcome.
type scanResult struct {
	idx *media.FrameIndex
	err error
}

// scanAhead starts media.ScanIndex of a target's URL, so that it runs beside the probe (0.1 s of requests each,
// one after the other until then, before the first piece could be cut).
func scanAhead(ctx context.Context, url string) <-chan scanResult {
	c := make(chan scanResult, 1) // never blocks: a result nobody reads (the target fell back to its download) is dropped
	go func() {
		idx, err := media.ScanIndex(ctx, url)
		c <- scanResult{idx, err}
	}()
	return c
}

// splitErr is the error a split reports from its cut's (cut) and its storers' first (stored): a cut that failed on
// its own says why, its removed pieces then failing the uploads under way; a cut cancelled by a failed store or
// queue step, the step's error does.
func splitErr(cut, stored error) error {
	if stored != nil && (cut == nil || errors.Is(cut, context.Canceled)) {
		return stored
	}
	return cut
}

// A target read in place whose first segment lasts over quickStartAbove seconds gets a first segment of
// quickStartSeconds or more, to its first keyframe there (job.QuickStart): a 30 s first segment (the default) of
// 1080p, 19 MB, took 0.2-0.9 s to cut and 0.3-0.4 s to store before the first task could go out (load 10-20); a
// first segment of 1-2 s, 0.1-0.2 s in all (docs/BENCHMARKS.md).
const (
	quickStartSeconds = 1
	quickStartAbove   = 10
)

// storers bounds the pieces a split stores and queues at once. 8 changed nothing at 64 workers: the stores
// waited on a machine the workers' first segments kept busy (the 64th piece was queued 1.0-1.1 s after the first
// either way).
const storers = 4

// cutFunc queues a segment whose piece is stored, during the split.
type cutFunc func(plan job.JobPlan, seg job.Segment) error

// publish queues one task per segment. With skip, segments it reports true for (committed, or already queued) are
// left alone. Message ids make a republish inside the deduplication window harmless.
func (s *Service) publish(ctx context.Context, id string, plan job.JobPlan, spec job.Spec, gen int, skip func(job.Segment) (bool, error)) error {
	for _, seg := range plan.Segments {
		if err := s.publishSegment(ctx, id, plan, spec, gen, seg, skip); err != nil {
			return err
		}
	}
	return nil
}

// publishSegment queues seg's task unless skip (when not nil) reports true for it.
func (s *Service) publishSegment(ctx context.Context, id string, plan job.JobPlan, spec job.Spec, gen int, seg job.Segment, skip func(job.Segment) (bool, error)) error {
	spec.Width, spec.Height = plan.Width, plan.Height
	spec.FrameRateNum, spec.FrameRateDen = plan.FPSNum, plan.FPSDen
	spec.SourcePixFmt, spec.Color, spec.SampleAspect = plan.PixFmt, plan.Color, plan.SampleAspect
	spec.TimeBase, spec.Rotation = plan.TimeBase, plan.Rotation
	if skip != nil {
		ok, err := skip(seg)
		if err != nil || ok {
			return err
		}
	}
	t := job.Task{Version: job.Version, Job: id, Segment: seg, SegmentKey: job.SegmentKey(id, seg.Index), Spec: spec, Generation: gen}
	b, _ := json.Marshal(t)
	if err := s.deps.Tasks.Publish(ctx, job.TaskSubject(id, seg.Index), t.MsgID(), b); err != nil {
		return fmt.Errorf("publish segment %d: %w", seg.Index, err)
	}
	return nil
}

// stitch fetches every committed result, concatenates them, muxes the original audio once (audioFrom "" for none)
// and checks the output's frame count. It trusts the frame count each worker committed (its pipeline counted the
// frames it encoded) instead of reading every packet of every piece again: a commit must hold its segment's planned
// count, each piece's container header must state that count, and the stream copy must write the plan's total
// (media.StitchConfig.Frames). A piece that disagrees with its commit is refused, naming its segment.
// Results pre already fetched are not fetched again (pre removes them).
func (s *Service) stitch(ctx context.Context, plan job.JobPlan, commits []job.Commit, pre *prefetch, dir, audioFrom, output string, metadata map[string]string) error {
	results := make([]string, len(commits))
	frames := make([]int, len(commits))
	t0 := time.Now()
	have := pre.fetched()
	s.log.Debug("results fetched", zap.Int("prefetched", len(have)), zap.Duration("wait", time.Since(t0)))
	defer func() {
		for _, r := range results {
			if r != "" {
				_ = os.Remove(r)
			}
		}
	}()
	for i, cm := range commits {
		if want := plan.Segments[i].Frames(); cm.Segment != i || cm.Frames != want {
			return fmt.Errorf("segment %d: %w: commit of segment %d with %d frames, planned %d", i, media.ErrFrameCount, cm.Segment, cm.Frames, want)
		}
		frames[i] = cm.Frames
		if p, ok := have[cm.ResultKey]; ok {
			results[i] = p
			continue
		}
		results[i] = filepath.Join(dir, fmt.Sprintf("result-%05d.mp4", i))
		if err := s.deps.Blob.GetFile(ctx, cm.ResultKey, results[i]); err != nil {
			return fmt.Errorf("fetch result %d: %w", i, err)
		}
	}
	t0 = time.Now()
	err := media.Stitch(ctx, media.StitchConfig{Pieces: results, Frames: frames, AudioFrom: audioFrom, Output: output,
		Metadata: metadata, Rotation: plan.Rotation})
	s.log.Debug("stitched", zap.Int("pieces", len(results)), zap.Duration("stitch", time.Since(t0)))
	var pe *media.PieceError
	if errors.As(err, &pe) && pe.Piece < len(commits) {
		cm := commits[pe.Piece]
		return fmt.Errorf("segment %d: result %s of worker %s: %w", cm.Segment, cm.ResultKey, cm.Worker, err)
	}
	return err
}

// wait follows commits, progress and failures until every segment is committed, handing each valid commit to pre
// (nil: none). target is the user's name for the target file, which a failure names.
func (s *Service) wait(ctx context.Context, id, target string, segs []job.Segment, progress Progress, pre *prefetch) ([]job.Commit, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	commitsCh, err := s.deps.State.Watch(ctx, job.CommitPattern(id))
	if err != nil {
		return nil, err
	}
	progCh, err := s.deps.State.Watch(ctx, job.ProgressPattern(id))
	if err != nil {
		return nil, err
	}
	failCh, err := s.deps.State.Watch(ctx, job.FailureKey(id))
	if err != nil {
		return nil, err
	}
	total := 0
	planned := map[string]int{} // progress key -> the segment's frames: no other key is one of this job's
	for _, s := range segs {
		total += s.Frames()
		planned[job.ProgressKey(id, s.Index)] = s.Frames()
	}
	commits := map[int]job.Commit{}
	done := map[string]int{}
	report := func() {
		if progress == nil {
			return
		}
		n := 0
		for _, v := range done {
			n += v
		}
		progress(n, total)
	}
	for len(commits) < len(segs) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-failCh:
			if !ok {
				return nil, watchEnded(ctx)
			}
			if e.Deleted || len(e.Value) == 0 {
				continue
			}
			s.deps.Metrics.Failed()
			f, err := job.DecodeFailure(id, e.Value)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrJobFailed, target, err)
			}
			return nil, fmt.Errorf("%w: %s: segment %d: %s", ErrJobFailed, target, f.Segment, f.Reason)
		case e, ok := <-progCh:
			if !ok {
				return nil, watchEnded(ctx)
			}
			if e.Deleted {
				continue
			}
			p, err := job.DecodeProgress(e.Value)
			frames, ok := planned[e.Key]
			switch {
			case err != nil:
			case !ok:
				err = fmt.Errorf("%w progress record: not a segment of the plan", job.ErrInvalid)
			case p.Frames > frames:
				err = fmt.Errorf("%w progress record: frames %d: the segment has %d", job.ErrInvalid, p.Frames, frames)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.Key, err)
			}
			done[e.Key] = p.Frames
			report()
		case e, ok := <-commitsCh:
			if !ok {
				return nil, watchEnded(ctx)
			}
			if e.Deleted {
				continue
			}
			cm, err := job.DecodeCommit(id, e.Value)
			if err == nil && (e.Key != job.CommitKey(id, cm.Segment) || cm.Segment >= len(segs)) {
				err = fmt.Errorf("%w commit: segment %d of a plan of %d under key %s", job.ErrInvalid, cm.Segment, len(segs), e.Key)
			} else if err == nil && cm.Frames > segs[cm.Segment].Frames() {
				err = fmt.Errorf("%w commit: frames %d, more than segment %d's %d", job.ErrInvalid, cm.Frames, cm.Segment, segs[cm.Segment].Frames())
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.Key, err)
			}
			if _, seen := commits[cm.Segment]; !seen {
				s.deps.Metrics.Committed(cm.Attempt)
			}
			commits[cm.Segment] = cm
			pre.commit(cm)
			done[job.ProgressKey(id, cm.Segment)] = cm.Frames
			report()
		}
	}
	out := make([]job.Commit, 0, len(commits))
	for _, cm := range commits {
		out = append(out, cm)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Segment < out[j].Segment })
	return out, nil
}

// watchEnded is why a watch's channel closed: ctx ended, or the connection closed under it, which must not read as
// success (no commits is not every commit) but as the queue being unavailable, which a job waits out.
func watchEnded(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("coordinator: watching the job: %w", queue.ErrUnavailable)
}
