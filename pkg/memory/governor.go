package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Clock is the time the governor runs on: the system clock in production, a fake one in tests.
type Clock interface {
	Now() time.Time
	// NewTicker delivers the time every d on the returned channel until stop is called.
	NewTicker(d time.Duration) (c <-chan time.Time, stop func())
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// NewTicker wraps time.NewTicker.
func (SystemClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// Governor thresholds, as fractions of the budget.
const (
	AlertFraction  = 0.85 // at or above: alert once per episode and halve the limit
	PauseFraction  = 0.95 // above: admit no frame while frames are in flight
	CalmFraction   = 0.70 // below for CalmSamples samples in a row: grow the limit by one; ends an episode
	DefaultCalm    = 5    // samples below CalmFraction before each step up
	DefaultHalving = 5    // samples between two halvings while usage stays at or above AlertFraction
	DefaultStall   = 5    // samples paused with nothing in flight before one frame is let through anyway
)

// GovernorConfig configures a Governor. Budget, Sampler and MaxInFlight are required.
type GovernorConfig struct {
	Budget  uint64                 // bytes for the whole process tree (--max-memory), weighed against Sample.Charged
	Sampler func() (Sample, error) // the process tree's memory, e.g. NewSampler(os.Getpid()).Sample
	Clock   Clock                  // SystemClock{} when nil
	// Interval is the sampling period, 1s when 0.
	Interval time.Duration
	// Alert receives one line for people (the 85% alert, model OOMs, a failing sampler); nil discards them.
	Alert func(msg string)
	// MaxInFlight is the most frames admitted at once, across every pipeline sharing the governor: the sum of
	// their pools. The limit starts there.
	MaxInFlight int
	// CalmSamples, HalveEvery and StallSamples are counts of samples; DefaultCalm, DefaultHalving and DefaultStall
	// when 0.
	CalmSamples, HalveEvery, StallSamples int
	// Observe, when set, is called after every sample with the state it left (logs, the live line, tests).
	Observe func(GovernorState)
}

// GovernorState is a snapshot of a Governor.
type GovernorState struct {
	Limit    int     // frames that may be in flight now
	InFlight int     // frames admitted and not yet Done
	Paused   bool    // the last sample was above PauseFraction
	Episode  bool    // usage reached AlertFraction and has not fallen below CalmFraction since
	Usage    float64 // last sample's Charged / Budget
	Last     Sample
	At       time.Time // when the last sample was taken
	Alerts   int       // alerts sent so far
}

// Governor keeps a process tree inside a memory budget by admission: every frame that enters a pipeline calls
// Admit, and Done when it leaves. Run samples the tree every Interval and weighs what it is charged (Sample.Charged:
// in a container with a memory limit, what the kernel counts against that limit):
//   - at or above 85% of the budget it alerts (once per episode) and halves the limit on frames in flight,
//     and halves it again every HalveEvery samples while usage stays there;
//   - above 95% it admits no frame while any is in flight; if none is in flight for StallSamples samples in a row,
//     it lets one through (what holds the memory then is not a frame, and waiting forever would hang the job);
//   - below 70% for CalmSamples samples in a row it grows the limit by one, up to MaxInFlight.
//
// The limit never goes below 1. OOM halves it at once, for callers that catch an out-of-memory error from a model.
type Governor struct {
	cfg GovernorConfig

	mu       sync.Mutex
	limit    int
	inFlight int
	paused   bool
	episode  bool
	passes   int // frames that may enter while paused (stall relief)
	calm     int // consecutive samples below CalmFraction
	high     int // consecutive samples at or above AlertFraction since the last halving
	stalled  int // consecutive paused samples with nothing in flight
	failing  bool
	last     Sample
	usage    float64
	at       time.Time
	alerts   int
	changed  chan struct{} // closed and replaced whenever admission may have become possible
}

// NewGovernor checks cfg and returns a governor whose limit is MaxInFlight.
func NewGovernor(cfg GovernorConfig) (*Governor, error) {
	switch {
	case cfg.Budget == 0:
		return nil, errors.New("memory: governor: Budget is 0")
	case cfg.Sampler == nil:
		return nil, errors.New("memory: governor: Sampler is nil")
	case cfg.MaxInFlight < 1:
		return nil, fmt.Errorf("memory: governor: MaxInFlight %d: want at least 1", cfg.MaxInFlight)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Alert == nil {
		cfg.Alert = func(string) {}
	}
	if cfg.CalmSamples <= 0 {
		cfg.CalmSamples = DefaultCalm
	}
	if cfg.HalveEvery <= 0 {
		cfg.HalveEvery = DefaultHalving
	}
	if cfg.StallSamples <= 0 {
		cfg.StallSamples = DefaultStall
	}
	return &Governor{cfg: cfg, limit: cfg.MaxInFlight, changed: make(chan struct{})}, nil
}

// Admit blocks until a frame may enter: usage is at most 95% of the budget (or stall relief applies) and fewer
// than Limit frames are in flight. It returns ctx.Err() if ctx ends first; then the caller must not call Done.
func (g *Governor) Admit(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.inFlight < g.limit && (!g.paused || g.passes > 0) {
			if g.paused {
				g.passes--
			}
			g.inFlight++
			g.mu.Unlock()
			return nil
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Done records that an admitted frame has left.
func (g *Governor) Done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inFlight == 0 {
		panic("memory: Governor.Done without Admit")
	}
	g.inFlight--
	g.wakeLocked()
}

// Limit is the number of frames that may be in flight now.
func (g *Governor) Limit() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limit
}

// State returns a snapshot.
func (g *Governor) State() GovernorState {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stateLocked()
}

func (g *Governor) stateLocked() GovernorState {
	return GovernorState{Limit: g.limit, InFlight: g.inFlight, Paused: g.paused, Episode: g.episode,
		Usage: g.usage, Last: g.last, At: g.at, Alerts: g.alerts}
}

// OOM halves the limit (never below 1) after a model ran out of memory; the caller retries its frame.
func (g *Governor) OOM() {
	g.mu.Lock()
	before := g.limit
	g.halveLocked()
	g.calm = 0
	msg := fmt.Sprintf("out of memory in a model: frames in flight %d -> %d", before, g.limit)
	g.alerts++
	g.mu.Unlock()
	g.cfg.Alert(msg)
}

// Run samples every Interval until ctx ends.
func (g *Governor) Run(ctx context.Context) {
	c, stop := g.cfg.Clock.NewTicker(g.cfg.Interval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c:
			g.step()
		}
	}
}

// step takes one sample and applies the rules. A failing sampler alerts once per streak and leaves the state alone,
// except one that could not read the cgroup only (ErrCgroup): its tree's numbers still apply.
func (g *Governor) step() {
	s, err := g.cfg.Sampler()
	partial := errors.Is(err, ErrCgroup)
	now := g.cfg.Clock.Now()
	var msgs []string
	g.mu.Lock()
	if err != nil && !g.failing {
		g.failing = true
		g.alerts++
		if partial {
			msgs = append(msgs, fmt.Sprintf("memory sampler: %v", err))
		} else {
			msgs = append(msgs, fmt.Sprintf("memory sampler failing, frames in flight stay at %d: %v", g.limit, err))
		}
	}
	if err == nil {
		g.failing = false
	}
	if err == nil || partial {
		g.last, g.at = s, now
		g.usage = float64(s.charged()) / float64(g.cfg.Budget)
		msgs = append(msgs, g.applyLocked()...)
	}
	st := g.stateLocked()
	g.wakeLocked()
	g.mu.Unlock()
	for _, m := range msgs {
		g.cfg.Alert(m)
	}
	if g.cfg.Observe != nil {
		g.cfg.Observe(st)
	}
}

func (g *Governor) applyLocked() []string {
	var msgs []string
	u := g.usage
	// Above the alert line: one alert per episode, halve at its start and every HalveEvery samples it lasts.
	if u >= AlertFraction {
		g.calm = 0
		if !g.episode {
			g.episode = true
			before := g.limit
			g.halveLocked()
			g.high = 0
			g.alerts++
			msgs = append(msgs, fmt.Sprintf("memory at %.0f%% of the %s budget (%s): frames in flight %d -> %d",
				u*100, FormatGB(g.cfg.Budget), FormatGB(g.last.charged()), before, g.limit))
		} else if g.high++; g.high >= g.cfg.HalveEvery {
			g.halveLocked()
			g.high = 0
		}
	} else {
		g.high = 0
	}
	// Above the pause line: no admissions while frames are in flight; stall relief when none is.
	g.paused = u > PauseFraction
	if !g.paused {
		g.passes, g.stalled = 0, 0
	} else if g.inFlight == 0 {
		if g.stalled++; g.stalled >= g.cfg.StallSamples {
			g.stalled = 0
			g.passes = 1
		}
	} else {
		g.stalled = 0
	}
	// Calm: end the episode, grow slowly.
	if u < CalmFraction {
		g.episode = false
		if g.calm++; g.calm >= g.cfg.CalmSamples {
			g.calm = 0
			if g.limit < g.cfg.MaxInFlight {
				g.limit++
			}
		}
	} else {
		g.calm = 0
	}
	return msgs
}

func (g *Governor) halveLocked() {
	g.limit = max(1, g.limit/2)
}

func (g *Governor) wakeLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// FormatGB renders bytes as GB (2^30) with two decimals, as the live line does.
func FormatGB(b uint64) string { return fmt.Sprintf("%.2f GB", float64(b)/(1<<30)) }
