package queue_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/queue"
	"github.com/nats-io/nats.go"
)

func TestConnectDeadURLFailsFast(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	_, err = queue.Connect(context.Background(), queue.ConnConfig{URL: "nats://user:secret@" + addr})
	if err == nil {
		t.Fatal("Connect to a closed port succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Connect took %s to fail", d)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") || !strings.Contains(msg, addr) || strings.Contains(msg, "secret") {
		t.Fatalf("error is not one line naming the address without the password: %q", msg)
	}
	if !errors.Is(err, nats.ErrNoServers) {
		t.Fatalf("error chain lost: %v", err)
	}
}

func TestConnectBlackholeRespectsContext(t *testing.T) {
	t.Parallel()
	// A listener that accepts but never speaks NATS: the dial succeeds and the handshake hangs.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := queue.Connect(ctx, queue.ConnConfig{URL: "nats://" + ln.Addr().String()}); err == nil {
		t.Fatal("Connect to a silent server succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Connect took %s against a 500ms context", d)
	}
}

func TestConnConfigValidate(t *testing.T) {
	good := queue.ConnConfig{URL: "nats://127.0.0.1:4222"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []queue.ConnConfig{
		{},
		{URL: "nats://x", Timeout: -1},
		{URL: "nats://x", Password: "p"},
		{URL: "nats://x", User: "u", Token: "t"},
		{URL: "nats://x", CredsFile: "a.creds", NKeyFile: "seed"},
		{URL: "nats://x", TLSCertFile: "c.pem"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v validated", c)
		}
	}
	if _, err := queue.Connect(context.Background(), queue.ConnConfig{URL: "nats://127.0.0.1:1", NKeyFile: "/does/not/exist"}); err == nil {
		t.Error("Connect with a missing NKey file succeeded")
	}
}

func TestEmbeddedConfig(t *testing.T) {
	if err := (queue.EmbeddedConfig{}).Validate(); err == nil {
		t.Error("empty Dir validated")
	}
	if err := (queue.EmbeddedConfig{Dir: "x", Port: 70000}).Validate(); err == nil {
		t.Error("port 70000 validated")
	}
	e := startServer(t, "")
	if !strings.HasPrefix(e.URL(), "nats://127.0.0.1:") {
		t.Fatalf("URL = %q", e.URL())
	}
	e.Shutdown()
	e.Shutdown() // idempotent

	all, err := queue.StartEmbedded(queue.EmbeddedConfig{Dir: t.TempDir(), Host: "0.0.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Shutdown()
	if !strings.HasPrefix(all.URL(), "nats://127.0.0.1:") {
		t.Fatalf("URL of a server on all interfaces = %q", all.URL())
	}
	c, err := queue.Connect(context.Background(), queue.ConnConfig{URL: all.URL()})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestRestartKeepsFileStorage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := queue.TasksConfig{Stream: "FACEFLEET_TASKS", Subjects: []string{"facefleet.tasks.>"}, Consumer: "workers"}
	ctx := testCtx(t)

	e1 := startServer(t, dir)
	c1 := connect(t, e1)
	tasks, err := c1.Tasks(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"j/0", "j/1", "j/2"} {
		publish(t, tasks, "facefleet.tasks.j", id, id)
	}
	acked := fetch(t, tasks, 1, time.Second)
	ack(t, acked[0])
	st, err := c1.State(ctx, queue.StateConfig{Bucket: "jobs"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "job.j", []byte("running")); err != nil {
		t.Fatal(err)
	}
	c1.Close()
	e1.Shutdown()

	e2 := startServer(t, dir)
	c2 := connect(t, e2)
	tasks, err = c2.Tasks(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	leases := drain(t, tasks, 300*time.Millisecond)
	var ids []string
	for _, l := range leases {
		ids = append(ids, l.MsgID())
	}
	if strings.Join(ids, ",") != "j/1,j/2" {
		t.Fatalf("after restart fetched %v, want the two unacked tasks", ids)
	}
	// Deduplication after a restart only knows the IDs of messages still stored: republishing an unacked task is
	// dropped, but a task acked (and so deleted) before the restart is stored again.
	if n := streamMsgs(t, c2); n != 2 {
		t.Fatalf("stream stores %d messages after restart, want 2", n)
	}
	publish(t, tasks, "facefleet.tasks.j", "j/1", "j/1")
	if n := streamMsgs(t, c2); n != 2 {
		t.Fatalf("republished unacked task was stored again after restart (%d messages)", n)
	}
	publish(t, tasks, "facefleet.tasks.j", "j/0", "j/0")
	if n := streamMsgs(t, c2); n != 3 {
		t.Fatalf("%d messages after republishing an acked task; the server is expected to have forgotten its ID", n)
	}
	st, err = c2.State(ctx, queue.StateConfig{Bucket: "jobs"})
	if err != nil {
		t.Fatal(err)
	}
	if e, err := st.Get(ctx, "job.j"); err != nil || string(e.Value) != "running" {
		t.Fatalf("KV after restart: %+v, %v", e, err)
	}
}
