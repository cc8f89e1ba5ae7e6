package memory

// GPUSampler reads GPU memory. usedPct is the share of the whole device's memory in use (every process on it,
// ONNX Runtime's arena included), 0-100; ok is false when there is no GPU to read.
type GPUSampler interface {
	Sample() (usedPct float64, ok bool)
}

// NoGPU is the GPUSampler of a machine without a GPU: the live line shows G:n/a.
type NoGPU struct{}

// Sample reports no GPU.
func (NoGPU) Sample() (float64, bool) { return 0, false }

// NewGPUSampler returns a sampler of GPU device index (the one ONNX Runtime's CUDA provider uses) through NVML,
// or NoGPU when NVML is not built in (the nvml build tag), its library (libnvidia-ml.so.1) is absent, or the device
// does not exist. why says which, for a log line; it is "" when a GPU is sampled.
func NewGPUSampler(index int) (s GPUSampler, why string) {
	g, err := newNVMLSampler(index)
	if err != nil {
		return NoGPU{}, err.Error()
	}
	return g, ""
}
