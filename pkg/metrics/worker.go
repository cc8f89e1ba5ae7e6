package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of facefleet_worker_segments_total: how a worker settled a task.
const (
	Committed  = "committed"   // processed and committed by this attempt (not a result another attempt beat)
	Failed     = "failed"      // the job failed on it (bad input, last attempt, a task refused)
	Retried    = "retried"     // failed, counted, handed back for another attempt
	HandedBack = "handed_back" // does not fit this worker's budget, or interrupted by a shutdown or drain
	OwnTrouble = "own_trouble" // the worker's own trouble (disk, memory, a model, an outage): handed back uncounted
)

// Worker is what a `worker` process counts.
type Worker struct {
	store          *Store
	reg            prometheus.Registerer
	segments       *prometheus.CounterVec
	frames, alerts prometheus.Counter
	seconds        prometheus.Histogram
	modelLoad      prometheus.Gauge
}

// NewWorker registers the worker's metrics on reg; nil when reg is nil (nothing collected).
func NewWorker(reg *prometheus.Registry) *Worker {
	if reg == nil {
		return nil
	}
	w := &Worker{
		store: newStore(reg), reg: reg,
		segments: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "worker_segments_total",
			Help: "Tasks this worker settled, by result."}, []string{"result"}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "frames_processed_total",
			Help: "Frames this worker's pipelines processed (a segment run in several passes counts each frame once)."}),
		alerts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "memory_alerts_total",
			Help: "Alerts of the memory governor: 85% of the budget reached, a model out of memory."}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "segment_seconds",
			Help: "Seconds from a segment's download to its commit, for committed segments.", Buckets: durations}),
		modelLoad: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "model_load_seconds",
			Help: "Seconds the first slot's models took to load (and, on a GPU, to warm up)."}),
	}
	for _, r := range []string{Committed, Failed, Retried, HandedBack, OwnTrouble} {
		w.segments.WithLabelValues(r)
	}
	reg.MustRegister(w.segments, w.frames, w.alerts, w.seconds, w.modelLoad)
	return w
}

// Store counts the bytes the worker's blob store moved; nil for a nil Worker.
func (w *Worker) Store() *Store {
	if w == nil {
		return nil
	}
	return w.store
}

// Segment counts a task settled with result (Committed, Failed, ...).
func (w *Worker) Segment(result string) {
	if w != nil {
		w.segments.WithLabelValues(result).Inc()
	}
}

// Frames counts n frames processed.
func (w *Worker) Frames(n int) {
	if w != nil && n > 0 {
		w.frames.Add(float64(n))
	}
}

// SegmentSeconds observes one committed segment's time.
func (w *Worker) SegmentSeconds(d time.Duration) {
	if w != nil {
		w.seconds.Observe(d.Seconds())
	}
}

// Alert counts one memory alert.
func (w *Worker) Alert() {
	if w != nil {
		w.alerts.Inc()
	}
}

// ModelLoad sets the models' load time.
func (w *Worker) ModelLoad(d time.Duration) {
	if w != nil {
		w.modelLoad.Set(d.Seconds())
	}
}

// WorkerSample is a worker's sampled state, read at scrape time.
type WorkerSample struct {
	FPS         float64 // frames per second over the last while
	RSS         uint64  // the process tree's resident memory, bytes
	Budget      uint64  // the memory budget, bytes; 0 = none
	SystemRatio float64 // memory in use, 0..1: the container's when it has a limit, else the machine's
	MemoryOK    bool    // RSS and SystemRatio were read
	// GPU: only on a worker that planned its GPU.
	GPU                   bool
	GPUUsed, GPUPlanned   uint64
	GPUUsedOK             bool // the device's memory was read
	Batch                 int  // frames per model call of the last segment planned; 0 = none yet
	InFlight, InFlightMax int  // frames in flight and the governor's limit on them
	Governed              bool // a governor (a memory budget) runs: InFlight and InFlightMax mean something
}

// Sample reads the worker's sampled gauges with read at every scrape. Call it once.
func (w *Worker) Sample(read func() WorkerSample) {
	if w != nil {
		w.reg.MustRegister(&workerCollector{read: read})
	}
}

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(Namespace+"_"+name, help, nil, nil)
}

var (
	fpsDesc        = desc("worker_frames_per_second", "Frames per second this worker processed over the last 30 s.")
	rssDesc        = desc("memory_rss_bytes", "Resident memory of the worker's process tree (ffmpeg children included).")
	budgetDesc     = desc("memory_budget_bytes", "The worker's memory budget (--max-memory or its container's limit less a margin); 0 = none.")
	systemDesc     = desc("memory_system_used_ratio", "Memory in use, 0 to 1: the container's (working set / limit) when it has a limit, else the machine's.")
	gpuUsedDesc    = desc("gpu_memory_used_bytes", "Memory in use on the worker's GPU (the whole device, as NVML reports it).")
	gpuPlannedDesc = desc("gpu_memory_planned_bytes", "GPU memory the worker planned for its slots at their batch.")
	batchDesc      = desc("batch_size", "Frames per model call of the last segment this worker planned.")
	inFlightDesc   = desc("frames_in_flight", "Frames admitted into the pipelines and not yet done (with a memory budget).")
	limitDesc      = desc("frames_in_flight_limit", "The memory governor's limit on frames in flight (with a memory budget).")
)

type workerCollector struct {
	read func() WorkerSample
}

func (c *workerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{fpsDesc, rssDesc, budgetDesc, systemDesc, gpuUsedDesc, gpuPlannedDesc,
		batchDesc, inFlightDesc, limitDesc} {
		ch <- d
	}
}

func (c *workerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.read()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	gauge(fpsDesc, s.FPS)
	gauge(budgetDesc, float64(s.Budget))
	gauge(batchDesc, float64(s.Batch))
	if s.MemoryOK {
		gauge(rssDesc, float64(s.RSS))
		gauge(systemDesc, s.SystemRatio)
	}
	if s.GPU {
		gauge(gpuPlannedDesc, float64(s.GPUPlanned))
		if s.GPUUsedOK {
			gauge(gpuUsedDesc, float64(s.GPUUsed))
		}
	}
	if s.Governed {
		gauge(inFlightDesc, float64(s.InFlight))
		gauge(limitDesc, float64(s.InFlightMax))
	}
}
