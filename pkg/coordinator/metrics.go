package coordinator

import (
	"context"
	"time"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/metrics"
)

// queueRead bounds one scrape's look at the queue: a scrape must answer while NATS is away.
const queueRead = 5 * time.Second

// queueDepth is the task queue for the metrics, read at scrape time from the consumer (tasks not yet acked) and
// the stream (the oldest task's age).
func (s *Service) queueDepth() (metrics.QueueDepth, error) {
	ctx, cancel := context.WithTimeout(context.Background(), queueRead)
	defer cancel()
	pending, ackPending, err := s.deps.Tasks.Pending(ctx)
	if err != nil {
		return metrics.QueueDepth{}, err
	}
	oldest, err := s.deps.Tasks.Oldest(ctx)
	if err != nil {
		return metrics.QueueDepth{}, err
	}
	d := metrics.QueueDepth{Pending: pending + ackPending}
	if !oldest.IsZero() {
		d.Oldest = max(0, time.Since(oldest))
	}
	return d, nil
}

// jobStates is the state of every job record the coordinator's watch saw, for the jobs-by-state gauge. It is kept
// only with metrics (it grows with the jobs kept in the cluster, a key and a state each).
type jobStates struct {
	m     *metrics.Coordinator
	state map[string]job.State
}

func newJobStates(m *metrics.Coordinator) *jobStates {
	return &jobStates{m: m, state: map[string]job.State{}}
}

// set records key's record in state st; "" when the record is gone or invalid.
func (j *jobStates) set(key string, st job.State) {
	if j.m == nil {
		return
	}
	j.m.JobState(string(j.state[key]), string(st))
	if st == "" {
		delete(j.state, key)
	} else {
		j.state[key] = st
	}
}
