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
	started atomic.Int64 // watches started, for tests and the debug log
}

// jobWatch is one job's watch and the segments it stops.
type jobWatch struct {
	ended   atomic.Bool                 // the record turned terminal or unreadable
	running map[*int]context.CancelFunc // the segments' cancels, by a key of each join's own
	stop    context.CancelFunc          // ends the watch
	idle    *time.Timer                 // ends it watchLinger after running empties
}

func newJobWatches(ctx context.Context, state *queue.State, log *zap.Logger) *jobWatches {
	return &jobWatches{ctx: ctx, state: state, log: log, jobs: map[string]*jobWatch{}}
}

// join has cancel called when job id ends, at once if it has, until leave. ended tells whether it did: why a
// segment's work stopped. A watch that cannot be opened stops nothing, as before sharing: the segment then runs to
// its end, and its coordinator drops the result of a job that ended.
func (js *jobWatches) join(id string, cancel context.CancelFunc) (ended *atomic.Bool, leave func()) {
	js.mu.Lock()
	defer js.mu.Unlock()
	jw := js.jobs[id]
	if jw == nil {
		ctx, stop := context.WithCancel(js.ctx)
		ch, err := js.state.Watch(ctx, job.RecordKey(id))
		if err != nil {
			stop()
			js.log.Debug("job not watched: a cancel will not stop its segment", zap.String("job", id), zap.Error(err))
			return new(atomic.Bool), func() {}
		}
		jw = &jobWatch{running: map[*int]context.CancelFunc{}, stop: stop}
		js.jobs[id] = jw
		js.started.Add(1)
		go js.follow(id, jw, ch)
	}
	if jw.idle != nil {
		jw.idle.Stop()
		jw.idle = nil
	}
	key := new(int)
	jw.running[key] = cancel
	if jw.ended.Load() {
		cancel()
	}
	return &jw.ended, func() { js.leave(id, jw, key) }
}

// leave removes a segment; the last one's leaving closes the watch watchLinger later, unless another joins.
func (js *jobWatches) leave(id string, jw *jobWatch, key *int) {
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
// fails the job for it), stops every segment of the job here. When the watch ends, the next segment opens another.
func (js *jobWatches) follow(id string, jw *jobWatch, ch <-chan queue.Entry) {
	for e := range ch {
		if e.Deleted {
			continue
		}
		if rec, err := job.DecodeRecord(id, e.Value); err != nil || rec.State.Terminal() {
			js.mu.Lock()
			jw.ended.Store(true)
			for _, cancel := range jw.running {
				cancel()
			}
			js.mu.Unlock()
		}
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
