package memory

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// Recorded NVML figures (nvmlDeviceGetMemoryInfo, MiB). The device totals are what NVML reports for the cards: an
// NVIDIA A10G (24 GB class) 23028 MiB and an H100 80GB HBM3 81559 MiB. The per-slot costs are STAND-INS, sized from
// published anecdotes rather than a measurement of ours: about 1 GB per ONNX Runtime thread for inswapper_128 with
// its detector and recognizer (facefusion/facefusion#47), about 19 GB for 8 GFPGAN threads on a 24 GB RTX 3090
// (C0untFloyd/roop-unleashed#144). Replace them with what scripts/gpu-check.sh prints on a real device (recorded in
// docs/BENCHMARKS.md).
const (
	a10gTotal = 23028 * mib
	h100Total = 81559 * mib
)

// reading is NVML's view of a device with used MiB in use: Free+Used = Total, as NVML's v1 call reports it.
func reading(total, usedMiB uint64) GPUReading {
	return GPUReading{Mem: GPUMemory{Total: total, Used: usedMiB * mib, Free: total - usedMiB*mib}}
}

var (
	// inswapper_128 + det_10g + w600k_r50, one slot, on an A10G with 430 MiB already in use (another process): load
	// +1220 MiB (weights, the CUDA context), a batch-1 call +256, a batch-8 call +896 more (128 per frame).
	inswapperA10G = []GPUReading{reading(a10gTotal, 430), reading(a10gTotal, 1650), reading(a10gTotal, 1906),
		reading(a10gTotal, 2802)}
	inswapperCost = GPUCost{SessionBytes: 1348 * mib, FrameBytes: 128 * mib}
	// det_10g + GFPGAN 1.4, one slot, on an idle H100: GFPGAN runs one face per call, so a batch of 4 reuses the
	// arena of the batch-1 call and FrameBytes is 0.
	gfpganH100 = []GPUReading{reading(h100Total, 556), reading(h100Total, 2066), reading(h100Total, 3876),
		reading(h100Total, 3876)}
	gfpganCost = GPUCost{SessionBytes: 3320 * mib}
)

func TestMeasureGPU(t *testing.T) {
	nvmlFailed := errors.New("NVML device 0 memory: GPU is lost")
	tests := []struct {
		name     string
		readings []GPUReading
		n        int
		loadErr  error
		warmErr  error // from the second warm-up
		want     GPUCost
		wantErr  string
		wantIs   error
		wantWarm []int
	}{
		{name: "inswapper on an A10G", readings: inswapperA10G, n: 8, want: inswapperCost, wantWarm: []int{1, 8}},
		{name: "GFPGAN on an H100: fixed batch, no growth", readings: gfpganH100, n: 4, want: gfpganCost,
			wantWarm: []int{1, 4}},
		// Another process freed 900 MiB between the two warm-ups: the negative delta counts as 0.
		{name: "another process freed memory", readings: []GPUReading{reading(a10gTotal, 430), reading(a10gTotal, 1650),
			reading(a10gTotal, 1906), reading(a10gTotal, 1006)}, n: 2,
			want: GPUCost{SessionBytes: 1476 * mib}, wantWarm: []int{1, 2}},
		// ... or 2 GB while the models loaded: the session is still at least what the warm-up showed, never negative.
		{name: "another process freed memory during load", readings: []GPUReading{reading(a10gTotal, 2430),
			reading(a10gTotal, 1650), reading(a10gTotal, 1906), reading(a10gTotal, 2802)}, n: 8,
			want: GPUCost{FrameBytes: 128 * mib}, wantWarm: []int{1, 8}},
		{name: "a reading fails", readings: []GPUReading{reading(a10gTotal, 430), {Err: nvmlFailed}}, n: 8,
			wantErr: "reading after loading the models", wantIs: nvmlFailed},
		{name: "an impossible reading", readings: []GPUReading{reading(a10gTotal, 430), reading(a10gTotal, 1650),
			{Mem: GPUMemory{Total: a10gTotal, Used: a10gTotal + 1}}}, n: 8, wantWarm: []int{1},
			wantErr: "after the warm-up at batch 1", wantIs: ErrBadGPUReading},
		{name: "no memory at all", readings: []GPUReading{{}}, n: 8, wantErr: "before loading", wantIs: ErrBadGPUReading},
		{name: "load fails", readings: inswapperA10G, n: 8, loadErr: errors.New("CUDA out of memory"),
			wantErr: "loading: CUDA out of memory"},
		{name: "warm-up fails", readings: inswapperA10G, n: 8, warmErr: errors.New("bad_alloc"), wantWarm: []int{1, 8},
			wantErr: "warm-up at batch 8: bad_alloc"},
		{name: "batch below 2 measures no growth", readings: inswapperA10G, n: 1, wantErr: "want at least 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := NewRecordedGPU(tt.readings...)
			var warmed []int
			m, err := MeasureGPU(dev, func() error { return tt.loadErr }, func(batch int) error {
				warmed = append(warmed, batch)
				if batch > 1 {
					return tt.warmErr
				}
				return nil
			}, tt.n)
			if !slices.Equal(warmed, tt.wantWarm) {
				t.Errorf("warm-ups at %v, want %v", warmed, tt.wantWarm)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("error %v does not wrap %v", err, tt.wantIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Cost != tt.want {
				t.Errorf("cost %d/%d MiB, want %d/%d", m.Cost.SessionBytes/mib, m.Cost.FrameBytes/mib,
					tt.want.SessionBytes/mib, tt.want.FrameBytes/mib)
			}
			if m.Start != tt.readings[0].Mem || dev.Read() != 4 {
				t.Errorf("start %+v after %d readings, want the first of 4", m.Start, dev.Read())
			}
		})
	}
}

func TestPlanGPU(t *testing.T) {
	a10gFree := uint64(a10gTotal - 430*mib) // 22598 MiB: the inswapper recording's start
	h100Free := uint64(h100Total - 556*mib) // 81003 MiB
	const gb = GB
	tests := []struct {
		name                   string
		in                     GPUPlanInput
		wantSlots, wantBatch   int
		wantPlannedMiB         uint64
		wantBudgetMiB          uint64
		wantWarning, wantError string
	}{
		// Budget 22598-1024 = 21574 MiB; 8 * (1348 + 8*128) = 18976.
		{name: "A10G, 8 slots at batch 8 fit", in: GPUPlanInput{Free: a10gFree, Cost: inswapperCost, Slots: 8, MaxBatch: 8},
			wantSlots: 8, wantBatch: 8, wantPlannedMiB: 18976, wantBudgetMiB: 21574},
		// 21574/12 = 1797 MiB a slot: the slots stay, the batch shrinks to 3.
		{name: "A10G, 12 slots keep their slots at batch 3", in: GPUPlanInput{Free: a10gFree, Cost: inswapperCost,
			Slots: 12, MaxBatch: 8}, wantSlots: 12, wantBatch: 3, wantPlannedMiB: 12 * (1348 + 3*128), wantBudgetMiB: 21574},
		// 16 and 15 slots cannot run even batch 1 (1348 and 1438 MiB a slot < 1476): 14 slots at batch 1.
		{name: "A10G, 16 slots become 14", in: GPUPlanInput{Free: a10gFree, Cost: inswapperCost, Slots: 16, MaxBatch: 8},
			wantSlots: 14, wantBatch: 1, wantPlannedMiB: 14 * 1476, wantBudgetMiB: 21574},
		{name: "A10G, --max-gpu-memory 2: one slot at batch 5", in: GPUPlanInput{Free: a10gFree, Max: 2 * gb,
			Cost: inswapperCost, Slots: 4, MaxBatch: 8}, wantSlots: 1, wantBatch: 5, wantPlannedMiB: 1348 + 5*128,
			wantBudgetMiB: 2048},
		{name: "A10G, --max-gpu-memory 40: the free memory wins", in: GPUPlanInput{Free: a10gFree, Max: 40 * gb,
			Cost: inswapperCost, Slots: 8, MaxBatch: 8}, wantSlots: 8, wantBatch: 8, wantPlannedMiB: 18976,
			wantBudgetMiB: 22598, wantWarning: "--max-gpu-memory 40 GB is more than GPU 0's 22.07 GB free: planning for 22.07 GB"},
		{name: "A10G, --max-gpu-memory 1 is too small", in: GPUPlanInput{Free: a10gFree, Max: 1 * gb, Cost: inswapperCost,
			Slots: 2, MaxBatch: 8},
			wantError: "--max-gpu-memory 1 GB is too small for one worker slot on GPU 0: needs at least 1.5 GB"},
		{name: "A10G nearly full, GFPGAN does not fit", in: GPUPlanInput{Device: 1, Free: 2900 * mib, Cost: gfpganCost,
			Slots: 1, MaxBatch: 1},
			wantError: "GPU 1 has 2.83 GB free (planning for 1.83 GB): too small for one worker slot, which needs 3.3 GB; " +
				"free GPU memory, or set --max-gpu-memory to at least 3.3 GB on a device with that much free"},
		// Budget 81003-1024 = 79979 MiB: 16 * 2372 = 37952.
		{name: "H100, inswapper, 16 slots at batch 8", in: GPUPlanInput{Free: h100Free, Cost: inswapperCost, Slots: 16,
			MaxBatch: 8}, wantSlots: 16, wantBatch: 8, wantPlannedMiB: 37952, wantBudgetMiB: 79979},
		// 79979/3320 = 24.09: 24 slots; GFPGAN's batch costs nothing, so the batch stays at the cap.
		{name: "H100, GFPGAN, 32 slots become 24", in: GPUPlanInput{Free: h100Free, Cost: gfpganCost, Slots: 32,
			MaxBatch: 8}, wantSlots: 24, wantBatch: 8, wantPlannedMiB: 24 * 3320, wantBudgetMiB: 79979},
		{name: "defaults: 1 slot, batch 1", in: GPUPlanInput{Free: h100Free, Cost: gfpganCost}, wantSlots: 1,
			wantBatch: 1, wantPlannedMiB: 3320, wantBudgetMiB: 79979},
		{name: "negative slots", in: GPUPlanInput{Free: h100Free, Cost: gfpganCost, Slots: -1},
			wantError: "slots -1, batch 0: want >= 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := PlanGPU(tt.in)
			if tt.wantError != "" {
				if err == nil || err.Error() != tt.wantError && !strings.HasSuffix(err.Error(), tt.wantError) {
					t.Fatalf("error %v, want %q", err, tt.wantError)
				}
				var be *GPUBudgetError
				if tooSmall := strings.Contains(tt.wantError, "needs"); tooSmall != (errors.As(err, &be) &&
					errors.Is(err, ErrGPUBudgetTooSmall)) {
					t.Errorf("error %v: a GPUBudgetError wrapping ErrGPUBudgetTooSmall is %v, want %v", err, !tooSmall, tooSmall)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Slots != tt.wantSlots || p.Batch != tt.wantBatch || p.Planned != tt.wantPlannedMiB*mib ||
				p.Budget != tt.wantBudgetMiB*mib {
				t.Errorf("%d slots at batch %d, planned %d of %d MiB; want %d at %d, %d of %d", p.Slots, p.Batch,
					p.Planned/mib, p.Budget/mib, tt.wantSlots, tt.wantBatch, tt.wantPlannedMiB, tt.wantBudgetMiB)
			}
			if p.Warning != tt.wantWarning {
				t.Errorf("warning %q, want %q", p.Warning, tt.wantWarning)
			}
			// What every plan promises: the slots fit the budget at the batch, each arena can hold its slot, and the
			// slots' arena limits together stay within the budget.
			if p.Planned > p.Budget || p.Planned != uint64(p.Slots)*tt.in.Cost.SlotBytes(p.Batch) ||
				uint64(p.ArenaLimit) < tt.in.Cost.SlotBytes(p.Batch) || uint64(p.ArenaLimit)*uint64(p.Slots) > p.Budget {
				t.Errorf("plan %s breaks its promise (slot %d MiB, arena limit %d MiB)", p,
					tt.in.Cost.SlotBytes(p.Batch)/mib, p.ArenaLimit/mib)
			}
		})
	}
}

// TestMeasureThenPlan: the recorded readings through both steps give the plan the table above expects.
func TestMeasureThenPlan(t *testing.T) {
	m, err := MeasureGPU(NewRecordedGPU(inswapperA10G...), func() error { return nil }, func(int) error { return nil }, 8)
	if err != nil {
		t.Fatal(err)
	}
	p, err := PlanGPU(GPUPlanInput{Free: m.Start.Free, Cost: m.Cost, Slots: 12, MaxBatch: 8})
	if err != nil {
		t.Fatal(err)
	}
	if p.Slots != 12 || p.Batch != 3 {
		t.Errorf("plan %s, want 12 slots at batch 3", p)
	}
	t.Log(p)
}

// TestOpenGPU: without the driver (this machine) OpenGPU says why; with one, a reading is possible.
func TestOpenGPU(t *testing.T) {
	dev, err := OpenGPU(0)
	if err != nil {
		t.Logf("no GPU: %v", err)
		return
	}
	m, err := dev.Memory()
	if err != nil || m.Check() != nil {
		t.Fatalf("GPU 0: %+v, %v", m, err)
	}
	if _, err := OpenGPU(1 << 20); err == nil {
		t.Error("a GPU index past the device count opened")
	}
}
