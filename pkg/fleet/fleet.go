// Package fleet owns the heartbeat records by which workers and coordinators announce themselves: each process
// publishes one record (what it is, what its machine has, what it is doing) in a KV bucket whose TTL removes the
// records of processes that died without saying so, and `coordinator workers` lists them. It only reports: it never
// assigns, cancels or moves work.
package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/shirou/gopsutil/v4/mem"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/memory"
	"github.com/facefleet/facefleet/pkg/queue"
)

// Kinds of process that publish heartbeats; a record's key starts with its kind.
const (
	KindWorker      = "worker"
	KindCoordinator = "coordinator"
)

// DefaultBucket is the KV bucket heartbeats live in.
const DefaultBucket = "facefleet_fleet"

// TTLIntervals is how many publish intervals a record outlives its last write: a process is reported dead after
// missing this many heartbeats in a row, so one slow write does not make it vanish.
const TTLIntervals = 3

// BucketConfig is the bucket for heartbeats published every interval (0: the default), with a TTL of TTLIntervals
// intervals, in memory (heartbeats are worth nothing after a server restart). Every process that opens the bucket
// must use the same settings: Conn.State updates an existing bucket's TTL to the opener's.
func BucketConfig(interval time.Duration) queue.StateConfig {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return queue.StateConfig{Bucket: DefaultBucket, TTL: TTLIntervals * interval, Storage: queue.StorageMemory}
}

// GPU is one GPU of a machine.
type GPU struct {
	Index    int    `json:"index"`
	Name     string `json:"name"`
	MemTotal uint64 `json:"mem_total"` // bytes
	MemFree  uint64 `json:"mem_free"`  // bytes
	// Budget and Planned are the worker's GPU plan on this device (memory.GPUPlan): the bytes it may use and those
	// its slots at their batch take. 0 on a device the worker does not plan (a coordinator's, or a CPU worker's).
	Budget  uint64 `json:"budget,omitempty"`
	Planned uint64 `json:"planned,omitempty"`
}

// maxGPUName bounds a GPU's name in a record: NVML's names are under 96 bytes (NVML_DEVICE_NAME_V2_BUFFER_SIZE).
const maxGPUName = 96

// check reports a GPU entry that cannot be true, or a name that would garble the table (control characters).
func (g GPU) check() error {
	switch {
	case g.Index < 0:
		return fmt.Errorf("gpu index %d", g.Index)
	case len(g.Name) > maxGPUName || strings.IndexFunc(g.Name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("gpu %d: name %.100q: want at most %d printable bytes", g.Index, g.Name, maxGPUName)
	case g.MemFree > g.MemTotal:
		return fmt.Errorf("gpu %d: %d bytes free of %d", g.Index, g.MemFree, g.MemTotal)
	case g.Budget > g.MemTotal:
		return fmt.Errorf("gpu %d: budget %d bytes of %d", g.Index, g.Budget, g.MemTotal)
	case g.Planned > g.Budget:
		return fmt.Errorf("gpu %d: %d bytes planned under a budget of %d", g.Index, g.Planned, g.Budget)
	}
	return nil
}

// WithGPUPlan returns gpus with p (the plan of the device p.Device) set on that device's entry; a list without the
// device (NVML could not read it) is returned as it is.
func WithGPUPlan(gpus []GPU, p memory.GPUPlan) []GPU {
	out := slices.Clone(gpus)
	for i := range out {
		if out[i].Index == p.Device {
			out[i].Budget, out[i].Planned = p.Budget, p.Planned
		}
	}
	return out
}

// Heartbeat is one process's record.
type Heartbeat struct {
	Kind         string   `json:"kind"` // KindWorker or KindCoordinator
	ID           string   `json:"id"`
	Host         string   `json:"host"`
	PID          int      `json:"pid"`
	Version      string   `json:"version"`
	CPUs         int      `json:"cpus"`
	RAMTotal     uint64   `json:"ram_total"` // bytes; the container's memory limit when it has one (HostInfo)
	RAMFree      uint64   `json:"ram_free"`  // bytes, available to new allocations (page cache counts as free)
	GPUs         []GPU    `json:"gpus"`
	Providers    []string `json:"providers"` // ONNX Runtime execution providers, in preference order
	Slots        int      `json:"slots"`
	MemoryBudget uint64   `json:"memory_budget"` // bytes; 0 = no budget
	// RSS is the worker's process tree's resident memory (what its budget is kept against); 0 = not said.
	RSS uint64 `json:"rss,omitempty"`
	// Batch1080p is the batch a 1920x1080 libx264 segment runs with on this worker (worker.Budget.Batch1080p);
	// 0 = its budget cannot hold one.
	Batch1080p int `json:"batch_1080p"`
	// FitPixels is the largest frame (width x height, 16:9, libx264) a segment of which fits this worker's budget
	// at batch 1 (worker.Budget.FitPixels): a coordinator parks a job no live worker fits and queues it again when
	// one that may fit joins. 0 = not said (no budget, or an older worker); -1 = nothing fits.
	FitPixels int64    `json:"fit_pixels,omitempty"`
	Tasks     []string `json:"tasks"` // segments in progress, "job/segment"
	FPS       float64  `json:"fps"`   // frames per second, recently
	// Trouble is a worker's own trouble (disk full, storage unreachable, ...) while it lasts: it takes no tasks
	// until a retry succeeds. "" when healthy.
	Trouble string    `json:"trouble,omitempty"`
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"` // when the publisher wrote it, by the publisher's clock
}

// Bounds on a heartbeat's lists and texts: far above what a worker writes (its slots' segments, a machine's GPUs, the
// execution providers; a trouble line), low enough that a hostile record cannot flood the table or the dashboard.
const (
	maxTasks, maxGPUs, maxProviders = 256, 64, 8
)

// Validate reports a record whose fields cannot be true: records are read from a KV bucket any process with access
// can write, and the table and operators trust what they show.
func (h Heartbeat) Validate() error {
	switch {
	case h.FitPixels < -1 || h.FitPixels > job.MaxFitPixels:
		return fmt.Errorf("fit_pixels %d: want -1-%d", h.FitPixels, job.MaxFitPixels)
	case math.IsNaN(h.FPS) || math.IsInf(h.FPS, 0) || h.FPS < 0:
		return fmt.Errorf("fps %v: want a finite number >= 0", h.FPS)
	case h.CPUs < 0 || h.PID < 0 || h.Slots < 0 || h.Batch1080p < 0:
		return fmt.Errorf("cpus %d, pid %d, slots %d, batch %d: want >= 0", h.CPUs, h.PID, h.Slots, h.Batch1080p)
	case h.RAMFree > h.RAMTotal:
		return fmt.Errorf("ram: %d bytes free of %d", h.RAMFree, h.RAMTotal)
	case len(h.Tasks) > maxTasks || len(h.GPUs) > maxGPUs || len(h.Providers) > maxProviders:
		return fmt.Errorf("%d tasks, %d gpus, %d providers: too many", len(h.Tasks), len(h.GPUs), len(h.Providers))
	}
	// Text is printed by `coordinator workers` to a terminal: a control character would be an escape sequence.
	texts := map[string]string{"host": h.Host, "version": h.Version, "trouble": h.Trouble}
	for i, p := range h.Providers {
		texts[fmt.Sprintf("providers[%d]", i)] = p
	}
	for i, t := range h.Tasks {
		texts[fmt.Sprintf("tasks[%d]", i)] = t
	}
	for field, v := range texts {
		if len(v) > job.MaxText || strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return fmt.Errorf("%s %.100q: want one line of at most %d bytes (job.Message)", field, v, job.MaxText)
		}
	}
	for _, g := range h.GPUs {
		if err := g.check(); err != nil {
			return err
		}
	}
	return nil
}

// Key is the KV key of kind's record id: "worker.<id>" or "coordinator.<id>". id must be letters, digits, '-' or
// '_' (one key token: a '.' would make it two, and List could no longer tell kinds apart).
func Key(kind, id string) (string, error) {
	if kind != KindWorker && kind != KindCoordinator {
		return "", fmt.Errorf("fleet: kind %q: want %q or %q", kind, KindWorker, KindCoordinator)
	}
	if !validID(id) {
		return "", fmt.Errorf("fleet: id %q must be letters, digits, '-' or '_'", id)
	}
	return kind + "." + id, nil
}

func validID(id string) bool {
	if id == "" {
		return false
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

// SafeID makes an id usable in a key from a host name: anything but letters, digits, '-' and '_' (the dots of a
// fully qualified name) becomes '-'.
func SafeID(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '-'
	}, s)
}

// Unreadable is a record List skipped: its key and why (not JSON, or a field out of range).
type Unreadable struct {
	Key string
	Err error
}

// List returns the records of kind that are alive (written within the bucket's TTL), sorted by ID, and the records
// it skipped as unreadable. A record is written by whoever can reach the bucket, a broken or hostile process
// included: one bad record must not hide the rest of the fleet from placement, the dashboard or the client.
func List(ctx context.Context, state *queue.State, kind string) ([]Heartbeat, []Unreadable, error) {
	if kind != KindWorker && kind != KindCoordinator {
		return nil, nil, fmt.Errorf("fleet: list: kind %q: want %q or %q", kind, KindWorker, KindCoordinator)
	}
	keys, err := state.Keys(ctx, kind+".")
	if err != nil {
		return nil, nil, fmt.Errorf("fleet: list %s: %w", kind, err)
	}
	hs := make([]Heartbeat, 0, len(keys))
	var bad []Unreadable
	for _, k := range keys {
		e, err := state.Get(ctx, k)
		if errors.Is(err, queue.ErrKeyNotFound) {
			continue // expired or deleted since Keys listed it
		}
		if err != nil {
			return nil, nil, fmt.Errorf("fleet: list %s: %w", kind, err)
		}
		var h Heartbeat
		if err := json.Unmarshal(e.Value, &h); err != nil {
			bad = append(bad, Unreadable{Key: k, Err: err})
			continue
		}
		if err := h.Validate(); err != nil {
			bad = append(bad, Unreadable{Key: k, Err: err})
			continue
		}
		// The ID is shown and names the worker everywhere: it is the key's, checked as Key checks it.
		if want, err := Key(h.Kind, h.ID); err != nil || want != k {
			bad = append(bad, Unreadable{Key: k, Err: fmt.Errorf("kind %.40q, id %.100q: not the record's key", h.Kind, h.ID)})
			continue
		}
		hs = append(hs, h)
	}
	slices.SortFunc(hs, func(a, b Heartbeat) int { return strings.Compare(a.ID, b.ID) })
	return hs, bad, nil
}

// Alive reports whether kind's record id exists (was written within the bucket's TTL and not deleted).
func Alive(ctx context.Context, state *queue.State, kind, id string) (bool, error) {
	key, err := Key(kind, id)
	if err != nil {
		return false, err
	}
	_, err = state.Get(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, queue.ErrKeyNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("fleet: alive %s: %w", key, err)
	}
}

// HostInfo reads this machine's cores, RAM and GPUs, the RAM of this process's container when its cgroup has a
// memory limit (HostInfoIn the real cgroup).
func HostInfo() (cpus int, ramTotal, ramFree uint64, gpus []GPU) {
	return HostInfoIn(&memory.CgroupReader{})
}

// HostInfoIn reads the machine's cores, RAM (ramFree is what is available to new allocations) and GPUs, with the
// RAM read through cg (nil: the machine's): in a cgroup with a memory limit, ramTotal is the limit and ramFree the
// limit less the cgroup's working set, or what the machine has available if that is less. The RAM numbers are 0
// if the system cannot be read, the machine's if the cgroup cannot (a heartbeat reports, it decides nothing; the
// worker's budget reads the cgroup at start and says what is wrong); gpus is empty without a usable NVML (no
// driver, no GPU).
func HostInfoIn(cg *memory.CgroupReader) (cpus int, ramTotal, ramFree uint64, gpus []GPU) {
	cpus = runtime.NumCPU()
	if vm, err := mem.VirtualMemory(); err == nil {
		ramTotal, ramFree = vm.Total, vm.Available
	}
	if cg != nil {
		if c, err := cg.Read(); err == nil && c.Limited() {
			free := uint64(0)
			if c.WorkingSet < c.Limit {
				free = c.Limit - c.WorkingSet
			}
			if ramTotal > 0 {
				free = min(free, ramFree)
			}
			ramTotal, ramFree = c.Limit, free
		}
	}
	// A machine without GPUs is normal here; why is for a worker's startup log, not for every heartbeat.
	infos, _ := memory.GPUs()
	for _, g := range infos {
		gpus = append(gpus, GPU{Index: g.Index, Name: g.Name, MemTotal: g.MemTotal, MemFree: g.MemFree})
	}
	return cpus, ramTotal, ramFree, gpus
}
