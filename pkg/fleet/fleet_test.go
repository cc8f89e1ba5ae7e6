package fleet_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/memory"
)

func TestKey(t *testing.T) {
	tests := []struct {
		kind, id string
		want     string // "" = an error
	}{
		{fleet.KindWorker, "gpu-07_a", "worker.gpu-07_a"},
		{fleet.KindCoordinator, "c1", "coordinator.c1"},
		{fleet.KindWorker, "a.b", ""},
		{fleet.KindWorker, "a/b", ""},
		{fleet.KindWorker, "", ""},
		{fleet.KindWorker, "a b", ""},
		{fleet.KindWorker, "a*", ""},
		{fleet.KindWorker, "é", ""},
		{"job", "a", ""},
		{"", "a", ""},
	}
	for _, tt := range tests {
		got, err := fleet.Key(tt.kind, tt.id)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("Key(%q, %q) = %q, want an error", tt.kind, tt.id, got)
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("Key(%q, %q) = %q, %v; want %q", tt.kind, tt.id, got, err, tt.want)
		}
	}
}

func TestHostInfo(t *testing.T) {
	cpus, ramTotal, ramFree, gpus := fleet.HostInfo()
	if cpus < 1 || ramTotal == 0 || ramFree > ramTotal {
		t.Errorf("HostInfo = %d cpus, %d/%d RAM free/total", cpus, ramFree, ramTotal)
	}
	// Without NVML (this machine) there are none; with it, every device reads with a name and memory.
	want, why := memory.GPUs()
	if len(gpus) != len(want) {
		t.Errorf("%d GPUs, NVML lists %d", len(gpus), len(want))
	}
	for _, g := range gpus {
		if g.Name == "" || g.MemTotal == 0 || g.MemFree > g.MemTotal {
			t.Errorf("GPU %+v", g)
		}
	}
	t.Logf("%d cpus, RAM %d/%d, GPUs %+v (NVML: %q)", cpus, ramFree, ramTotal, gpus, why)
}

// TestHostInfoInContainer: in a cgroup with a memory limit the heartbeat's RAM is the container's (the limit, and
// the limit less the working set free); otherwise, or when the cgroup cannot be read, the machine's. The cgroup is
// a tree the test writes (this machine's real one is unlimited and cannot be changed here).
func TestHostInfoInContainer(t *testing.T) {
	_, machineTotal, _, _ := fleet.HostInfoIn(nil)
	if machineTotal < 4<<30 {
		t.Skipf("machine RAM %d: the cases need 4 GiB", machineTotal)
	}
	const mib = 1 << 20
	num := func(b uint64) string { return strconv.FormatUint(b, 10) + "\n" }
	tests := []struct {
		name        string
		files       map[string]string
		total, free uint64 // 0: the machine's
		freeBelow   bool   // free is the machine's available, below total - working set
	}{
		{"v2 limited", map[string]string{"proc": "0::/\n", "fs/memory.max": num(1024 * mib),
			"fs/memory.current": num(400 * mib), "fs/memory.stat": "active_file 9\ninactive_file " + num(100*mib)},
			1024 * mib, 724 * mib, false},
		{"v1 limited, charged past the limit: nothing free", map[string]string{"proc": "4:memory:/ctr\n",
			"fs/memory/ctr/memory.limit_in_bytes": num(2048 * mib), "fs/memory/ctr/memory.usage_in_bytes": num(2560 * mib)},
			2048 * mib, 0, false},
		{"limit just under the machine's RAM: free is what the machine has", map[string]string{"proc": "0::/\n",
			"fs/memory.max": num(machineTotal - 1), "fs/memory.current": num(0)}, machineTotal - 1, 0, true},
		{"no limit", map[string]string{"proc": "0::/\n", "fs/memory.max": "max\n"}, 0, 0, false},
		{"garbage in the cgroup: the machine's", map[string]string{"proc": "0::/\n", "fs/memory.max": "lots\n"}, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, body := range tc.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cg := &memory.CgroupReader{ProcCgroup: filepath.Join(root, "proc"), Mount: filepath.Join(root, "fs"), RAM: machineTotal}
			cpus, total, free, _ := fleet.HostInfoIn(cg)
			switch {
			case cpus < 1:
				t.Errorf("%d cpus", cpus)
			case tc.total == 0 && (total != machineTotal || free == 0 || free > total):
				t.Errorf("RAM %d free of %d, want the machine's (%d total)", free, total, machineTotal)
			case tc.total != 0 && total != tc.total:
				t.Errorf("RAM total %d, want the limit %d", total, tc.total)
			case tc.total != 0 && !tc.freeBelow && free != tc.free:
				t.Errorf("RAM free %d, want %d", free, tc.free)
			case tc.freeBelow && (free == 0 || free >= total):
				t.Errorf("RAM free %d of %d, want the machine's available", free, total)
			}
		})
	}
}

func TestBucketConfig(t *testing.T) {
	if got := fleet.BucketConfig(0).TTL; got != fleet.TTLIntervals*fleet.DefaultInterval {
		t.Errorf("default TTL %s", got)
	}
	cfg := fleet.BucketConfig(2 * time.Second)
	if cfg.TTL != 6*time.Second || cfg.Bucket != fleet.DefaultBucket {
		t.Errorf("BucketConfig(2s) = %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}

func TestPublisherConfigValidate(t *testing.T) {
	if err := (fleet.PublisherConfig{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	if err := (fleet.PublisherConfig{Interval: -time.Second}).Validate(); err == nil {
		t.Error("negative Interval accepted")
	}
	if _, err := fleet.NewPublisher(fleet.PublisherConfig{}, nil, selfSnapshot(fleet.KindWorker, "w"), nil); err == nil {
		t.Error("nil state accepted")
	}
}

// TestPublisherLifecycle: the record appears at once with this machine's numbers, is rewritten every interval,
// and is deleted when the publisher stops.
func TestPublisherLifecycle(t *testing.T) {
	s := newState(t, 10*time.Second)
	start := time.Now()
	stop := startPublisher(t, s, 100*time.Millisecond, selfSnapshot(fleet.KindWorker, "w1"))

	var first fleet.Heartbeat
	waitFor(t, 3*time.Second, "the record", func() bool {
		hs := list(t, s, fleet.KindWorker)
		if len(hs) == 1 {
			first = hs[0]
		}
		return len(hs) == 1
	})
	h := first
	switch {
	case h.Kind != fleet.KindWorker || h.ID != "w1" || h.PID != os.Getpid() || h.Version != "test":
		t.Errorf("record %+v", h)
	case h.CPUs < 1 || h.RAMTotal == 0 || h.RAMFree > h.RAMTotal:
		t.Errorf("host numbers: %d cpus, RAM %d/%d free/total", h.CPUs, h.RAMFree, h.RAMTotal)
	case h.Started.Before(start.Add(-time.Second)) || h.Updated.Before(h.Started):
		t.Errorf("Started %s, Updated %s; test began %s", h.Started, h.Updated, start)
	}
	if gpus, _ := memory.GPUs(); len(gpus) == 0 && len(h.GPUs) != 0 {
		t.Errorf("GPUs %+v on a machine without NVML", h.GPUs)
	}
	if ok, err := fleet.Alive(testCtx(t), s, fleet.KindWorker, "w1"); !ok || err != nil {
		t.Errorf("Alive = %v, %v", ok, err)
	}
	if hs := list(t, s, fleet.KindCoordinator); len(hs) != 0 {
		t.Errorf("coordinators %v", ids(hs))
	}

	waitFor(t, 3*time.Second, "a refreshed record", func() bool {
		hs := list(t, s, fleet.KindWorker)
		return len(hs) == 1 && hs[0].Updated.After(first.Updated) && hs[0].Started.Equal(first.Started)
	})

	stop()
	if hs := list(t, s, fleet.KindWorker); len(hs) != 0 {
		t.Errorf("after stop: %v", ids(hs))
	}
	if ok, err := fleet.Alive(testCtx(t), s, fleet.KindWorker, "w1"); ok || err != nil {
		t.Errorf("after stop: Alive = %v, %v", ok, err)
	}
}

// TestTTLRemovesDeadRecord: a record nobody rewrites (its process was killed) leaves List after the bucket's TTL;
// one whose publisher lives stays.
func TestTTLRemovesDeadRecord(t *testing.T) {
	const ttl = time.Second
	s := newState(t, ttl)
	startPublisher(t, s, 200*time.Millisecond, selfSnapshot(fleet.KindWorker, "live"))
	putRecord(t, s, fleet.Heartbeat{Kind: fleet.KindWorker, ID: "dead", Updated: time.Now()})
	written := time.Now()

	waitFor(t, 3*time.Second, "both records", func() bool {
		return slices.Equal(ids(list(t, s, fleet.KindWorker)), []string{"dead", "live"})
	})
	waitFor(t, 5*time.Second, "the dead record to expire", func() bool {
		return slices.Equal(ids(list(t, s, fleet.KindWorker)), []string{"live"})
	})
	gone := time.Since(written)
	if gone < ttl-100*time.Millisecond {
		t.Errorf("record gone after %s, before the TTL %s", gone, ttl)
	}
	t.Logf("dead record gone %s after its write (TTL %s)", gone.Round(time.Millisecond), ttl)
	if ok, err := fleet.Alive(testCtx(t), s, fleet.KindWorker, "dead"); ok || err != nil {
		t.Errorf("dead: Alive = %v, %v", ok, err)
	}
	// The live one outlasts several TTLs.
	time.Sleep(2 * ttl)
	if got := ids(list(t, s, fleet.KindWorker)); !slices.Equal(got, []string{"live"}) {
		t.Errorf("after 2 TTLs: %v", got)
	}
}

func TestListSortsAndSeparatesKinds(t *testing.T) {
	s := newState(t, 0)
	for _, h := range []fleet.Heartbeat{
		{Kind: fleet.KindWorker, ID: "b"},
		{Kind: fleet.KindWorker, ID: "a"},
		{Kind: fleet.KindWorker, ID: "c-2"},
		{Kind: fleet.KindCoordinator, ID: "a"},
	} {
		putRecord(t, s, h)
	}
	if got := ids(list(t, s, fleet.KindWorker)); !slices.Equal(got, []string{"a", "b", "c-2"}) {
		t.Errorf("workers %v", got)
	}
	cs := list(t, s, fleet.KindCoordinator)
	if got := ids(cs); !slices.Equal(got, []string{"a"}) || cs[0].Kind != fleet.KindCoordinator {
		t.Errorf("coordinators %v", got)
	}
	if _, _, err := fleet.List(testCtx(t), s, "job"); err == nil {
		t.Error("List of kind job: no error")
	}
}

// TestListSkipsUnreadableRecords: a record List cannot use (written by a broken or hostile process) is reported
// under its key and the others are listed: before, one such record failed the whole list, and with it placement
// (parked jobs stayed parked), `coordinator workers`, the dashboard and the client's check for a coordinator.
func TestListSkipsUnreadableRecords(t *testing.T) {
	for _, tt := range []struct {
		name, key, value, wantErr string
	}{
		{"not json", "worker.bad", "{", "unexpected end"},
		{"out of range", "worker.bad", `{"kind":"worker","id":"bad","fps":-1}`, "fps"},
		{"another key's id", "worker.bad", `{"kind":"worker","id":"a"}`, "not the record's key"},
		{"control characters in the id", "worker.bad", `{"kind":"worker","id":"\u001b[2J"}`, "not the record's key"},
		{"another kind", "worker.bad", `{"kind":"coordinator","id":"bad"}`, "not the record's key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newState(t, 0)
			putRecord(t, s, fleet.Heartbeat{Kind: fleet.KindWorker, ID: "a"})
			putRecord(t, s, fleet.Heartbeat{Kind: fleet.KindWorker, ID: "c"})
			if _, err := s.Put(testCtx(t), tt.key, []byte(tt.value)); err != nil {
				t.Fatal(err)
			}
			hs, bad, err := fleet.List(testCtx(t), s, fleet.KindWorker)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(hs); !slices.Equal(got, []string{"a", "c"}) {
				t.Errorf("listed %v, want [a c]", got)
			}
			if len(bad) != 1 || bad[0].Key != tt.key || !strings.Contains(bad[0].Err.Error(), tt.wantErr) {
				t.Errorf("unreadable %+v, want %s with %q", bad, tt.key, tt.wantErr)
			}
		})
	}
}

func TestRunRejectsBadID(t *testing.T) {
	s := newState(t, 0)
	p, err := fleet.NewPublisher(fleet.PublisherConfig{}, s, selfSnapshot(fleet.KindWorker, "a.b"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(testCtx(t)); err == nil {
		t.Error("Run with id a.b: no error")
	}
}

func TestWriteTable(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	const gb = memory.GB
	hs := []fleet.Heartbeat{
		{Kind: fleet.KindWorker, ID: "cpu-1", Host: "box", CPUs: 8, RAMTotal: 234 * gb / 10, RAMFree: 31 * gb / 10,
			Providers: []string{"cpu"}, Slots: 1, Batch1080p: 8, Updated: now.Add(-2 * time.Second)},
		{Kind: fleet.KindWorker, ID: "gpu-1", Host: "rig", CPUs: 16, RAMTotal: 128 * gb, RAMFree: 100 * gb,
			GPUs: []fleet.GPU{
				{Index: 0, Name: "NVIDIA A10", MemTotal: 22 * gb, MemFree: 20 * gb, Budget: 18 * gb, Planned: 95 * gb / 10},
				{Index: 1, Name: "NVIDIA A10", MemTotal: 22 * gb, MemFree: 3 * gb / 2},
			},
			Providers: []string{"cuda", "cpu"}, Slots: 2, MemoryBudget: 12 * gb, Batch1080p: 4,
			Tasks: []string{"7f3a/0003", "7f3a/0004"}, FPS: 41.26, Updated: now.Add(-61 * time.Second)},
		{Kind: fleet.KindWorker, ID: "skewed", Host: "ahead", Updated: now.Add(time.Minute)},
	}
	var buf bytes.Buffer
	fleet.WriteTable(&buf, hs, now)
	out := buf.String()
	t.Logf("\n%s", out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want a header and 3:\n%s", len(lines), out)
	}
	header := strings.Fields(lines[0])
	wantHeader := []string{"ID", "HOST", "CPU", "RAM", "GPU", "PROVIDERS", "SLOTS", "BUDGET", "BATCH@1080p", "TASKS",
		"FPS", "SEEN"}
	if !slices.Equal(header, wantHeader) {
		t.Errorf("header %q", lines[0])
	}
	// Columns are aligned: each row's HOST cell starts where the header's does.
	col := strings.Index(lines[0], "HOST")
	for i, host := range []string{"box", "rig", "ahead"} {
		if got := strings.Index(lines[i+1], host); got != col {
			t.Errorf("row %d: HOST at %d, header at %d:\n%s", i, got, col, out)
		}
	}
	for i, want := range [][]string{
		{"cpu-1", "8", "3.1/23.4 GB", "cpu", "none", "2s ago"},
		{"gpu-1", "NVIDIA A10 20.0/22.0 GB planned 9.5/18.0 GB; NVIDIA A10 1.5/22.0 GB", "cuda,cpu", "12.0 GB", "7f3a/0003,7f3a/0004",
			"41.3", "1m1s ago"},
		{"skewed", "0.0/0.0 GB", "0.0", "0s ago"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("row %d lacks %q: %q", i, w, lines[i+1])
			}
		}
	}
	// The GPU column, cut where the header's GPU and PROVIDERS start: "-" without a GPU, the plan where there is one.
	from, to := strings.Index(lines[0], "GPU"), strings.Index(lines[0], "PROVIDERS")
	for i, want := range []string{"-", "NVIDIA A10 20.0/22.0 GB planned 9.5/18.0 GB; NVIDIA A10 1.5/22.0 GB", "-"} {
		if got := strings.TrimSpace(lines[i+1][from:to]); got != want {
			t.Errorf("row %d: GPU %q, want %q", i, got, want)
		}
	}
	// Fields from the end: "ago", the age, FPS, then TASKS.
	if f := strings.Fields(lines[1]); f[len(f)-4] != "-" {
		t.Errorf("idle worker's TASKS is %q, want -: %q", f[len(f)-4], lines[1])
	}

	buf.Reset()
	fleet.WriteTable(&buf, nil, now)
	if got := buf.String(); got != "no workers are alive\n" {
		t.Errorf("empty: %q", got)
	}
}

func TestSafeID(t *testing.T) {
	for in, want := range map[string]string{"gpu-3.example.com-42": "gpu-3-example-com-42", "node_1": "node_1", "hôte": "h-te"} {
		got := fleet.SafeID(in)
		if got != want {
			t.Errorf("SafeID(%q) = %q, want %q", in, got, want)
		}
		if _, err := fleet.Key(fleet.KindWorker, got); err != nil {
			t.Errorf("SafeID(%q) = %q is not a valid key: %v", in, got, err)
		}
	}
}

// A worker in trouble of its own gets a line of its own under the table, saying what and since when.
func TestWriteTableTrouble(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	hs := []fleet.Heartbeat{
		{Kind: fleet.KindWorker, ID: "ok-1", Host: "a", Updated: now},
		{Kind: fleet.KindWorker, ID: "full-1", Host: "b", Updated: now,
			Trouble: "disk full since 11:58:00 UTC, taking no tasks (3 failures; last: no space left on device)"},
	}
	var buf bytes.Buffer
	fleet.WriteTable(&buf, hs, now)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 4 || lines[3] != "full-1: "+hs[1].Trouble {
		t.Fatalf("want a header, 2 rows and the trouble line:\n%s", buf.String())
	}
}

// The GPU plan a worker advertises survives the round trip through the bucket; a record whose GPU figures cannot be
// true (written by a broken or hostile process) is refused by List, naming the record and the field.
func TestListValidatesGPUs(t *testing.T) {
	const gb = memory.GB
	good := fleet.GPU{Index: 0, Name: "NVIDIA H100 80GB HBM3", MemTotal: 80 * gb, MemFree: 70 * gb, Budget: 69 * gb,
		Planned: 37 * gb}
	tests := []struct {
		name    string
		gpu     func(g *fleet.GPU)
		wantErr string // "" is a valid record
	}{
		{"a planned GPU", func(*fleet.GPU) {}, ""},
		{"an unplanned GPU", func(g *fleet.GPU) { g.Budget, g.Planned = 0, 0 }, ""},
		{"negative index", func(g *fleet.GPU) { g.Index = -1 }, "gpu index -1"},
		{"more free than total", func(g *fleet.GPU) { g.MemFree = 81 * gb }, "free of"},
		{"budget above total", func(g *fleet.GPU) { g.Budget = 81 * gb }, "budget"},
		{"planned above budget", func(g *fleet.GPU) { g.Planned = 70 * gb }, "planned under a budget"},
		{"escape sequence in the name", func(g *fleet.GPU) { g.Name = "A10\x1b[2J" }, "printable"},
		{"name too long", func(g *fleet.GPU) { g.Name = strings.Repeat("A", 97) }, "printable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newState(t, 0)
			g := good
			tt.gpu(&g)
			putRecord(t, s, fleet.Heartbeat{Kind: fleet.KindWorker, ID: "w1", GPUs: []fleet.GPU{g}})
			hs, bad, err := fleet.List(testCtx(t), s, fleet.KindWorker)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr == "" {
				if len(bad) > 0 || len(hs) != 1 || !slices.Equal(hs[0].GPUs, []fleet.GPU{g}) {
					t.Fatalf("List: %+v, unreadable %+v; want the record back", hs, bad)
				}
				return
			}
			if len(hs) > 0 || len(bad) != 1 || bad[0].Key != "worker.w1" || !strings.Contains(bad[0].Err.Error(), tt.wantErr) {
				t.Errorf("List: %+v, unreadable %+v; want worker.w1 unreadable with %q", hs, bad, tt.wantErr)
			}
		})
	}
}

// WithGPUPlan sets the plan on its device's entry only, and leaves the list it was given alone.
func TestWithGPUPlan(t *testing.T) {
	gpus := []fleet.GPU{{Index: 0, Name: "a", MemTotal: 80}, {Index: 1, Name: "b", MemTotal: 80}}
	got := fleet.WithGPUPlan(gpus, memory.GPUPlan{Device: 1, Budget: 60, Planned: 40})
	want := []fleet.GPU{{Index: 0, Name: "a", MemTotal: 80}, {Index: 1, Name: "b", MemTotal: 80, Budget: 60, Planned: 40}}
	if !slices.Equal(got, want) || gpus[1].Budget != 0 {
		t.Errorf("WithGPUPlan: %+v (input now %+v)", got, gpus)
	}
	if got := fleet.WithGPUPlan(gpus, memory.GPUPlan{Device: 2, Budget: 60}); !slices.Equal(got, gpus) {
		t.Errorf("a plan for a device not listed changed the list: %+v", got)
	}
}

// TestHeartbeatFitPixels: a worker's largest frame is -1 (none fits), 0 (not said) or a real frame size; anything
// else is a record that cannot be true, and List refuses it rather than let a coordinator place work by it.
func TestHeartbeatFitPixels(t *testing.T) {
	for _, tc := range []struct {
		fit int64
		ok  bool
	}{{-1, true}, {0, true}, {3840 * 2160, true}, {16384 * 16384, true}, {-2, false}, {16384*16384 + 1, false}} {
		err := fleet.Heartbeat{Kind: fleet.KindWorker, ID: "w", FitPixels: tc.fit}.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("fit_pixels %d: Validate = %v, want ok %v", tc.fit, err, tc.ok)
		}
	}
}

// TestHeartbeatValidate: every field `coordinator workers`, the dashboard and the coordinator read is checked. Before,
// only fit_pixels and the GPUs were: a record with a NaN rate, more RAM free than there is, or an escape sequence in
// its trouble line was listed and printed to the operator's terminal as it came.
func TestHeartbeatValidate(t *testing.T) {
	ok := fleet.Heartbeat{Kind: fleet.KindWorker, ID: "w1", Host: "gpu-3", CPUs: 16, RAMTotal: 64 << 30, RAMFree: 32 << 30,
		Providers: []string{"cuda", "cpu"}, Slots: 2, Batch1080p: 4, Tasks: []string{"j1/0"}, FPS: 31.5,
		Trouble: "disk full since 12:01:03 UTC, taking no tasks (3 failures; last: no space left on device)"}
	for _, tc := range []struct {
		name string
		edit func(*fleet.Heartbeat)
		want string // "" = valid
	}{
		{"a worker's record", func(*fleet.Heartbeat) {}, ""},
		{"NaN fps", func(h *fleet.Heartbeat) { h.FPS = math.NaN() }, "fps"},
		{"infinite fps", func(h *fleet.Heartbeat) { h.FPS = math.Inf(1) }, "fps"},
		{"negative fps", func(h *fleet.Heartbeat) { h.FPS = -1 }, "fps"},
		{"negative slots", func(h *fleet.Heartbeat) { h.Slots = -1 }, "slots"},
		{"more RAM free than there is", func(h *fleet.Heartbeat) { h.RAMFree = h.RAMTotal + 1 }, "ram"},
		{"an escape sequence in trouble", func(h *fleet.Heartbeat) { h.Trouble = "ok\x1b]0;owned\x07" }, "trouble"},
		{"a newline in the host", func(h *fleet.Heartbeat) { h.Host = "a\nb" }, "host"},
		{"a control character in a task", func(h *fleet.Heartbeat) { h.Tasks = []string{"j1/0\r"} }, "tasks[0]"},
		{"a huge version", func(h *fleet.Heartbeat) { h.Version = strings.Repeat("v", 70000) }, "version"},
		{"too many tasks", func(h *fleet.Heartbeat) { h.Tasks = make([]string, 1000) }, "tasks"},
	} {
		h := ok
		h.Tasks, h.Providers = slices.Clone(ok.Tasks), slices.Clone(ok.Providers)
		tc.edit(&h)
		err := h.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}
