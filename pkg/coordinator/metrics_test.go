package coordinator

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/metrics"
	"github.com/facefleet/facefleet/pkg/queue"
)

// gauges is every metric reg gathers with one series, by name (what a scrape would show).
func gauges(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if m := mf.GetMetric(); len(m) == 1 {
			switch {
			case m[0].Gauge != nil:
				out[mf.GetName()] = m[0].Gauge.GetValue()
			case m[0].Counter != nil:
				out[mf.GetName()] = m[0].Counter.GetValue()
			}
		}
	}
	return out
}

// TestQueueMetrics reads the queue gauges through a registry, as a scrape does, on a real nats-server: tasks not
// yet acked (waiting or in flight) and the oldest one's age, back to 0 once every task is acked.
func TestQueueMetrics(t *testing.T) {
	e, ctx := newQueueEnv(t)
	reg := prometheus.NewRegistry()
	if _, err := NewService(ServiceConfig{ID: "coord-1", WorkDir: t.TempDir()},
		ServiceDeps{Tasks: e.tasks, State: e.state, Fleet: e.fleet, Blob: e.blob, Metrics: metrics.NewCoordinator(reg)}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	var held []*queue.Lease
	steps := []struct {
		name    string
		do      func()
		pending float64
		aged    bool // the oldest task's age is above 0
	}{
		{"empty", func() {}, 0, false},
		{"two published", func() {
			for i := range 2 {
				if err := e.tasks.Publish(ctx, job.TaskSubject("j", i), "", []byte("task")); err != nil {
					t.Fatal(err)
				}
			}
		}, 2, true},
		{"one in flight", func() {
			l, err := e.tasks.Fetch(ctx, 1, 5*time.Second)
			if err != nil || len(l) != 1 {
				t.Fatalf("fetch: %d, %v", len(l), err)
			}
			held = l
		}, 2, true},
		{"one acked", func() {
			if err := held[0].Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}, 1, true},
		{"all acked", func() {
			for ctx.Err() == nil { // the queue's short AckWait may hand the same task out again: ack what comes
				l, err := e.tasks.Fetch(ctx, 1, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range l {
					if err := x.Ack(ctx); err != nil {
						t.Fatal(err)
					}
				}
				if p, a, err := e.tasks.Pending(ctx); err == nil && p+a == 0 {
					return
				}
			}
		}, 0, false},
	}
	for _, st := range steps {
		st.do()
		// The consumer's counts follow the stream a moment later (nats-server signals its consumers from another
		// goroutine): about 1 read in 100 right after a publish, fetch or ack still shows the counts before it. A
		// scrape a moment later is right, so the gauges are read until they settle.
		var g map[string]float64
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			g = gauges(t, reg)
			if g["facefleet_queue_pending_tasks"] == st.pending || time.Now().After(deadline) {
				break
			}
		}
		pending, ok := g["facefleet_queue_pending_tasks"]
		age, aged := g["facefleet_queue_oldest_task_age_seconds"]
		if !ok || !aged {
			t.Fatalf("%s: queue gauges missing: %v", st.name, g)
		}
		if pending != st.pending {
			t.Errorf("%s: pending %v, want %v", st.name, pending, st.pending)
		}
		if max := time.Since(before).Seconds(); (age > 0) != st.aged || age > max {
			t.Errorf("%s: oldest task age %vs, want above 0: %v, at most %vs (the test's age)", st.name, age, st.aged, max)
		}
	}
}

// TestDeadLetterMetrics: a task the workers never settle reaches the queue's MaxDeliver (2 here) and is
// dead-lettered; its deliveries beyond the first count as redeliveries, on a real nats-server.
func TestDeadLetterMetrics(t *testing.T) {
	e, ctx := newQueueEnv(t)
	reg := prometheus.NewRegistry()
	svc, err := NewService(ServiceConfig{ID: "coord-1", WorkDir: t.TempDir(), Heartbeat: 200 * time.Millisecond,
		Scan: 200 * time.Millisecond}, ServiceDeps{Tasks: e.tasks, State: e.state, Fleet: e.fleet, Blob: e.blob,
		Metrics: metrics.NewCoordinator(reg)})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = svc.Run(sctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	id := job.NewID()
	task := job.Task{Job: id, Segment: job.Segment{Index: 0, Start: 0, End: 10}, SegmentKey: job.SegmentKey(id, 0),
		Spec: job.Spec{SourceKey: job.InputKey(id, "source", ".png"), FrameRateNum: 25, FrameRateDen: 1, Width: 64, Height: 48}}
	b, _ := json.Marshal(task)
	if err := e.tasks.Publish(ctx, job.TaskSubject(id, 0), task.MsgID(), b); err != nil {
		t.Fatal(err)
	}
	for range 3 { // two deliveries left to expire, then the fetch that finds MaxDeliver reached
		if _, err := e.tasks.Fetch(ctx, 1, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for ctx.Err() == nil {
		if _, err := e.state.Get(ctx, job.FailureKey(id)); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The failure record is written before the count is read back: the counter was added first.
	if got := gauges(t, reg)["facefleet_segments_redelivered_total"]; got != 1 {
		t.Fatalf("segments_redelivered_total %v, want 1 (2 deliveries)", got)
	}
}
