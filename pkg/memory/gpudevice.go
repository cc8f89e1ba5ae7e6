package memory

import (
	"errors"
	"fmt"
	"sync"
)

// GPUMemory is one reading of a GPU's memory, in bytes, for the whole device: every process's use counts, ONNX
// Runtime's CUDA arenas included whether or not a kernel is using what they hold.
type GPUMemory struct {
	Total, Free, Used uint64
}

// ErrBadGPUReading is wrapped by the error for a reading that cannot be true (no memory at all, more free or used
// than there is): a driver in trouble, or a recording that is wrong.
var ErrBadGPUReading = errors.New("impossible GPU memory reading")

// Check reports a reading that cannot be true. Free+Used may fall short of Total (NVML keeps some reserved).
func (m GPUMemory) Check() error {
	if m.Total == 0 || m.Free > m.Total || m.Used > m.Total {
		return fmt.Errorf("%w: total %d, free %d, used %d bytes", ErrBadGPUReading, m.Total, m.Free, m.Used)
	}
	return nil
}

// GPUDevice is one GPU's memory as the worker sees it: NVML on a machine with the driver (OpenGPU), recorded
// readings in tests (RecordedGPU). The planner only ever sees this interface.
type GPUDevice interface {
	Memory() (GPUMemory, error)
}

// OpenGPU opens GPU index (NVML's index, the one ONNX Runtime's CUDA provider counts by). On a machine without the
// driver or the device the error says which, and nothing else changes: such a machine plans no GPU.
func OpenGPU(index int) (GPUDevice, error) {
	return openNVMLDevice(index)
}

// GPUReading is one recorded reading: the memory, or the error NVML gave.
type GPUReading struct {
	Mem GPUMemory
	Err error
}

// RecordedGPU replays readings, one per Memory call, in order: a GPU for tests and for machines without one, fed
// numbers measured on a real device. A call past the last reading is an error (the test took more readings than
// the code under test should).
type RecordedGPU struct {
	mu       sync.Mutex
	readings []GPUReading
	next     int
}

// NewRecordedGPU returns a device that replays readings.
func NewRecordedGPU(readings ...GPUReading) *RecordedGPU {
	return &RecordedGPU{readings: readings}
}

// Memory returns the next reading.
func (r *RecordedGPU) Memory() (GPUMemory, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next >= len(r.readings) {
		return GPUMemory{}, fmt.Errorf("memory: recorded GPU: only %d readings", len(r.readings))
	}
	g := r.readings[r.next]
	r.next++
	return g.Mem, g.Err
}

// Read is how many readings have been taken.
func (r *RecordedGPU) Read() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next
}
