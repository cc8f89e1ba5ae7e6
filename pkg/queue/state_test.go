package queue_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/queue"
)

func TestStateCreateGetPutDelete(t *testing.T) {
	t.Parallel()
	s := newState(t, queue.StateConfig{})
	ctx := testCtx(t)
	if _, err := s.Get(ctx, "job.a"); !errors.Is(err, queue.ErrKeyNotFound) {
		t.Fatalf("Get of a missing key = %v, want ErrKeyNotFound", err)
	}
	rev, err := s.Create(ctx, "job.a", []byte("queued"))
	if err != nil || rev == 0 {
		t.Fatalf("Create = %d, %v", rev, err)
	}
	if _, err := s.Create(ctx, "job.a", []byte("again")); !errors.Is(err, queue.ErrKeyExists) {
		t.Fatalf("second Create = %v, want ErrKeyExists", err)
	}
	if errors.Is(err, queue.ErrConflict) {
		t.Fatal("Create's error also matches ErrConflict")
	}
	e, err := s.Get(ctx, "job.a")
	if err != nil || string(e.Value) != "queued" || e.Revision != rev || e.Key != "job.a" || e.Deleted || e.Created.IsZero() {
		t.Fatalf("Get = %+v, %v", e, err)
	}
	rev2, err := s.Put(ctx, "job.a", []byte("running"))
	if err != nil || rev2 <= rev {
		t.Fatalf("Put = %d, %v", rev2, err)
	}
	if err := s.Delete(ctx, "job.a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "job.a"); !errors.Is(err, queue.ErrKeyNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrKeyNotFound", err)
	}
	if err := s.Delete(ctx, "job.never"); err != nil {
		t.Fatalf("Delete of a missing key = %v", err)
	}
	// A deleted key can be created again.
	if _, err := s.Create(ctx, "job.a", []byte("again")); err != nil {
		t.Fatalf("Create after Delete = %v", err)
	}
	if _, err := s.Put(ctx, "bad key", nil); err == nil {
		t.Fatal("Put accepted a key with a space")
	}
}

func TestStateUpdateCAS(t *testing.T) {
	t.Parallel()
	s := newState(t, queue.StateConfig{})
	ctx := testCtx(t)
	rev, err := s.Create(ctx, "seg.0", []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	rev2, err := s.Update(ctx, "seg.0", []byte("b"), rev)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Update(ctx, "seg.0", []byte("c"), rev) // stale: someone else committed first
	if !errors.Is(err, queue.ErrConflict) {
		t.Fatalf("stale Update = %v, want ErrConflict", err)
	}
	if errors.Is(err, queue.ErrKeyExists) {
		t.Fatal("stale Update's error also matches ErrKeyExists")
	}
	if _, err := s.Update(ctx, "seg.missing", []byte("x"), 5); !errors.Is(err, queue.ErrConflict) {
		t.Fatalf("Update of a missing key = %v, want ErrConflict", err)
	}
	e, _ := s.Get(ctx, "seg.0")
	if string(e.Value) != "b" || e.Revision != rev2 {
		t.Fatalf("after conflict Get = %+v", e)
	}
}

func TestStateModifyConcurrent(t *testing.T) {
	t.Parallel()
	s := newState(t, queue.StateConfig{})
	incr := func(old []byte) ([]byte, error) {
		n := 0
		if old != nil {
			var err error
			if n, err = strconv.Atoi(string(old)); err != nil {
				return nil, err
			}
		}
		return []byte(strconv.Itoa(n + 1)), nil
	}
	const workers = 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start := make(chan struct{})
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := s.Modify(context.Background(), "job.x.frames_done", incr); err != nil {
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e, err := s.Get(testCtx(t), "job.x.frames_done")
	if err != nil || string(e.Value) != strconv.Itoa(workers) {
		t.Fatalf("counter = %q (%v), want %d", e.Value, err, workers)
	}
	boom := errors.New("boom")
	if _, err := s.Modify(testCtx(t), "job.x.frames_done", func([]byte) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("Modify with a failing fn = %v", err)
	}
}

func TestStateKeys(t *testing.T) {
	t.Parallel()
	s := newState(t, queue.StateConfig{})
	ctx := testCtx(t)
	keys, err := s.Keys(ctx, "job.abc.")
	if err != nil || keys == nil || len(keys) != 0 {
		t.Fatalf("Keys on an empty bucket = %#v, %v; want an empty slice", keys, err)
	}
	for _, k := range []string{"job.abc.seg.1", "job.abc.seg.0", "job.abc", "job.abcd.seg.0", "job.other.seg.0", "worker.w1"} {
		if _, err := s.Put(ctx, k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "job.abc.seg.1"); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"job.abc.":  "[job.abc.seg.0]",
		"job.abc":   "[job.abc job.abc.seg.0 job.abcd.seg.0]",
		"job.":      "[job.abc job.abc.seg.0 job.abcd.seg.0 job.other.seg.0]",
		"":          "[job.abc job.abc.seg.0 job.abcd.seg.0 job.other.seg.0 worker.w1]",
		"wor":       "[worker.w1]",
		"job.none.": "[]",
	}
	for prefix, want := range cases {
		got, err := s.Keys(ctx, prefix)
		if err != nil || fmt.Sprint(got) != want {
			t.Errorf("Keys(%q) = %v, %v; want %s", prefix, got, err, want)
		}
	}
}

func TestStateWatch(t *testing.T) {
	t.Parallel()
	s := newState(t, queue.StateConfig{})
	ctx := testCtx(t)
	if _, err := s.Put(ctx, "job.abc.seg.0", []byte("done")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "job.zzz.seg.0", []byte("other job")); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Watch(wctx, "job.abc.>")
	if err != nil {
		t.Fatal(err)
	}
	next := func() queue.Entry {
		t.Helper()
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatal("watch channel closed early")
			}
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("no watch entry within 5s")
		}
		return queue.Entry{}
	}
	if e := next(); e.Key != "job.abc.seg.0" || string(e.Value) != "done" || e.Deleted {
		t.Fatalf("existing value: %+v", e)
	}
	if _, err := s.Put(ctx, "job.zzz.seg.1", []byte("not watched")); err != nil {
		t.Fatal(err)
	}
	rev, err := s.Put(ctx, "job.abc.seg.1", []byte("running"))
	if err != nil {
		t.Fatal(err)
	}
	if e := next(); e.Key != "job.abc.seg.1" || string(e.Value) != "running" || e.Revision != rev {
		t.Fatalf("update: %+v", e)
	}
	if err := s.Delete(ctx, "job.abc.seg.0"); err != nil {
		t.Fatal(err)
	}
	if e := next(); e.Key != "job.abc.seg.0" || !e.Deleted {
		t.Fatalf("delete: %+v", e)
	}
	cancel()
	select {
	case _, ok := <-ch:
		for ok {
			_, ok = <-ch
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch channel not closed after cancel")
	}
}

func TestStateWatchSlowReaderThenCancel(t *testing.T) {
	t.Parallel()
	s := newState(t, queue.StateConfig{})
	ctx := testCtx(t)
	for i := range 500 { // more than the library's and our buffers hold
		if _, err := s.Put(ctx, fmt.Sprintf("w.%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	ch, err := s.Watch(wctx, "w.*")
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	time.Sleep(100 * time.Millisecond) // let the library block on a full channel
	cancel()
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("watch of a blocked reader did not close after cancel")
	}
}

func TestStateTTL(t *testing.T) {
	t.Parallel()
	s := newState(t, queue.StateConfig{Bucket: "facefleet_workers", TTL: time.Second})
	ctx := testCtx(t)
	if _, err := s.Put(ctx, "worker.gpu1", []byte("heartbeat")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "worker.gpu1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := s.Get(ctx, "worker.gpu1")
		if errors.Is(err, queue.ErrKeyNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry still there 5s after a 1s TTL: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestStateConfigValidate(t *testing.T) {
	if err := (queue.StateConfig{Bucket: "jobs"}).Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []queue.StateConfig{
		{},
		{Bucket: "a.b"},
		{Bucket: "b", TTL: -1},
		{Bucket: "b", History: 65},
		{Bucket: "b", History: -1},
		{Bucket: "b", Storage: "tape"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v validated", c)
		}
	}
}
