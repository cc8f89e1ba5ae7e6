package validate

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// MetricType is how a metric's samples may be read: counters (and histograms' series) only through a rate.
type MetricType int

const (
	Gauge MetricType = iota
	Counter
	Histogram
)

// Metric is one agreed metric: its type and its own labels.
type Metric struct {
	Type   MetricType
	Labels []string
}

// Metrics are the metric names agreed for issue 15, which `serve` and `worker` export on /metrics (pkg/metrics; its
// e2e scrape test holds the binaries to them). The Go and process collectors' metrics are not listed: the dashboard
// does not use them.
var Metrics = map[string]Metric{
	// coordinator (serve)
	"facefleet_jobs":                          {Gauge, []string{"state"}},
	"facefleet_segments_committed_total":      {Counter, nil},
	"facefleet_segments_failed_total":         {Counter, nil},
	"facefleet_segments_redelivered_total":    {Counter, nil},
	"facefleet_queue_pending_tasks":           {Gauge, nil},
	"facefleet_queue_oldest_task_age_seconds": {Gauge, nil},
	"facefleet_split_seconds":                 {Histogram, nil},
	"facefleet_stitch_seconds":                {Histogram, nil},
	// worker
	"facefleet_worker_segments_total":    {Counter, []string{"result"}},
	"facefleet_frames_processed_total":   {Counter, nil},
	"facefleet_worker_frames_per_second": {Gauge, nil},
	"facefleet_segment_seconds":          {Histogram, nil},
	"facefleet_memory_rss_bytes":         {Gauge, nil},
	"facefleet_memory_budget_bytes":      {Gauge, nil},
	"facefleet_memory_system_used_ratio": {Gauge, nil},
	"facefleet_gpu_memory_used_bytes":    {Gauge, nil},
	"facefleet_gpu_memory_planned_bytes": {Gauge, nil},
	"facefleet_batch_size":               {Gauge, nil},
	"facefleet_frames_in_flight":         {Gauge, nil},
	"facefleet_frames_in_flight_limit":   {Gauge, nil},
	"facefleet_memory_alerts_total":      {Counter, nil},
	"facefleet_model_load_seconds":       {Gauge, nil},
	// both
	"facefleet_store_bytes_total": {Counter, []string{"direction"}},
	"facefleet_build_info":        {Gauge, []string{"version"}},
}

// ScrapeLabels are the target labels Prometheus adds (the operator's monitors, or the usual pod-discovery
// relabelling of prometheus.io/* annotations): the only labels besides a metric's own that a query may name.
var ScrapeLabels = []string{"job", "instance", "namespace", "pod", "container", "service", "endpoint"}

// Sentinels of the PromQL checks.
var (
	ErrUnknownMetric = errors.New("not an agreed metric")
	ErrUnknownLabel  = errors.New("neither a scrape label nor one of the metric's own")
	ErrRate          = errors.New("wrong use of rate")
	ErrVariable      = errors.New("undefined dashboard variable")
)

// rangeVars are Grafana's built-in variables that stand for a duration.
var rangeVars = map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}

var varRef = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|\$([A-Za-z0-9_]+)`)

// Expand replaces Grafana's variables in expr so that PromQL can parse it: duration variables by 5m, the
// dashboard's own (vars) by ".*", as an "All" selection gives them. Any other $name is an error.
func Expand(expr string, vars []string) (string, error) {
	var errs []error
	out := varRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		name := m[1] + m[2]
		switch {
		case rangeVars[name]:
			return "5m"
		case slices.Contains(vars, name):
			return ".*"
		}
		errs = append(errs, fmt.Errorf("$%s: %w", name, ErrVariable))
		return ref
	})
	return out, errors.Join(errs...)
}

// rates are the functions a counter is read through.
var rates = map[string]bool{"rate": true, "irate": true, "increase": true}

// CheckExpr parses a PromQL expression (variables already expanded) and checks that it reads only agreed metrics,
// names only their own labels and the scrape's, reads counters and histograms only through rate, irate or
// increase and gauges never so. It returns the agreed metrics it reads.
func CheckExpr(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var (
		errs    []error
		used    []string
		labels  []string // grouping and matching labels, checked against all the expression's metrics
		allowed = slices.Clone(ScrapeLabels)
	)
	parser.Inspect(e, func(node parser.Node, path []parser.Node) error {
		switch n := node.(type) {
		case *parser.AggregateExpr:
			labels = append(labels, n.Grouping...)
		case *parser.BinaryExpr:
			if n.VectorMatching != nil {
				labels = append(labels, n.VectorMatching.MatchingLabels...)
				labels = append(labels, n.VectorMatching.Include...)
			}
		case *parser.VectorSelector:
			name, m, err := agreed(n.Name)
			if err != nil {
				errs = append(errs, err)
				return nil
			}
			used = append(used, name)
			allowed = append(allowed, m.Labels...)
			if m.Type == Histogram {
				allowed = append(allowed, "le")
			}
			for _, lm := range n.LabelMatchers {
				if lm.Name != "__name__" {
					labels = append(labels, lm.Name)
				}
			}
			inRate := false
			for _, p := range path {
				if c, ok := p.(*parser.Call); ok && rates[c.Func.Name] {
					inRate = true
				}
			}
			switch {
			case m.Type != Gauge && !inRate:
				errs = append(errs, fmt.Errorf("%s: a counter read without rate, irate or increase: %w", n.Name, ErrRate))
			case m.Type == Gauge && inRate:
				errs = append(errs, fmt.Errorf("%s: a gauge read through a rate: %w", n.Name, ErrRate))
			}
		}
		return nil
	})
	for _, l := range labels {
		if !slices.Contains(allowed, l) {
			errs = append(errs, fmt.Errorf("label %q: %w", l, ErrUnknownLabel))
		}
	}
	return used, errors.Join(errs...)
}

// agreed resolves a series name to its agreed metric: a histogram's series end in _bucket, _sum or _count.
func agreed(series string) (string, Metric, error) {
	if m, ok := Metrics[series]; ok && m.Type != Histogram {
		return series, m, nil
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(series, suffix)
		if m, known := Metrics[base]; ok && known && m.Type == Histogram {
			return base, m, nil
		}
	}
	if series == "" {
		return "", Metric{}, fmt.Errorf("a selector without a metric name: %w", ErrUnknownMetric)
	}
	return "", Metric{}, fmt.Errorf("%s: %w", series, ErrUnknownMetric)
}
