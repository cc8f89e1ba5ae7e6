package memory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// ReporterConfig configures the live line.
type ReporterConfig struct {
	Out       io.Writer
	Terminal  bool          // redraw one line with \r; otherwise print a plain line every LogEvery
	Interval  time.Duration // sampling period, default 1s
	LogEvery  time.Duration // plain-line period when not on a terminal, default 5s
	Providers []string
	Threads   int
	Batch     int
	Total     int
	GPU       GPUSampler // G:n/a when nil or when it reports no GPU
}

// IsTerminal reports whether f is a character device (a terminal), without a terminal library.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Reporter samples memory every Interval and prints the live line.
type Reporter struct {
	cfg     ReporterConfig
	sampler *Sampler
	start   time.Time
	mu      sync.Mutex
	done    int
	last    Sample
	stop    chan struct{}
	wg      sync.WaitGroup
}

// NewReporter starts a reporter over the current process tree.
func NewReporter(cfg ReporterConfig) *Reporter {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = 5 * time.Second
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	r := &Reporter{cfg: cfg, sampler: NewSampler(os.Getpid()).WithGPU(cfg.GPU), start: time.Now(), stop: make(chan struct{})}
	return r
}

// Start begins sampling and printing until ctx ends or Stop is called.
func (r *Reporter) Start(ctx context.Context) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(r.cfg.Interval)
		defer t.Stop()
		lastLog := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.stop:
				return
			case <-t.C:
				r.sample()
				if r.cfg.Terminal {
					fmt.Fprintf(r.cfg.Out, "\r%s", r.Line())
				} else if time.Since(lastLog) >= r.cfg.LogEvery {
					lastLog = time.Now()
					fmt.Fprintln(r.cfg.Out, r.Line())
				}
			}
		}
	}()
}

func (r *Reporter) sample() {
	s, err := r.sampler.Sample()
	if err != nil && !errors.Is(err, ErrCgroup) { // without the cgroup the tree's numbers still make the line
		return
	}
	r.mu.Lock()
	r.last = s
	r.mu.Unlock()
}

// SetDone records frames done so far.
func (r *Reporter) SetDone(n int) {
	r.mu.Lock()
	r.done = n
	r.mu.Unlock()
}

// SetTotal records the total frame count once it is known.
func (r *Reporter) SetTotal(n int) {
	r.mu.Lock()
	r.cfg.Total = n
	r.mu.Unlock()
}

// Line renders the current state.
func (r *Reporter) Line() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Line{Done: r.done, Total: r.cfg.Total, Elapsed: time.Since(r.start), Mem: r.last,
		Providers: r.cfg.Providers, Threads: r.cfg.Threads, Batch: r.cfg.Batch}.String()
}

// Peak is the largest process-tree RSS seen so far.
func (r *Reporter) Peak() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last.PeakRSS
}

// Stop ends the reporter and prints the final line.
func (r *Reporter) Stop() {
	select {
	case <-r.stop:
		return
	default:
		close(r.stop)
	}
	r.wg.Wait()
	r.sample()
	if r.cfg.Terminal {
		fmt.Fprintf(r.cfg.Out, "\r%s\n", r.Line())
	} else {
		fmt.Fprintln(r.cfg.Out, r.Line())
	}
}
