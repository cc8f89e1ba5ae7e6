package engine

import (
	"errors"
	"os"
	"strconv"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/models"
	"github.com/facefleet/facefleet/pkg/memory"
	"github.com/facefleet/facefleet/pkg/ort"
)

// gpuCheckN is the device check's larger warm-up batch: FrameBytes is the growth from batch 1 to it per frame.
const gpuCheckN = 8

// TestGPUCheck is the device check scripts/gpu-check.sh runs (FACEFLEET_GPU_CHECK=1) on a machine with an NVIDIA
// GPU and ONNX Runtime's GPU build: for each model set whose files are present it measures two slots, one after the
// other, with memory.MeasureGPU around load and WarmUp (the first slot of the process carries the CUDA context, the
// second does not), and prints GPU-CHECK lines for docs/BENCHMARKS.md and the planner's recorded figures. Elsewhere
// it is skipped. FACEFLEET_ORT_LIB names the GPU build's library, FACEFLEET_MODELS the models (default the cache's),
// FACEFLEET_GPU_DEVICE the GPU (0).
func TestGPUCheck(t *testing.T) {
	if os.Getenv("FACEFLEET_GPU_CHECK") != "1" {
		t.Skip("device check: set FACEFLEET_GPU_CHECK=1 on a machine with an NVIDIA GPU (scripts/gpu-check.sh)")
	}
	device, _ := strconv.Atoi(os.Getenv("FACEFLEET_GPU_DEVICE"))
	dev, err := memory.OpenGPU(device)
	if err != nil {
		t.Fatal(err)
	}
	gpus, _ := memory.GPUs()
	for _, g := range gpus {
		if g.Index == device {
			t.Logf("GPU-CHECK device %d: %s, %d MiB total, %d MiB free", device, g.Name, g.MemTotal>>20, g.MemFree>>20)
		}
	}
	dir := models.DefaultDir()
	sets := []struct {
		name              string
		detector          string
		swapper, enhancer string
	}{
		{name: "default (yunet + face mesh)", detector: DefaultDetector},
		{name: "inswapper_128 + det_10g + w600k_r50", detector: "det_10g", swapper: "inswapper_128"},
		{name: "det_10g + gfpgan_1.4", detector: "det_10g", enhancer: DefaultEnhancer},
	}
	for _, set := range sets {
		missing := ""
		for _, m := range []string{set.detector, set.swapper, set.enhancer} {
			if _, err := models.Resolve(dir, m); m != "" && err != nil {
				missing = m
			}
		}
		if missing != "" {
			t.Logf("GPU-CHECK %s: skipped, %s is not in %s", set.name, missing, dir)
			continue
		}
		var engines []*Engine
		for slot := 1; slot <= 2; slot++ {
			e, err := New(Config{ORTLibrary: testenv.ORTLib(t), ModelsDir: dir, Detector: set.detector, Batch: gpuCheckN,
				Session: ort.SessionConfig{Provider: ort.ProviderCUDA, DeviceID: device,
					ArenaExtendStrategy: ort.ArenaSameAsRequested}})
			if err != nil {
				t.Fatal(err)
			}
			engines = append(engines, e)
			load := func() error {
				if err := e.Preload(); err != nil {
					return err
				}
				if set.swapper != "" {
					if _, err := e.loadInswapper(set.swapper); err != nil {
						return err
					}
					if _, err := e.loadRecognizer(DefaultRecognizer); err != nil {
						return err
					}
				}
				if set.enhancer != "" {
					_, err := e.loadEnhancer(set.enhancer)
					return err
				}
				return nil
			}
			m, err := memory.MeasureGPU(dev, load, e.WarmUp, gpuCheckN)
			if errors.Is(err, ort.ErrProviderUnavailable) {
				t.Fatalf("%v (set FACEFLEET_ORT_LIB to ONNX Runtime's GPU build)", err)
			}
			if err != nil {
				t.Fatalf("%s, slot %d: %v", set.name, slot, err)
			}
			p, perr := memory.PlanGPU(memory.GPUPlanInput{Device: device, Free: m.Start.Free, Cost: m.Cost, Slots: 8,
				MaxBatch: gpuCheckN})
			t.Logf("GPU-CHECK %s, slot %d: used before %d MiB, SessionBytes %d MiB, FrameBytes %d MiB (batch 1 -> %d); "+
				"8 slots at batch %d would plan: %v %v", set.name, slot, m.Start.Used>>20, m.Cost.SessionBytes>>20,
				m.Cost.FrameBytes>>20, gpuCheckN, gpuCheckN, p, perr)
		}
		for _, e := range engines {
			_ = e.Close()
		}
	}
}
