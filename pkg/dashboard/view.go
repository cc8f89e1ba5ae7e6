package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/queue"
)

// Segment states the API reports, in the order a segment passes them.
const (
	SegWaiting   = "waiting"   // no commit and no task on the queue (not split yet, parked, or the job ended)
	SegQueued    = "queued"    // a task is on the queue
	SegRunning   = "running"   // a live worker's heartbeat lists it
	SegCommitted = "committed" // a result is committed
	SegFailed    = "failed"    // the job's failure names it
)

// Job is one job as GET /api/v1/jobs lists it.
type Job struct {
	ID          string    `json:"id"`
	State       string    `json:"state"` // a job.State, or "invalid" for a record that cannot be read
	FramesDone  int       `json:"frames_done"`
	TotalFrames int       `json:"total_frames"`
	Percent     float64   `json:"percent"`
	Segments    int       `json:"segments"`
	Target      string    `json:"target,omitempty"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	// ETASeconds is the time left at the job's rate since its split ended; absent where unknown.
	ETASeconds *float64 `json:"eta_seconds,omitempty"`
	Waiting    string   `json:"waiting,omitempty"`
	Error      string   `json:"error,omitempty"`
	Warning    string   `json:"warning,omitempty"`
}

// Segment is one segment of GET /api/v1/jobs/{id}.
type Segment struct {
	Index      int    `json:"index"`
	StartFrame int    `json:"start_frame"`
	EndFrame   int    `json:"end_frame"`
	Frames     int    `json:"frames"`
	FramesDone int    `json:"frames_done"`
	State      string `json:"state"`
	Worker     string `json:"worker,omitempty"`
	// Attempts counts deliveries of a committed segment (its commit's attempt), else the failed attempts so far
	// plus the one running; more than one is a retry.
	Attempts int     `json:"attempts"`
	Seconds  float64 `json:"seconds,omitempty"`
	Note     string  `json:"note,omitempty"` // a worker's hand-back note
}

// JobDetail is GET /api/v1/jobs/{id}.
type JobDetail struct {
	Job      Job       `json:"job"`
	Segments []Segment `json:"segments"`
}

// Worker is one live worker of GET /api/v1/workers: its heartbeat and what the dashboard derives from it.
type Worker struct {
	fleet.Heartbeat
	// RAMUsed is RAMTotal less RAMFree: the container's working set when it has a limit, else the machine's use.
	RAMUsed     uint64  `json:"ram_used"`
	SeenSeconds float64 `json:"seen_seconds"`
}

// Queue is the task queue's lag.
type Queue struct {
	Pending    int `json:"pending"`
	InProgress int `json:"in_progress"`
}

// Fleet is GET /api/v1/workers.
type Fleet struct {
	Workers []Worker `json:"workers"`
	Queue   *Queue   `json:"queue,omitempty"`
	// Unreadable is "key: why" for each worker record skipped as unreadable (fleet.List).
	Unreadable []string `json:"unreadable,omitempty"`
}

// reader builds the views from the same KV reads as `coordinator status` and `workers`; every record read is
// decoded and checked (pkg/job, pkg/fleet) before any field of it is shown.
type reader struct {
	deps Deps
	now  func() time.Time
}

// jobs lists every job, newest first.
func (rd reader) jobs(ctx context.Context) ([]Job, error) {
	ls, err := rd.deps.Client.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Job, 0, len(ls))
	for _, l := range ls {
		if l.Invalid != nil {
			out = append(out, Job{ID: l.ID, State: "invalid", Created: l.Created, Error: job.Message(l.Invalid)})
			continue
		}
		out = append(out, rd.job(ctx, l.Record))
	}
	return out, nil
}

func (rd reader) job(ctx context.Context, r job.Record) Job {
	j := Job{ID: r.ID, State: string(r.State), FramesDone: r.FramesDone, TotalFrames: r.TotalFrames,
		Percent: r.Percent(), Segments: r.Segments, Created: r.Created, Updated: r.Updated,
		Waiting: r.Waiting, Error: r.Error, Warning: r.Warning}
	if r.Submission != nil {
		j.Target = r.Submission.TargetName
	}
	if r.State == job.Running && r.FramesDone > 0 && r.FramesDone < r.TotalFrames {
		// The plan is written when the split ends: its KV time is when frames started being done.
		if e, err := rd.deps.State.Get(ctx, job.PlanKey(r.ID)); err == nil && !e.Created.IsZero() {
			if spent := rd.now().Sub(e.Created).Seconds(); spent > 0 {
				eta := spent * float64(r.TotalFrames-r.FramesDone) / float64(r.FramesDone)
				j.ETASeconds = &eta
			}
		}
	}
	return j
}

// detail is one job with its segments. A job not split yet has none.
func (rd reader) detail(ctx context.Context, id string, workers []fleet.Heartbeat) (JobDetail, error) {
	r, err := rd.deps.Client.Get(ctx, id)
	if err != nil {
		return JobDetail{}, err
	}
	d := JobDetail{Job: rd.job(ctx, r), Segments: []Segment{}}
	e, err := rd.deps.State.Get(ctx, job.PlanKey(id))
	if errors.Is(err, queue.ErrKeyNotFound) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	plan, err := job.DecodePlan(id, e.Value)
	if err != nil {
		return d, fmt.Errorf("%s: %w", id, err)
	}
	running := map[string]string{} // "job/segment" -> worker
	for _, h := range workers {
		for _, t := range h.Tasks {
			running[t] = h.ID
		}
	}
	// Which segments have a task on the queue, in one request for the whole job (nil: the queue cannot say).
	var queued map[string]uint64
	if !r.State.Terminal() && rd.deps.Tasks != nil {
		queued, _ = rd.deps.Tasks.Queued(ctx, job.Subject(id))
	}
	var failure *job.Failure
	if e, err := rd.deps.State.Get(ctx, job.FailureKey(id)); err == nil {
		if f, err := job.DecodeFailure(id, e.Value); err == nil {
			failure = &f
		}
	}
	for _, s := range plan.Segments {
		seg := Segment{Index: s.Index, StartFrame: s.Start, EndFrame: s.End, Frames: s.Frames(), State: SegWaiting}
		if c, ok := rd.commit(ctx, id, s); ok {
			seg.State, seg.Worker, seg.Attempts, seg.Seconds, seg.FramesDone = SegCommitted, c.Worker, c.Attempt, c.Seconds, s.Frames()
			d.Segments = append(d.Segments, seg)
			continue
		}
		seg.Attempts = rd.fails(ctx, id, s.Index)
		seg.FramesDone = rd.progress(ctx, id, s)
		if e, err := rd.deps.State.Get(ctx, job.WaitingKey(id, s.Index)); err == nil {
			if w, err := job.DecodeWaiting(e.Value); err == nil {
				seg.Note = w.Worker + ": " + w.Reason
			}
		}
		switch w, ok := running[fmt.Sprintf("%s/%d", id, s.Index)]; {
		case failure != nil && failure.Segment == s.Index:
			seg.State, seg.Worker = SegFailed, failure.Worker
		case ok && !r.State.Terminal():
			seg.State, seg.Worker = SegRunning, w
			seg.Attempts++
		case queued[job.TaskSubject(id, s.Index)] > 0:
			seg.State = SegQueued
		}
		d.Segments = append(d.Segments, seg)
	}
	return d, nil
}

func (rd reader) commit(ctx context.Context, id string, s job.Segment) (job.Commit, bool) {
	e, err := rd.deps.State.Get(ctx, job.CommitKey(id, s.Index))
	if err != nil {
		return job.Commit{}, false
	}
	c, err := job.DecodeCommit(id, e.Value)
	if err != nil || c.Segment != s.Index {
		return job.Commit{}, false // untrusted: a commit that does not say it is this segment's is not shown as one
	}
	return c, true
}

// fails is a segment's count of failed attempts, as the worker keeps it (a JSON number); 0 if unreadable.
func (rd reader) fails(ctx context.Context, id string, n int) int {
	e, err := rd.deps.State.Get(ctx, job.FailsKey(id, n))
	if err != nil {
		return 0
	}
	var c int
	if json.Unmarshal(e.Value, &c) != nil || c < 0 || c > 1<<20 {
		return 0
	}
	return c
}

// progress is a segment's frames done, within its frame count.
func (rd reader) progress(ctx context.Context, id string, s job.Segment) int {
	e, err := rd.deps.State.Get(ctx, job.ProgressKey(id, s.Index))
	if err != nil {
		return 0
	}
	p, err := job.DecodeProgress(e.Value)
	if err != nil {
		return 0
	}
	return min(max(p.Frames, 0), s.Frames())
}

// fleet lists the live workers and the queue's lag (nil if the queue cannot say).
func (rd reader) fleet(ctx context.Context) (Fleet, []fleet.Heartbeat, error) {
	hs, bad, err := fleet.List(ctx, rd.deps.Fleet, fleet.KindWorker)
	if err != nil {
		return Fleet{}, nil, err
	}
	f := Fleet{Workers: make([]Worker, 0, len(hs))}
	for _, u := range bad {
		f.Unreadable = append(f.Unreadable, u.Key+": "+u.Err.Error())
	}
	now := rd.now()
	for _, h := range hs {
		w := Worker{Heartbeat: h, SeenSeconds: max(now.Sub(h.Updated).Seconds(), 0)}
		if h.RAMTotal >= h.RAMFree {
			w.RAMUsed = h.RAMTotal - h.RAMFree
		}
		f.Workers = append(f.Workers, w)
	}
	if rd.deps.Tasks != nil {
		if p, a, err := rd.deps.Tasks.Pending(ctx); err == nil {
			f.Queue = &Queue{Pending: p, InProgress: a}
		}
	}
	return f, hs, nil
}

// oneLine is an error's text as one line.
func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
