package memory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock whose tickers fire only when the test calls Advance.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*fakeTicker
}

type fakeTicker struct {
	c       chan time.Time
	every   time.Duration
	next    time.Time
	stopped bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTicker{c: make(chan time.Time), every: d, next: c.now.Add(d)}
	c.tickers = append(c.tickers, t)
	return t.c, func() { c.mu.Lock(); t.stopped = true; c.mu.Unlock() }
}

// waitTickers waits until n tickers exist, so that a tick is not sent before Run listens for it.
func (c *fakeClock) waitTickers(n int) {
	for {
		c.mu.Lock()
		k := len(c.tickers)
		c.mu.Unlock()
		if k >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// Advance moves the clock by d and delivers every tick that falls due, in order, each one received before the
// next is sent (the channels are unbuffered).
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var due *fakeTicker
		for _, t := range c.tickers {
			if !t.stopped && !t.next.After(end) && (due == nil || t.next.Before(due.next)) {
				due = t
			}
		}
		if due == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		c.now = due.next
		due.next = due.next.Add(due.every)
		at, ch := c.now, due.c
		c.mu.Unlock()
		ch <- at
	}
}

// rig runs a governor on a fake clock with a scripted sampler: the test sets the next RSS, then step() advances
// the clock one interval and waits until the governor has applied that sample.
type rig struct {
	t      *testing.T
	g      *Governor
	clock  *fakeClock
	mu     sync.Mutex
	rss    uint64
	err    error
	alerts []string
	seen   chan GovernorState
}

const testBudget = 1000 << 20

func newRig(t *testing.T, maxInFlight int) *rig {
	t.Helper()
	r := &rig{}
	return r.start(t, maxInFlight, testBudget, func() (Sample, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return Sample{RSS: r.rss, GPUPct: -1}, r.err
	})
}

// start runs the rig's governor with budget and sampler.
func (r *rig) start(t *testing.T, maxInFlight int, budget uint64, sampler func() (Sample, error)) *rig {
	t.Helper()
	r.t, r.clock, r.seen = t, newFakeClock(), make(chan GovernorState, 1)
	g, err := NewGovernor(GovernorConfig{
		Budget:      budget,
		Sampler:     sampler,
		Clock:       r.clock,
		Interval:    time.Second,
		Alert:       func(m string) { r.mu.Lock(); r.alerts = append(r.alerts, m); r.mu.Unlock() },
		MaxInFlight: maxInFlight,
		Observe:     func(s GovernorState) { r.seen <- s },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.g = g
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	r.clock.waitTickers(1)
	return r
}

// step feeds one sample of pct percent of the budget and returns the state it left.
func (r *rig) step(pct float64) GovernorState {
	r.t.Helper()
	r.mu.Lock()
	r.rss, r.err = uint64(pct/100*testBudget), nil
	r.mu.Unlock()
	return r.tick()
}

// tick advances the clock one interval and returns the state the governor's sample left.
func (r *rig) tick() GovernorState {
	r.t.Helper()
	r.clock.Advance(time.Second)
	select {
	case s := <-r.seen:
		return s
	case <-time.After(5 * time.Second):
		r.t.Fatal("the governor did not sample")
		return GovernorState{}
	}
}

func (r *rig) alertCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.alerts)
}

// admitted reports whether Admit returns within a short wait (it blocks otherwise; the wait is abandoned).
func admitted(g *Governor, wait time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return g.Admit(ctx) == nil
}

// TestGovernorScript drives one governor through a scripted memory curve and checks the limit, the pause and the
// alerts after every sample. Budget 1000 MiB, MaxInFlight 8, calm after 5 samples, halving every 5 samples.
func TestGovernorScript(t *testing.T) {
	r := newRig(t, 8)
	steps := []struct {
		pct    float64
		limit  int
		paused bool
		alerts int
		why    string
	}{
		{50, 8, false, 0, "calm 1"},
		{60, 8, false, 0, "calm 2"},
		{84.9, 8, false, 0, "just under the alert line: nothing"},
		{85, 4, false, 1, "85%: alert and halve"},
		{90, 4, false, 1, "same episode: no second alert"},
		{80, 4, false, 1, "between 70% and 85%: the episode goes on"},
		{88, 4, false, 1, "back over 85% in the same episode: no alert, halving clock restarted"},
		{96, 4, true, 1, "above 95%: paused"},
		{95, 4, false, 1, "95% exactly: admitting again"},
		{92, 4, false, 1, "fourth sample in a row at >= 85%"},
		{90, 2, false, 1, "fifth sample in a row at >= 85%: halve again"},
		{69, 2, false, 1, "calm 1: the episode ends"},
		{86, 1, false, 2, "a new episode: alert again and halve"},
		{60, 1, false, 2, "calm 1"}, {60, 1, false, 2, "calm 2"}, {60, 1, false, 2, "calm 3"}, {60, 1, false, 2, "calm 4"},
		{60, 2, false, 2, "calm 5: grow by one"},
		{60, 2, false, 2, "calm 1 again"}, {60, 2, false, 2, ""}, {60, 2, false, 2, ""}, {60, 2, false, 2, ""},
		{60, 3, false, 2, "calm 5: grow by one"},
		{70, 3, false, 2, "70% is not calm: the count restarts"},
		{60, 3, false, 2, ""}, {60, 3, false, 2, ""}, {60, 3, false, 2, ""}, {60, 3, false, 2, ""},
		{60, 4, false, 2, "five calm samples since the 70% one"},
	}
	for i, s := range steps {
		st := r.step(s.pct)
		if st.Limit != s.limit || st.Paused != s.paused || st.Alerts != s.alerts || r.alertCount() != s.alerts {
			t.Fatalf("step %d (%.1f%%, %s): limit %d paused %v alerts %d/%d, want limit %d paused %v alerts %d",
				i, s.pct, s.why, st.Limit, st.Paused, st.Alerts, r.alertCount(), s.limit, s.paused, s.alerts)
		}
	}
	r.mu.Lock()
	first := r.alerts[0]
	r.mu.Unlock()
	for _, want := range []string{"85% of the 0.98 GB budget", "frames in flight 8 -> 4"} {
		if !strings.Contains(first, want) {
			t.Errorf("alert %q does not say %q", first, want)
		}
	}
}

// TestGovernorBounds: the limit never drops below 1 however long the pressure lasts, nor grows past MaxInFlight
// however long the calm.
func TestGovernorBounds(t *testing.T) {
	r := newRig(t, 3)
	for i := 0; i < 40; i++ {
		if st := r.step(90); st.Limit < 1 {
			t.Fatalf("sample %d at 90%%: limit %d", i, st.Limit)
		}
	}
	if l := r.g.Limit(); l != 1 {
		t.Fatalf("after 40 samples at 90%%: limit %d, want 1", l)
	}
	if n := r.alertCount(); n != 1 {
		t.Errorf("%d alerts in one long episode, want 1", n)
	}
	for i := 0; i < 60; i++ {
		if st := r.step(10); st.Limit > 3 {
			t.Fatalf("calm sample %d: limit %d above MaxInFlight 3", i, st.Limit)
		}
	}
	if l := r.g.Limit(); l != 3 {
		t.Errorf("after 60 calm samples: limit %d, want 3", l)
	}
	for i := 0; i < 5; i++ {
		r.g.OOM()
	}
	if l := r.g.Limit(); l != 1 {
		t.Errorf("after 5 OOMs: limit %d, want 1", l)
	}
}

// TestGovernorAdmission: Admit lets in up to Limit frames, blocks above 95% while frames are in flight and
// resumes once usage drops, follows a halved limit, and returns the context's error when it gives up.
func TestGovernorAdmission(t *testing.T) {
	r := newRig(t, 4)
	g := r.g
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		if err := g.Admit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if admitted(g, 20*time.Millisecond) {
		t.Fatal("a fifth frame was admitted with a limit of 4")
	}
	g.Done()
	g.Done() // 2 in flight

	r.step(97)
	got := make(chan error, 1)
	go func() { got <- g.Admit(ctx) }()
	select {
	case err := <-got:
		t.Fatalf("admitted at 97%% with 2 frames in flight: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	g.Done() // a frame leaving does not lift the pause
	select {
	case err := <-got:
		t.Fatalf("admitted at 97%% after a Done: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	r.step(94) // below the pause line: the waiting Admit returns
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Admit still blocked after usage fell to 94%")
	}
	if st := g.State(); st.InFlight != 2 || st.Limit != 2 {
		t.Fatalf("state %+v, want 2 in flight and limit 2 (halved at the alert)", st)
	}
	if admitted(g, 20*time.Millisecond) {
		t.Fatal("admitted a third frame with the limit halved to 2")
	}
	g.Done()
	if !admitted(g, time.Second) {
		t.Fatal("not admitted with 1 of 2 in flight")
	}

	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if err := g.Admit(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Admit on a cancelled context: %v", err)
	}
	if st := g.State(); st.InFlight != 2 {
		t.Fatalf("a cancelled Admit changed in-flight to %d", st.InFlight)
	}
}

// TestGovernorStallRelief: above 95% with nothing in flight (what holds the memory is not a frame), one frame is let
// through after StallSamples samples, then the pause holds again until that frame is Done.
func TestGovernorStallRelief(t *testing.T) {
	r := newRig(t, 4)
	g := r.g
	for i := 0; i < DefaultStall-1; i++ {
		r.step(99)
		if admitted(g, 10*time.Millisecond) {
			t.Fatalf("admitted after %d paused samples, want %d", i+1, DefaultStall)
		}
	}
	r.step(99)
	if !admitted(g, time.Second) {
		t.Fatalf("not admitted after %d paused samples with nothing in flight", DefaultStall)
	}
	if admitted(g, 10*time.Millisecond) {
		t.Fatal("stall relief let a second frame in")
	}
	for i := 0; i < DefaultStall+1; i++ {
		r.step(99) // one frame in flight: no relief
	}
	if admitted(g, 10*time.Millisecond) {
		t.Fatal("admitted while paused with a frame in flight")
	}
	g.Done()
}

// TestGovernorSamplerFailure: a failing sampler alerts once per failure streak and leaves the state alone.
func TestGovernorSamplerFailure(t *testing.T) {
	r := newRig(t, 4)
	r.step(90) // limit 2, one alert
	for i := 0; i < 3; i++ {
		r.mu.Lock()
		r.err = errors.New("no /proc")
		r.mu.Unlock()
		r.clock.Advance(time.Second)
		if st := <-r.seen; st.Limit != 2 || st.Usage != 0.9 {
			t.Fatalf("after a failed sample: %+v", st)
		}
	}
	if n := r.alertCount(); n != 2 {
		t.Errorf("%d alerts, want 2 (the 85%% one and one for the failure streak)", n)
	}
}

// TestGovernorCgroupUnreadable: a sampler that could not read the cgroup (ErrCgroup) still gives the tree's RSS,
// and the governor goes on with it: one alert naming the problem, then the 85% rule on RSS. (Any other sampler
// error freezes the state: TestGovernorSamplerFailure.)
func TestGovernorCgroupUnreadable(t *testing.T) {
	r := newRig(t, 4)
	bad := fmt.Errorf("%w: %w", ErrCgroup, errors.New("memory: cgroup: /sys/fs/cgroup/memory.max: \"lots\" is not a byte count"))
	tests := []struct {
		pct    float64
		limit  int
		alerts int
		why    string
	}{
		{50, 4, 1, "the cgroup alert; 50% of RSS: nothing else"},
		{90, 2, 2, "90% of RSS: the 85% alert and halving"},
		{90, 2, 2, "the same streak: no second cgroup alert"},
	}
	for i, tc := range tests {
		r.mu.Lock()
		r.rss, r.err = uint64(tc.pct/100*testBudget), bad
		r.mu.Unlock()
		if st := r.tick(); st.Limit != tc.limit || st.Alerts != tc.alerts || st.Usage != tc.pct/100 {
			t.Fatalf("step %d (%s): %+v, want limit %d, %d alerts", i, tc.why, st, tc.limit, tc.alerts)
		}
	}
	r.mu.Lock()
	first := r.alerts[0]
	r.mu.Unlock()
	if !strings.Contains(first, "memory.max") || !strings.Contains(first, "RSS alone") {
		t.Errorf("alert %q does not name the file and what the governor weighs", first)
	}
}

func TestNewGovernorChecks(t *testing.T) {
	s := func() (Sample, error) { return Sample{}, nil }
	for _, cfg := range []GovernorConfig{
		{Sampler: s, MaxInFlight: 1},
		{Budget: 1, MaxInFlight: 1},
		{Budget: 1, Sampler: s},
	} {
		if _, err := NewGovernor(cfg); err == nil {
			t.Errorf("NewGovernor(%+v) succeeded", cfg)
		}
	}
}

// TestGovernorCountsCgroup: in a container, what the kernel charges the cgroup (its working set: page cache in use,
// other processes) pushes the governor past its alert line while the process tree's RSS is low. The sampler is the
// real one, on this process, reading a cgroup tree whose memory.current the test raises. Before Sample.Charged the
// governor weighed RSS alone and never alerted here.
func TestGovernorCountsCgroup(t *testing.T) {
	const limit = 2 * GB
	reader, root := cgroupTree(t, map[string]string{
		"proc": "0::/\n", "fs/memory.max": n(limit), "fs/memory.stat": v2Stat(64 * mib),
	})
	setCurrent := func(b uint64) {
		if err := os.WriteFile(filepath.Join(root, "fs", "memory.current"), []byte(n(b)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setCurrent(GB)
	info, err := reader.Read()
	if err != nil {
		t.Fatal(err)
	}
	budget, _ := ContainerBudget(0, info) // 2 GiB less 256 MiB
	r := (&rig{}).start(t, 8, budget, NewSampler(os.Getpid()).WithCgroup(&reader).Sample)

	steps := []struct {
		current uint64
		limit   int
		paused  bool
		alerts  int
		why     string
	}{
		{GB, 8, false, 0, "working set 0.94 GB: 54% of 1.75 GB"},
		{1600 * mib, 4, false, 1, "working set 1.5 GB: 86%, alert and halve"},
		{1800 * mib, 4, true, 1, "working set 1.7 GB: 97%, paused"},
		{GB, 4, false, 1, "back to 54%: admitting"},
	}
	for i, s := range steps {
		setCurrent(s.current)
		st := r.tick()
		if st.Last.RSS >= uint64(CalmFraction*float64(budget)) {
			t.Fatalf("step %d: the tree's own RSS %s is not low against the %s budget", i, FormatGB(st.Last.RSS), FormatGB(budget))
		}
		if st.Limit != s.limit || st.Paused != s.paused || st.Alerts != s.alerts {
			t.Fatalf("step %d (%s): limit %d paused %v alerts %d (usage %.2f, sample %+v), want limit %d paused %v alerts %d",
				i, s.why, st.Limit, st.Paused, st.Alerts, st.Usage, st.Last, s.limit, s.paused, s.alerts)
		}
		if want := s.current - 64*mib; st.Last.Charged != want {
			t.Fatalf("step %d: charged %d, want the working set %d", i, st.Last.Charged, want)
		}
	}
	r.mu.Lock()
	alert := r.alerts[0]
	r.mu.Unlock()
	if !strings.Contains(alert, "1.50 GB") || !strings.Contains(alert, "of the 1.75 GB budget") {
		t.Errorf("alert %q does not name the charged 1.50 GB and the 1.75 GB budget", alert)
	}
}
