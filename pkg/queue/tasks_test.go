package queue_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/queue"
)

func TestPublishFetchAck(t *testing.T) {
	t.Parallel()
	tasks := newTasks(t, nil)
	for i := range 3 {
		publish(t, tasks, "facefleet.tasks.job1", fmt.Sprintf("job1/%d", i), fmt.Sprintf("segment %d", i))
	}
	start := time.Now()
	leases := fetchN(t, tasks, 3, 5*time.Second)
	if len(leases) != 3 {
		t.Fatalf("got %d leases, want 3", len(leases))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("fetching 3 ready tasks took %s; Fetch must not wait for a full batch", d)
	}
	for i, l := range leases {
		if got, want := string(l.Data()), fmt.Sprintf("segment %d", i); got != want {
			t.Errorf("lease %d data %q, want %q (order)", i, got, want)
		}
		if l.Subject() != "facefleet.tasks.job1" || l.MsgID() != fmt.Sprintf("job1/%d", i) || l.Delivered() != 1 {
			t.Errorf("lease %d: subject %q id %q delivered %d", i, l.Subject(), l.MsgID(), l.Delivered())
		}
		ack(t, l)
	}
	if err := leases[0].Ack(testCtx(t)); err == nil {
		t.Error("second Ack of a lease succeeded")
	}
	if got := fetch(t, tasks, 10, 200*time.Millisecond); len(got) != 0 {
		t.Fatalf("acked tasks came back: %d", len(got))
	}
	waitPending(t, tasks, 0, 0)
}

func TestFetchReturnsWhatIsReadyThenWaitsForOne(t *testing.T) {
	t.Parallel()
	tasks := newTasks(t, nil)
	published := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		published <- tasks.Publish(context.Background(), "facefleet.tasks.j", "", []byte("late"))
	}()
	defer func() {
		if err := <-published; err != nil {
			t.Error(err)
		}
	}()
	start := time.Now()
	leases := fetch(t, tasks, 4, 5*time.Second)
	d := time.Since(start)
	if len(leases) != 1 || string(leases[0].Data()) != "late" {
		t.Fatalf("got %d leases", len(leases))
	}
	if d < 250*time.Millisecond || d > 2*time.Second {
		t.Fatalf("Fetch returned after %s, want soon after the publish at 300ms", d)
	}
}

func TestFetchEmptyReturnsAfterWait(t *testing.T) {
	t.Parallel()
	tasks := newTasks(t, nil)
	start := time.Now()
	leases := fetch(t, tasks, 5, 300*time.Millisecond)
	d := time.Since(start)
	if len(leases) != 0 {
		t.Fatalf("got %d leases from an empty queue", len(leases))
	}
	if d < 250*time.Millisecond || d > 1500*time.Millisecond {
		t.Fatalf("empty Fetch with 300ms wait took %s", d)
	}
	if _, err := tasks.Fetch(testCtx(t), 0, time.Second); err == nil {
		t.Error("Fetch(0) succeeded")
	}
	if _, err := tasks.Fetch(testCtx(t), 1, 0); err == nil {
		t.Error("Fetch with zero wait succeeded")
	}
}

func TestFetchContextCancelReturnsTasks(t *testing.T) {
	t.Parallel()
	tasks := newTasks(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	if _, err := tasks.Fetch(ctx, 1, 10*time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch after cancel = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("canceled Fetch returned after %s", d)
	}
	// A deadline shorter than wait bounds the wait and is not an error.
	dctx, dcancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer dcancel()
	start = time.Now()
	leases, err := tasks.Fetch(dctx, 1, 10*time.Second)
	if err != nil || len(leases) != 0 {
		t.Fatalf("Fetch with a short deadline = %d leases, %v", len(leases), err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("Fetch ignored ctx's deadline: %s", d)
	}
}

func TestDedupByMsgID(t *testing.T) {
	t.Parallel()
	tasks, conn := newTasksConn(t, nil)
	publish(t, tasks, "facefleet.tasks.job1", "job1/0", "first")
	publish(t, tasks, "facefleet.tasks.job1", "job1/0", "second") // a coordinator restart republishing its plan
	publish(t, tasks, "facefleet.tasks.job1", "job1/1", "other")
	leases := drain(t, tasks, 300*time.Millisecond)
	if len(leases) != 2 || string(leases[0].Data()) != "first" || string(leases[1].Data()) != "other" {
		t.Fatalf("got %d leases, want the first publish of job1/0 and job1/1", len(leases))
	}
	// Inside the window the ID is remembered even after its task was acked and deleted.
	ack(t, leases[0])
	ack(t, leases[1])
	waitStreamMsgs(t, conn, 0)
	publish(t, tasks, "facefleet.tasks.job1", "job1/0", "third")
	if n := streamMsgs(t, conn); n != 0 {
		t.Fatalf("republish of an acked task was stored (%d messages)", n)
	}
}

func TestNakRedeliversAndCountsDeliveries(t *testing.T) {
	t.Parallel()
	tasks := newTasks(t, nil)
	publish(t, tasks, "facefleet.tasks.j", "j/0", "x")
	for want := 1; want <= 3; want++ {
		leases := fetch(t, tasks, 1, 2*time.Second)
		if len(leases) != 1 || leases[0].Delivered() != want {
			t.Fatalf("delivery %d: %d leases, Delivered %v", want, len(leases), deliveredOf(leases))
		}
		if want < 3 {
			if err := leases[0].Nak(); err != nil {
				t.Fatal(err)
			}
		} else {
			ack(t, leases[0])
		}
	}
}

func deliveredOf(ls []*queue.Lease) []int {
	var out []int
	for _, l := range ls {
		out = append(out, l.Delivered())
	}
	return out
}

func TestNakWithDelay(t *testing.T) {
	t.Parallel()
	tasks := newTasks(t, nil)
	publish(t, tasks, "facefleet.tasks.j", "j/0", "x")
	l := fetch(t, tasks, 1, time.Second)[0]
	start := time.Now()
	if err := l.NakWithDelay(800 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, tasks, 1, 300*time.Millisecond); len(got) != 0 {
		t.Fatal("delayed task came back early")
	}
	got := fetch(t, tasks, 1, 3*time.Second)
	if len(got) != 1 || got[0].Delivered() != 2 {
		t.Fatalf("after delay: %d leases %v", len(got), deliveredOf(got))
	}
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Fatalf("redelivered after %s, before the 800ms delay", d)
	}
	ack(t, got[0])
}

func TestAckWaitExpiryRedelivers(t *testing.T) {
	t.Parallel()
	tasks := newTasks(t, func(c *queue.TasksConfig) { c.AckWait = 500 * time.Millisecond })
	publish(t, tasks, "facefleet.tasks.j", "j/0", "x")
	first := fetch(t, tasks, 1, time.Second)
	start := time.Now()
	again := fetch(t, tasks, 1, 3*time.Second) // the first holder never acks: a crashed worker
	if len(first) != 1 || len(again) != 1 || again[0].Delivered() != 2 {
		t.Fatalf("got %d then %d leases %v", len(first), len(again), deliveredOf(again))
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("redelivered after %s, before AckWait", d)
	}
	// The late ack of the first delivery acks the message: fencing results is the caller's job (see package doc).
	ack(t, first[0])
	waitPending(t, tasks, 0, 0)
}

func TestKeepAlivePreventsRedelivery(t *testing.T) {
	t.Parallel()
	tasks := newTasks(t, func(c *queue.TasksConfig) { c.AckWait = 500 * time.Millisecond })
	publish(t, tasks, "facefleet.tasks.j", "j/0", "x")
	l := fetch(t, tasks, 1, time.Second)[0]
	stop := l.KeepAlive(context.Background(), 150*time.Millisecond)
	// A second worker waits three AckWaits and must get nothing.
	if got := fetch(t, tasks, 1, 1500*time.Millisecond); len(got) != 0 {
		t.Fatalf("task redelivered while kept alive (delivered %v)", deliveredOf(got))
	}
	if err := l.InProgress(); err != nil {
		t.Fatal(err)
	}
	stop()
	stop() // idempotent
	ack(t, l)
	if got := fetch(t, tasks, 1, 700*time.Millisecond); len(got) != 0 {
		t.Fatal("acked task came back")
	}
	// KeepAlive also ends by itself with ctx, and with the lease once acked.
	publish(t, tasks, "facefleet.tasks.j", "j/1", "y")
	l = fetch(t, tasks, 1, time.Second)[0]
	ctx, cancel := context.WithCancel(context.Background())
	stop = l.KeepAlive(ctx, 0)
	cancel()
	stop()
	ack(t, l)
}

func TestTermStopsRedelivery(t *testing.T) {
	t.Parallel()
	tasks, conn := newTasksConn(t, func(c *queue.TasksConfig) { c.AckWait = 300 * time.Millisecond })
	publish(t, tasks, "facefleet.tasks.j", "j/0", "x")
	l := fetch(t, tasks, 1, time.Second)[0]
	if err := l.Term("unreadable segment"); err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, tasks, 1, 800*time.Millisecond); len(got) != 0 {
		t.Fatal("terminated task came back")
	}
	waitPending(t, tasks, 0, 0)
	waitStreamMsgs(t, conn, 0)
}

func TestMaxDeliver(t *testing.T) {
	t.Parallel()
	tasks, conn := newTasksConn(t, func(c *queue.TasksConfig) { c.MaxDeliver = 3; c.AckWait = 300 * time.Millisecond })
	publish(t, tasks, "facefleet.tasks.j", "j/0", "x")
	for want := 1; want <= 3; want++ {
		got := fetch(t, tasks, 1, 2*time.Second)
		if len(got) != 1 || got[0].Delivered() != want {
			t.Fatalf("delivery %d: %v", want, deliveredOf(got))
		}
		if want < 3 {
			if err := got[0].Nak(); err != nil {
				t.Fatal(err)
			}
		}
		// The third delivery is neither acked nor nak'ed: it times out.
	}
	if got := fetch(t, tasks, 1, 1200*time.Millisecond); len(got) != 0 {
		t.Fatalf("delivered again past MaxDeliver: %v", deliveredOf(got))
	}
	// A task past MaxDeliver leaves the consumer's counts but stays stored until purged (dead letter).
	waitPending(t, tasks, 0, 0)
	waitStreamMsgs(t, conn, 1)
	if err := tasks.PurgeSubject(testCtx(t), "facefleet.tasks.j"); err != nil {
		t.Fatal(err)
	}
	waitStreamMsgs(t, conn, 0)
}

func TestConcurrentFetchersNeverShare(t *testing.T) {
	t.Parallel()
	tasks := newTasks(t, nil)
	const total = 60
	for i := range total {
		publish(t, tasks, fmt.Sprintf("facefleet.tasks.job%d", i%3), fmt.Sprintf("id-%d", i), fmt.Sprint(i))
	}
	var mu sync.Mutex
	held := map[string]int{} // msg ID -> fetcher
	var all []*queue.Lease
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for f := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				// Leases are held, not acked, until everyone is done: a shared task would show up twice.
				leases, err := tasks.Fetch(context.Background(), 3, 200*time.Millisecond)
				if err != nil {
					errs <- err
					return
				}
				if len(leases) == 0 {
					return
				}
				mu.Lock()
				for _, l := range leases {
					if other, ok := held[l.MsgID()]; ok {
						errs <- fmt.Errorf("%s held by fetchers %d and %d", l.MsgID(), other, f)
					}
					held[l.MsgID()] = f
					all = append(all, l)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(held) != total || len(all) != total {
		t.Fatalf("fetched %d distinct of %d leases, want %d", len(held), len(all), total)
	}
	for _, l := range all {
		ack(t, l)
	}
}

func TestPurgeSubject(t *testing.T) {
	t.Parallel()
	tasks := newTasks(t, nil)
	for i := range 3 {
		publish(t, tasks, fmt.Sprintf("facefleet.tasks.jobA.%d", i), fmt.Sprintf("A/%d", i), "a")
		publish(t, tasks, fmt.Sprintf("facefleet.tasks.jobB.%d", i), fmt.Sprintf("B/%d", i), "b")
	}
	waitPending(t, tasks, 6, -1)
	if err := tasks.PurgeSubject(testCtx(t), "facefleet.tasks.jobA.>"); err != nil {
		t.Fatal(err)
	}
	waitPending(t, tasks, 3, -1)
	for subject, want := range map[string]bool{"facefleet.tasks.jobA.1": false, "facefleet.tasks.jobB.1": true, "facefleet.tasks.jobC.0": false} {
		if got, err := tasks.Has(testCtx(t), subject); err != nil || got != want {
			t.Errorf("Has(%s) = %v, %v; want %v", subject, got, err, want)
		}
	}
	leases := drain(t, tasks, 300*time.Millisecond)
	var ids []string
	for _, l := range leases {
		ids = append(ids, l.MsgID())
		ack(t, l)
	}
	sort.Strings(ids)
	if fmt.Sprint(ids) != "[B/0 B/1 B/2]" {
		t.Fatalf("after purge fetched %v", ids)
	}
	if err := tasks.PurgeSubject(testCtx(t), ""); err == nil {
		t.Fatal("purging the empty subject succeeded")
	}
}

func TestPending(t *testing.T) {
	t.Parallel()
	tasks := newTasks(t, nil)
	for i := range 3 {
		publish(t, tasks, "facefleet.tasks.j", fmt.Sprint(i), "x")
	}
	waitPending(t, tasks, 3, 0)
	leases := fetchN(t, tasks, 2, time.Second)
	waitPending(t, tasks, 1, 2)
	ack(t, leases[0])
	waitPending(t, tasks, 1, 1)
}

func TestPublishOutsideStream(t *testing.T) {
	t.Parallel()
	tasks := newTasks(t, nil)
	if err := tasks.Publish(testCtx(t), "elsewhere.x", "", []byte("x")); err == nil {
		t.Fatal("publish to a subject no stream takes succeeded")
	}
}

func TestTasksConfigValidate(t *testing.T) {
	good := queue.TasksConfig{Stream: "S", Subjects: []string{"s.>"}, Consumer: "c"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []func(*queue.TasksConfig){
		func(c *queue.TasksConfig) { c.Stream = "" },
		func(c *queue.TasksConfig) { c.Stream = "a.b" },
		func(c *queue.TasksConfig) { c.Consumer = "has space" },
		func(c *queue.TasksConfig) { c.Subjects = nil },
		func(c *queue.TasksConfig) { c.Subjects = []string{""} },
		func(c *queue.TasksConfig) { c.AckWait = -time.Second },
		func(c *queue.TasksConfig) { c.MaxDeliver = -2 },
		func(c *queue.TasksConfig) { c.Duplicates = -1 },
		func(c *queue.TasksConfig) { c.Storage = "disk" },
	}
	for i, mod := range bad {
		c := good
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("case %d: %+v validated", i, c)
		}
	}
}

func TestDeadLetter(t *testing.T) {
	t.Parallel()
	tasks := newTasks(t, func(c *queue.TasksConfig) { c.MaxDeliver = 2; c.AckWait = 200 * time.Millisecond })
	got := make(chan queue.DeadLetter, 4)
	if err := tasks.OnDeadLetter(testCtx(t), func(d queue.DeadLetter) { got <- d }); err != nil {
		t.Fatal(err)
	}
	publish(t, tasks, "facefleet.tasks.jobD.4", "D/4", "payload")
	// Two deliveries that never settle (a worker dying on the task) exhaust MaxDeliver.
	for i := 0; i < 2; i++ {
		if n := len(fetch(t, tasks, 1, 2*time.Second)); n != 1 {
			t.Fatalf("delivery %d: %d tasks", i+1, n)
		}
	}
	// The server notices at its next delivery attempt, which needs a waiting pull request.
	if n := len(fetch(t, tasks, 1, time.Second)); n != 0 {
		t.Fatalf("a third delivery past MaxDeliver 2")
	}
	select {
	case d := <-got:
		if d.Subject != "facefleet.tasks.jobD.4" || string(d.Data) != "payload" || d.Deliveries != 2 {
			t.Fatalf("dead letter %+v", d)
		}
		if err := tasks.Remove(testCtx(t), d.Seq); err != nil {
			t.Fatal(err)
		}
		if ok, _ := tasks.Has(testCtx(t), d.Subject); ok {
			t.Fatal("removed task still stored")
		}
		if err := tasks.Remove(testCtx(t), d.Seq); err != nil {
			t.Fatalf("removing twice: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no dead letter after MaxDeliver deliveries")
	}
}

// Queued counts a job's tasks by subject in one request, leased ones included, and nothing of another job's.
func TestQueued(t *testing.T) {
	t.Parallel()
	tasks := newTasks(t, nil)
	for i := range 3 {
		publish(t, tasks, fmt.Sprintf("facefleet.tasks.jobA.%d", i), fmt.Sprintf("A/%d", i), "a")
	}
	publish(t, tasks, "facefleet.tasks.jobB.0", "B/0", "b")
	waitPending(t, tasks, 4, -1)
	leases := fetchN(t, tasks, 1, time.Second)
	defer ack(t, leases[0])
	for _, c := range []struct {
		filter string
		want   string
	}{
		{"facefleet.tasks.jobA.>", "map[facefleet.tasks.jobA.0:1 facefleet.tasks.jobA.1:1 facefleet.tasks.jobA.2:1]"},
		{"facefleet.tasks.jobB.>", "map[facefleet.tasks.jobB.0:1]"},
		{"facefleet.tasks.jobC.>", "map[]"},
	} {
		got, err := tasks.Queued(testCtx(t), c.filter)
		if err != nil || fmt.Sprint(got) != c.want {
			t.Errorf("Queued(%s) = %v, %v; want %s", c.filter, got, err, c.want)
		}
	}
	if _, err := tasks.Queued(testCtx(t), ""); err == nil {
		t.Error("Queued of the empty filter succeeded")
	}
}

// TestMoreLeasesThanTheServerDefault: a fleet with more busy slots than nats-server's default MaxAckPending (1,000)
// gets a task for each. At the default the 1,001st fetch waited, silently, with tasks queued (docs/SCALE.md 6.3).
func TestMoreLeasesThanTheServerDefault(t *testing.T) {
	t.Parallel()
	tasks := newTasks(t, nil)
	const n = 1100
	for i := range n {
		publish(t, tasks, fmt.Sprintf("facefleet.tasks.j.%d", i), fmt.Sprintf("j/%d", i), "x")
	}
	leased := 0
	for leased < n {
		got := fetch(t, tasks, 250, 500*time.Millisecond)
		if len(got) == 0 {
			break
		}
		leased += len(got)
	}
	if leased != n {
		t.Errorf("%d of %d queued tasks leased at once, want all", leased, n)
	}
}
