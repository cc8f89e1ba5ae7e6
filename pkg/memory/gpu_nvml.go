package memory

import (
	"fmt"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// nvmlSampler reads one device's memory with nvmlDeviceGetMemoryInfo: used/total of the whole device, so memory
// that ONNX Runtime's CUDA arena holds counts whether or not a kernel is using it.
type nvmlSampler struct {
	dev nvml.Device
}

var nvmlInit struct {
	once sync.Once
	ret  nvml.Return
}

// newNVMLSampler initialises NVML once per process (go-nvml loads libnvidia-ml.so.1 with dlopen, so a machine
// without the driver gets ERROR_LIBRARY_NOT_FOUND rather than a failed start) and opens device index.
func newNVMLSampler(index int) (GPUSampler, error) {
	nvmlInit.once.Do(func() { nvmlInit.ret = nvml.Init() })
	if ret := nvmlInit.ret; ret != nvml.SUCCESS {
		return nil, fmt.Errorf("memory: NVML: %s", nvml.ErrorString(ret))
	}
	n, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("memory: NVML device count: %s", nvml.ErrorString(ret))
	}
	if index < 0 || index >= n {
		return nil, fmt.Errorf("memory: NVML: no GPU %d (%d devices)", index, n)
	}
	dev, ret := nvml.DeviceGetHandleByIndex(index)
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("memory: NVML device %d: %s", index, nvml.ErrorString(ret))
	}
	if _, ret := nvml.DeviceGetMemoryInfo(dev); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("memory: NVML device %d memory: %s", index, nvml.ErrorString(ret))
	}
	return nvmlSampler{dev: dev}, nil
}

// Sample reads the device's memory now; ok is false if NVML fails (the GPU fell off the bus, the driver went away).
func (s nvmlSampler) Sample() (float64, bool) {
	m, ret := nvml.DeviceGetMemoryInfo(s.dev)
	if ret != nvml.SUCCESS || m.Total == 0 {
		return 0, false
	}
	return float64(m.Used) / float64(m.Total) * 100, true
}
