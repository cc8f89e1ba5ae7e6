package memory

import (
	"errors"
	"fmt"
	"math"
)

// GPUMargin is what PlanGPU leaves of the device's free memory when --max-gpu-memory is 0. The free reading is
// taken once, at start: after it other processes on the device grow (another worker, a display server, a
// notebook), the arena fragments (a freed block is not always reusable for a larger request), and cuDNN's
// algorithm search may want more workspace on a shape the warm-up did not show. 1 GiB is about 4% of a 24 GB card;
// an operator who knows the device is theirs alone sets --max-gpu-memory.
const GPUMargin = 1 * GB

// GPUCost is what one worker slot takes on the GPU, measured by MeasureGPU: each slot opens its own ONNX Runtime
// sessions, each with its own CUDA arena.
type GPUCost struct {
	// SessionBytes is what a slot holds whatever its batch: weights, cuDNN/cuBLAS workspaces, the arena's first
	// chunk, and for the process's first slot the CUDA context (~300-500 MB), so later slots are over-counted by it:
	// the plan errs on the safe side.
	SessionBytes uint64
	// FrameBytes is what one more frame of batch adds (activations held by the arena). 0 for models with a fixed
	// batch of 1 (the released inswapper_128, GFPGAN), whose calls the engine makes one face at a time.
	FrameBytes uint64
}

// SlotBytes is one slot's need at batch frames per model call.
func (c GPUCost) SlotBytes(batch int) uint64 {
	return c.SessionBytes + uint64(max(batch, 0))*c.FrameBytes
}

// GPUMeasurement is MeasureGPU's result: the device before anything was loaded, and one slot's cost.
type GPUMeasurement struct {
	Start GPUMemory // the device before load: Start.Free is GPUPlanInput.Free
	Cost  GPUCost
}

// MeasureGPU measures one slot's GPU cost by reading dev around the slot's first steps: before load, after load
// (sessions created), after warm(1) and after warm(n), n >= 2. ONNX Runtime's arena keeps what a call allocated,
// so a reading after a call is that call's high-water mark: FrameBytes is the growth from batch 1 to n per extra
// frame, SessionBytes the rest of the batch-1 reading (at least what load alone took). Measure with
// ort.ArenaSameAsRequested: kNextPowerOfTwo grows the arena in doubling chunks, so a delta would be the chunk, not
// the need.
//
// The readings are the whole device's (NVML cannot tell processes' memory apart without per-process accounting,
// which containers often hide): another process allocating or freeing meanwhile makes the deltas noisy. A delta
// that comes out negative (another process freed memory) counts as 0; a reading that fails or cannot be true is
// an error, as is a load or warm-up that fails.
func MeasureGPU(dev GPUDevice, load func() error, warm func(batch int) error, n int) (GPUMeasurement, error) {
	if n < 2 {
		return GPUMeasurement{}, fmt.Errorf("memory: measure GPU: warm-up batch %d: want at least 2", n)
	}
	read := func(when string) (GPUMemory, error) {
		m, err := dev.Memory()
		if err == nil {
			err = m.Check()
		}
		if err != nil {
			return m, fmt.Errorf("memory: measure GPU: reading %s: %w", when, err)
		}
		return m, nil
	}
	start, err := read("before loading the models")
	if err != nil {
		return GPUMeasurement{}, err
	}
	if err := load(); err != nil {
		return GPUMeasurement{}, fmt.Errorf("memory: measure GPU: loading: %w", err)
	}
	loaded, err := read("after loading the models")
	if err != nil {
		return GPUMeasurement{}, err
	}
	if err := warm(1); err != nil {
		return GPUMeasurement{}, fmt.Errorf("memory: measure GPU: warm-up at batch 1: %w", err)
	}
	one, err := read("after the warm-up at batch 1")
	if err != nil {
		return GPUMeasurement{}, err
	}
	if err := warm(n); err != nil {
		return GPUMeasurement{}, fmt.Errorf("memory: measure GPU: warm-up at batch %d: %w", n, err)
	}
	full, err := read(fmt.Sprintf("after the warm-up at batch %d", n))
	if err != nil {
		return GPUMeasurement{}, err
	}
	frame := delta(full.Used, one.Used) / uint64(n-1)
	session := max(delta(loaded.Used, start.Used), delta(delta(one.Used, start.Used), frame))
	return GPUMeasurement{Start: start, Cost: GPUCost{SessionBytes: session, FrameBytes: frame}}, nil
}

// delta is a-b, or 0 where another process's free made it negative.
func delta(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

// ErrGPUBudgetTooSmall is wrapped by the *GPUBudgetError PlanGPU returns when one slot at batch 1 does not fit.
var ErrGPUBudgetTooSmall = errors.New("GPU memory budget too small")

// GPUBudgetError says how much GPU memory one slot at batch 1 needs. Its message is one line for the user.
type GPUBudgetError struct {
	Device int
	Budget uint64 // bytes the plan had
	Need   uint64 // bytes, rounded up to 0.1 GB
	// Max is --max-gpu-memory in bytes (0: the default, the device's free memory less GPUMargin); Free is the
	// device's free memory at start.
	Max, Free uint64
}

func (e *GPUBudgetError) Error() string {
	if e.Max == 0 || e.Max > e.Free {
		return fmt.Sprintf("GPU %d has %s GB free (planning for %s GB): too small for one worker slot, which needs %s GB; "+
			"free GPU memory, or set --max-gpu-memory to at least %s GB on a device with that much free",
			e.Device, gbString(e.Free), gbString(e.Budget), gbString(e.Need), gbString(e.Need))
	}
	return fmt.Sprintf("--max-gpu-memory %s GB is too small for one worker slot on GPU %d: needs at least %s GB",
		gbString(e.Max), e.Device, gbString(e.Need))
}

// Unwrap makes errors.Is(err, ErrGPUBudgetTooSmall) true.
func (e *GPUBudgetError) Unwrap() error { return ErrGPUBudgetTooSmall }

// GPUPlanInput describes a worker's GPU to plan.
type GPUPlanInput struct {
	Device int    // NVML index, for messages
	Free   uint64 // bytes free on the device at start, before this process loaded anything (GPUMeasurement.Start)
	// Max is --max-gpu-memory in bytes; 0 is Free less GPUMargin. Above Free, Free wins (GPUPlan.Warning says so).
	Max      uint64
	Cost     GPUCost
	Slots    int // requested slots (--slots, or run's workers); 0 is 1
	MaxBatch int // --batch-size; 0 is 1
}

func (in GPUPlanInput) withDefaults() GPUPlanInput {
	in.Slots = max(in.Slots, 1)
	in.MaxBatch = max(in.MaxBatch, 1)
	return in
}

// GPUPlan is how a worker uses its GPU.
type GPUPlan struct {
	Device       int
	Budget       uint64 // bytes the plan had
	Slots, Batch int
	Planned      uint64 // bytes: Slots * Cost.SlotBytes(Batch)
	// ArenaLimit is each session's gpu_mem_limit (ort.SessionConfig.GPUMemLimit): a slot's share of the budget,
	// Budget/Slots, which every session fits under since the whole slot does. It caps each arena rather than
	// partitioning the budget among a slot's sessions (their shares are not measured apart): a session that grows
	// past what a whole slot may have fails with an allocation error, which the engine's OOM handling meets, instead
	// of taking the other slots' memory.
	ArenaLimit int64
	// Warning, when set, is one line for the log: --max-gpu-memory was more than the device had free.
	Warning string
}

// String is the line a worker prints about its GPU plan.
func (p GPUPlan) String() string {
	return fmt.Sprintf("GPU %d: %d slot(s) at batch %d, planned %s of %s (arena limit %s per session)",
		p.Device, p.Slots, p.Batch, FormatGB(p.Planned), FormatGB(p.Budget), FormatGB(uint64(p.ArenaLimit)))
}

// PlanGPU picks slots and batch so that Slots*(SessionBytes + Batch*FrameBytes) stays within the GPU budget
// (--max-gpu-memory, or the device's free memory at start less GPUMargin). It keeps the requested slots and
// shrinks the batch first (slots run segments in parallel; batch only saves per-call overhead, and the models
// with a fixed batch of 1 gain nothing from it); only when the requested slots do not fit at batch 1 does it
// reduce slots, taking the largest batch that fits the slots kept. One slot at batch 1 that does not fit is a
// *GPUBudgetError wrapping ErrGPUBudgetTooSmall.
func PlanGPU(in GPUPlanInput) (GPUPlan, error) {
	if in.Slots < 0 || in.MaxBatch < 0 {
		return GPUPlan{}, fmt.Errorf("memory: GPU plan: slots %d, batch %d: want >= 0", in.Slots, in.MaxBatch)
	}
	in = in.withDefaults()
	p := GPUPlan{Device: in.Device, Budget: delta(in.Free, GPUMargin)}
	if in.Max > 0 {
		p.Budget = in.Max
		if in.Max > in.Free {
			p.Budget = in.Free
			p.Warning = fmt.Sprintf("--max-gpu-memory %s GB is more than GPU %d's %s GB free: planning for %s GB",
				gbString(in.Max), in.Device, gbString(in.Free), gbString(in.Free))
		}
	}
	for slots := in.Slots; slots >= 1; slots-- {
		share := p.Budget / uint64(slots)
		if in.Cost.SlotBytes(1) > share {
			continue
		}
		batch := in.MaxBatch
		if in.Cost.FrameBytes > 0 { // in uint64: a tiny FrameBytes would overflow an int
			batch = int(min(uint64(batch), (share-in.Cost.SessionBytes)/in.Cost.FrameBytes))
		}
		p.Slots, p.Batch = slots, batch
		p.Planned = uint64(slots) * in.Cost.SlotBytes(batch)
		p.ArenaLimit = int64(min(share, math.MaxInt64))
		return p, nil
	}
	need := float64(in.Cost.SlotBytes(1))
	return GPUPlan{}, &GPUBudgetError{Device: in.Device, Budget: p.Budget, Max: in.Max, Free: in.Free,
		Need: uint64(math.Ceil(need/(GB/10)-1e-9) * (GB / 10))}
}
