package ort

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	onnxruntime "github.com/yalue/onnxruntime_go"
)

// Execution providers, as --execution-provider names them.
const (
	ProviderCPU      = "cpu"
	ProviderCUDA     = "cuda"
	ProviderTensorRT = "tensorrt"
)

// Providers lists the execution providers SessionConfig accepts, in --execution-provider spelling.
func Providers() []string { return []string{ProviderCPU, ProviderCUDA, ProviderTensorRT} }

// CUDA arena extension strategies (ONNX Runtime's arena_extend_strategy).
const (
	ArenaNextPowerOfTwo  = "kNextPowerOfTwo"
	ArenaSameAsRequested = "kSameAsRequested"
)

// cuDNN convolution algorithm searches (ONNX Runtime's cudnn_conv_algo_search).
const (
	CuDNNExhaustive = "EXHAUSTIVE"
	CuDNNHeuristic  = "HEURISTIC"
	CuDNNDefault    = "DEFAULT"
)

// ErrProviderUnavailable is wrapped by the error NewSessionOptions returns when the ONNX Runtime library cannot
// load the requested execution provider (a CPU-only build, or missing CUDA, cuDNN or TensorRT libraries). There is
// never a silent fallback to the CPU.
var ErrProviderUnavailable = errors.New("execution provider not available")

// SessionConfig is how a model's session runs. The zero value is valid: CPU, ONNX Runtime's default thread counts.
// A zero GPU setting means ONNX Runtime's default.
type SessionConfig struct {
	// IntraOpThreads is the number of threads one operator may use; 0 lets ONNX Runtime choose (all cores).
	// On small machines set it explicitly: the decoder, the encoder and every session compete for the same cores.
	IntraOpThreads int
	// InterOpThreads is the number of threads running independent operators in parallel; 0 = ONNX Runtime default.
	InterOpThreads int
	// Provider is the execution provider: "" or "cpu", "cuda", "tensorrt" (TensorRT, with CUDA for the nodes
	// TensorRT cannot run).
	Provider string
	// DeviceID is the GPU to run on (cuda, tensorrt).
	DeviceID int
	// GPUMemLimit caps the CUDA memory arena in bytes (cuda, tensorrt); 0 = no limit.
	GPUMemLimit int64
	// ArenaExtendStrategy is how the CUDA arena grows: "kNextPowerOfTwo" (ONNX Runtime's default) or
	// "kSameAsRequested" (tighter, for a memory budget).
	ArenaExtendStrategy string
	// CuDNNConvAlgoSearch is how cuDNN picks convolution algorithms: "EXHAUSTIVE" (ONNX Runtime's default, slow
	// first run), "HEURISTIC" or "DEFAULT".
	CuDNNConvAlgoSearch string
}

// ShareThreads is each of n sessions' IntraOpThreads when they share total threads: at least one each, and 0 (ONNX
// Runtime's default, all cores for each session) stays 0.
func ShareThreads(total, n int) int {
	if total <= 0 || n <= 0 {
		return 0
	}
	return max(1, total/n)
}

// OnGPU reports whether the provider runs models on a GPU (cuda, tensorrt).
func (c SessionConfig) OnGPU() bool {
	return c.Provider == ProviderCUDA || c.Provider == ProviderTensorRT
}

// Validate reports a configuration no ONNX Runtime library can run. Whether this machine's library has the
// provider is NewSessionOptions' question.
func (c SessionConfig) Validate() error {
	if c.IntraOpThreads < 0 {
		return fmt.Errorf("ort: IntraOpThreads must be >= 0, got %d", c.IntraOpThreads)
	}
	if c.InterOpThreads < 0 {
		return fmt.Errorf("ort: InterOpThreads must be >= 0, got %d", c.InterOpThreads)
	}
	switch c.Provider {
	case "", ProviderCPU, ProviderCUDA, ProviderTensorRT:
	default:
		return fmt.Errorf("ort: unknown execution provider %q (want %s)", c.Provider, strings.Join(Providers(), ", "))
	}
	if c.DeviceID < 0 {
		return fmt.Errorf("ort: device id must be >= 0, got %d", c.DeviceID)
	}
	if c.GPUMemLimit < 0 {
		return fmt.Errorf("ort: gpu_mem_limit must be >= 0 bytes, got %d", c.GPUMemLimit)
	}
	switch c.ArenaExtendStrategy {
	case "", ArenaNextPowerOfTwo, ArenaSameAsRequested:
	default:
		return fmt.Errorf("ort: unknown arena_extend_strategy %q (want %s or %s)", c.ArenaExtendStrategy, ArenaNextPowerOfTwo, ArenaSameAsRequested)
	}
	switch c.CuDNNConvAlgoSearch {
	case "", CuDNNExhaustive, CuDNNHeuristic, CuDNNDefault:
	default:
		return fmt.Errorf("ort: unknown cudnn_conv_algo_search %q (want %s, %s or %s)", c.CuDNNConvAlgoSearch, CuDNNExhaustive, CuDNNHeuristic, CuDNNDefault)
	}
	if !c.OnGPU() && (c.DeviceID != 0 || c.GPUMemLimit != 0 || c.ArenaExtendStrategy != "" || c.CuDNNConvAlgoSearch != "") {
		return fmt.Errorf("ort: device id, gpu_mem_limit, arena_extend_strategy and cudnn_conv_algo_search apply to the cuda and tensorrt providers only, not %q",
			cmp.Or(c.Provider, ProviderCPU))
	}
	return nil
}

// ProviderName is ONNX Runtime's name for the configuration's execution provider, for the live line.
func ProviderName(c SessionConfig) string {
	switch c.Provider {
	case ProviderCUDA:
		return "CUDAExecutionProvider"
	case ProviderTensorRT:
		return "TensorrtExecutionProvider"
	}
	return "CPUExecutionProvider"
}

// NewSessionOptions builds session options for cfg. Init must have succeeded. The caller Destroys the result.
// A GPU provider the library cannot load is an error wrapping ErrProviderUnavailable, never a CPU fallback.
func NewSessionOptions(cfg SessionConfig) (*onnxruntime.SessionOptions, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !Initialized() {
		return nil, errors.New("ort: onnxruntime is not initialised (call ort.Init first)")
	}
	opts, err := onnxruntime.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: creating session options: %w", err)
	}
	if cfg.IntraOpThreads > 0 {
		if err := opts.SetIntraOpNumThreads(cfg.IntraOpThreads); err != nil {
			opts.Destroy()
			return nil, fmt.Errorf("ort: setting intra-op threads: %w", err)
		}
	}
	// Idle ORT threads spin by default; next to the ffmpeg processes that share the cores that steals their time
	// (measured: 2 spinning threads made a 2-core job 1.5x slower than 1 thread). Sleep instead.
	for _, key := range []string{"session.intra_op.allow_spinning", "session.inter_op.allow_spinning"} {
		if err := opts.AddSessionConfigEntry(key, "0"); err != nil {
			opts.Destroy()
			return nil, fmt.Errorf("ort: %s: %w", key, err)
		}
	}
	if cfg.InterOpThreads > 0 {
		if err := opts.SetInterOpNumThreads(cfg.InterOpThreads); err != nil {
			opts.Destroy()
			return nil, fmt.Errorf("ort: setting inter-op threads: %w", err)
		}
	}
	if cfg.OnGPU() {
		if err := appendGPU(opts, cfg); err != nil {
			opts.Destroy()
			return nil, err
		}
	}
	return opts, nil
}

// AvailableProviders lists the execution providers this process's ONNX Runtime library can load, in
// --execution-provider spelling: "cpu" always, "cuda" and "tensorrt" when their provider libraries (and the CUDA
// libraries those link) load. It opens no device: on a machine without a usable GPU a GPU build lists cuda and
// fails when a session is created. (onnxruntime_go v1.27 does not expose GetAvailableProviders, which would list
// the providers compiled in, loadable or not.) Init must have succeeded.
func AvailableProviders() ([]string, error) {
	if !Initialized() {
		return nil, errors.New("ort: onnxruntime is not initialised (call ort.Init first)")
	}
	out := []string{ProviderCPU}
	for _, p := range []string{ProviderCUDA, ProviderTensorRT} {
		opts, err := NewSessionOptions(SessionConfig{Provider: p})
		if errors.Is(err, ErrProviderUnavailable) {
			continue
		}
		if err != nil {
			return nil, err
		}
		opts.Destroy()
		out = append(out, p)
	}
	return out, nil
}

// appendGPU appends the TensorRT provider (tensorrt) and the CUDA provider (cuda, and tensorrt's fallback).
func appendGPU(opts *onnxruntime.SessionOptions, cfg SessionConfig) error {
	// Update is called before Append because, on a library without the provider, it fails with the reason
	// (which file did not load) in its status; Append fails with a generic status and logs the reason on stderr.
	if cfg.Provider == ProviderTensorRT {
		o, err := onnxruntime.NewTensorRTProviderOptions()
		if err != nil {
			return unavailable(cfg.Provider, err)
		}
		defer o.Destroy()
		if err := o.Update(map[string]string{"device_id": strconv.Itoa(cfg.DeviceID)}); err != nil {
			return unavailable(cfg.Provider, err)
		}
		if err := opts.AppendExecutionProviderTensorRT(o); err != nil {
			return unavailable(cfg.Provider, err)
		}
	}
	o, err := onnxruntime.NewCUDAProviderOptions()
	if err != nil {
		return unavailable(cfg.Provider, err)
	}
	defer o.Destroy()
	if err := o.Update(cudaOptions(cfg)); err != nil {
		return unavailable(cfg.Provider, err)
	}
	if err := opts.AppendExecutionProviderCUDA(o); err != nil {
		return unavailable(cfg.Provider, err)
	}
	return nil
}

// cudaOptions is the CUDA provider's option map for cfg; unset values keep ONNX Runtime's defaults. device_id is
// always set, so a library without the provider fails in Update with its clearest message.
func cudaOptions(cfg SessionConfig) map[string]string {
	m := map[string]string{"device_id": strconv.Itoa(cfg.DeviceID)}
	if cfg.GPUMemLimit > 0 {
		m["gpu_mem_limit"] = strconv.FormatInt(cfg.GPUMemLimit, 10)
	}
	if cfg.ArenaExtendStrategy != "" {
		m["arena_extend_strategy"] = cfg.ArenaExtendStrategy
	}
	if cfg.CuDNNConvAlgoSearch != "" {
		m["cudnn_conv_algo_search"] = cfg.CuDNNConvAlgoSearch
	}
	return m
}

// ortStatusPrefix is the source location and status code ONNX Runtime puts before its message.
var ortStatusPrefix = regexp.MustCompile(`^.*\[ONNXRuntimeError\] : \d+ : [A-Z_]+ : `)

type providerError struct {
	provider, reason string
}

func (e *providerError) Error() string {
	return fmt.Sprintf("execution provider %s is not available in this build: %s; install the GPU build of ONNX Runtime (see README)",
		e.provider, e.reason)
}

func (e *providerError) Unwrap() error { return ErrProviderUnavailable }

func unavailable(provider string, err error) error {
	reason := strings.Join(strings.Fields(ortStatusPrefix.ReplaceAllString(err.Error(), "")), " ")
	return &providerError{provider: provider, reason: reason}
}
