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
	"github.com/facefleet/facefleet/pkg/cluster"
	"github.com/facefleet/facefleet/pkg/fault"
	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/metrics"
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
	// ProgressEvery throttles frames-done updates of job records; 0 means job.ProgressEvery.
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
	// ParkAfter is how long no live worker may fit a job's segments (all hand them back as too big for their
	// budgets) before the job is parked: its tasks off the queue, so an autoscaler is not held at its maximum by
	// work none of its workers can take, until a worker that may fit joins (park.go). It outlasts the start of a
	// bigger worker already on its way (a GPU node being provisioned).
	ParkAfter time.Duration
}

// DefaultParkAfter is ServiceConfig.ParkAfter's default (`serve --park-after`).
const DefaultParkAfter = 5 * time.Minute

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
		c.SegmentSeconds = cluster.DefaultSegmentSeconds
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
		c.ProgressEvery = job.ProgressEvery
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
	if c.ParkAfter <= 0 {
		c.ParkAfter = DefaultParkAfter
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
	// Tick, when set, is called on every turn of the job loop (at least every Scan): a liveness probe's pulse
	// (health.Beat), whose first call also says the coordinator serves.
	Tick func()
	// Metrics, when set, counts what the coordinator sees (metrics.go); nil collects nothing.
	Metrics *metrics.Coordinator
	// Screen, when set, judges every target before any of it is split or queued (pkg/contentfilter): its error
	// fails the job, and nothing is queued.
	Screen Screener
}

// Screener judges a target (path, named name to the user) before the job is split.
type Screener interface {
	Screen(ctx context.Context, path, name string, info *media.Info) error
}

// Service is the coordinator daemon: it claims queued jobs (compare-and-set on the job record), runs them from
// split to stitched output, and takes over the jobs of coordinators whose heartbeat expired. All of a job's state
// lives in NATS and the store, so any coordinator can resume any job.
type Service struct {
	cfg  ServiceConfig
	deps ServiceDeps
	log  *zap.Logger

	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
}

// NewService returns a coordinator daemon.
func NewService(cfg ServiceConfig, deps ServiceDeps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Tasks == nil || deps.State == nil || deps.Fleet == nil || deps.Blob == nil {
		return nil, errors.New("coordinator: tasks, state, fleet state and blob are required")
	}
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	s := &Service{cfg: cfg, deps: deps, log: deps.Log.With(zap.String("coordinator", cfg.ID)),
		running: map[string]bool{}}
	deps.Metrics.Queue(s.queueDepth)
	return s, nil
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
	states := newJobStates(s.deps.Metrics)
	for {
		if s.deps.Tick != nil {
			s.deps.Tick()
		}
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
				states.set(e.Key, "")
				continue
			}
			rec, err := decodeRecord(e)
			if err != nil {
				delete(open, e.Key)
				states.set(e.Key, "")
				s.failInvalid(ctx, e, err)
				continue
			}
			states.set(e.Key, rec.State)
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
		_, _ = s.runJob(ctx, rec.ID, nil)
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

// runJob takes a claimed job to done, failed or cancelled, or leaves it for a resume if ctx ends. A submitted job
// (local nil) waits out outages; a local run's job (RunLocal) fails on the first, and returns what it made.
func (s *Service) runJob(ctx context.Context, id string, local *LocalJob) (outcome, error) {
	log := s.log.With(zap.String("job", id))
	dir := filepath.Join(s.cfg.WorkDir, id)
	defer os.RemoveAll(dir)
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.watchRecord(jctx, id, cancel)

	var out outcome
	var err error
	if local != nil {
		out, err = s.execute(jctx, id, dir, log, local)
	} else {
		err = s.executeThroughOutages(jctx, id, dir, log)
	}
	if cause := context.Cause(jctx); ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // stopped by the record (a cancel, a new owner) whatever step was running
	}
	switch {
	case err == nil, errors.Is(err, errEnded):
	case ctx.Err() != nil:
		if local == nil {
			log.Info("coordinator stopping; the job resumes on restart or takeover")
		}
	case errors.Is(err, ErrNotOwner):
		log.Warn("another coordinator owns the job now; leaving it")
	case errors.Is(err, ErrCancelled):
		log.Info("job cancelled; removing its tasks and files")
		s.cleanup(context.WithoutCancel(ctx), id, true)
	default:
		log.Error("job failed", zap.Error(err))
		s.updated(context.WithoutCancel(ctx), log, "the job's failure", s.update(context.WithoutCancel(ctx), id, func(r *job.Record) { r.State, r.Error, r.Parked = job.Failed, job.Message(err), nil }))
		if perr := s.deps.Tasks.PurgeSubject(context.WithoutCancel(ctx), job.Subject(id)); perr != nil {
			log.Warn("the failed job's tasks were not purged", zap.Error(perr))
		}
	}
	return out, err
}

// executeThroughOutages runs the job, and runs it again, after a backoff, while it stops on trouble that is not
// the job's (pkg/fault: storage or queue unreachable, a full disk): an outage of minutes makes the job wait, with its
// status saying so ("storage unreachable since 12:01:03 UTC, retrying"), never fail. execute resumes from the
// stored plan and commits, so a second run redoes nothing done.
func (s *Service) executeThroughOutages(ctx context.Context, id, dir string, log *zap.Logger) error {
	b := backoff.Backoff{Base: s.cfg.OutageBase, Max: s.cfg.OutageMax}
	var since time.Time
	for {
		_, err := s.execute(ctx, id, dir, log, nil)
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

// LocalJob is a job whose files are on this machine (`coordinator run`). It takes the same lifecycle as a submitted
// job, but its target is read where it is (never copied into the store), its output is stitched straight into
// Output (the caller renames it into place), and its progress is reported as it comes.
type LocalJob struct {
	ID             string
	Source, Target string      // the user's files, named in messages as given
	Info           *media.Info // the target's probe, when the caller has one
	Output         string      // where the stitched output is written
	SkipAudio      bool
	SegmentSeconds float64 // about this long, snapped to keyframes; <= 0 means one segment
	Spec           job.Spec
	Progress       Progress // frames done, as workers report them; nil: none
}

// LocalResult is what a local job made.
type LocalResult struct {
	Frames, Segments      int
	SplitTime, StitchTime time.Duration
	// Warning is one line for the user when the output is not what they asked for (no face found in the target).
	Warning string
	// Provenance is the output's record; the caller writes it beside the output once it is renamed into place.
	Provenance provenance.Record
}

// RunLocal runs a local job to its end on this service's queue and store, with no need of Run: the job record is
// created owned by this service, and every later write to it is a compare-and-set like a submitted job's.
func (s *Service) RunLocal(ctx context.Context, j LocalJob) (LocalResult, error) {
	if err := job.ValidateID(j.ID); err != nil {
		return LocalResult{}, err
	}
	// The source picture goes into the store, where the workers fetch it; the target is only read, in place.
	key := job.InputKey(j.ID, "source", job.InputExt(j.Source))
	if err := s.deps.Blob.PutFile(ctx, key, j.Source); err != nil {
		return LocalResult{}, fmt.Errorf("%s: %w", j.Source, err)
	}
	defer func() { _ = s.deps.Blob.DeletePrefix(context.WithoutCancel(ctx), job.Prefix(j.ID)) }()
	now := time.Now().UTC()
	b, _ := json.Marshal(job.Record{Version: job.Version, ID: j.ID, State: job.Queued, Owner: s.cfg.ID, Created: now, Updated: now})
	if _, err := s.deps.State.Create(ctx, job.RecordKey(j.ID), b); err != nil {
		return LocalResult{}, fmt.Errorf("queue job: %w", err)
	}
	out, err := s.runJob(ctx, j.ID, &j)
	if err != nil {
		return LocalResult{}, err
	}
	return LocalResult{Frames: out.plan.TotalFrames, Segments: len(out.plan.Segments), SplitTime: out.split,
		StitchTime: out.stitch, Warning: out.warning, Provenance: out.provenance}, nil
}

// files is where a job's lifecycle finds its inputs and puts its output, and how the user knows them: a submitted
// job's are in the store (submitted), a local job's are the user's own files (LocalJob.files).
type files struct {
	sourceKey              string // the source picture in the store, where workers fetch it
	sourceName, targetName string // the user's names of the inputs, in messages
	// targetSize is the target's size before it is fetched; target is the target as a file here (fetched once).
	targetSize func(context.Context) (int64, error)
	target     func(context.Context) (string, error)
	info       *media.Info // the target's probe, if known
	output     string      // where the stitch writes
	store      bool        // the output and its provenance go into the store under the job's keys
	skipAudio  bool
	seconds    float64 // segment length; <= 0: one segment
	spec       job.Spec
	metadata   map[string]string
	// hashes are the inputs' sha256 for the provenance record.
	hashes   func() (source, target string)
	progress Progress

	// targetFile is where target puts the target. targetURL (nil: none) is where the split reads a stored target
	// in place, or store.ErrNoURL; fetch (nil: none) starts target's download in the background, close stops it.
	targetFile string
	targetURL  func(context.Context) (string, error)
	fetch      func(context.Context) *fetch
	close      func()
	// drop (nil: none) removes the target's download once nothing reads it: never the user's own file.
	drop func()
}

// submitted is where a submitted job's files are: its inputs in the store (the target fetched into dir when
// needed), its output stitched in dir and stored.
func (s *Service) submitted(sub *job.Submission, dir string) files {
	fetch := &fetcher{blob: s.deps.Blob, key: sub.TargetKey, path: filepath.Join(dir, "target"+filepath.Ext(sub.TargetKey)),
		name: sub.TargetName, log: s.log}
	seconds := sub.SegmentSeconds
	if seconds <= 0 {
		seconds = s.cfg.SegmentSeconds
	}
	spec := sub.Spec
	spec.SourceKey = sub.SourceKey
	return files{sourceKey: sub.SourceKey, sourceName: sub.SourceName, targetName: sub.TargetName,
		targetSize: func(ctx context.Context) (int64, error) {
			st, err := s.deps.Blob.Stat(ctx, sub.TargetKey)
			return st.Size, err
		},
		target: fetch.file, targetFile: fetch.path, targetURL: fetch.url, fetch: fetch.start, close: fetch.close, drop: fetch.drop,
		output: filepath.Join(dir, "output"+sub.OutputExt), store: true, skipAudio: sub.SkipAudio, seconds: seconds,
		spec: spec, metadata: sub.Metadata,
		hashes: func() (string, string) { return sub.SourceSHA256, sub.TargetSHA256 }}
}

func (j *LocalJob) files() files {
	// The inputs are hashed while the job runs: read after the stitch, a long target's whole read was in the job's tail.
	sums := make(chan [2]string, 1)
	go func() {
		src, _ := provenance.FileSHA256(j.Source)
		tgt, _ := provenance.FileSHA256(j.Target)
		sums <- [2]string{src, tgt}
	}()
	spec := j.Spec
	spec.SourceKey = job.InputKey(j.ID, "source", job.InputExt(j.Source))
	return files{sourceKey: spec.SourceKey, sourceName: j.Source, targetName: j.Target,
		targetSize: func(context.Context) (int64, error) {
			st, err := os.Stat(j.Target)
			if err != nil {
				return 0, err
			}
			return st.Size(), nil
		},
		target: func(context.Context) (string, error) { return j.Target, nil }, targetFile: j.Target,
		info: j.Info, output: j.Output, skipAudio: j.SkipAudio, seconds: j.SegmentSeconds, spec: spec,
		metadata: provenance.Tags(provenance.Generator),
		hashes:   sync.OnceValues(func() (string, string) { h := <-sums; return h[0], h[1] }),
		progress: j.Progress}
}

// outcome is what execute made.
type outcome struct {
	plan          job.JobPlan
	split, stitch time.Duration
	warning       string
	provenance    provenance.Record
}

// execute is the job's life, the same for a submitted job (local nil) and a local one: check limits, split (unless
// a plan exists), publish what is not committed or queued, follow the workers, stitch, store the output and its
// provenance.
func (s *Service) execute(ctx context.Context, id, dir string, log *zap.Logger, local *LocalJob) (outcome, error) {
	var res outcome
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	rec, err := s.record(ctx, id)
	if err != nil {
		return res, err
	}
	var in files
	switch {
	case local != nil:
		in = local.files()
	case rec.Submission == nil:
		return res, errors.New("the job record has no submission")
	default:
		in = s.submitted(rec.Submission, dir)
	}
	if in.close != nil {
		defer in.close()
	}

	// queued says a segment needs no task: it is committed, or its task is on the queue.
	queued := func(ctx context.Context) func(job.Segment) (bool, error) {
		return func(seg job.Segment) (bool, error) {
			if _, err := s.deps.State.Get(ctx, job.CommitKey(id, seg.Index)); err == nil {
				return true, nil
			}
			return s.deps.Tasks.Has(ctx, job.TaskSubject(id, seg.Index))
		}
	}
	var plan job.JobPlan
	pe, err := s.deps.State.Get(ctx, job.PlanKey(id))
	switch {
	case err == nil:
		if plan, err = job.DecodePlan(id, pe.Value); err != nil {
			return res, err
		}
		log.Info("resuming a planned job", zap.Int("segments", len(plan.Segments)))
	case errors.Is(err, queue.ErrKeyNotFound):
		fresh := false // never split before: no segment of it was ever published, so none is queued or committed
		if err := s.update(ctx, id, func(r *job.Record) {
			fresh = r.State == job.Queued && r.Generation == 0
			r.State, r.FramesDone = job.Splitting, 0
		}); err != nil {
			return res, err
		}
		t0 := time.Now()
		// Each segment is queued as soon as its piece is stored. The plan goes into KV only once every piece is:
		// a coordinator that dies mid-split leaves no plan, so the next one splits again and queues only what is
		// neither committed nor queued (message ids deduplicate the rest).
		var cut cutFunc
		if rec.Parked == nil {
			skip := queued(ctx)
			if fresh {
				// Two round trips a piece less (a commit's and a task's lookup), which the first pieces paid
				// while the first workers' downloads and records kept the servers busy.
				skip = nil
			}
			cut = func(p job.JobPlan, seg job.Segment) error {
				return s.publishSegment(ctx, id, p, in.spec, rec.Generation, seg, skip)
			}
		}
		if plan, err = s.plan(ctx, id, dir, in, cut); err != nil {
			return res, err
		}
		b, _ := json.Marshal(plan)
		if _, err := s.deps.State.Put(ctx, job.PlanKey(id), b); err != nil {
			return res, err
		}
		res.split = time.Since(t0)
		s.deps.Metrics.Split(res.split)
		if err := s.update(ctx, id, func(r *job.Record) { r.SplitSeconds = res.split.Seconds() }); err != nil {
			return res, err
		}
		log.Info("job planned", zap.Int("segments", len(plan.Segments)), zap.Int("frames", plan.TotalFrames), zap.Duration("split", res.split))
	default:
		return res, err
	}
	res.plan = plan

	var parked *job.Parking
	gen := 0
	if err := s.update(ctx, id, func(r *job.Record) {
		// Waiting is cleared: an outage the job waited out (executeThroughOutages) is over; a park stands.
		r.State, r.Segments, r.TotalFrames, r.Error, r.Waiting = job.Running, len(plan.Segments), plan.TotalFrames, "", ""
		if r.Parked != nil {
			r.Waiting = r.Parked.Note()
		}
		parked, gen = r.Parked, r.Generation
	}); err != nil {
		return res, err
	}
	republish := func(ctx context.Context, gen int) error {
		return s.publish(ctx, id, plan, in.spec, gen, queued(ctx))
	}
	if parked == nil { // a parked job's tasks stay off the queue (followPlacement purges what a stop left there)
		if err := republish(ctx, gen); err != nil {
			return res, err
		}
	} else {
		log.Info("resuming a parked job", zap.String("waiting", parked.Note()))
	}
	stopWaiting := s.followPlacement(ctx, id, plan, parked, republish)
	var last time.Time
	pre := newPrefetch(ctx, s.deps.Blob, dir)
	defer pre.close()
	// The audio comes from the target, needed from the first piece on: the output is stitched as results arrive.
	audio := ""
	if plan.HasAudio && !in.skipAudio {
		if audio, err = in.target(ctx); err != nil {
			stopWaiting()
			return res, err
		}
	}
	outKey := ""
	if in.store {
		outKey = job.OutputKey(id, filepath.Ext(in.output))
	}
	tl := s.startTail(ctx, log, plan, media.StitchConfig{AudioFrom: audio, Output: in.output, Metadata: in.metadata,
		Rotation: plan.Rotation}, outKey, dir, pre)
	defer tl.abort()
	commits, err := s.wait(ctx, id, in.targetName, plan.Segments, func(done, total int) {
		if in.progress != nil {
			in.progress(done, total)
		}
		if time.Since(last) < s.cfg.ProgressEvery && done != total {
			return
		}
		last = time.Now()
		s.updated(ctx, s.log.With(zap.String("job", id)), "progress", s.update(ctx, id, func(r *job.Record) { r.FramesDone = done }))
	}, pre)
	stopWaiting()
	if err != nil {
		// A worker names the source by what it is; the user knows it by its file name.
		if msg := err.Error(); strings.Contains(msg, job.SourceImage) {
			return res, &renamedError{msg: strings.Replace(msg, job.SourceImage, job.SourceImage+" "+in.sourceName, 1), err: err}
		}
		return res, err
	}

	if err := s.update(ctx, id, func(r *job.Record) { r.State, r.Waiting, r.Parked = job.Stitching, "", nil }); err != nil {
		return res, err
	}
	t1 := time.Now()
	done, outSum, stored := false, "", error(nil)
	if tl != nil {
		done, outSum, stored = tl.finish(ctx, commits, pre, in.drop)
	}
	if !done {
		if err := s.stitch(ctx, plan, commits, pre, dir, audio, in.output, in.metadata); err != nil {
			return res, err
		}
		// The output's hash is read while the output is stored, not before: both read the file just written (from
		// the page cache), where one after the other they added a whole read of the output to the job's tail.
		sum := make(chan string, 1)
		go func() { h, _ := provenance.FileSHA256(in.output); sum <- h }()
		if in.store {
			t2 := time.Now()
			stored = s.deps.Blob.PutFile(ctx, outKey, in.output)
			log.Debug("output stored", zap.Duration("store", time.Since(t2)))
		}
		outSum = <-sum
	}
	res.provenance = provenanceOf(in, plan, in.output, outSum)
	if stored != nil {
		return res, fmt.Errorf("store output: %w", stored)
	}
	if in.store {
		res.provenance.Output = outKey
		if err := s.storeProvenance(ctx, res.provenance, dir, outKey); err != nil {
			return res, err
		}
	}
	res.stitch = time.Since(t1)
	s.deps.Metrics.Stitch(res.stitch)
	log.Info("job done", zap.Duration("stitch", res.stitch))
	if faces, counted := job.FacesFound(commits); counted && faces == 0 {
		res.warning = job.NoFaceWarning(in.targetName)
	}
	return res, s.update(ctx, id, func(r *job.Record) {
		r.State, r.FramesDone, r.OutputKey, r.Waiting, r.StitchSeconds = job.Done, r.TotalFrames, outKey, "", res.stitch.Seconds()
		r.Warning = res.warning
	})
}

// plan checks the target against the limits, probes it, splits it and stores the pieces, handing each to cut.
func (s *Service) plan(ctx context.Context, id, dir string, in files, cut cutFunc) (job.JobPlan, error) {
	size, err := in.targetSize(ctx)
	if err != nil {
		return job.JobPlan{}, fmt.Errorf("%s: %w", in.targetName, err)
	}
	if l := s.cfg.Limits; l.MaxInputBytes > 0 && size > l.MaxInputBytes {
		return job.JobPlan{}, l.Check(in.targetName, size, &media.Info{})
	}
	t0 := time.Now()
	// A stored target is read in place where its store hands out a URL: probe, scan (of the MP4 index) and cut
	// start on it while the download runs for what needs the file. A target the URL cannot serve is read from
	// the download, as before.
	target := ""
	if in.targetURL != nil {
		if u, err := in.targetURL(ctx); err == nil {
			target = u
		} else if !errors.Is(err, store.ErrNoURL) {
			s.log.Debug("target not read in place", zap.String("job", id), zap.Error(err))
		}
	}
	if target == "" {
		if target, err = in.target(ctx); err != nil {
			return job.JobPlan{}, err
		}
	}
	var scanned <-chan scanResult
	if media.IsURL(target) {
		scanned = scanAhead(ctx, target) // beside the probe: each waits on its own requests
	}
	t1 := time.Now()
	info := in.info
	if info == nil {
		info, err = media.Probe(ctx, target)
		if err != nil && media.IsURL(target) {
			// Whatever failed, the download says it as it always has (a bad target's error names the user's file).
			s.log.Debug("target not probed in place", zap.String("job", id), zap.Error(userFile(err, target, in.targetName)))
			if target, err = in.target(ctx); err != nil {
				return job.JobPlan{}, err
			}
			info, err = media.Probe(ctx, target)
		}
		if err != nil {
			return job.JobPlan{}, userFile(err, target, in.targetName)
		}
	}
	s.log.Debug("target ready", zap.String("job", id), zap.Bool("in_place", media.IsURL(target)),
		zap.Duration("fetch", t1.Sub(t0)), zap.Duration("probe", time.Since(t1)))
	if info.IsImage {
		return job.JobPlan{}, fmt.Errorf("%s: %w", in.targetName, ErrImageTarget)
	}
	if err := s.cfg.Limits.Check(in.targetName, size, info); err != nil {
		return job.JobPlan{}, err
	}
	if s.deps.Screen != nil && in.spec.Face.AltersFaces() {
		local, err := in.target(ctx) // the screen decodes frames through the whole target
		if err != nil {
			return job.JobPlan{}, err
		}
		if err := s.deps.Screen.Screen(ctx, local, in.targetName, info); err != nil {
			return job.JobPlan{}, userFile(err, local, in.targetName)
		}
	}
	if note := (media.EncoderConfig{Width: info.Width, Height: info.Height, Codec: in.spec.Encoder}).SizeNote(); note != "" {
		s.log.Info(note, zap.String("job", id)) // an odd size is padded, never silently
	}
	plan, err := s.split(ctx, id, target, info, in.seconds, dir, cut, in.target, scanned)
	if err != nil {
		return plan, userFile(userFile(err, target, in.targetName), in.targetFile, in.targetName)
	}
	if media.IsURL(target) && info.HasAudio && !in.skipAudio {
		// The download, for the stitch's audio, starts once every piece is queued: during the split it took the
		// disk and the cores from the cut and the pieces' stores, while the stitch waits for the first result
		// anyway. A step that needs the file sooner started it (in.target).
		in.fetch(ctx)
	}
	return plan, nil
}

// provenanceOf is the record of a job's stitched output at path, named by its path until the caller knows better.
// outputSHA256 is the output's hash ("" if it could not be read).
func provenanceOf(in files, plan job.JobPlan, path, outputSHA256 string) provenance.Record {
	rec := provenance.New(path, in.spec.Face.Processors)
	rec.OutputSHA256 = outputSHA256
	rec.SourceSHA256, rec.TargetSHA256 = in.hashes()
	rec.Frames, rec.Segments, rec.Watermark = plan.TotalFrames, len(plan.Segments), in.spec.Watermark
	return rec
}

// storeProvenance stores rec beside the output stored under outKey.
func (s *Service) storeProvenance(ctx context.Context, rec provenance.Record, dir, outKey string) error {
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
	s.deps.Metrics.Redelivered(d.Deliveries - 1)
	t, err := job.DecodeTask(d.Data)
	if err != nil { // workers refuse such a task and fail its job; it has nothing more to say
		s.removeDead(ctx, d.Seq)
		return
	}
	if r, err := s.record(ctx, t.Job); err == nil && r.Parked != nil {
		s.removeDead(ctx, d.Seq) // parked: its tasks are off the queue until a worker that fits joins
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
	_, err := s.updateRev(ctx, id, fn)
	return err
}

// updateRev is update, returning the record's new revision.
func (s *Service) updateRev(ctx context.Context, id string, fn func(*job.Record)) (uint64, error) {
	return s.deps.State.Modify(ctx, job.RecordKey(id), func(old []byte) ([]byte, error) {
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
	if me != nil { // a URL read in place holds credentials: none in what ffmpeg said either
		me.Detail = strings.ReplaceAll(me.Detail, local, name)
		me.Stderr = strings.ReplaceAll(me.Stderr, local, name)
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
