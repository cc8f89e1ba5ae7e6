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

// newNVMLSampler opens device index for the live line's G%.
func newNVMLSampler(index int) (GPUSampler, error) {
	d, err := openNVMLDevice(index)
	if err != nil {
		return nil, err
	}
	return nvmlSampler{dev: d.dev}, nil
}

// openNVMLDevice initialises NVML once per process (go-nvml loads libnvidia-ml.so.1 with dlopen, so a machine
// without the driver gets ERROR_LIBRARY_NOT_FOUND rather than a failed start) and opens device index, reading its
// memory once so that a device that cannot be read fails here.
func openNVMLDevice(index int) (nvmlDevice, error) {
	nvmlInit.once.Do(func() { nvmlInit.ret = nvml.Init() })
	if ret := nvmlInit.ret; ret != nvml.SUCCESS {
		return nvmlDevice{}, fmt.Errorf("memory: NVML: %s", nvml.ErrorString(ret))
	}
	n, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nvmlDevice{}, fmt.Errorf("memory: NVML device count: %s", nvml.ErrorString(ret))
	}
	if index < 0 || index >= n {
		return nvmlDevice{}, fmt.Errorf("memory: NVML: no GPU %d (%d devices)", index, n)
	}
	dev, ret := nvml.DeviceGetHandleByIndex(index)
	if ret != nvml.SUCCESS {
		return nvmlDevice{}, fmt.Errorf("memory: NVML device %d: %s", index, nvml.ErrorString(ret))
	}
	d := nvmlDevice{dev: dev, index: index}
	if _, err := d.Memory(); err != nil {
		return nvmlDevice{}, err
	}
	return d, nil
}

// nvmlDevice is a GPUDevice read with nvmlDeviceGetMemoryInfo.
type nvmlDevice struct {
	dev   nvml.Device
	index int
}

// Memory reads the device now.
func (d nvmlDevice) Memory() (GPUMemory, error) {
	m, ret := nvml.DeviceGetMemoryInfo(d.dev)
	if ret != nvml.SUCCESS {
		return GPUMemory{}, fmt.Errorf("memory: NVML device %d memory: %s", d.index, nvml.ErrorString(ret))
	}
	return GPUMemory{Total: m.Total, Free: m.Free, Used: m.Used}, nil
}

// Sample reads the device's memory now; ok is false if NVML fails (the GPU fell off the bus, the driver went away).
func (s nvmlSampler) Sample() (float64, bool) {
	m, ret := nvml.DeviceGetMemoryInfo(s.dev)
	if ret != nvml.SUCCESS || m.Total == 0 {
		return 0, false
	}
	return float64(m.Used) / float64(m.Total) * 100, true
}
