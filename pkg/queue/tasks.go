package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TasksConfig describes a work queue: a WorkQueue-retention stream and the one durable pull consumer that all
// workers share.
type TasksConfig struct {
	Stream     string        // stream name, e.g. "FACEFLEET_TASKS"
	Subjects   []string      // e.g. {"facefleet.tasks.>"}
	Consumer   string        // durable consumer name, e.g. "workers"
	AckWait    time.Duration // how long a lease lasts without InProgress; default 60 s
	MaxDeliver int           // deliveries before a task is given up; default 5, -1 = unlimited
	Duplicates time.Duration // Nats-Msg-Id deduplication window; default 2 min
	Storage    string        // "file" (default) or "memory"
	// Replicas is how many servers of a NATS cluster keep the stream (1 to 5; 0 is 1). An existing stream that
	// has fewer is raised to it; one that has more keeps them (replicasFor).
	Replicas int
	// MaxAckPending is how many tasks may be leased at once, fleet-wide; default 10,000. The server's own default,
	// 1,000, silently left every slot past the thousandth busy one idle with tasks queued (docs/SCALE.md 6.3).
	MaxAckPending int
}

const (
	defaultAckWait    = 60 * time.Second
	defaultMaxDeliver = 5
	defaultDuplicates = 2 * time.Minute
	// defaultMaxAckPending: room for 2,000 GPU workers' slots with a margin (docs/SCALE.md).
	defaultMaxAckPending = 10000
)

func (c TasksConfig) withDefaults() TasksConfig {
	if c.AckWait == 0 {
		c.AckWait = defaultAckWait
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = defaultMaxDeliver
	}
	if c.Duplicates == 0 {
		c.Duplicates = defaultDuplicates
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = defaultMaxAckPending
	}
	return c
}

// Validate reports a configuration Conn.Tasks cannot use. Zero durations and MaxDeliver take defaults.
func (c TasksConfig) Validate() error {
	var errs []error
	if !validName(c.Stream) {
		errs = append(errs, fmt.Errorf("stream name %q must be letters, digits, '-' or '_'", c.Stream))
	}
	if !validName(c.Consumer) {
		errs = append(errs, fmt.Errorf("consumer name %q must be letters, digits, '-' or '_'", c.Consumer))
	}
	if len(c.Subjects) == 0 {
		errs = append(errs, errors.New("no subjects"))
	}
	for _, s := range c.Subjects {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			errs = append(errs, fmt.Errorf("invalid subject %q", s))
		}
	}
	if c.AckWait < 0 {
		errs = append(errs, fmt.Errorf("negative AckWait %s", c.AckWait))
	}
	if c.MaxDeliver < -1 {
		errs = append(errs, fmt.Errorf("MaxDeliver %d (want -1 for unlimited, or more than 0)", c.MaxDeliver))
	}
	if c.Duplicates < 0 {
		errs = append(errs, fmt.Errorf("negative Duplicates %s", c.Duplicates))
	}
	if _, err := parseStorage(c.Storage); err != nil {
		errs = append(errs, err)
	}
	if err := checkReplicas(c.Replicas); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("queue: tasks config: %w", err)
	}
	return nil
}

// Tasks is a work queue. Publish adds tasks; Fetch leases them to one worker at a time.
type Tasks struct {
	js       jetstream.JetStream
	stream   jetstream.Stream
	consumer jetstream.Consumer
	cfg      TasksConfig
}

// Tasks creates or updates the stream and its consumer (explicit acks). Every process that publishes or fetches
// calls it with the same configuration; the last caller's consumer settings win.
func (c *Conn) Tasks(ctx context.Context, cfg TasksConfig) (*Tasks, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	storage, _ := parseStorage(cfg.Storage)
	replicas, raised := c.replicasFor(ctx, cfg.Stream, cfg.Replicas)
	stream, err := c.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       cfg.Stream,
		Subjects:   cfg.Subjects,
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    storage,
		Duplicates: cfg.Duplicates,
		Replicas:   replicas,
	})
	if err == nil && raised {
		err = c.waitReplicated(ctx, cfg.Stream, replicas)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: tasks: stream %s: %w", cfg.Stream, replicasError(err))
	}
	consumer, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       cfg.Consumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    cfg.MaxDeliver,
		MaxAckPending: cfg.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: tasks: consumer %s on %s: %w", cfg.Consumer, cfg.Stream, err)
	}
	return &Tasks{js: c.js, stream: stream, consumer: consumer, cfg: cfg}, nil
}

// Publish adds a task and waits for the stream to store it. msgID becomes the Nats-Msg-Id header: a second
// publish with the same ID inside the Duplicates window is dropped by the server and is not an error. An empty
// msgID disables deduplication.
func (t *Tasks) Publish(ctx context.Context, subject, msgID string, data []byte) error {
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(t.cfg.Stream)}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	if _, err := t.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data}, opts...); err != nil {
		return fmt.Errorf("queue: publish %s: %w", subject, unavailable(ctx, err))
	}
	return nil
}

// Fetch leases up to n tasks. It waits up to wait (cut short by ctx's deadline) for the first task, returns as soon
// as one arrives, and adds the others that are ready by then (best effort: a task stored a moment ago may only come
// with the next Fetch). Nothing arriving is not an error: the result is empty. Fetch never has more than n tasks
// in flight, so a worker never holds tasks it has no slot for (their AckWait would run out while they wait).
//
// If ctx ends while waiting, the tasks that arrived, and any still arriving for this request, are Nak'ed back to
// the queue and ctx's error is returned.
func (t *Tasks) Fetch(ctx context.Context, n int, wait time.Duration) ([]*Lease, error) {
	if n <= 0 {
		return nil, fmt.Errorf("queue: fetch: batch size %d", n)
	}
	if wait <= 0 {
		return nil, fmt.Errorf("queue: fetch: wait %s", wait)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("queue: fetch: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		// Leave a margin so the request expires before ctx does and arrivals are not Nak'ed needlessly.
		left := time.Until(dl)
		left -= min(left/10, 100*time.Millisecond)
		if left <= 0 {
			return nil, fmt.Errorf("queue: fetch: %w", context.DeadlineExceeded)
		}
		wait = min(wait, left)
	}
	// A pull request for n tasks with a wait holds until all n arrive or the wait ends, even with some in hand. So
	// wait for one, then take what else is ready without waiting.
	leases, err := t.pull(ctx, 1, wait)
	if err != nil || len(leases) == 0 || n == 1 {
		return leases, err
	}
	more, err := t.pull(ctx, n-1, 0)
	if err != nil {
		if ctx.Err() != nil {
			_ = leases[0].msg.Nak()
			return nil, err
		}
		return leases, nil // the task in hand is good; a persistent error will show on the next Fetch
	}
	return append(leases, more...), nil
}

// pull sends one pull request for up to n tasks, waiting up to wait, or not at all when wait is 0.
func (t *Tasks) pull(ctx context.Context, n int, wait time.Duration) ([]*Lease, error) {
	var batch jetstream.MessageBatch
	var err error
	if wait > 0 {
		batch, err = t.consumer.Fetch(n, jetstream.FetchMaxWait(wait))
	} else {
		batch, err = t.consumer.FetchNoWait(n)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: fetch: %w", unavailable(ctx, err))
	}
	leases := make([]*Lease, 0, n)
	msgs := batch.Messages()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				// An error after some tasks arrived (a missed heartbeat, say) will show again on the next Fetch;
				// the tasks in hand are good.
				if err := batch.Error(); err != nil && len(leases) == 0 {
					return nil, fmt.Errorf("queue: fetch: %w", unavailable(ctx, err))
				}
				return leases, nil
			}
			leases = append(leases, t.newLease(m))
		case <-ctx.Done():
			for _, l := range leases {
				_ = l.msg.Nak()
			}
			go func() {
				for m := range msgs {
					_ = m.Nak()
				}
			}()
			return nil, fmt.Errorf("queue: fetch: %w", ctx.Err())
		}
	}
}

// PurgeSubject removes the stored tasks on subject (wildcards allowed, e.g. "facefleet.tasks.<job>.>"): pending
// ones and leased ones alike. A worker holding a purged lease finds its ack has nothing to ack.
func (t *Tasks) PurgeSubject(ctx context.Context, subject string) error {
	if subject == "" {
		return errors.New("queue: purge: empty subject")
	}
	if err := t.stream.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
		return fmt.Errorf("queue: purge %s: %w", subject, err)
	}
	return nil
}

// Has reports whether the stream holds a task on subject (pending or leased). A coordinator that resumes a job
// publishes only the segments that have neither a commit nor a task, so a restart never queues a segment twice,
// even after the deduplication window.
func (t *Tasks) Has(ctx context.Context, subject string) (bool, error) {
	_, err := t.stream.GetLastMsgForSubject(ctx, subject)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("queue: has %s: %w", subject, err)
	}
}

// Queued returns how many tasks the stream holds (pending or leased) on each subject matching filter, in one
// request however many subjects match: what Has says of one subject, for a whole job at once.
func (t *Tasks) Queued(ctx context.Context, filter string) (map[string]uint64, error) {
	if filter == "" {
		return nil, errors.New("queue: queued: empty filter")
	}
	info, err := t.stream.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, fmt.Errorf("queue: queued %s: %w", filter, err)
	}
	if info.State.Subjects == nil {
		return map[string]uint64{}, nil
	}
	return info.State.Subjects, nil
}

// DeadLetter is a task the consumer stopped delivering: it reached MaxDeliver with no ack and no term (a worker
// that dies on it every time). The work queue keeps it until it is removed.
type DeadLetter struct {
	Subject    string
	Data       []byte
	Deliveries int
	Seq        uint64 // the task's stream sequence, for Remove
}

// OnDeadLetter calls fn, on its own goroutine, for each task that reaches MaxDeliver, from the server's
// MAX_DELIVERIES advisory, until ctx ends. Every subscriber hears every advisory; fn must tolerate repeats.
func (t *Tasks) OnDeadLetter(ctx context.Context, fn func(DeadLetter)) error {
	subject := fmt.Sprintf("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.%s.%s", t.cfg.Stream, t.cfg.Consumer)
	sub, err := t.js.Conn().Subscribe(subject, func(m *nats.Msg) {
		var a struct {
			StreamSeq  uint64 `json:"stream_seq"`
			Deliveries int    `json:"deliveries"`
		}
		if json.Unmarshal(m.Data, &a) != nil {
			return
		}
		gctx, cancel := withDefaultTimeout(ctx)
		defer cancel()
		raw, err := t.stream.GetMsg(gctx, a.StreamSeq)
		if err != nil {
			return // removed meanwhile (by another subscriber, or a purge)
		}
		fn(DeadLetter{Subject: raw.Subject, Data: raw.Data, Deliveries: a.Deliveries, Seq: a.StreamSeq})
	})
	if err != nil {
		return fmt.Errorf("queue: dead letters: %w", err)
	}
	context.AfterFunc(ctx, func() { _ = sub.Unsubscribe() })
	return nil
}

// Remove deletes one stored task by its stream sequence; a task already gone is not an error.
func (t *Tasks) Remove(ctx context.Context, seq uint64) error {
	// nats.go reports a missing sequence only in the text of ErrMsgDeleteUnsuccessful: look first.
	if _, err := t.stream.GetMsg(ctx, seq); errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err := t.stream.DeleteMsg(ctx, seq); err != nil {
		return fmt.Errorf("queue: remove %d: %w", seq, err)
	}
	return nil
}

// Pending reports the queue lag from the consumer: tasks not yet delivered, and tasks delivered but not acked.
// Their sum is what KEDA's nats-jetstream scaler calls lag.
func (t *Tasks) Pending(ctx context.Context) (pending, ackPending int, err error) {
	info, err := t.consumer.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("queue: pending: %w", err)
	}
	return int(info.NumPending), info.NumAckPending, nil
}

// Oldest is when the oldest task still in the queue was stored; zero when the queue is empty. The stream keeps a
// task until it is acked or terminated (work-queue retention), so its first message is the oldest one unsettled.
func (t *Tasks) Oldest(ctx context.Context) (time.Time, error) {
	info, err := t.stream.Info(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("queue: oldest task: %w", unavailable(ctx, err))
	}
	if info.State.Msgs == 0 {
		return time.Time{}, nil
	}
	return info.State.FirstTime, nil
}

// Lease is one delivery of a task. Exactly one of Ack, Nak, NakWithDelay or Term should end it; without one the
// task comes back after AckWait.
type Lease struct {
	msg       jetstream.Msg
	delivered int
	ackWait   time.Duration
}

func (t *Tasks) newLease(m jetstream.Msg) *Lease {
	l := &Lease{msg: m, ackWait: t.cfg.AckWait}
	if md, err := m.Metadata(); err == nil {
		l.delivered = int(md.NumDelivered)
	}
	return l
}

// Data is the task's payload.
func (l *Lease) Data() []byte { return l.msg.Data() }

// Subject is the subject the task was published on.
func (l *Lease) Subject() string { return l.msg.Subject() }

// MsgID is the task's Nats-Msg-Id, "" if it was published without one.
func (l *Lease) MsgID() string { return l.msg.Headers().Get(jetstream.MsgIDHeader) }

// Delivered is how many times the task has been delivered, this time included (1 on the first delivery).
func (l *Lease) Delivered() int { return l.delivered }

// InProgress restarts the AckWait clock.
func (l *Lease) InProgress() error {
	if err := l.msg.InProgress(); err != nil {
		return fmt.Errorf("queue: in progress: %w", err)
	}
	return nil
}

// Ack removes the task from the queue and waits for the server to confirm.
func (l *Lease) Ack(ctx context.Context) error {
	if err := l.msg.DoubleAck(ctx); err != nil {
		return fmt.Errorf("queue: ack: %w", unavailable(ctx, err))
	}
	return nil
}

// Nak returns the task for immediate redelivery. The delivery still counts toward MaxDeliver.
func (l *Lease) Nak() error {
	if err := l.msg.Nak(); err != nil {
		return fmt.Errorf("queue: nak: %w", err)
	}
	return nil
}

// NakWithDelay returns the task for redelivery after d.
func (l *Lease) NakWithDelay(d time.Duration) error {
	if err := l.msg.NakWithDelay(d); err != nil {
		return fmt.Errorf("queue: nak: %w", err)
	}
	return nil
}

// Term stops all redelivery of the task (the work queue drops it). The reason appears in the server's
// MSG_TERMINATED advisory; copy anything the job needs into State first.
func (l *Lease) Term(reason string) error {
	var err error
	if reason == "" {
		err = l.msg.Term()
	} else {
		err = l.msg.TermWithReason(reason)
	}
	if err != nil {
		return fmt.Errorf("queue: term: %w", err)
	}
	return nil
}

// KeepAlive sends InProgress every interval (AckWait/3 when interval <= 0) until ctx ends, stop is called, or the
// lease has been acked, nak'ed or terminated. stop waits for the heartbeat goroutine to end and may be called more
// than once; call it before Ack. Failed heartbeats (a brief disconnect) are retried on the next tick.
func (l *Lease) KeepAlive(ctx context.Context, interval time.Duration) (stop func()) {
	if interval <= 0 {
		interval = max(l.ackWait/3, 10*time.Millisecond)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := l.msg.InProgress(); errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
					return
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
