package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/queue"
)

// A task that no worker fits stays pending on the work queue: workers hand it back (pkg/worker handBack) and the
// queue hands it out again. An autoscaler that sizes the fleet by that pending count (KEDA's nats-jetstream scaler)
// then scales workers to its maximum, none of which can take it, and holds them there. So while a job waits, its
// coordinator follows its placement: once every live worker has handed its segments back as too big for its budget
// (their notes, job.Waiting.Unfit) or says in its heartbeat that it fits less (fleet.Heartbeat.FitPixels), for
// ServiceConfig.ParkAfter, the job is parked: the record says so (job.Parking, in `status`), and its tasks are purged from the queue, so the pending
// count drops. When a worker that may fit them joins, or `coordinator retry` asks, the job's unfinished segments are
// published again under a new generation. With no live worker at all nothing is parked: pending work is what wakes
// a fleet scaled to zero. The park lives in the job record (compare-and-set), so a restarted coordinator, or one
// that takes the job over, keeps it parked; committed segments stay committed.

// maxRefusals bounds the workers a job remembers as too small (notes are written by anyone with access to the KV).
const maxRefusals = 1024

// refusal is one worker's "does not fit": the largest frame it said it fits, and the budget its plan needed.
type refusal struct {
	fit  int64
	need uint64
}

// placement is one running job's placement state, kept by followPlacement's goroutine alone.
type placement struct {
	s             *Service
	id            string
	log           *zap.Logger
	width, height int
	pixels        int64
	notes         map[string]string  // waiting key -> "worker: reason", what status shows
	refused       map[string]refusal // worker id -> its hand-back
	parked        *job.Parking
	ownRev        uint64    // the record's revision after this coordinator's last park or unpark
	purge         bool      // the parked job's tasks are still to be purged
	owed          int       // the generation still to be published after an unpark; -1 none
	shown         string    // the record's Waiting as last written here
	unfitSince    time.Time // since when no live worker fits the job (zero: one may, or none is live)
	republish     func(ctx context.Context, gen int) error
}

// followPlacement follows job id's placement until stop is called: workers' notes go into the record's Waiting
// (so status says why a job waits), and the job is parked and unparked as the fleet changes (see above). parked is
// the record's park when the job is resumed parked; republish publishes the unfinished segments under gen.
func (s *Service) followPlacement(ctx context.Context, id string, plan job.JobPlan, parked *job.Parking,
	republish func(ctx context.Context, gen int) error) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	notes, err := s.deps.State.Watch(ctx, job.WaitingPattern(id))
	if err != nil {
		return cancel
	}
	recs, err := s.deps.State.Watch(ctx, job.RecordKey(id))
	if err != nil {
		return cancel
	}
	p := &placement{s: s, id: id, log: s.log.With(zap.String("job", id)), width: plan.Width, height: plan.Height,
		pixels: int64(plan.Width) * int64(plan.Height), notes: map[string]string{}, refused: map[string]refusal{},
		owed: -1, republish: republish}
	if parked != nil {
		p.parked, p.purge, p.shown = parked, true, parked.Note()
		for _, w := range parked.Workers {
			p.refused[w] = refusal{fit: parked.FitPixels, need: parked.Need}
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(s.cfg.Scan)
		defer tick.Stop()
		p.settle(ctx) // a job resumed parked: what a stop left on the queue goes now
		for notes != nil || recs != nil {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-notes:
				if !ok {
					notes = nil
					continue
				}
				p.note(ctx, e)
			case e, ok := <-recs:
				if !ok {
					recs = nil
					continue
				}
				p.record(ctx, e)
			case <-tick.C:
				p.decide(ctx)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// note takes a worker's placement note: shown in status, and a hand-back for being too big remembered.
func (p *placement) note(ctx context.Context, e queue.Entry) {
	if e.Deleted {
		delete(p.notes, e.Key)
	} else if w, err := job.DecodeWaiting(e.Value); err == nil {
		p.notes[e.Key] = w.Worker + ": " + w.Reason
		if _, known := p.refused[w.Worker]; w.Unfit && (known || len(p.refused) < maxRefusals) {
			p.refused[w.Worker] = refusal{fit: w.FitPixels, need: w.Need}
		}
	} else {
		p.log.Warn("waiting note refused", zap.String("key", e.Key), zap.Error(err))
	}
	p.show(ctx)
}

// show writes what status says the job waits for, when that changed: the park, else a worker's note.
func (p *placement) show(ctx context.Context) {
	msg := ""
	if p.parked != nil {
		msg = p.parked.Note()
	} else {
		for _, v := range p.notes {
			msg = v
			break
		}
	}
	if msg != p.shown {
		p.shown = msg
		p.s.updated(ctx, p.log, "waiting note", p.s.update(ctx, p.id, func(r *job.Record) { r.Waiting = msg }))
	}
}

// record follows the job's record: a park cleared by someone else (`coordinator retry`) publishes the job again,
// and the workers that refused it are asked again.
func (p *placement) record(ctx context.Context, e queue.Entry) {
	if e.Deleted || e.Revision <= p.ownRev || p.parked == nil {
		return
	}
	r, err := job.DecodeRecord(p.id, e.Value)
	if err != nil || r.Parked != nil || r.State.Terminal() {
		return // an invalid record or a cancel is the job's own loop's business
	}
	p.log.Info("parked job queued again by a retry")
	p.parked, p.purge, p.shown, p.owed = nil, false, r.Waiting, r.Generation
	clear(p.refused)
	p.settle(ctx)
}

// decide parks the job when no live worker may fit it, and publishes a parked job again when one may.
func (p *placement) decide(ctx context.Context) {
	p.settle(ctx)
	if p.parked == nil && len(p.refused) == 0 {
		return // nobody handed it back for its size: nothing to decide
	}
	live, bad, err := fleet.List(ctx, p.s.deps.Fleet, fleet.KindWorker)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("placement: cannot list the workers", zap.Error(err))
		}
		return
	}
	for _, u := range bad {
		p.log.Warn("placement: a worker record skipped", zap.String("key", u.Key), zap.Error(u.Err))
	}
	fits := ""
	for _, h := range live {
		if p.mayFit(h) {
			fits = h.ID
			break
		}
	}
	if p.parked != nil {
		if fits != "" {
			p.unpark(ctx, fits)
		}
		return
	}
	if fits != "" || len(live) == 0 {
		p.unfitSince = time.Time{}
		return
	}
	// No live worker fits: parked once that has lasted ParkAfter, so that a bigger worker still starting (a GPU
	// node being provisioned for a pool scaled from zero) can join first.
	if p.unfitSince.IsZero() {
		p.unfitSince = time.Now()
	}
	if time.Since(p.unfitSince) >= p.s.cfg.ParkAfter {
		p.unfitSince = time.Time{}
		p.park(ctx)
	}
}

// mayFit reports whether live worker h may fit the job: it has no budget, or it did not refuse the job and either
// does not say what it fits (an older worker: trying it tells) or says it fits the job's frames and more than any
// worker that refused them (its own figure is an estimate: a worker that refused despite it marks that size as too
// small, so a fleet scaled from zero does not try the same size again and again).
func (p *placement) mayFit(h fleet.Heartbeat) bool {
	if h.MemoryBudget == 0 {
		return true
	}
	if r, ok := p.refused[h.ID]; ok && h.FitPixels <= r.fit {
		return false // it said no, and is no bigger now
	}
	if h.FitPixels == 0 {
		return true
	}
	return h.FitPixels >= p.pixels && h.FitPixels > p.maxRefused()
}

func (p *placement) maxRefused() int64 {
	var m int64
	for _, r := range p.refused {
		m = max(m, r.fit)
	}
	if p.parked != nil {
		m = max(m, p.parked.FitPixels)
	}
	return m
}

// park records the park, then takes the job's tasks off the queue: a coordinator that stops between the two finds
// the park in the record and purges again (followPlacement).
func (p *placement) park(ctx context.Context) {
	pk := &job.Parking{Since: time.Now().UTC(), Width: p.width, Height: p.height, FitPixels: p.maxRefused()}
	for w, r := range p.refused {
		if r.need > 0 && (pk.Need == 0 || r.need < pk.Need) {
			pk.Need = r.need
		}
		pk.Workers = append(pk.Workers, w)
	}
	slices.Sort(pk.Workers)
	pk.Workers = pk.Workers[:min(len(pk.Workers), job.MaxParkWorkers)]
	rev, err := p.s.updateRev(ctx, p.id, func(r *job.Record) { r.Parked, r.Waiting = pk, pk.Note() })
	if err != nil {
		p.s.updated(ctx, p.log, "the park", err)
		return
	}
	p.parked, p.ownRev, p.purge, p.shown = pk, rev, true, pk.Note()
	p.log.Warn("job parked: no live worker fits its segments; its tasks are off the queue until one that may joins",
		zap.String("resolution", fmt.Sprintf("%dx%d", p.width, p.height)), zap.Strings("refused_by", pk.Workers))
	p.settle(ctx)
}

// unpark clears the park and publishes the unfinished segments again under a new generation (a republish inside
// the deduplication window must not be dropped).
func (p *placement) unpark(ctx context.Context, worker string) {
	gen := 0
	rev, err := p.s.updateRev(ctx, p.id, func(r *job.Record) {
		r.Parked, r.Waiting = nil, ""
		r.Generation++
		gen = r.Generation
	})
	if err != nil {
		p.s.updated(ctx, p.log, "the end of the park", err)
		return
	}
	p.log.Info("parked job queued again: a worker that may fit it joined", zap.String("worker", worker))
	p.parked, p.ownRev, p.purge, p.shown, p.owed = nil, rev, false, "", gen
	p.settle(ctx)
}

// settle does what a park or an unpark still owes the queue, again on every tick until it is done: a purge or a
// publish that failed for an outage must not leave a parked job pending, nor an unparked one unqueued.
func (p *placement) settle(ctx context.Context) {
	if p.purge {
		if err := p.s.deps.Tasks.PurgeSubject(ctx, job.Subject(p.id)); err != nil {
			p.log.Warn("the parked job's tasks were not taken off the queue; trying again", zap.Error(err))
			return
		}
		p.purge = false
	}
	if p.owed >= 0 {
		if err := p.republish(ctx, p.owed); err != nil {
			if !errors.Is(err, context.Canceled) {
				p.log.Warn("the unparked job's segments were not queued; trying again", zap.Error(err))
			}
			return
		}
		p.owed = -1
	}
}
