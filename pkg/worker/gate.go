package worker

import (
	"fmt"
	"sync"
	"time"

	"github.com/facefleet/facefleet/pkg/backoff"
	"github.com/facefleet/facefleet/pkg/job"
)

// gate holds a worker's fetches back: after trouble of its own (a backoff that grows while the trouble lasts and
// ends with the first success), and after hand-backs of work it cannot fit (a backoff that grows while it is
// handed only such work, so that the workers that can take it get it).
type gate struct {
	mu        sync.Mutex
	trouble   backoff.Backoff
	placement backoff.Backoff
	class     error // the trouble's class (pkg/fault); nil when healthy
	cause     error
	since     time.Time
	until     time.Time // no fetch before this
}

func newGate(troubleBase, troubleMax, placementBase, placementMax time.Duration) *gate {
	placementBase = max(min(placementBase, placementMax), time.Millisecond)
	return &gate{trouble: backoff.Backoff{Base: troubleBase, Max: troubleMax},
		placement: backoff.Backoff{Base: placementBase, Max: placementMax}}
}

// wait is how long fetching must still wait at now.
func (g *gate) wait(now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return max(g.until.Sub(now), 0)
}

func (g *gate) hold(now time.Time, d time.Duration) {
	if t := now.Add(d); t.After(g.until) {
		g.until = t
	}
}

// fail counts one failure of class at now and returns since when the worker has been in this trouble, the pause
// before its next fetch, and whether the trouble is new (healthy, or another class, before).
func (g *gate) fail(class, cause error, now time.Time) (since time.Time, pause time.Duration, fresh bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if fresh = g.class != class; fresh {
		g.class, g.since = class, now
	}
	g.cause = cause
	pause = g.trouble.Next()
	g.hold(now, pause)
	return g.since, pause, fresh
}

// ok ends the trouble (a task succeeded) and returns its class, nil if there was none.
func (g *gate) ok() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	was := g.class
	g.class, g.cause = nil, nil
	g.trouble.Reset()
	return was
}

// lasted is how long the trouble has lasted at now; 0 when healthy.
func (g *gate) lasted(now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.class == nil {
		return 0
	}
	return now.Sub(g.since)
}

func (g *gate) troubled() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.class != nil
}

// handedBack counts a hand-back at now and returns the pause before the next fetch.
func (g *gate) handedBack(now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	d := g.placement.Next()
	g.hold(now, d)
	return d
}

// fitted ends the hand-back backoff: this worker was given work it can take.
func (g *gate) fitted() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.placement.Reset()
}

// status describes the trouble for the heartbeat; "" when healthy.
func (g *gate) status() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.class == nil {
		return ""
	}
	// One line: the cause may be an ffmpeg error of several lines, and heartbeats with control characters are refused.
	return job.Message(fmt.Errorf("%v since %s, taking no tasks (%d failures; last: %v)", g.class,
		g.since.UTC().Format("15:04:05 UTC"), g.trouble.Failures(), g.cause))
}

// unfitJobs remembers the jobs whose segments do not fit this worker, and why (the most recent ones).
type unfitJobs struct {
	mu    sync.Mutex
	why   map[string]unfit
	order []string
}

// unfit is why a job does not fit: the line for its status, and the budget the plan needed (bytes; 0 unknown).
type unfit struct {
	why  string
	need uint64
}

// keepUnfit bounds the jobs remembered.
const keepUnfit = 64

func (u *unfitJobs) get(id string) (unfit, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	v, ok := u.why[id]
	return v, ok
}

func (u *unfitJobs) add(id string, why unfit) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.why == nil {
		u.why = map[string]unfit{}
	}
	if _, ok := u.why[id]; !ok {
		u.order = append(u.order, id)
	}
	u.why[id] = why
	if len(u.order) > keepUnfit {
		delete(u.why, u.order[0])
		u.order = u.order[1:]
	}
}
