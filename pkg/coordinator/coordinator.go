// Package coordinator runs a job's coordinator side: it plans segments at keyframes, splits the target, stores the
// pieces, publishes one task per segment, follows the commits, then stitches the results frame-exactly, muxes the
// original audio once and labels the output. It holds no algorithms: media cuts and joins, job plans, queue and
// store move bytes.
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
	"github.com/facefleet/facefleet/pkg/store"
)

// ErrJobFailed wraps the reason a worker gave for failing a job.
var ErrJobFailed = errors.New("job failed")

// Config is the coordinator's settings.
type Config struct {
	WorkDir        string
	SegmentSeconds float64 // about this long, snapped to keyframes; <= 0 means one segment
}

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if c.WorkDir == "" {
		return errors.New("coordinator: work dir is required")
	}
	return nil
}

// Deps are the coordinator's collaborators.
type Deps struct {
	Tasks *queue.Tasks
	State *queue.State
	Blob  store.Blob
	Log   *zap.Logger
}

// Coordinator runs jobs.
type Coordinator struct {
	cfg  Config
	deps Deps
	log  *zap.Logger
}

// New returns a coordinator.
func New(cfg Config, deps Deps) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Tasks == nil || deps.State == nil || deps.Blob == nil {
		return nil, errors.New("coordinator: tasks, state and blob are required")
	}
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	return &Coordinator{cfg: cfg, deps: deps, log: deps.Log}, nil
}

// Request is one video job.
type Request struct {
	ID        string
	Source    string      // local path of the source face image
	Target    string      // local path of the target video
	Info      *media.Info // the target's probe
	Output    string      // final path; written under a temporary name by the caller's choice of TempOutput
	SkipAudio bool
	Spec      job.Spec // processing settings (SourceKey, sizes and rate are filled in here)
	Metadata  map[string]string
}

// Result summarises a finished job.
type Result struct {
	Frames, Segments int
	// Faces is how many faces the workers found in all frames; FacesCounted is false when a worker did not count
	// (frame processor none).
	Faces        int
	FacesCounted bool
	SplitTime    time.Duration
	StitchTime   time.Duration
}

// Progress reports frames done of total.
type Progress func(done, total int)

// Run takes a job from plan to a stitched output at req.Output. It returns once the output is complete or the
// job failed; the caller renames the output into place.
func (c *Coordinator) Run(ctx context.Context, req Request, progress Progress) (Result, error) {
	var res Result
	if err := job.ValidateID(req.ID); err != nil {
		return res, err
	}
	log := c.log.With(zap.String("job", req.ID))
	dir := filepath.Join(c.cfg.WorkDir, req.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil { // the job's face and target: the user's alone
		return res, err
	}
	defer os.RemoveAll(dir)
	defer func() { _ = c.deps.Blob.DeletePrefix(context.Background(), job.Prefix(req.ID)) }()

	rec := job.Record{Version: job.Version, ID: req.ID, State: job.Queued, Created: time.Now().UTC()}
	c.setState(ctx, &rec, job.Splitting, "")

	t0 := time.Now()
	spec := req.Spec
	spec.SourceKey = job.SourceKey(req.ID, job.InputExt(req.Source))
	if err := c.deps.Blob.PutFile(ctx, spec.SourceKey, req.Source); err != nil {
		return res, c.failed(ctx, &rec, fmt.Errorf("store source: %w", err))
	}
	plan, err := c.split(ctx, req.ID, req.Target, req.Info, c.cfg.SegmentSeconds, dir)
	if err != nil {
		return res, c.failed(ctx, &rec, err)
	}
	res.SplitTime = time.Since(t0)
	res.Segments, res.Frames = len(plan.Segments), plan.TotalFrames
	rec.Segments, rec.TotalFrames = len(plan.Segments), plan.TotalFrames
	c.setState(ctx, &rec, job.Running, "")
	log.Info("job planned", zap.Int("segments", len(plan.Segments)), zap.Int("frames", plan.TotalFrames), zap.Duration("split", res.SplitTime))
	if note := (media.EncoderConfig{Width: plan.Width, Height: plan.Height, Codec: spec.Encoder}).SizeNote(); note != "" {
		log.Info(note) // an odd size is padded, never silently
	}

	if err := c.publish(ctx, req.ID, plan, spec, 0, nil); err != nil {
		return res, c.failed(ctx, &rec, err)
	}
	commits, err := c.wait(ctx, req.ID, req.Target, plan.Segments, progress)
	if err != nil {
		_ = c.deps.Tasks.PurgeSubject(context.Background(), job.Subject(req.ID))
		return res, c.failed(ctx, &rec, err)
	}
	res.Faces, res.FacesCounted = job.FacesFound(commits)

	c.setState(ctx, &rec, job.Stitching, "")
	t1 := time.Now()
	audio := req.Target
	if req.SkipAudio || !plan.HasAudio {
		audio = ""
	}
	if err := c.stitch(ctx, plan, commits, dir, audio, req.Output, req.Metadata); err != nil {
		return res, c.failed(ctx, &rec, err)
	}
	res.StitchTime = time.Since(t1)
	c.setState(ctx, &rec, job.Done, "")
	log.Info("job done", zap.Duration("stitch", res.StitchTime))
	return res, nil
}

// split plans segments at keyframes, cuts the target into video-only pieces and stores them under the job's
// segment keys.
func (c *Coordinator) split(ctx context.Context, id, target string, info *media.Info, seconds float64, dir string) (job.JobPlan, error) {
	plan := job.JobPlan{Width: info.Width, Height: info.Height, FPSNum: info.FrameRate.Num, FPSDen: info.FrameRate.Den,
		HasAudio: info.HasAudio, Rotation: info.Rotation, PixFmt: info.PixFmt, Color: info.Color,
		SampleAspect: info.SampleAspect}
	idx, err := media.ScanFrames(ctx, target)
	if err != nil {
		return plan, err
	}
	segs, err := job.Plan(idx, seconds)
	if err != nil {
		return plan, fmt.Errorf("%s: %w", target, err)
	}
	plan.Segments, plan.TotalFrames = segs, idx.Count
	plan.TimeBase = idx.OutputTimeBase(info.FrameRate) // zero for a constant rate: frame i at i/rate, as before
	if len(segs) == 1 {
		// One segment is the whole target: stored as it is, without a copy through ffmpeg. Its decoder reads the
		// first video stream only, frames an edit list hides stay hidden (which a stream copy cannot promise), and
		// the pipeline checks the frame count against the plan.
		if err := c.deps.Blob.PutFile(ctx, job.SegmentKey(id, 0), target); err != nil {
			return plan, fmt.Errorf("store segment 0: %w", err)
		}
		return plan, nil
	}
	starts := make([]int, len(segs))
	for i, s := range segs {
		starts[i] = s.Start
	}
	pieces, err := media.Split(ctx, target, starts, idx.Count, filepath.Join(dir, "split"))
	if err != nil {
		return plan, err
	}
	for i, p := range pieces {
		if err := c.deps.Blob.PutFile(ctx, job.SegmentKey(id, i), p); err != nil {
			return plan, fmt.Errorf("store segment %d: %w", i, err)
		}
		_ = os.Remove(p)
	}
	return plan, nil
}

// publish queues one task per segment. With skip, segments it reports true for (committed, or already queued) are
// left alone. Message ids make a republish inside the deduplication window harmless.
func (c *Coordinator) publish(ctx context.Context, id string, plan job.JobPlan, spec job.Spec, gen int, skip func(job.Segment) (bool, error)) error {
	spec.Width, spec.Height = plan.Width, plan.Height
	spec.FrameRateNum, spec.FrameRateDen = plan.FPSNum, plan.FPSDen
	spec.SourcePixFmt, spec.Color, spec.SampleAspect = plan.PixFmt, plan.Color, plan.SampleAspect
	spec.TimeBase = plan.TimeBase
	for _, s := range plan.Segments {
		if skip != nil {
			ok, err := skip(s)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
		}
		t := job.Task{Version: job.Version, Job: id, Segment: s, SegmentKey: job.SegmentKey(id, s.Index), Spec: spec, Generation: gen}
		b, _ := json.Marshal(t)
		if err := c.deps.Tasks.Publish(ctx, job.TaskSubject(id, s.Index), t.MsgID(), b); err != nil {
			return fmt.Errorf("publish segment %d: %w", s.Index, err)
		}
	}
	return nil
}

// stitch fetches every committed result, checks its frame count against the plan, concatenates them, muxes the
// original audio once (audioFrom "" for none) and checks the output's frame count.
func (c *Coordinator) stitch(ctx context.Context, plan job.JobPlan, commits []job.Commit, dir, audioFrom, output string, metadata map[string]string) error {
	results := make([]string, len(commits))
	defer func() {
		for _, r := range results {
			if r != "" {
				_ = os.Remove(r)
			}
		}
	}()
	for i, cm := range commits {
		results[i] = filepath.Join(dir, fmt.Sprintf("result-%05d.mp4", i))
		if err := c.deps.Blob.GetFile(ctx, cm.ResultKey, results[i]); err != nil {
			return fmt.Errorf("fetch result %d: %w", i, err)
		}
		got, err := media.ScanFrames(ctx, results[i])
		if err != nil {
			return err
		}
		if want := plan.Segments[i].Frames(); got.Count != want {
			return fmt.Errorf("segment %d: result has %d frames, planned %d", i, got.Count, want)
		}
	}
	if err := media.Stitch(ctx, media.StitchConfig{Pieces: results, AudioFrom: audioFrom, Output: output, Metadata: metadata, Rotation: plan.Rotation}); err != nil {
		return err
	}
	out, err := media.ScanFrames(ctx, output)
	if err != nil {
		return err
	}
	if out.Count != plan.TotalFrames {
		return fmt.Errorf("%s: stitched %d frames, target has %d", output, out.Count, plan.TotalFrames)
	}
	return nil
}

// wait follows commits, progress and failures until every segment is committed. target is the user's name for the
// target file, which a failure names.
func (c *Coordinator) wait(ctx context.Context, id, target string, segs []job.Segment, progress Progress) ([]job.Commit, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	commitsCh, err := c.deps.State.Watch(ctx, job.CommitPattern(id))
	if err != nil {
		return nil, err
	}
	progCh, err := c.deps.State.Watch(ctx, job.ProgressPattern(id))
	if err != nil {
		return nil, err
	}
	failCh, err := c.deps.State.Watch(ctx, job.FailureKey(id))
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
			commits[cm.Segment] = cm
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

func (c *Coordinator) setState(ctx context.Context, rec *job.Record, s job.State, reason string) {
	rec.State, rec.Error, rec.Updated = s, reason, time.Now().UTC()
	b, _ := json.Marshal(rec)
	if _, err := c.deps.State.Put(ctx, job.RecordKey(rec.ID), b); err != nil {
		c.log.Warn("cannot record job state", zap.String("job", rec.ID), zap.Error(err))
	}
}

func (c *Coordinator) failed(ctx context.Context, rec *job.Record, err error) error {
	c.setState(context.WithoutCancel(ctx), rec, job.Failed, job.Message(err))
	return err
}
