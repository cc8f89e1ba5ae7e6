package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/memory"
	"github.com/facefleet/facefleet/pkg/pipeline"
)

// governor is a memory.Governor that never samples (Run is not started): its limit is MaxInFlight until OOM
// halves it.
func governor(t *testing.T, maxInFlight int) *memory.Governor {
	t.Helper()
	g, err := memory.NewGovernor(memory.GovernorConfig{Budget: 1 << 30, MaxInFlight: maxInFlight,
		Sampler: func() (memory.Sample, error) { return memory.Sample{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// recorder wraps an Admitter and records, for every admitted frame in order, how many frames were in flight
// once it was admitted (itself included).
type recorder struct {
	pipeline.Admitter
	mu       sync.Mutex
	inFlight int
	at       []int
}

func (r *recorder) Admit(ctx context.Context) error {
	if err := r.Admitter.Admit(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	r.inFlight++
	r.at = append(r.at, r.inFlight)
	r.mu.Unlock()
	return nil
}

func (r *recorder) Done() {
	r.mu.Lock()
	r.inFlight--
	r.mu.Unlock()
	r.Admitter.Done()
}

// TestRunGovernorLimit runs a pool of 4 buffers under a memory.Governor. With its limit at 1, one frame is in
// flight at a time: frame k reaches the processor only after frame k-1 was encoded. With its limit at 4, lowered
// to 2 by an OOM while frame 10 is processed, 4 frames are in flight while frame 0 is held, and from frame 14 on
// (the first admitted after the OOM: 10..13 filled the pool) never more than 2, the pool keeping its 4 buffers.
// Every Admit is matched by a Done.
func TestRunGovernorLimit(t *testing.T) {
	t.Parallel()
	const w, h = 320, 240
	in := testsrc(t, w, h, 1.6) // 40 frames
	total := countFrames(t, in)
	tests := []struct {
		name           string
		limit, oomAt   int // governor's starting limit; the frame whose processing calls OOM (-1: never)
		split          int // frames admitted from here on are "after"
		before, after  int // the most frames in flight at an admission before split and from it on
		strictEncoding bool
	}{
		{"limit 1", 1, -1, 0, 0, 1, true},
		{"limit 4, OOM at frame 10", 4, 10, 14, 4, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := governor(t, tt.limit)
			rec := &recorder{Admitter: g}
			cfg := config(in, filepath.Join(t.TempDir(), "out.mp4"), w, h)
			cfg.InFlight, cfg.Admit = 4, rec
			var encoded atomic.Int64
			buffers := map[uintptr]bool{}
			early := 0
			proc := pipeline.ProcessorFunc(func(m gocv.Mat, k int) error {
				if k == 0 || k == tt.split {
					time.Sleep(100 * time.Millisecond) // let the decoder run as far ahead as it is allowed
				}
				buffers[bufAddr(t, m)] = true
				if e := int(encoded.Load()); tt.strictEncoding && e != k {
					if early++; early <= 3 {
						t.Errorf("frame %d reached the processor with %d frames encoded, want %d", k, e, k)
					}
				}
				if k == tt.oomAt {
					g.OOM()
				}
				return nil
			})
			r := run(t, testCtx(t), cfg, proc, func(n int) { encoded.Store(int64(n)) })
			if r.err != nil || r.n != total {
				t.Fatalf("Run: %d frames, %v; want %d", r.n, r.err, total)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			before, after := 0, 0
			for k, n := range rec.at {
				if k < tt.split {
					before = max(before, n)
				} else {
					after = max(after, n)
				}
			}
			if before != tt.before || after != tt.after {
				t.Errorf("most frames in flight: %d before frame %d, %d from it on; want %d and %d",
					before, tt.split, after, tt.before, tt.after)
			}
			if want := min(4, max(tt.before, tt.after)+1); len(buffers) > 4 || len(buffers) < want {
				t.Errorf("frames came in %d distinct buffers, want %d to 4", len(buffers), want)
			}
			if len(rec.at) != total+1 || rec.inFlight != 0 || g.State().InFlight != 0 {
				t.Errorf("%d admissions for %d frames (the last finds EOF), %d still in flight (governor: %d)",
					len(rec.at), total, rec.inFlight, g.State().InFlight)
			}
			t.Logf("in flight at admission: %v; limit now %d; %d buffers", rec.at, g.Limit(), len(buffers))
		})
	}
}

// countingAdmitter admits up to limit frames at once, fails the Admit of frame failAt (counted from 0), and counts
// Admits and Dones.
type countingAdmitter struct {
	mu            sync.Mutex
	limit, failAt int
	admits, dones int
	inFlight      int
	changed       chan struct{}
}

var errNoAdmission = errors.New("no admission")

func newCountingAdmitter(limit, failAt int) *countingAdmitter {
	return &countingAdmitter{limit: limit, failAt: failAt, changed: make(chan struct{})}
}

func (a *countingAdmitter) Admit(ctx context.Context) error {
	for {
		a.mu.Lock()
		if a.admits == a.failAt {
			a.mu.Unlock()
			return errNoAdmission
		}
		if a.inFlight < a.limit {
			a.inFlight++
			a.admits++
			a.mu.Unlock()
			return nil
		}
		ch := a.changed
		a.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (a *countingAdmitter) Done() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inFlight--
	a.dones++
	close(a.changed)
	a.changed = make(chan struct{})
}

// TestRunAdmitterEnds: every way a run ends returns every admitted frame (Dones equal Admits): success, the
// admitter refusing a frame (Run fails with its error, naming the frame), a processor error, a context cancelled
// while the decoder waits in Admit (an admitter that never admits: Run returns promptly, nothing processed).
func TestRunAdmitterEnds(t *testing.T) {
	t.Parallel()
	const w, h = 320, 240
	in := testsrc(t, w, h, 1) // 25 frames
	boom := errors.New("boom")
	tests := []struct {
		name          string
		limit, failAt int
		procFail      int // frame index at which the processor fails; -1 never
		cancelAfter   time.Duration
		want          error
		wantN         func(int) bool
	}{
		{"success, limit 2", 2, -1, -1, 0, nil, func(n int) bool { return n == 25 }},
		{"admitter refuses frame 7", 3, 7, -1, 0, errNoAdmission, func(n int) bool { return n <= 7 }},
		{"processor fails at frame 5", 3, -1, 5, 0, boom, func(n int) bool { return n <= 5 }},
		{"cancelled while waiting in Admit", 0, -1, -1, 100 * time.Millisecond, context.Canceled, func(n int) bool { return n == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newCountingAdmitter(tt.limit, tt.failAt)
			cfg := config(in, filepath.Join(t.TempDir(), "out.mp4"), w, h)
			cfg.InFlight, cfg.Admit = 4, a
			ctx := testCtx(t)
			if tt.cancelAfter > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				time.AfterFunc(tt.cancelAfter, cancel)
			}
			var calls atomic.Int64
			proc := pipeline.ProcessorFunc(func(_ gocv.Mat, k int) error {
				calls.Add(1)
				if k == tt.procFail {
					return boom
				}
				return nil
			})
			r := run(t, ctx, cfg, proc, nil)
			switch {
			case tt.want == nil && r.err != nil:
				t.Fatalf("Run: %v", r.err)
			case tt.want != nil && !errors.Is(r.err, tt.want):
				t.Fatalf("Run: %v, want %v", r.err, tt.want)
			}
			if tt.want == errNoAdmission && !strings.Contains(r.err.Error(), fmt.Sprintf("frame %d", tt.failAt)) {
				t.Errorf("error %q does not name frame %d", r.err, tt.failAt)
			}
			if !tt.wantN(r.n) {
				t.Errorf("Run wrote %d frames", r.n)
			}
			if tt.limit == 0 && calls.Load() != 0 {
				t.Errorf("processor called %d times without an admission", calls.Load())
			}
			if r.elapsed > 10*time.Second {
				t.Errorf("Run took %v", r.elapsed)
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.admits != a.dones || a.inFlight != 0 {
				t.Errorf("%d Admits, %d Dones, %d in flight after the run", a.admits, a.dones, a.inFlight)
			}
			t.Logf("%d frames, %d Admits/Dones: %v", r.n, a.admits, r.err)
		})
	}
}
