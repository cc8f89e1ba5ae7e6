package memory

import (
	"os"
	"strings"
	"testing"
)

type fixedGPU struct {
	pct float64
	ok  bool
}

func (f fixedGPU) Sample() (float64, bool) { return f.pct, f.ok }

// TestGPUSampling: a sampler with a GPU reports its percentage, one without (NoGPU, or a GPU sampler that fails)
// reports -1 and the live line shows G:n/a.
func TestGPUSampling(t *testing.T) {
	tests := []struct {
		name string
		gpu  GPUSampler
		want float64
		line string
	}{
		{"no sampler", nil, -1, "G:n/a"},
		{"NoGPU", NoGPU{}, -1, "G:n/a"},
		{"GPU at 65%", fixedGPU{65.2, true}, 65.2, "G:65%"},
		{"GPU read failed", fixedGPU{50, false}, -1, "G:n/a"},
	}
	for _, tt := range tests {
		s, err := NewSampler(os.Getpid()).WithGPU(tt.gpu).Sample()
		if err != nil {
			t.Fatal(err)
		}
		if s.GPUPct != tt.want {
			t.Errorf("%s: GPUPct %v, want %v", tt.name, s.GPUPct, tt.want)
		}
		if l := (Line{Mem: s}).String(); !strings.Contains(l, tt.line) {
			t.Errorf("%s: line %q lacks %q", tt.name, l, tt.line)
		}
	}
}

// TestNewGPUSampler: on a machine without NVML (no nvml build tag, or no libnvidia-ml.so.1) it says why and
// returns NoGPU; with a GPU it samples a percentage.
func TestNewGPUSampler(t *testing.T) {
	s, why := NewGPUSampler(0)
	pct, ok := s.Sample()
	if why != "" {
		if ok || s != (NoGPU{}) {
			t.Fatalf("NewGPUSampler gave %T (ok %v) though %s", s, ok, why)
		}
		t.Logf("no GPU: %s", why)
		return
	}
	if !ok || pct < 0 || pct > 100 {
		t.Fatalf("GPU sample %v, ok %v", pct, ok)
	}
	t.Logf("GPU 0 memory in use: %.1f%%", pct)
	if _, why := NewGPUSampler(1 << 20); why == "" {
		t.Error("a GPU index past the device count gave a sampler")
	}
}
