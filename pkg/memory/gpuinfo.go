package memory

// GPUInfo is one GPU and its memory at the time it was read.
type GPUInfo struct {
	Index    int    // NVML's device index (the one ONNX Runtime's CUDA provider counts by)
	Name     string // e.g. "NVIDIA H100 80GB HBM3"
	MemTotal uint64 // bytes
	MemFree  uint64 // bytes, free on the whole device (other processes' use counts against it)
}

// GPUs lists the machine's GPUs through NVML, in index order. It is empty where NVML is not usable (its library,
// libnvidia-ml.so.1, is absent, or it finds no device); why says what went wrong, for a log line, and is "" when
// every device was read. A device that cannot be read is left out, so the list can be partial with a why.
func GPUs() (gpus []GPUInfo, why string) {
	gpus, err := nvmlGPUs()
	if err != nil {
		return gpus, err.Error()
	}
	return gpus, ""
}
