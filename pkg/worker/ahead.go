package worker

import (
	"context"
	"errors"
	"sync/atomic"
)

// One task ahead: a busy slot takes its next task while it runs the current one's frames, and downloads that
// task's segment (and source) meanwhile, so that the next frames start as soon as the current ones end; the finished
// segment's upload and commit then run beside the next one's frames. The held task's lease is kept alive as the
// running one's is; it waits for the slot's engine (process), and goes back to the queue at once if fetching stops
// (drain, shutdown) before it gets one. A task is taken ahead only while every slot has a task and the queue has
// work: the pull runs in the fetch loop, beside the frames, so an empty one delays nothing. And only once a running
// segment is half done: a worker that pulled ahead as soon as its frames started took, while a job's tasks were
// still being published, tasks that idle workers were waiting for (an idle worker's pull that expires goes to the
// back of the server's queue of pulls); in the 64-worker simulation 5 of 64 workers started a round late that way,
// the last 2.7-2.9 s after submit. Half a segment is time enough to download the next piece.

// errHeldBack is a task taken ahead handed back because fetching stopped before its frames started.
var errHeldBack = errors.New("worker: fetching stopped before the task taken ahead started")

// depth is how many tasks a slot holds: the one it runs and, unless NoAhead, one ahead.
func (w *Worker) depth() int {
	if w.cfg.NoAhead {
		return 1
	}
	return 2
}

// toFetch is how many tasks to fetch with held tasks in hand, and whether they are taken ahead (every slot busy).
// Ahead is never taken while in trouble of its own: one task at a time tells whether the trouble has cleared.
func (w *Worker) toFetch(held int) (n int, ahead bool) {
	if n = w.cfg.Slots - held; n > 0 {
		return n, false
	}
	if w.cfg.NoAhead || w.gate.troubled() {
		return 0, false
	}
	return w.cfg.Slots*w.depth() - held, true
}

// takeEngine waits for a free engine (the slot's frames). held, closed when a task taken ahead must go back,
// wins over a free engine: a draining worker finishes only the segments already running.
func (w *Worker) takeEngine(ctx context.Context, held <-chan struct{}) (Engine, error) {
	select {
	case <-held:
		return nil, errHeldBack
	default:
	}
	select {
	case e := <-w.engines:
		select {
		case <-held:
			w.engines <- e
			return nil, errHeldBack
		default:
			return e, nil
		}
	case <-held:
		return nil, errHeldBack
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// halfway counts the running segments past half their frames, and says when one crosses.
type halfway struct {
	n       atomic.Int32
	crossed chan struct{} // a value when a segment crossed since the fetch loop last looked
}

func newHalfway() halfway { return halfway{crossed: make(chan struct{}, 1)} }

// enter is a running segment crossing half its frames; leave is its end, once it crossed.
func (h *halfway) enter() {
	h.n.Add(1)
	select {
	case h.crossed <- struct{}{}:
	default:
	}
}

func (h *halfway) leave() { h.n.Add(-1) }

// any reports whether a running segment is past half.
func (h *halfway) any() bool { return h.n.Load() > 0 }
