// Package worker is the daemon that turns tasks into results: it fetches segment tasks from the queue, runs the
// pipeline on each, uploads the result and commits it with compare-and-set before acking. It holds no algorithms:
// the engine processes frames, the pipeline streams them, the queue and the store move bytes.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/facefleet/facefleet/pkg/backoff"
	"github.com/facefleet/facefleet/pkg/engine"
	"github.com/facefleet/facefleet/pkg/fault"
	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/memory"
	"github.com/facefleet/facefleet/pkg/metrics"
	"github.com/facefleet/facefleet/pkg/pipeline"
	"github.com/facefleet/facefleet/pkg/queue"
	"github.com/facefleet/facefleet/pkg/store"
	"github.com/facefleet/facefleet/pkg/watermark"
)

// Config is a worker's settings.
type Config struct {
	ID      string
	WorkDir string
	// Slots is how many segments this worker processes at once; each slot loads its own models.
	Slots int
	// FetchWait bounds one Fetch call, so shutdown is noticed promptly.
	FetchWait time.Duration
	// KeepAlive is how often InProgress is sent while a segment is processed (well under the stream's AckWait).
	KeepAlive time.Duration
	// RetryDelay is the NakWithDelay after a segment's own failure (one counted against MaxAttempts).
	RetryDelay time.Duration
	// TroubleBase and TroubleMax bound the backoff of a worker in trouble of its own (pkg/fault: disk full, out of
	// memory, a model that will not load, storage or queue unreachable). Such a failure is never counted against
	// the segment: the task goes back at once for another worker, a note says why the job waits, and this worker
	// fetches nothing for a jittered delay, doubling from TroubleBase up to TroubleMax, then tries one task; a
	// success clears the trouble.
	TroubleBase, TroubleMax time.Duration
	// TroubleLimit, when set, is how long a worker's own trouble may last before its failures count against the
	// segment again: `coordinator run` has no other worker to wait for, and a full disk must end it with an error
	// rather than a wait. 0 (a cluster worker) waits as long as the trouble lasts.
	TroubleLimit time.Duration
	// HoldResult is how long a finished segment's upload and commit are retried in place through an outage before
	// the segment is handed back (and done again later).
	HoldResult time.Duration
	// MaxDeliver must match the consumer's: the delivery that reaches it records the job's failure.
	MaxDeliver int
	// Grace is how long in-flight segments may run on after shutdown begins before they are Nak'ed.
	Grace time.Duration
	// ProgressEvery throttles progress records; 0 means job.ProgressEvery.
	ProgressEvery time.Duration
	// Budget plans every task and keeps the process's memory at run time; one per process, shared by every worker
	// in it. Nil: a budget of none for this worker's slots at batch 1. A task whose plan does not fit is handed back
	// at once so a bigger worker takes it: the worker remembers the job (its segments share a resolution) and backs
	// its fetches off, doubling up to PlacementDelay, while it is handed only work it cannot fit.
	Budget         *Budget
	PlacementDelay time.Duration
	// MaxAttempts is how many failed attempts a segment gets before the job fails; placement hand-backs and
	// deliveries after a crash do not count (the queue's MaxDeliver and the coordinator's dead-letter handling are
	// the last resort for a worker that dies every time).
	MaxAttempts int
	// FramesDir, when set, keeps every processed frame there (--keep-frames, in the task's frame format). Only the
	// in-process run (`coordinator run`) sets it, to its user's own directory: a task is a message anyone on the
	// cluster can publish, so where a worker writes is decided by its config, never by a task. A remote worker
	// leaves it unset and writes frames nowhere.
	FramesDir string
	// SourceCheck is how often the records of jobs whose source faces this worker keeps are checked (the face is
	// removed once its job ends or is deleted); SourceIdle removes a face no task asked for in that long (disk.go).
	SourceCheck time.Duration
	SourceIdle  time.Duration
	// NoAhead turns off taking a task ahead (ahead.go): each slot then fetches its next task only once the current
	// one is settled.
	NoAhead bool
	// Simulation, when set, replaces the frame work with a synthetic cost (simulate.go): a benchmark's setting,
	// made only through NewSimulation.
	Simulation *Simulation
}

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fleet.SafeID(fmt.Sprintf("%s-%d", host, os.Getpid()))
	}
	if c.WorkDir == "" {
		return errors.New("worker: work dir is required")
	}
	if c.Slots <= 0 {
		c.Slots = 1
	}
	if c.FetchWait <= 0 {
		c.FetchWait = 2 * time.Second
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = 10 * time.Second
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = 5 * time.Second
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 5
	}
	if c.Grace <= 0 {
		c.Grace = 30 * time.Second
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = job.ProgressEvery
	}
	if c.PlacementDelay <= 0 {
		c.PlacementDelay = 10 * time.Second
	}
	if c.TroubleBase <= 0 {
		c.TroubleBase = time.Second
	}
	if c.TroubleMax <= 0 {
		c.TroubleMax = 30 * time.Second
	}
	if c.HoldResult <= 0 {
		c.HoldResult = 2 * time.Minute
	}
	if c.TroubleMax < c.TroubleBase {
		return fmt.Errorf("worker: TroubleMax %s is below TroubleBase %s", c.TroubleMax, c.TroubleBase)
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = min(3, c.MaxDeliver)
	}
	if c.SourceCheck <= 0 {
		c.SourceCheck = DefaultSourceCheck
	}
	if c.SourceIdle <= 0 {
		c.SourceIdle = DefaultSourceIdle
	}
	if c.Budget == nil {
		b, err := NewBudget(BudgetConfig{Pipelines: c.Slots, MaxBatch: 1}, BudgetDeps{})
		if err != nil {
			return err
		}
		c.Budget = b
	}
	return nil
}

// MultiPass is an Engine that can run a job's processors one pass at a time. Under a plan with OnePassPerProcessor
// (--memory-optimization) a job with
// several processors runs them so, through an exact intermediate file, unloading each processor's models before the
// next loads its own: the peak holds one processor's models, not all of them, at the cost of a decode and an encode
// per extra pass. The faces the first pass found are replayed to the later ones.
type MultiPass interface {
	ForPass(jobID, sourcePath string, opt job.FaceOptions, log *engine.FaceLog, replay bool) (pipeline.Processor, error)
	Unload(processor string)
}

// splitPasses splits a job's processors into the passes this worker runs under plan.
func splitPasses(eng Engine, plan memory.Plan, processors []string) [][]string {
	if _, ok := eng.(MultiPass); !ok || !plan.OnePassPerProcessor || len(processors) < 2 {
		return [][]string{processors}
	}
	out := make([][]string, len(processors))
	for i, p := range processors {
		out[i] = []string{p}
	}
	return out
}

// FaceCounter is a processor that counts the faces it found (engine.FrameProcessor): the commit carries the count,
// so that a job in which no face was found anywhere can say so.
type FaceCounter interface {
	Faces() (n int, counted bool)
}

// Engine is what a slot needs from the face engine.
type Engine interface {
	ForJob(jobID, sourcePath string, opt job.FaceOptions) (pipeline.Processor, error)
	Close() error
}

// ReuseFirst returns a NewEngine that hands out first, an engine the caller already loaded (to measure its
// footprint or check the job's inputs), to the first slot and calls more for the others. release closes first if no
// slot took it; call it once the worker is built.
func ReuseFirst(first Engine, more func() (Engine, error)) (newEngine func() (Engine, error), release func()) {
	var once sync.Once
	newEngine = func() (Engine, error) {
		var e Engine
		once.Do(func() { e = first })
		if e != nil {
			return e, nil
		}
		return more()
	}
	return newEngine, func() { once.Do(func() { _ = first.Close() }) }
}

// Deps are the worker's collaborators, passed in so tests run them for real or fault them.
type Deps struct {
	Tasks     *queue.Tasks
	State     *queue.State
	Blob      store.Blob
	NewEngine func() (Engine, error)
	Log       *zap.Logger
	// Clock times the backoffs; the system's when nil.
	Clock backoff.Clock
	// Tick, when set, is called on every turn of the fetch loop, at least every FetchWait while Run runs (also
	// while slots are full, the worker backs off, or a drain waits): a liveness probe's pulse (health.Beat).
	Tick func()
	// Metrics, when set, counts the segments settled and frames processed, and reads the sampled gauges (the
	// budget's, frames per second, batch) at scrape time; nil collects nothing.
	Metrics *metrics.Worker
}

// Worker processes segment tasks.
type Worker struct {
	cfg     Config
	deps    Deps
	log     *zap.Logger
	engines chan Engine
	uploads chan struct{} // one finished segment's upload and commit in flight per slot (ahead.go)
	halfway halfway       // running segments past half their frames: when to take a task ahead (ahead.go)
	watches *jobWatches   // the jobs' records, watched once per job for all its segments here (jobwatch.go)
	dir     *workDir      // this worker's own directory under WorkDir
	srcMu   sync.Mutex
	sources []cachedSource // oldest first

	statMu sync.Mutex
	active map[string]bool // "job/segment" being processed
	frames []frameMark     // recent frame counts, for the heartbeat's fps
	batch  atomic.Int64    // the last segment's planned batch, for the metrics

	clock backoff.Clock
	gate  *gate
	unfit unfitJobs

	drainOnce sync.Once
	drain     chan struct{} // closed by Drain
	doneOnce  sync.Once
	drained   chan struct{} // closed once fetching stopped and the work in flight is settled
}

type frameMark struct {
	at time.Time
	n  int
}

type cachedSource struct {
	job, path string
	used      time.Time // when a task of the job last asked for it
}

// New loads one engine per slot.
func New(cfg Config, deps Deps) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Tasks == nil || deps.State == nil || deps.Blob == nil || deps.NewEngine == nil {
		return nil, errors.New("worker: tasks, state, blob and engine are required")
	}
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	if deps.Clock == nil {
		deps.Clock = backoff.System{}
	}
	log := deps.Log.With(zap.String("worker", cfg.ID))
	dir, err := openWorkDir(cfg.WorkDir, cfg.ID, log)
	if err != nil {
		return nil, err
	}
	w := &Worker{cfg: cfg, deps: deps, log: log, dir: dir,
		engines: make(chan Engine, cfg.Slots), uploads: make(chan struct{}, cfg.Slots), halfway: newHalfway(), active: map[string]bool{}, clock: deps.Clock,
		drain: make(chan struct{}), drained: make(chan struct{}),
		gate: newGate(cfg.TroubleBase, cfg.TroubleMax, cfg.FetchWait/4, cfg.PlacementDelay)}
	for i := 0; i < cfg.Slots; i++ {
		e, err := deps.NewEngine()
		if err != nil {
			w.closeEngines()
			dir.close(log)
			return nil, err
		}
		w.engines <- e
	}
	deps.Metrics.Sample(w.sample)
	return w, nil
}

// sample is the worker's sampled metrics, read at scrape time.
func (w *Worker) sample() metrics.WorkerSample {
	s := w.cfg.Budget.sample()
	_, s.FPS = w.Stats()
	s.Batch = int(w.batch.Load())
	return s
}

// ID is the worker's id.
func (w *Worker) ID() string { return w.cfg.ID }

func (w *Worker) closeEngines() {
	for {
		select {
		case e := <-w.engines:
			_ = e.Close()
		default:
			return
		}
	}
}

// Run fetches and processes tasks until ctx ends or Drain is called. Then it stops fetching, lets in-flight
// segments finish for up to Grace, Naks what is left so another worker takes it at once, and, after a drain, waits
// for ctx to end; then it closes the engines, removes its files and returns.
func (w *Worker) Run(ctx context.Context) error {
	workCtx, cancelWork := context.WithCancel(context.Background())
	defer cancelWork()
	defer w.dir.close(w.log) // after the engines: nothing reads a source any more
	defer w.closeEngines()
	defer w.settled() // Run may return early; a drain request must not wait for nothing
	// Libraries that cannot code a segment fail the worker here, not every task it would take; and their first
	// use is paid before the first segment, not in it. A check stopped by the worker's own trouble (a full disk)
	// fails nothing: that trouble is handled per task, and it may clear.
	if err := media.SelfCheck(ctx, w.dir.path); err != nil && ctx.Err() == nil {
		if fault.Of(err) == nil {
			return err
		}
		w.log.Warn("media self-check not run", zap.Error(err))
	}
	w.watches = newJobWatches(workCtx, w.deps.State, w.log)
	go w.janitor(workCtx)
	// fetchCtx ends the fetch loop: on shutdown, or on a drain (a pull in progress hands its tasks back).
	fetchCtx, stopFetching := context.WithCancel(ctx)
	defer stopFetching()
	go func() {
		select {
		case <-w.drain:
			w.log.Info("draining: fetching stopped, in-flight segments finish")
			stopFetching()
		case <-fetchCtx.Done():
		}
	}()
	var wg sync.WaitGroup
	// A slot's tasks: the one it runs and, unless NoAhead, one held ahead (ahead.go).
	slots := make(chan struct{}, w.cfg.Slots*w.depth())
	for fetchCtx.Err() == nil {
		w.tick()
		// Held back by trouble of its own, or by hand-backs of work it cannot fit: fetch nothing for a while
		// (slept a FetchWait at a time, so the loop keeps turning for the liveness probe).
		if d := w.gate.wait(w.clock.Now()); d > 0 {
			_ = backoff.Sleep(fetchCtx, w.clock, min(d, w.cfg.FetchWait))
			continue
		}
		free, ahead := w.toFetch(len(slots))
		if free == 0 {
			select {
			case slots <- struct{}{}: // wait for a slot, then give it back and fetch
				<-slots
			case <-fetchCtx.Done():
			case <-time.After(w.cfg.FetchWait):
			}
			continue
		}
		if ahead && !w.halfway.any() {
			// Not before a running segment is half done: the tasks being published now are for idle workers.
			select {
			case <-w.halfway.crossed:
			case <-fetchCtx.Done():
			case <-time.After(w.cfg.FetchWait):
			}
			continue
		}
		if w.gate.troubled() && !ahead {
			free = 1 // one task tells whether the trouble has cleared
		}
		leases, err := w.deps.Tasks.Fetch(fetchCtx, free, jitter(w.cfg.FetchWait))
		if err != nil {
			if fetchCtx.Err() != nil {
				break
			}
			w.log.Warn("fetch failed", zap.Error(err))
			select {
			case <-time.After(time.Second):
			case <-fetchCtx.Done():
			}
			continue
		}
		// A task taken ahead goes back at once when fetching stops (drain, shutdown) before its frames start.
		var held <-chan struct{}
		if ahead {
			held = fetchCtx.Done()
		}
		for _, l := range leases {
			slots <- struct{}{}
			wg.Add(1)
			go func(l *queue.Lease) {
				defer wg.Done()
				defer func() { <-slots }()
				w.handle(workCtx, l, held)
			}(l)
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	grace := time.After(w.cfg.Grace)
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-grace:
			w.log.Warn("grace period over, returning in-flight segments to the queue")
			cancelWork()
			<-done
			waiting = false
		case <-time.After(w.cfg.FetchWait):
			w.tick()
		}
	}
	w.settled()
	if ctx.Err() == nil {
		w.log.Info("drained: taking no tasks until stopped")
		for ctx.Err() == nil { // a drained worker stays up, idle, until it is told to stop
			w.tick()
			select {
			case <-ctx.Done():
			case <-time.After(w.cfg.FetchWait):
			}
		}
	}
	return nil
}

// Drain makes Run stop fetching and settle the segments in flight as a shutdown does (finish within Grace, the
// rest handed back), without returning until its context ends: Kubernetes' preStop calls it so that the pod
// takes no new work before its SIGTERM. Calling it again does nothing.
func (w *Worker) Drain() { w.drainOnce.Do(func() { close(w.drain) }) }

// Draining reports whether Drain was called.
func (w *Worker) Draining() bool {
	select {
	case <-w.drain:
		return true
	default:
		return false
	}
}

// Drained is closed once Run has stopped fetching and settled its work in flight (after a drain or a shutdown).
func (w *Worker) Drained() <-chan struct{} { return w.drained }

func (w *Worker) settled() { w.doneOnce.Do(func() { close(w.drained) }) }

func (w *Worker) tick() {
	if w.deps.Tick != nil {
		w.deps.Tick()
	}
}

// handle runs one task to a commit, a retry or a failure. It always settles the lease. held, for a task taken
// ahead, closes when it must go back to the queue if its frames have not started yet.
func (w *Worker) handle(ctx context.Context, l *queue.Lease, held <-chan struct{}) {
	t, err := job.DecodeTask(l.Data())
	if err != nil {
		w.refuse(l, t, err)
		return
	}
	log := w.log.With(zap.String("job", t.Job), zap.Int("segment", t.Segment.Index), zap.Int("attempt", l.Delivered()))
	// A segment already committed (a redelivery after a late ack) or a job that ended needs no work.
	if _, err := w.deps.State.Get(ctx, job.CommitKey(t.Job, t.Segment.Index)); err == nil {
		warnIf(log, "ack of an already committed segment", l.Ack(ctx))
		return
	}
	var seen uint64 // the record's revision read here: a later one that ends the job stops the segment
	if e, err := w.deps.State.Get(ctx, job.RecordKey(t.Job)); err == nil {
		seen = e.Revision
		rec, err := job.DecodeRecord(t.Job, e.Value)
		switch {
		case err != nil: // the coordinator fails the job for it; nothing the record says is acted on
			log.Error("job record refused", zap.Error(err))
			warnIf(log, "term", l.Term(err.Error()))
			return
		case rec.State.Terminal():
			w.dropSource(t.Job, "job "+string(rec.State))
			warnIf(log, "term", l.Term("job "+string(rec.State)))
			return
		}
	}
	// All of a job's segments share a resolution: a job that did not fit once never will on this worker.
	if u, ok := w.unfit.get(t.Job); ok {
		w.handBack(ctx, l, t, u, log)
		return
	}
	plan, err := w.place(t)
	if err != nil {
		u := unfit{why: fmt.Sprintf("%dx%d does not fit: %v", t.Spec.Width, t.Spec.Height, err)}
		var be *memory.BudgetError
		if errors.As(err, &be) {
			u.need = be.Need
		}
		w.unfit.add(t.Job, u)
		w.handBack(ctx, l, t, u, log)
		return
	}
	w.gate.fitted()
	w.batch.Store(int64(plan.Batch))
	if _, err := w.deps.State.Get(ctx, job.WaitingKey(t.Job, t.Segment.Index)); err == nil {
		warnIf(log, "removing the placement note", w.deps.State.Delete(ctx, job.WaitingKey(t.Job, t.Segment.Index))) // a bigger worker took it
	}
	name := fmt.Sprintf("%s/%d", t.Job, t.Segment.Index)
	w.setActive(name, true)
	defer w.setActive(name, false)

	// A cancel (the job's record turns terminal) stops the segment at once.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ended, leave := w.watches.join(t.Job, seen, cancel)
	defer leave()
	stop := l.KeepAlive(pctx, w.cfg.KeepAlive)
	dir := w.segmentDir(t, l.Delivered())
	err = w.process(pctx, l, t, plan, dir, held, log)
	stop()
	switch {
	case err == nil:
		if was := w.gate.ok(); was != nil {
			log.Info("trouble cleared: fetching again", zap.NamedError("was", was))
		}
		if err := l.Ack(ctx); err != nil {
			log.Warn("ack failed; the commit already fences the result", zap.Error(err))
		}
	case errors.Is(err, errHeldBack):
		log.Info("fetching stopped: the task taken ahead goes back to the queue")
		w.deps.Metrics.Segment(metrics.HandedBack)
		warnIf(log, "nak", l.Nak())
	case ctx.Err() != nil:
		log.Info("segment interrupted, returned to the queue")
		w.deps.Metrics.Segment(metrics.HandedBack)
		warnIf(log, "nak", l.Nak())
	case ended.Load():
		log.Info("job ended while its segment was processed")
		w.dropSource(t.Job, "job ended")
		warnIf(log, "term", l.Term("job ended"))
	case fault.Of(err) != nil && (w.cfg.TroubleLimit == 0 || w.gate.lasted(w.clock.Now()) <= w.cfg.TroubleLimit):
		w.ownTrouble(ctx, l, t, err, log)
	case errors.Is(err, engine.ErrBadInput) || errors.Is(err, engine.ErrNoFace):
		log.Error("bad input", zap.Error(err))
		reason := w.userFacing(err, dir, t)
		w.fail(t, reason)
		w.deps.Metrics.Segment(metrics.Failed)
		warnIf(log, "term", l.Term(reason))
	case w.countFailure(ctx, t) >= w.cfg.MaxAttempts:
		log.Error("segment failed on its last attempt", zap.Error(err))
		reason := w.userFacing(err, dir, t)
		w.fail(t, reason)
		w.deps.Metrics.Segment(metrics.Failed)
		warnIf(log, "term", l.Term(reason))
	default:
		log.Warn("segment failed, will retry", zap.Error(err))
		w.deps.Metrics.Segment(metrics.Retried)
		warnIf(log, "nak", l.NakWithDelay(w.cfg.RetryDelay))
	}
}

// refuse terminates a task that cannot be decoded or breaks a rule, and fails its job with the reason when the
// task names a job at all (its coordinator would otherwise wait for the segment). Nothing else in it is used.
func (w *Worker) refuse(l *queue.Lease, t job.Task, why error) {
	w.log.Error("task refused", zap.String("msg", l.MsgID()), zap.Error(why))
	if job.ValidateID(t.Job) == nil {
		if t.Segment.Index < 0 || t.Segment.Index >= job.MaxSegments {
			t.Segment.Index = 0
		}
		w.fail(t, why.Error())
	}
	w.deps.Metrics.Segment(metrics.Failed)
	warnIf(w.log, "term", l.Term(why.Error()))
}

// place plans a task for this process's budget: the pipeline's frames in flight, batch and codec threads.
func (w *Worker) place(t job.Task) (memory.Plan, error) {
	return w.cfg.Budget.Plan(t.Spec.Width, t.Spec.Height, t.Spec.Encoder, t.Segment.Frames())
}

// handBack returns a task this worker cannot fit at once, so that a worker that can fit it and is waiting for
// work gets it now, leaves a note that the coordinator shows in the job's status, and holds this worker's fetches
// back (doubling up to PlacementDelay) so that it stops pulling work it cannot take. Hand-backs never fail a job: a
// bigger worker may join the fleet later.
// The note says so in fields the coordinator reads (job.Waiting.Unfit): a job every live worker hands back is parked.
func (w *Worker) handBack(ctx context.Context, l *queue.Lease, t job.Task, u unfit, log *zap.Logger) {
	d := w.gate.handedBack(w.clock.Now())
	log.Info("segment does not fit this worker; handing it back", zap.String("why", u.why), zap.Duration("fetch_pause", d))
	w.note(ctx, t, job.Waiting{Reason: u.why, Unfit: true, Need: u.need, FitPixels: w.cfg.Budget.FitPixels()})
	w.deps.Metrics.Segment(metrics.HandedBack)
	warnIf(log, "nak", l.Nak())
}

// ownTrouble hands back a task that failed for this worker's own trouble (fault.Of), uncounted: the task goes back
// at once for another worker, the job's status says why it waits, and this worker fetches nothing for a backoff.
func (w *Worker) ownTrouble(ctx context.Context, l *queue.Lease, t job.Task, err error, log *zap.Logger) {
	class := fault.Of(err)
	since, d, fresh := w.gate.fail(class, err, w.clock.Now())
	f := []zap.Field{zap.Error(err), zap.Duration("fetch_pause", d), zap.Time("since", since)}
	if fresh {
		log.Warn("trouble of this worker's own, not the segment's: handed back uncounted, fetching paused", f...)
	} else {
		log.Info("still in trouble: handed back uncounted, fetching paused", f...)
	}
	w.note(ctx, t, job.Waiting{Reason: fmt.Sprintf("%v since %s, retrying", class, since.UTC().Format("15:04:05 UTC"))})
	w.deps.Metrics.Segment(metrics.OwnTrouble)
	warnIf(log, "nak", l.Nak())
}

// note tells the job's coordinator why a segment waits (waiting.<job>.<n>); it shows in the job's status, and a
// task with a note that reaches the queue's MaxDeliver is queued again rather than failing its job.
func (w *Worker) note(ctx context.Context, t job.Task, n job.Waiting) {
	n.Worker, n.At = w.cfg.ID, w.clock.Now().UTC()
	b, _ := json.Marshal(n)
	if _, err := w.deps.State.Put(context.WithoutCancel(ctx), job.WaitingKey(t.Job, t.Segment.Index), b); err != nil {
		w.log.Warn("placement note not written: the job's status will not say why it waits", zap.String("job", t.Job),
			zap.Int("segment", t.Segment.Index), zap.Error(err))
	}
}

// Trouble is the worker's own trouble, for its heartbeat and `coordinator workers`: "" when it is healthy, else
// what is wrong, since when, and that it takes no tasks meanwhile.
func (w *Worker) Trouble() string { return w.gate.status() }

// jitter spreads d over [0.75d, 1.25d). JetStream hands a redelivered task to the oldest waiting pull request; with
// fixed delays and fetch waits, a worker that hands a task back re-pulls in the same phase every time and is handed
// the same task again forever, while bigger idle workers never see it.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}

// countFailure adds one to the segment's failed attempts and returns the count.
func (w *Worker) countFailure(ctx context.Context, t job.Task) int {
	n := 0
	_, err := w.deps.State.Modify(context.WithoutCancel(ctx), job.FailsKey(t.Job, t.Segment.Index), func(old []byte) ([]byte, error) {
		n = 0
		if old != nil && json.Unmarshal(old, &n) != nil {
			n = 0 // untrusted: a count that does not decode starts over, and says so
			w.log.Warn("failure count unreadable; counting from 0", zap.String("job", t.Job), zap.Int("segment", t.Segment.Index))
		}
		n++
		return json.Marshal(n)
	})
	if err != nil {
		w.log.Warn("failed attempt not counted", zap.String("job", t.Job), zap.Int("segment", t.Segment.Index), zap.Error(err))
		return 0
	}
	return n
}

func (w *Worker) setActive(name string, on bool) {
	w.statMu.Lock()
	defer w.statMu.Unlock()
	if on {
		w.active[name] = true
	} else {
		delete(w.active, name)
	}
}

func (w *Worker) addFrames(n int) {
	w.deps.Metrics.Frames(n)
	w.statMu.Lock()
	defer w.statMu.Unlock()
	now := time.Now()
	w.frames = append(w.frames, frameMark{at: now, n: n})
	cut := 0
	for cut < len(w.frames) && now.Sub(w.frames[cut].at) > fpsWindow {
		cut++
	}
	w.frames = w.frames[cut:]
}

// fpsWindow is how far back the heartbeat's frames per second looks.
const fpsWindow = 30 * time.Second

// Stats are what the worker's heartbeat shows: the segments in work and the recent frames per second.
func (w *Worker) Stats() (tasks []string, fps float64) {
	w.statMu.Lock()
	defer w.statMu.Unlock()
	for k := range w.active {
		tasks = append(tasks, k)
	}
	sort.Strings(tasks)
	now := time.Now()
	n := 0
	for _, f := range w.frames {
		if now.Sub(f.at) <= fpsWindow {
			n += f.n
		}
	}
	return tasks, float64(n) / fpsWindow.Seconds()
}

// fail records why the job fails; reason is what users read (userFacing), made one printable line.
func (w *Worker) fail(t job.Task, reason string) {
	b, _ := json.Marshal(job.Failure{Job: t.Job, Segment: t.Segment.Index, Worker: w.cfg.ID, Reason: job.Message(errors.New(reason))})
	if _, err := w.deps.State.Create(context.Background(), job.FailureKey(t.Job), b); err != nil && !errors.Is(err, queue.ErrKeyExists) {
		w.log.Error("cannot record failure", zap.Error(err))
	}
}

// segmentDir is the scratch directory of one attempt at a segment, in this worker's private directory.
func (w *Worker) segmentDir(t job.Task, attempt int) string {
	return filepath.Join(w.dir.path, fmt.Sprintf("%s-%05d-%d", t.Job, t.Segment.Index, attempt))
}

// userFacing is err's text for the job's failure record, which users read in `status` and in run's exit line: the
// worker's scratch files are named for what they hold (the segment's frames of the target, the job's source
// image), never by their path on this worker. The paths replaced are the worker's own, built here, so the
// replacement is exact.
func (w *Worker) userFacing(err error, dir string, t job.Task) string {
	frames := fmt.Sprintf("frames %d-%d", t.Segment.Start, t.Segment.End-1)
	return strings.NewReplacer(
		filepath.Join(dir, "segment.mkv"), frames+" of the target",
		filepath.Join(dir, "result.mp4"), "the result of "+frames,
		dir+string(filepath.Separator), frames+", ",
		dir, "the scratch directory of "+frames,
		w.sourcePath(t), job.SourceImage,
		w.cfg.WorkDir, "the worker's work directory",
	).Replace(err.Error())
}

func (w *Worker) process(ctx context.Context, l *queue.Lease, t job.Task, plan memory.Plan, dir string, held <-chan struct{}, log *zap.Logger) error {
	start := time.Now()
	attempt := l.Delivered()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The job's source face (once per job) and the segment download side by side: a worker's first segment of a
	// job waited for one, then the other.
	var src string
	var srcErr error
	fetched := make(chan struct{})
	go func() {
		defer close(fetched)
		src, srcErr = w.source(ctx, t)
	}()
	in := filepath.Join(dir, "segment.mkv")
	err := w.deps.Blob.GetFile(ctx, t.SegmentKey, in)
	<-fetched
	if srcErr != nil {
		return srcErr
	}
	if err != nil {
		return fmt.Errorf("download segment: %w", err)
	}
	// A task taken ahead waits here for the slot's engine: that wait is the running segment's time, not this one's
	// (the commit's Seconds and the segment metric count the work).
	waitFrom := time.Now()
	eng, err := w.takeEngine(ctx, held)
	if err != nil {
		return err
	}
	start = start.Add(time.Since(waitFrom))
	var engOnce sync.Once
	giveEngine := func() { engOnce.Do(func() { w.engines <- eng }) }
	defer giveEngine()
	out := filepath.Join(dir, "result.mp4")
	var lastProgress time.Time
	reported, frames := 0, t.Segment.Frames()
	half := false
	defer func() {
		if half {
			w.halfway.leave()
		}
	}()
	report := func(done int) {
		w.addFrames(done - reported)
		reported = done
		if !half && 2*done >= frames {
			half = true
			w.halfway.enter()
		}
		if time.Since(lastProgress) < w.cfg.ProgressEvery && done != frames {
			return
		}
		lastProgress = time.Now()
		b, _ := json.Marshal(job.Progress{Frames: done})
		if _, err := w.deps.State.Put(ctx, job.ProgressKey(t.Job, t.Segment.Index), b); ctx.Err() == nil {
			warnIf(log, "progress record", err) // not when the segment was stopped: that says why
		}
	}
	passes := splitPasses(eng, plan, t.Spec.Face.Processors)
	if w.cfg.Simulation != nil {
		passes = nil
	}
	faces := engine.NewFaceLog()
	n := 0
	found, counted := 0, false // faces found in the segment: the first pass's count, the one that detects
	if sim := w.cfg.Simulation; sim != nil {
		if n, err = sim.run(ctx, in, out, frames, w.cfg.ProgressEvery, report); err != nil {
			return err
		}
	}
	for i, procs := range passes {
		opt := t.Spec.Face
		opt.Processors = procs
		var proc pipeline.Processor
		var err error
		if mp, ok := eng.(MultiPass); ok && len(passes) > 1 {
			proc, err = mp.ForPass(t.Job, src, opt, faces, i > 0)
		} else {
			proc, err = eng.ForJob(t.Job, src, opt)
		}
		if err != nil {
			return err
		}
		if t.Spec.Watermark && i == len(passes)-1 {
			proc = watermark.Wrap(proc) // after every processor, on the output's frames
		}
		cfg := pipeline.Config{
			Input: in, Output: out, Width: t.Spec.Width, Height: t.Spec.Height,
			FrameRate: media.Rational{Num: t.Spec.FrameRateNum, Den: t.Spec.FrameRateDen},
			Encoder:   t.Spec.Encoder, Quality: t.Spec.Quality, InFlight: plan.FramesInFlight,
			DecoderThreads: plan.DecoderThreads, EncoderThreads: plan.EncoderThreads, Lookahead: plan.Lookahead,
			Admit: w.cfg.Budget.Admitter(), Batch: plan.Batch,
			FirstFrame: t.Segment.Start, Expect: frames,
			FramesDir: w.cfg.FramesDir, FrameFormat: t.Spec.FrameFormat, FrameQuality: t.Spec.FrameQuality,
			SourcePixFmt: t.Spec.SourcePixFmt, Color: t.Spec.Color, SampleAspect: t.Spec.SampleAspect,
			TimeBase: t.Spec.TimeBase, Duration: t.Segment.Duration, Rotation: t.Spec.Rotation,
		}
		if i < len(passes)-1 { // an exact intermediate, for the next processor's pass
			ext := ".mkv"
			if !t.Spec.TimeBase.IsZero() {
				ext = ".mov" // keeps the frames' own times exactly; matroska rounds them to milliseconds
			}
			cfg.Output, cfg.Encoder, cfg.FramesDir = filepath.Join(dir, fmt.Sprintf("pass-%d", i+1)+ext), media.CodecLossless, ""
		} else if i > 0 {
			// The intermediate is exact BGR: the last pass writes its changes back into the segment's own
			// pictures, so untouched pixels come out as in one pass (pipeline.Config.Original).
			cfg.Original = filepath.Join(dir, "segment.mkv")
		}
		// Progress counts every pass: pass i of P covers frames (i*N .. (i+1)*N)/P.
		progress := func(done int) { report((i*frames + done) / len(passes)) }
		n, err = pipeline.Run(ctx, cfg, proc, progress)
		if fc, ok := proc.(FaceCounter); ok && i == 0 {
			found, counted = fc.Faces()
		}
		memory.ReleaseFreed() // the pass's decoder and encoder are closed: their threads' freed pages go back
		if len(passes) > 1 {
			eng.(MultiPass).Unload(procs[0])
		}
		if in != filepath.Join(dir, "segment.mkv") {
			_ = os.Remove(in)
		}
		if err != nil {
			return err
		}
		in = cfg.Output
	}
	// The frames are done: the slot's next task may start its frames while this one uploads and commits, one
	// upload in flight per slot (a second finished segment keeps its engine until the first's upload is done).
	select {
	case w.uploads <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-w.uploads }()
	giveEngine()
	key := job.ResultKey(t.Job, t.Segment.Index, t.Generation, attempt)
	if err := w.keep(ctx, "upload", log, func() error { return w.deps.Blob.PutFile(ctx, key, out) }); err != nil {
		return fmt.Errorf("upload result: %w", err)
	}
	c := job.Commit{Job: t.Job, Segment: t.Segment.Index, Attempt: attempt, Generation: t.Generation, Worker: w.cfg.ID, ResultKey: key,
		Frames: n, Seconds: time.Since(start).Seconds(), Faces: found, FacesCounted: counted}
	b, _ := json.Marshal(c)
	commitKey := job.CommitKey(t.Job, t.Segment.Index)
	// The result is stored: only the commit makes it count now, and it takes milliseconds. A shutdown's grace (or a
	// cancel) ending here left the result stored with no commit naming it, for good (the redo stores another):
	// the commit outlives ctx by commitGrace.
	segCtx := ctx
	ctx, cancel := context.WithCancel(context.WithoutCancel(segCtx))
	defer cancel()
	defer context.AfterFunc(segCtx, func() { time.AfterFunc(commitGrace, cancel) })()
	tries := 0
	err = w.keep(ctx, "commit", log, func() error {
		tries++
		_, err := w.deps.State.Create(ctx, commitKey, b)
		return err
	})
	if err != nil && tries > 1 && errors.Is(err, queue.ErrKeyExists) {
		// A create the server stored but whose answer was lost in the outage: the commit found may be this one.
		if en, gerr := w.deps.State.Get(ctx, commitKey); gerr == nil {
			var got job.Commit
			if json.Unmarshal(en.Value, &got) == nil && got.ResultKey == key {
				err = nil
			}
		}
	}
	if err != nil {
		if errors.Is(err, queue.ErrKeyExists) {
			log.Info("another attempt committed first; discarding this result")
			warnIf(log, "deleting the discarded result", w.deps.Blob.Delete(ctx, key))
			return nil
		}
		return fmt.Errorf("commit: %w", err)
	}
	log.Info("segment committed", zap.Int("frames", n), zap.Duration("took", time.Since(start)))
	w.deps.Metrics.Segment(metrics.Committed)
	w.deps.Metrics.SegmentSeconds(time.Since(start))
	return nil
}

// keep runs op, a finished segment's upload or commit, again while it fails for an outage (storage or queue
// unreachable), with the worker's trouble backoff, for up to HoldResult: the result in hand is worth more than a
// redo. The lease is kept alive meanwhile (while the queue answers at all).
func (w *Worker) keep(ctx context.Context, what string, log *zap.Logger, op func() error) error {
	b := backoff.Backoff{Base: w.cfg.TroubleBase, Max: w.cfg.TroubleMax}
	deadline := w.clock.Now().Add(w.cfg.HoldResult)
	for {
		err := op()
		if c := fault.Of(err); c != fault.ErrStorage && c != fault.ErrQueue {
			return err
		}
		d := b.Next()
		if w.clock.Now().Add(d).After(deadline) {
			return err
		}
		log.Warn(what+" failed for an outage; retrying with the result in hand", zap.Error(err), zap.Duration("retry_in", d))
		if backoff.Sleep(ctx, w.clock, d) != nil {
			return err
		}
	}
}

// commitGrace is how long a stored result's commit may go on after its segment's context ended (a shutdown's
// grace over, a cancel): a create in KV takes milliseconds; an outage's retries stop there.
const commitGrace = 5 * time.Second

// keepSources is how many jobs' source images a worker keeps on disk; the engine keeps the prepared faces.
const keepSources = 8

// source downloads a job's source image once per worker and returns its local path. Source images are small, so
// slots wanting the same one simply wait for the first download.
func (w *Worker) source(ctx context.Context, t job.Task) (string, error) {
	w.srcMu.Lock()
	defer w.srcMu.Unlock()
	for i, s := range w.sources {
		if s.job == t.Job {
			w.sources[i].used = time.Now()
			return s.path, nil
		}
	}
	p := w.sourcePath(t)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	if err := w.deps.Blob.GetFile(ctx, t.Spec.SourceKey, p); err != nil {
		return "", fmt.Errorf("download source: %w", err)
	}
	// The store writes 0644; the face is the user's alone (its directory is 0700 too).
	warnIf(w.log, "making the source face private", os.Chmod(p, 0o600))
	w.sources = append(w.sources, cachedSource{job: t.Job, path: p, used: time.Now()})
	if len(w.sources) > keepSources {
		warnIf(w.log, "removing an older job's source face", os.Remove(w.sources[0].path))
		w.sources = w.sources[1:]
	}
	return p, nil
}

// sourcePath is where a job's source face is kept, in a directory only this user can read (made by source).
func (w *Worker) sourcePath(t job.Task) string {
	return filepath.Join(w.dir.path, sourcesDir, t.Job+filepath.Ext(t.Spec.SourceKey))
}
