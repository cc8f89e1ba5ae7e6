package worker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/queue"
)

// watchLinger is how long a job's watch outlives the job's last segment in this process, so that the job's next
// segment, fetched when a slot is free (a pull lasts up to FetchWait), finds it open; a task taken ahead joins
// before the last one leaves. Short, because a fleet's processes move between jobs: each lingering watch is a
// consumer more on the KV stream.
const watchLinger = 5 * time.Second

// jobWatches shares one watch of each job's record among the segments of the job this process runs, to stop them
// when the job ends (a client cancelled it). Each watch is a consumer on the KV stream, made by a JetStream API
// request and assigned by the meta leader; one per segment was 2 of a segment's 2.2 API requests in the
// control-plane simulation, and as many consumers as segments in progress (docs/SCALE.md §6.2).
type jobWatches struct {
	ctx   context.Context // ends every watch: the worker's run
	state *queue.State
	log   *zap.Logger

	mu      sync.Mutex
	jobs    map[string]*jobWatch
	started atomic.Int64 // watches started, for tests
}

// jobWatch is one job's watch and the segments it stops.
type jobWatch struct {
	running map[*atomic.Bool]context.CancelFunc // each segment's cancel, by its own ended flag
	stop    context.CancelFunc                  // ends the watch
	idle    *time.Timer                         // ends it watchLinger after running empties
	// The latest record the watch delivered: its revision, and whether it ended the job. A segment that joins
	// after it is stopped only by a record newer than the one its task's checks read: a job retried after it
	// ended (done, then running again) must not stop its new segments on the old news.
	last      uint64
	lastEnded bool
}

func newJobWatches(ctx context.Context, state *queue.State, log *zap.Logger) *jobWatches {
	return &jobWatches{ctx: ctx, state: state, log: log, jobs: map[string]*jobWatch{}}
}

// join has cancel called when job id ends, until leave: at once if the watch has already seen a record newer than
// seen (the revision of the record the task's checks read; 0: none) end it. ended tells whether the job ended:
// why the segment's work stopped. A watch that cannot be opened stops nothing, as before sharing: the segment
// then runs to its end, and its coordinator drops the result of a job that ended.
func (js *jobWatches) join(id string, seen uint64, cancel context.CancelFunc) (ended *atomic.Bool, leave func()) {
	ended = new(atomic.Bool)
	js.mu.Lock()
	jw := js.jobs[id]
	js.mu.Unlock()
	if jw == nil {
		// Opened without the lock: a watch is a round trip to the server (more in an outage), and the other
		// jobs' segments and deliveries must not wait for it.
		ctx, stop := context.WithCancel(js.ctx)
		ch, err := js.state.Watch(ctx, job.RecordKey(id))
		if err != nil {
			stop()
			js.log.Debug("job not watched: a cancel will not stop its segment", zap.String("job", id), zap.Error(err))
			return ended, func() {}
		}
		fresh := &jobWatch{running: map[*atomic.Bool]context.CancelFunc{}, stop: stop}
		js.mu.Lock()
		if jw = js.jobs[id]; jw == nil { // else another segment of the job opened one meanwhile: that one serves
			jw = fresh
			js.jobs[id] = jw
			js.started.Add(1)
			go js.follow(id, jw, ch)
		}
		js.mu.Unlock()
		if jw != fresh {
			stop()
			go func() { // the library closes ch once stopped; drained so that its goroutine can end
				for range ch {
				}
			}()
		}
	}
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.jobs[id] != jw { // the watch ended meanwhile: this segment is not covered, as when none can be opened
		return ended, func() {}
	}
	if jw.idle != nil {
		jw.idle.Stop()
		jw.idle = nil
	}
	jw.running[ended] = cancel
	if jw.lastEnded && jw.last > seen {
		ended.Store(true)
		cancel()
	}
	return ended, func() { js.leave(id, jw, ended) }
}

// leave removes a segment; the last one's leaving closes the watch watchLinger later, unless another joins.
func (js *jobWatches) leave(id string, jw *jobWatch, key *atomic.Bool) {
	js.mu.Lock()
	defer js.mu.Unlock()
	delete(jw.running, key)
	if len(jw.running) > 0 || jw.idle != nil {
		return
	}
	jw.idle = time.AfterFunc(watchLinger, func() {
		js.mu.Lock()
		defer js.mu.Unlock()
		if js.jobs[id] == jw && len(jw.running) == 0 {
			delete(js.jobs, id)
			jw.stop()
		}
	})
}

// follow reads the job's record as it changes: a terminal record, or one that does not decode (its coordinator
// fails the job for it), stops every segment of the job running here. When the watch ends, the next segment opens
// another.
func (js *jobWatches) follow(id string, jw *jobWatch, ch <-chan queue.Entry) {
	for e := range ch {
		if e.Deleted {
			continue
		}
		rec, err := job.DecodeRecord(id, e.Value)
		end := err != nil || rec.State.Terminal()
		js.mu.Lock()
		jw.last, jw.lastEnded = e.Revision, end
		if end {
			for ended, cancel := range jw.running {
				ended.Store(true)
				cancel()
			}
		}
		js.mu.Unlock()
	}
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.jobs[id] == jw {
		delete(js.jobs, id)
	}
	if jw.idle != nil {
		jw.idle.Stop()
	}
	jw.stop()
}
