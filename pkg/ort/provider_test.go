package ort_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/ort"
	onnxruntime "github.com/yalue/onnxruntime_go"
)

func TestSessionConfigValidateTable(t *testing.T) {
	for _, c := range []ort.SessionConfig{
		{},
		{Provider: "cpu", IntraOpThreads: 2, InterOpThreads: 1},
		{Provider: "cuda"},
		{Provider: "cuda", DeviceID: 1, GPUMemLimit: 2 << 30, ArenaExtendStrategy: "kSameAsRequested", CuDNNConvAlgoSearch: "HEURISTIC"},
		{Provider: "cuda", ArenaExtendStrategy: "kNextPowerOfTwo", CuDNNConvAlgoSearch: "EXHAUSTIVE"},
		{Provider: "tensorrt", DeviceID: 3, CuDNNConvAlgoSearch: "DEFAULT"},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	for want, c := range map[string]ort.SessionConfig{
		"IntraOpThreads must be >= 0":                   {IntraOpThreads: -1},
		"InterOpThreads must be >= 0":                   {InterOpThreads: -2},
		`unknown execution provider "gpu"`:              {Provider: "gpu"},
		`unknown execution provider "CUDA"`:             {Provider: "CUDA"},
		"device id must be >= 0":                        {Provider: "cuda", DeviceID: -1},
		"gpu_mem_limit must be >= 0":                    {Provider: "cuda", GPUMemLimit: -1},
		`unknown arena_extend_strategy "kSometimes"`:    {Provider: "cuda", ArenaExtendStrategy: "kSometimes"},
		`unknown cudnn_conv_algo_search "heuristic"`:    {Provider: "cuda", CuDNNConvAlgoSearch: "heuristic"},
		`apply to the cuda and tensorrt providers only`: {DeviceID: 1},
		`only, not "cpu"`:                               {Provider: "cpu", GPUMemLimit: 1 << 30},
	} {
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: got %v, want %q", c, err, want)
		}
	}
	for _, c := range []ort.SessionConfig{{Provider: "cpu", ArenaExtendStrategy: "kNextPowerOfTwo"}, {CuDNNConvAlgoSearch: "DEFAULT"}} {
		if c.Validate() == nil {
			t.Errorf("%+v: GPU setting accepted for the CPU", c)
		}
	}
}

func TestProviderName(t *testing.T) {
	for p, want := range map[string]string{"": "CPUExecutionProvider", "cpu": "CPUExecutionProvider",
		"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"} {
		if got := ort.ProviderName(ort.SessionConfig{Provider: p}); got != want {
			t.Errorf("%q: %s, want %s", p, got, want)
		}
	}
	if !slices.Equal(ort.Providers(), []string{"cpu", "cuda", "tensorrt"}) {
		t.Errorf("Providers() = %v", ort.Providers())
	}
}

// TestCPUThreads runs YuNet on the CPU with one and two intra-op threads.
func TestCPUThreads(t *testing.T) {
	if err := ort.Init(testenv.ORTLib(t)); err != nil {
		t.Fatal(err)
	}
	model := testenv.Model(t, "face_detection_yunet_2026may.onnx")
	for _, threads := range []int{1, 2} {
		opts, err := ort.NewSessionOptions(ort.SessionConfig{Provider: "cpu", IntraOpThreads: threads, InterOpThreads: 1})
		if err != nil {
			t.Fatal(err)
		}
		ins, outs, err := onnxruntime.GetInputOutputInfoWithOptions(model, opts)
		if err != nil {
			t.Fatal(err)
		}
		var inNames, outNames []string
		for _, i := range ins {
			inNames = append(inNames, i.Name)
		}
		for _, o := range outs {
			outNames = append(outNames, o.Name)
		}
		sess, err := onnxruntime.NewDynamicAdvancedSession(model, inNames, outNames, opts)
		opts.Destroy()
		if err != nil {
			t.Fatalf("%d threads: %v", threads, err)
		}
		in, err := onnxruntime.NewEmptyTensor[float32](onnxruntime.NewShape(1, 3, 64, 64))
		if err != nil {
			t.Fatal(err)
		}
		results := make([]onnxruntime.Value, len(outNames))
		if err := sess.Run([]onnxruntime.Value{in}, results); err != nil {
			t.Fatalf("%d threads: run: %v", threads, err)
		}
		for _, r := range results {
			r.Destroy()
		}
		in.Destroy()
		sess.Destroy()
	}
}

// TestGPUProvidersUnavailable: on the CPU-only library `make setup` installs, asking for CUDA or TensorRT fails
// quickly with one line wrapping ErrProviderUnavailable: no crash, no fallback to the CPU. On a GPU build the
// options are created instead.
func TestGPUProvidersUnavailable(t *testing.T) {
	if err := ort.Init(testenv.ORTLib(t)); err != nil {
		t.Fatal(err)
	}
	avail, err := ort.AvailableProviders()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(avail, "cuda") {
		t.Skipf("this ONNX Runtime library loads the GPU providers (%v)", avail)
	}
	if !slices.Equal(avail, []string{"cpu"}) {
		t.Fatalf("AvailableProviders() = %v, want [cpu]", avail)
	}
	for _, cfg := range []ort.SessionConfig{
		{Provider: "cuda"},
		{Provider: "cuda", DeviceID: 1, GPUMemLimit: 1 << 30, ArenaExtendStrategy: "kSameAsRequested", CuDNNConvAlgoSearch: "HEURISTIC", IntraOpThreads: 2},
		{Provider: "tensorrt"},
		{Provider: "tensorrt", DeviceID: 0, GPUMemLimit: 1 << 30},
	} {
		start := time.Now()
		opts, err := ort.NewSessionOptions(cfg)
		if opts != nil {
			opts.Destroy()
		}
		if !errors.Is(err, ort.ErrProviderUnavailable) {
			t.Fatalf("%+v: err = %v, want ErrProviderUnavailable", cfg, err)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "execution provider "+cfg.Provider+" is not available in this build: ") ||
			!strings.HasSuffix(msg, "; install the GPU build of ONNX Runtime (see README)") ||
			!strings.Contains(msg, "libonnxruntime_providers_shared.so") ||
			strings.Contains(msg, "\n") || strings.Contains(msg, "[ONNXRuntimeError]") {
			t.Errorf("%+v: message %q", cfg, msg)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%+v: took %v", cfg, d)
		}
	}
	// The CPU still works after the failed attempts.
	opts, err := ort.NewSessionOptions(ort.SessionConfig{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	opts.Destroy()
}
