// Package memory measures memory: the RSS of a whole process tree (ffmpeg children included), the system's use,
// and the GPU's; plans a job's settings from a budget with a measured model of its peak (Budget.Plan); keeps a
// running job inside the budget by admitting frames (Governor); and renders the live progress line. It never
// enforces a limit with an rlimit.
package memory

import (
	"fmt"

	"github.com/shirou/gopsutil/v4/mem"
)

// Sample is one reading.
type Sample struct {
	RSS       uint64  // bytes, the process and all its descendants
	SystemPct float64 // system memory in use, percent
	GPUPct    float64 // GPU memory in use, percent; negative when there is no GPU
	PeakRSS   uint64  // the largest RSS this sampler has seen
}

// Sampler reads a process tree's memory.
type Sampler struct {
	pid  int32
	peak uint64
	gpu  GPUSampler
}

// NewSampler samples the tree rooted at pid; GPUPct is -1 (no GPU) unless WithGPU gives it one.
func NewSampler(pid int) *Sampler { return &Sampler{pid: int32(pid)} }

// WithGPU makes Sample read GPU memory from g as well (nil: none) and returns s.
func (s *Sampler) WithGPU(g GPUSampler) *Sampler {
	s.gpu = g
	return s
}

// Sample reads the tree's RSS now. Children that exit between listing and reading are skipped.
func (s *Sampler) Sample() (Sample, error) {
	rss := TreeRSS(int(s.pid))
	if rss == 0 {
		return Sample{}, fmt.Errorf("memory: process %d is gone", s.pid)
	}
	if rss > s.peak {
		s.peak = rss
	}
	out := Sample{RSS: rss, PeakRSS: s.peak, GPUPct: -1}
	if s.gpu != nil {
		if pct, ok := s.gpu.Sample(); ok {
			out.GPUPct = pct
		}
	}
	if vm, err := mem.VirtualMemory(); err == nil {
		out.SystemPct = vm.UsedPercent
	}
	return out, nil
}
