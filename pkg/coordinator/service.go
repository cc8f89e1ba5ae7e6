package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/facefleet/facefleet/pkg/backoff"
	"github.com/facefleet/facefleet/pkg/client"
	"github.com/facefleet/facefleet/pkg/fault"
	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/provenance"
	"github.com/facefleet/facefleet/pkg/queue"
	"github.com/facefleet/facefleet/pkg/store"
	"github.com/facefleet/facefleet/pkg/version"
)

// Sentinels a job's run ends with besides its own errors.
var (
	// ErrImageTarget: a cluster job's target is a still picture (`submit` refuses it too, before the upload).
	ErrImageTarget = errors.New("is an image: cluster jobs take videos (use coordinator run for images)")
	// ErrCancelled: a client cancelled the job.
	ErrCancelled = errors.New("job cancelled")
	// ErrNotOwner: another coordinator took the job over (this one was presumed dead).
	ErrNotOwner = errors.New("job owned by another coordinator")
	// ErrLimit: an input is over a configured limit.
	ErrLimit = errors.New("over a limit")
	// errEnded: the job was already done or failed when this coordinator looked at it again.
	errEnded = errors.New("job already ended")
)

// Limits bound what a job may ask for. Zero means no limit.
type Limits struct {
	MaxInputBytes int64         // target file size
	MaxWidth      int           // target width in pixels
	MaxHeight     int           // target height in pixels
	MaxDuration   time.Duration // target duration
}

// DefaultLimits fit a long 4K film on a GPU fleet and stop accidents (a 200 GB upload, an 8K screen capture).
func DefaultLimits() Limits {
	return Limits{MaxInputBytes: 20 << 30, MaxWidth: 4096, MaxHeight: 4096, MaxDuration: 4 * time.Hour}
}

// Validate refuses negative limits (0 means none), naming the flag that sets each one.
func (l Limits) Validate() error {
	switch {
	case l.MaxInputBytes < 0:
		return fmt.Errorf("--max-input-size %d bytes: want >= 0", l.MaxInputBytes)
	case l.MaxWidth < 0:
		return fmt.Errorf("--max-width %d: want >= 0", l.MaxWidth)
	case l.MaxHeight < 0:
		return fmt.Errorf("--max-height %d: want >= 0", l.MaxHeight)
	case l.MaxDuration < 0:
		return fmt.Errorf("--max-duration %s: want >= 0", l.MaxDuration)
	}
	return nil
}

// Check refuses a target over a limit, naming the file, the value and the limit.
func (l Limits) Check(name string, size int64, info *media.Info) error {
	switch {
	case l.MaxInputBytes > 0 && size > l.MaxInputBytes:
		return fmt.Errorf("%s: %w: %.1f GB is larger than the %.1f GB input limit", name, ErrLimit, float64(size)/(1<<30), float64(l.MaxInputBytes)/(1<<30))
	case l.MaxWidth > 0 && info.Width > l.MaxWidth, l.MaxHeight > 0 && info.Height > l.MaxHeight:
		return fmt.Errorf("%s: %w: %dx%d is larger than the %dx%d resolution limit", name, ErrLimit, info.Width, info.Height, l.MaxWidth, l.MaxHeight)
	case l.MaxDuration > 0 && time.Duration(info.Duration*float64(time.Second)) > l.MaxDuration:
		return fmt.Errorf("%s: %w: %.0f s is longer than the %s duration limit", name, ErrLimit, info.Duration, l.MaxDuration)
	}
	return nil
}

// ServiceConfig is the coordinator daemon's settings.
type ServiceConfig struct {
	ID             string  // stable across restarts so a restarted coordinator resumes its own jobs at once
	WorkDir        string  // scratch space for splits and stitches
	SegmentSeconds float64 // default segment length when a submission gives none
	Limits         Limits
	// Heartbeat is how often the coordinator's liveness record is refreshed; its TTL (the fleet bucket's) decides
	// how soon another coordinator takes over its jobs.
	Heartbeat time.Duration
	// Scan is how often every unfinished job is looked at (orphans to take over, queued jobs beyond MaxJobs).
	Scan time.Duration
	// MaxJobs is how many jobs this coordinator splits, follows and stitches at once.
	MaxJobs int
	// ProgressEvery throttles frames-done updates of job records.
	ProgressEvery time.Duration
	// KeepEnded is how long an ended job (done, failed, cancelled) stays after its last update before it is
	// deleted with its files, the uploaded face among them; 0 keeps jobs until `delete`. Sweep is how often the
	// jobs are looked at for it.
	KeepEnded time.Duration
	Sweep     time.Duration
	// OutageBase and OutageMax bound the backoff of a job whose own steps (download, split upload, stitch, output
	// upload) meet the coordinator's trouble (pkg/fault: storage or queue unreachable, disk full): the job is not
	// failed but waits, its status saying why and since when, and runs again from where it stands (a stored plan
	// is resumed, committed segments are kept) after a jittered delay doubling from OutageBase up to OutageMax.
	OutageBase, OutageMax time.Duration
}

// Validate fills defaults and checks the rest.
func (c *ServiceConfig) Validate() error {
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fleet.SafeID("coordinator-" + host)
	}
	if _, err := fleet.Key(fleet.KindCoordinator, c.ID); err != nil {
		return fmt.Errorf("coordinator: id: %w", err)
	}
	if c.WorkDir == "" {
		return errors.New("coordinator: work dir is required")
	}
	if c.SegmentSeconds <= 0 {
		c.SegmentSeconds = 30
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = fleet.DefaultInterval
	}
	if c.Scan <= 0 {
		c.Scan = 2 * time.Second
	}
	if c.MaxJobs <= 0 {
		c.MaxJobs = 4
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = time.Second
	}
	if c.KeepEnded < 0 {
		return fmt.Errorf("coordinator: keep ended jobs %s: want 0 (forever) or more", c.KeepEnded)
	}
	if c.Sweep <= 0 {
		c.Sweep = 10 * time.Minute
	}
	if c.OutageBase <= 0 {
		c.OutageBase = time.Second
	}
	if c.OutageMax <= 0 {
		c.OutageMax = 30 * time.Second
	}
	if c.OutageMax < c.OutageBase {
		return fmt.Errorf("coordinator: OutageMax %s is below OutageBase %s", c.OutageMax, c.OutageBase)
	}
	return nil
}

// ServiceDeps are the daemon's collaborators.
type ServiceDeps struct {
	Tasks *queue.Tasks
	State *queue.State // jobs, plans, commits, progress
	Fleet *queue.State // heartbeats, with a TTL
	Blob  store.Blob
	Log   *zap.Logger
}

// Service is the coordinator daemon: it claims queued jobs (compare-and-set on the job record), runs them from
// split to stitched output, and takes over the jobs of coordinators whose heartbeat expired. All of a job's state
// lives in NATS and the store, so any coordinator can resume any job.
type Service struct {
	cfg   ServiceConfig
	deps  ServiceDeps
	log   *zap.Logger
	coord *Coordinator

	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
}

// NewService returns a coordinator daemon.
func NewService(cfg ServiceConfig, deps ServiceDeps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Fleet == nil {
		return nil, errors.New("coordinator: fleet state is required")
	}
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	c, err := New(Config{WorkDir: cfg.WorkDir, SegmentSeconds: cfg.SegmentSeconds},
		Deps{Tasks: deps.Tasks, State: deps.State, Blob: deps.Blob, Log: deps.Log})
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, deps: deps, log: deps.Log.With(zap.String("coordinator", cfg.ID)), coord: c,
		running: map[string]bool{}}, nil
}

// ID is the coordinator's id.
func (s *Service) ID() string { return s.cfg.ID }

// Run serves until ctx ends. Jobs in flight then stop where they are, still owned by this coordinator: a restart
// with the same id resumes them at once, and another coordinator takes them over once the heartbeat expires.
func (s *Service) Run(ctx context.Context) error {
	host, _ := os.Hostname()
	started := time.Now().UTC()
	pub, err := fleet.NewPublisher(fleet.PublisherConfig{Interval: s.cfg.Heartbeat}, s.deps.Fleet, func() fleet.Heartbeat {
		cpus, total, free, gpus := fleet.HostInfo()
		return fleet.Heartbeat{Kind: fleet.KindCoordinator, ID: s.cfg.ID, Host: host, PID: os.Getpid(), Version: version.String(), CPUs: cpus,
			RAMTotal: total, RAMFree: free, GPUs: gpus, Tasks: s.runningJobs(), Started: started}
	}, s.log)
	if err != nil {
		return err
	}
	pctx, stopPub := context.WithCancel(ctx)
	defer pub.Start(pctx)()
	defer stopPub() // runs first: an early return must not wait for ctx to end

	events, err := s.deps.State.Watch(ctx, job.RecordPattern)
	if err != nil {
		return err
	}
	if err := s.deps.Tasks.OnDeadLetter(ctx, func(d queue.DeadLetter) { s.deadLetter(ctx, d) }); err != nil {
		return err
	}
	if s.cfg.KeepEnded > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			sweep := time.NewTicker(s.cfg.Sweep)
			defer sweep.Stop()
			for {
				s.sweep(ctx, time.Now())
				select {
				case <-ctx.Done():
					return
				case <-sweep.C:
				}
			}
		}()
	}
	s.log.Info("coordinator serving")
	tick := time.NewTicker(s.cfg.Scan)
	defer tick.Stop()
	// open holds the latest record of every unfinished job, from the watch (which starts with every current
	// value), so the periodic look for orphans reads no KV and does not grow with finished jobs.
	open := map[string]queue.Entry{}
	for {
		select {
		case <-ctx.Done():
			s.wg.Wait()
			s.log.Info("coordinator stopped")
			return nil
		case e, ok := <-events:
			if !ok {
				if ctx.Err() == nil {
					return errors.New("coordinator: job watch ended")
				}
				continue
			}
			if e.Deleted {
				delete(open, e.Key)
				continue
			}
			rec, err := decodeRecord(e)
			if err != nil {
				delete(open, e.Key)
				s.failInvalid(ctx, e, err)
				continue
			}
			if rec.State.Terminal() {
				delete(open, e.Key)
				continue
			}
			open[e.Key] = e
			if rec.Owner == "" || rec.Owner == s.cfg.ID {
				s.consider(ctx, e) // queued, or ours; another owner's liveness is the tick's business
			}
		case <-tick.C:
			// The watch shows changes, but an owner dying changes no record: look at the open jobs again.
			for _, e := range open {
				s.consider(ctx, e)
			}
		}
	}
}

// consider claims a job if it is queued, ours from a previous life, or orphaned, and starts running it.
func (s *Service) consider(ctx context.Context, e queue.Entry) {
	rec, err := decodeRecord(e)
	if err != nil || rec.State.Terminal() {
		return // an invalid record is failed where the watch meets it
	}
	s.mu.Lock()
	busy, full := s.running[rec.ID], len(s.running) >= s.cfg.MaxJobs
	s.mu.Unlock()
	if busy || full {
		return
	}
	switch {
	case rec.Owner == s.cfg.ID: // ours: a restart resumes it
	case rec.Owner != "":
		alive, err := fleet.Alive(ctx, s.deps.Fleet, fleet.KindCoordinator, rec.Owner)
		if err != nil || alive {
			return
		}
		s.log.Warn("taking over a job whose coordinator is gone", zap.String("job", rec.ID), zap.String("owner", rec.Owner))
	}
	if rec.Owner != s.cfg.ID {
		rec.Owner, rec.Updated = s.cfg.ID, time.Now().UTC()
		b, _ := json.Marshal(rec)
		if _, err := s.deps.State.Update(ctx, e.Key, b, e.Revision); err != nil {
			return // another coordinator, or a client, got there first; a later event decides again
		}
	}
	s.mu.Lock()
	s.running[rec.ID] = true
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { s.mu.Lock(); delete(s.running, rec.ID); s.mu.Unlock() }()
		s.runJob(ctx, rec.ID)
	}()
}

// decodeRecord reads a job record from the watch: the id is its key's, and the value must be a valid record of it.
func decodeRecord(e queue.Entry) (job.Record, error) {
	id, err := job.RecordID(e.Key)
	if err != nil {
		return job.Record{}, err
	}
	return job.DecodeRecord(id, e.Value)
}

// failInvalid replaces a job record that cannot be decoded or breaks a rule with a failed record that says why, and
// removes the job's queued tasks; nothing the bad record names is followed. The replacement is a compare-and-set
// on the revision seen, so a client's cancel or delete, or another coordinator doing the same, wins. A key that
// names no valid job id is left alone: `status` lists it.
func (s *Service) failInvalid(ctx context.Context, e queue.Entry, why error) {
	id, err := job.RecordID(e.Key)
	if err != nil {
		s.log.Warn("a job record under an invalid key", zap.String("key", e.Key), zap.Error(err))
		return
	}
	now := time.Now().UTC()
	b, _ := json.Marshal(job.Record{Version: job.Version, ID: id, State: job.Failed, Error: why.Error(), Created: now, Updated: now})
	if _, err := s.deps.State.Update(ctx, e.Key, b, e.Revision); err != nil {
		return
	}
	s.log.Error("job failed: invalid record", zap.String("job", id), zap.Error(why))
	if err := s.deps.Tasks.PurgeSubject(ctx, job.Subject(id)); err != nil {
		s.log.Warn("the failed job's tasks were not purged", zap.String("job", id), zap.Error(err))
	}
}

func (s *Service) runningJobs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.running))
	for id := range s.running {
		out = append(out, id)
	}
	return out
}

// runJob takes a claimed job to done, failed or cancelled, or leaves it for a resume if ctx ends.
func (s *Service) runJob(ctx context.Context, id string) {
	log := s.log.With(zap.String("job", id))
	dir := filepath.Join(s.cfg.WorkDir, id)
	defer os.RemoveAll(dir)
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.watchRecord(jctx, id, cancel)

	err := s.executeThroughOutages(jctx, id, dir, log)
	if cause := context.Cause(jctx); ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // stopped by the record (a cancel, a new owner) whatever step was running
	}
	switch {
	case err == nil, errors.Is(err, errEnded):
	case ctx.Err() != nil:
		log.Info("coordinator stopping; the job resumes on restart or takeover")
	case errors.Is(err, ErrNotOwner):
		log.Warn("another coordinator owns the job now; leaving it")
	case errors.Is(err, ErrCancelled):
		log.Info("job cancelled; removing its tasks and files")
		s.cleanup(context.WithoutCancel(ctx), id, true)
	default:
		log.Error("job failed", zap.Error(err))
		s.updated(context.WithoutCancel(ctx), log, "the job's failure", s.update(context.WithoutCancel(ctx), id, func(r *job.Record) { r.State, r.Error = job.Failed, job.Message(err) }))
		if perr := s.deps.Tasks.PurgeSubject(context.WithoutCancel(ctx), job.Subject(id)); perr != nil {
			log.Warn("the failed job's tasks were not purged", zap.Error(perr))
		}
	}
}

// executeThroughOutages runs the job, and runs it again, after a backoff, while it stops on trouble that is not
// the job's (pkg/fault: storage or queue unreachable, a full disk): an outage of minutes makes the job wait, with its
// status saying so ("storage unreachable since 12:01:03 UTC, retrying"), never fail. execute resumes from the
// stored plan and commits, so a second run redoes nothing done.
func (s *Service) executeThroughOutages(ctx context.Context, id, dir string, log *zap.Logger) error {
	b := backoff.Backoff{Base: s.cfg.OutageBase, Max: s.cfg.OutageMax}
	var since time.Time
	for {
		err := s.execute(ctx, id, dir, log)
		class := fault.Of(err)
		if class == nil || ctx.Err() != nil {
			if !since.IsZero() && err == nil {
				log.Info("job went through an outage", zap.Duration("waited", time.Since(since)))
			}
			return err
		}
		if since.IsZero() {
			since = time.Now()
		}
		d := b.Next()
		log.Warn("job waits out trouble that is not its own", zap.Error(err), zap.Duration("retry_in", d))
		msg := fmt.Sprintf("%v since %s, retrying", class, since.UTC().Format("15:04:05 UTC"))
		if err := s.update(ctx, id, func(r *job.Record) { r.Waiting = msg }); errors.Is(err, ErrCancelled) ||
			errors.Is(err, ErrNotOwner) || errors.Is(err, errEnded) {
			return err
		}
		if err := backoff.Sleep(ctx, backoff.System{}, d); err != nil {
			return err
		}
	}
}

// watchRecord follows the job's record and stops the job's work, whatever step it is in, with ErrCancelled when a
// client cancels it or ErrNotOwner when another coordinator took it over.
func (s *Service) watchRecord(ctx context.Context, id string, stop context.CancelCauseFunc) {
	ch, err := s.deps.State.Watch(ctx, job.RecordKey(id))
	if err != nil {
		return
	}
	go func() {
		for e := range ch {
			if e.Deleted {
				continue
			}
			r, err := job.DecodeRecord(id, e.Value)
			switch {
			case err != nil: // the service's watch fails the job; nothing more of it is done here
				stop(err)
				return
			case r.State == job.Cancelled:
				stop(ErrCancelled)
				return
			case r.Owner != "" && r.Owner != s.cfg.ID:
				stop(ErrNotOwner)
				return
			}
		}
	}()
}

// execute is the job's life: download inputs, check limits, split (unless a plan exists), publish what is not
// committed or queued, follow the workers, stitch, store the output.
func (s *Service) execute(ctx context.Context, id, dir string, log *zap.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	rec, err := s.record(ctx, id)
	if err != nil {
		return err
	}
	sub := rec.Submission
	if sub == nil {
		return errors.New("the job record has no submission")
	}
	target := filepath.Join(dir, "target"+filepath.Ext(sub.TargetKey))
	haveTarget := false
	getTarget := func() error {
		if haveTarget {
			return nil
		}
		if err := s.deps.Blob.GetFile(ctx, sub.TargetKey, target); err != nil {
			return fmt.Errorf("%s: download: %w", sub.TargetName, err)
		}
		haveTarget = true
		return nil
	}

	var plan job.JobPlan
	pe, err := s.deps.State.Get(ctx, job.PlanKey(id))
	switch {
	case err == nil:
		if plan, err = job.DecodePlan(id, pe.Value); err != nil {
			return err
		}
		log.Info("resuming a planned job", zap.Int("segments", len(plan.Segments)))
	case errors.Is(err, queue.ErrKeyNotFound):
		if err := s.update(ctx, id, func(r *job.Record) { r.State, r.FramesDone = job.Splitting, 0 }); err != nil {
			return err
		}
		t0 := time.Now()
		st, err := s.deps.Blob.Stat(ctx, sub.TargetKey)
		if err != nil {
			return fmt.Errorf("%s: %w", sub.TargetName, err)
		}
		if l := s.cfg.Limits; l.MaxInputBytes > 0 && st.Size > l.MaxInputBytes {
			return l.Check(sub.TargetName, st.Size, &media.Info{})
		}
		if err := getTarget(); err != nil {
			return err
		}
		info, err := media.Probe(ctx, target)
		if err != nil {
			return userFile(err, target, sub.TargetName)
		}
		if info.IsImage {
			return fmt.Errorf("%s: %w", sub.TargetName, ErrImageTarget)
		}
		if err := s.cfg.Limits.Check(sub.TargetName, st.Size, info); err != nil {
			return err
		}
		seconds := sub.SegmentSeconds
		if seconds <= 0 {
			seconds = s.cfg.SegmentSeconds
		}
		if plan, err = s.coord.split(ctx, id, target, info, seconds, dir); err != nil {
			return userFile(err, target, sub.TargetName)
		}
		b, _ := json.Marshal(plan)
		if _, err := s.deps.State.Put(ctx, job.PlanKey(id), b); err != nil {
			return err
		}
		split := time.Since(t0).Seconds()
		if err := s.update(ctx, id, func(r *job.Record) { r.SplitSeconds = split }); err != nil {
			return err
		}
		log.Info("job planned", zap.Int("segments", len(plan.Segments)), zap.Int("frames", plan.TotalFrames), zap.Duration("split", time.Since(t0)))
	default:
		return err
	}

	if err := s.update(ctx, id, func(r *job.Record) {
		// Waiting is cleared: an outage the job waited out (executeThroughOutages) is over.
		r.State, r.Segments, r.TotalFrames, r.Error, r.Waiting = job.Running, len(plan.Segments), plan.TotalFrames, "", ""
	}); err != nil {
		return err
	}
	spec := sub.Spec
	spec.SourceKey = sub.SourceKey
	err = s.coord.publish(ctx, id, plan, spec, rec.Generation, func(seg job.Segment) (bool, error) {
		if _, err := s.deps.State.Get(ctx, job.CommitKey(id, seg.Index)); err == nil {
			return true, nil
		}
		return s.deps.Tasks.Has(ctx, job.TaskSubject(id, seg.Index))
	})
	if err != nil {
		return err
	}
	stopWaiting := s.followWaiting(ctx, id)
	var last time.Time
	commits, err := s.coord.wait(ctx, id, sub.TargetName, plan.Segments, func(done, total int) {
		if time.Since(last) < s.cfg.ProgressEvery && done != total {
			return
		}
		last = time.Now()
		s.updated(ctx, s.log.With(zap.String("job", id)), "progress", s.update(ctx, id, func(r *job.Record) { r.FramesDone = done }))
	})
	stopWaiting()
	if err != nil {
		// A worker names the source by what it is; the user knows it by its file name.
		if msg := err.Error(); strings.Contains(msg, job.SourceImage) {
			return &renamedError{msg: strings.Replace(msg, job.SourceImage, job.SourceImage+" "+sub.SourceName, 1), err: err}
		}
		return err
	}

	if err := s.update(ctx, id, func(r *job.Record) { r.State, r.Waiting = job.Stitching, "" }); err != nil {
		return err
	}
	t1 := time.Now()
	audio := ""
	if plan.HasAudio && !sub.SkipAudio {
		if err := getTarget(); err != nil {
			return err
		}
		audio = target
	}
	out := filepath.Join(dir, "output"+sub.OutputExt)
	if err := s.coord.stitch(ctx, plan, commits, dir, audio, out, sub.Metadata); err != nil {
		return err
	}
	outKey := job.OutputKey(id, sub.OutputExt)
	if err := s.deps.Blob.PutFile(ctx, outKey, out); err != nil {
		return fmt.Errorf("store output: %w", err)
	}
	if err := s.storeProvenance(ctx, id, sub, plan, dir, out, outKey); err != nil {
		return err
	}
	stitch := time.Since(t1)
	log.Info("job done", zap.Duration("stitch", stitch))
	warning := ""
	if faces, counted := job.FacesFound(commits); counted && faces == 0 {
		warning = job.NoFaceWarning(sub.TargetName)
	}
	return s.update(ctx, id, func(r *job.Record) {
		r.State, r.FramesDone, r.OutputKey, r.Waiting, r.StitchSeconds = job.Done, r.TotalFrames, outKey, "", stitch.Seconds()
		r.Warning = warning
	})
}

func (s *Service) storeProvenance(ctx context.Context, id string, sub *job.Submission, plan job.JobPlan, dir, out, outKey string) error {
	sum, _ := provenance.FileSHA256(out)
	rec := provenance.Record{SyntheticMedia: true, DigitalSource: provenance.SourceType, Generator: provenance.Generator,
		Created: time.Now().UTC(), Output: outKey, OutputSHA256: sum, SourceSHA256: sub.SourceSHA256,
		TargetSHA256: sub.TargetSHA256, Processors: sub.Spec.Face.Processors, Frames: plan.TotalFrames,
		Segments: len(plan.Segments), Terms: provenance.Terms}
	b, _ := json.MarshalIndent(rec, "", "  ")
	p := filepath.Join(dir, "provenance.json") // the job's work dir: a coordinator writes nowhere else
	if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
		return err
	}
	defer os.Remove(p)
	return s.deps.Blob.PutFile(ctx, job.ProvenanceKey(outKey), p)
}

// deadLetter fails the job of a task that reached the queue's MaxDeliver: no worker acked or terminated it, so
// workers die or stall on it every time and nobody else will record why. A task that only waits for a big enough
// worker (a placement note exists) is queued again instead. The failure record (first writer wins)
// is what the job's owner waits on; the task is removed from the stream so it cannot linger.
func (s *Service) deadLetter(ctx context.Context, d queue.DeadLetter) {
	t, err := job.DecodeTask(d.Data)
	if err != nil { // workers refuse such a task and fail its job; it has nothing more to say
		s.removeDead(ctx, d.Seq)
		return
	}
	if _, err := s.deps.State.Get(ctx, job.WaitingKey(t.Job, t.Segment.Index)); err == nil {
		// Handed back by workers too small for it, not crashed on: queue it afresh (no message id, so deduplication
		// cannot drop it and its delivery count starts over) and let it wait for a bigger worker.
		if err := s.deps.Tasks.Publish(ctx, d.Subject, "", d.Data); err != nil {
			s.log.Warn("handed-back task not queued again", zap.String("job", t.Job),
				zap.Int("segment", t.Segment.Index), zap.Error(err))
			return
		}
		s.removeDead(ctx, d.Seq)
		return
	}
	reason := fmt.Sprintf("delivered %d times without a result: workers crash or stall on it (see their logs)", d.Deliveries)
	b, _ := json.Marshal(job.Failure{Job: t.Job, Segment: t.Segment.Index, Worker: "-", Reason: reason})
	if _, err := s.deps.State.Create(ctx, job.FailureKey(t.Job), b); err != nil && !errors.Is(err, queue.ErrKeyExists) {
		s.log.Warn("cannot record a dead letter", zap.String("job", t.Job), zap.Error(err))
		return
	}
	s.log.Error("segment dead-lettered", zap.String("job", t.Job), zap.Int("segment", t.Segment.Index), zap.Int("deliveries", d.Deliveries))
	s.removeDead(ctx, d.Seq)
}

// removeDead removes a dead-lettered task from the stream, and says so when it cannot: the task lingers there.
func (s *Service) removeDead(ctx context.Context, seq uint64) {
	if err := s.deps.Tasks.Remove(ctx, seq); err != nil {
		s.log.Warn("dead-lettered task not removed from the stream", zap.Uint64("seq", seq), zap.Error(err))
	}
}

// followWaiting copies workers' placement notes ("does not fit") into the job record, so status says why a job
// waits when no worker can take a segment.
func (s *Service) followWaiting(ctx context.Context, id string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch, err := s.deps.State.Watch(ctx, job.WaitingPattern(id))
	if err != nil {
		return cancel
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		notes := map[string]string{}
		shown := ""
		for e := range ch {
			if e.Deleted {
				delete(notes, e.Key)
			} else if w, err := job.DecodeWaiting(e.Value); err == nil {
				notes[e.Key] = w.Worker + ": " + w.Reason
			} else {
				s.log.Warn("waiting note refused", zap.String("key", e.Key), zap.Error(err))
			}
			msg := ""
			for _, v := range notes {
				msg = v
				break
			}
			if msg != shown {
				shown = msg
				s.updated(ctx, s.log.With(zap.String("job", id)), "waiting note", s.update(ctx, id, func(r *job.Record) { r.Waiting = msg }))
			}
		}
	}()
	return func() { cancel(); <-done }
}

// sweep deletes the ended jobs whose last update is older than KeepEnded. Every coordinator sweeps; a job two
// of them delete at once is deleted once, the other finding nothing left.
func (s *Service) sweep(ctx context.Context, now time.Time) {
	cli := client.Client{Tasks: s.deps.Tasks, State: s.deps.State, Blob: s.deps.Blob}
	recs, err := cli.List(ctx)
	if err != nil {
		s.log.Warn("retention: cannot list jobs", zap.Error(err))
		return
	}
	for _, r := range recs {
		// An invalid record's dates mean nothing: the watch fails it (a valid record, swept later) or `delete` goes.
		if r.Invalid != nil || !r.State.Terminal() || now.Sub(r.Updated) <= s.cfg.KeepEnded {
			continue
		}
		if err := cli.Delete(ctx, r.ID); err != nil && !errors.Is(err, client.ErrNoJob) {
			s.log.Warn("retention: cannot delete job", zap.String("job", r.ID), zap.Error(err))
			continue
		}
		s.log.Info("retention: job deleted", zap.String("job", r.ID), zap.String("state", string(r.State)),
			zap.Time("updated", r.Updated))
	}
}

// cleanup removes a job's tasks, KV keys and blobs. keepInputs leaves the submitted files. What it cannot remove
// stays for `delete` (or the next cleanup) to find.
func (s *Service) cleanup(ctx context.Context, id string, keepInputs bool) {
	if err := job.Forget(ctx, s.deps.Tasks, s.deps.State, s.deps.Blob, id, keepInputs); err != nil {
		s.log.Warn("cleanup incomplete", zap.String("job", id), zap.Error(err))
	}
}

func (s *Service) record(ctx context.Context, id string) (job.Record, error) {
	e, err := s.deps.State.Get(ctx, job.RecordKey(id))
	if err != nil {
		return job.Record{}, err
	}
	return job.DecodeRecord(id, e.Value)
}

// update changes the job record with compare-and-set, unless the job was cancelled or taken over meanwhile.
func (s *Service) update(ctx context.Context, id string, fn func(*job.Record)) error {
	_, err := s.deps.State.Modify(ctx, job.RecordKey(id), func(old []byte) ([]byte, error) {
		r, err := job.DecodeRecord(id, old)
		if err != nil {
			return nil, err
		}
		switch {
		case r.State == job.Cancelled:
			return nil, ErrCancelled
		case r.Owner != s.cfg.ID:
			return nil, ErrNotOwner
		case r.State.Terminal():
			return nil, errEnded // a stale look at a finished job must not run it again
		}
		fn(&r)
		r.Updated = time.Now().UTC()
		return json.Marshal(r)
	})
	return err
}

// updated logs an update of a job record that failed for a reason nothing else reports: a cancel, a takeover or
// the job's end are seen by the job's own loop, and a stopping coordinator leaves its jobs as they stand.
func (s *Service) updated(ctx context.Context, log *zap.Logger, what string, err error) {
	if err == nil || ctx.Err() != nil || errors.Is(err, ErrCancelled) || errors.Is(err, ErrNotOwner) || errors.Is(err, errEnded) {
		return
	}
	log.Warn(what+" not recorded in the job record", zap.Error(err))
}

// userFile names the user's file (name) in err instead of the coordinator's download of it (local): a failure the
// user reads must not name a scratch path (a target cut mid-moov failed the packet scan with one).
func userFile(err error, local, name string) error {
	var me *media.Error
	if errors.As(err, &me) && me.Path == local {
		me.Path = name
	}
	if msg := err.Error(); strings.Contains(msg, local) {
		return &renamedError{msg: strings.ReplaceAll(msg, local, name), err: err}
	}
	return err
}

// renamedError is err with another message; errors.Is and As still see err.
type renamedError struct {
	msg string
	err error
}

func (e *renamedError) Error() string { return e.msg }
func (e *renamedError) Unwrap() error { return e.err }
