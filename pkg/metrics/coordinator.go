package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Coordinator is what `serve` counts. The job counts cover the whole cluster (every record the coordinator's watch
// sees), the counters what this coordinator saw happen.
type Coordinator struct {
	store *Store
	reg   prometheus.Registerer

	jobs                           *prometheus.GaugeVec
	committed, failed, redelivered prometheus.Counter
	split, stitch                  prometheus.Histogram
}

// NewCoordinator registers the coordinator's metrics on reg; nil when reg is nil (nothing collected).
func NewCoordinator(reg *prometheus.Registry) *Coordinator {
	if reg == nil {
		return nil
	}
	c := &Coordinator{
		store: newStore(reg), reg: reg,
		jobs: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "jobs",
			Help: "Jobs in the cluster by state, from the job records the coordinator watches."}, []string{"state"}),
		committed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "segments_committed_total",
			Help: "Segment commits the coordinator saw while following its jobs."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "segments_failed_total",
			Help: "Segment failures (a job's failure record: a worker's last attempt, bad input, a dead letter) the coordinator saw."}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "segments_redelivered_total",
			Help: "Deliveries of a task beyond its first, from the attempt of each commit seen and the delivery count of each dead letter."}),
		split: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "split_seconds",
			Help: "Seconds a job's planning took: probe, keyframe scan, split and upload of the pieces.", Buckets: durations}),
		stitch: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "stitch_seconds",
			Help: "Seconds a job's stitch took: results fetched and checked, joined, audio muxed, output stored.", Buckets: durations}),
	}
	reg.MustRegister(c.jobs, c.committed, c.failed, c.redelivered, c.split, c.stitch)
	return c
}

// Store counts the bytes the coordinator's blob store moved; nil for a nil Coordinator.
func (c *Coordinator) Store() *Store {
	if c == nil {
		return nil
	}
	return c.store
}

// JobState moves one job from state from to state to in the jobs gauge; "" is none (a new or removed record).
func (c *Coordinator) JobState(from, to string) {
	if c == nil || from == to {
		return
	}
	if from != "" {
		c.jobs.WithLabelValues(from).Dec()
	}
	if to != "" {
		c.jobs.WithLabelValues(to).Inc()
	}
}

// Committed counts a commit seen, delivered on the attempt-th delivery of its task (1 = the first).
func (c *Coordinator) Committed(attempt int) {
	if c == nil {
		return
	}
	c.committed.Inc()
	c.Redelivered(attempt - 1)
}

// Failed counts a segment failure seen.
func (c *Coordinator) Failed() {
	if c != nil {
		c.failed.Inc()
	}
}

// Redelivered counts n deliveries beyond a task's first.
func (c *Coordinator) Redelivered(n int) {
	if c != nil && n > 0 {
		c.redelivered.Add(float64(n))
	}
}

// Split observes one job's planning time.
func (c *Coordinator) Split(d time.Duration) {
	if c != nil {
		c.split.Observe(d.Seconds())
	}
}

// Stitch observes one job's stitch time.
func (c *Coordinator) Stitch(d time.Duration) {
	if c != nil {
		c.stitch.Observe(d.Seconds())
	}
}

// QueueDepth is the task queue as one scrape sees it.
type QueueDepth struct {
	Pending int           // tasks not yet acked: waiting, and delivered but not settled (KEDA's lag)
	Oldest  time.Duration // age of the oldest task still in the queue; 0 when it is empty
}

// Queue reads the queue at every scrape with read (facefleet_queue_pending_tasks and
// facefleet_queue_oldest_task_age_seconds). A read that fails leaves both out of that scrape: a stale or zero
// figure would read as an empty queue. Call it once.
func (c *Coordinator) Queue(read func() (QueueDepth, error)) {
	if c != nil {
		c.reg.MustRegister(&queueCollector{read: read})
	}
}

var (
	pendingDesc = prometheus.NewDesc(Namespace+"_queue_pending_tasks",
		"Tasks in the queue not yet acked: waiting for a worker, and delivered but not settled.", nil, nil)
	oldestDesc = prometheus.NewDesc(Namespace+"_queue_oldest_task_age_seconds",
		"Age of the oldest task still in the queue; 0 when it is empty.", nil, nil)
)

type queueCollector struct {
	read func() (QueueDepth, error)
}

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- pendingDesc; ch <- oldestDesc }

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	d, err := q.read()
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(d.Pending))
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, d.Oldest.Seconds())
}
