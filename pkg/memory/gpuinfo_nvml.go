package memory

import (
	"errors"
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// nvmlGPUs reads every device's name and memory (nvmlDeviceGetMemoryInfo: the whole device, as the sampler reads
// it). NVML is initialised once per process, shared with newNVMLSampler.
func nvmlGPUs() ([]GPUInfo, error) {
	nvmlInit.once.Do(func() { nvmlInit.ret = nvml.Init() })
	if ret := nvmlInit.ret; ret != nvml.SUCCESS {
		return nil, fmt.Errorf("memory: NVML: %s", nvml.ErrorString(ret))
	}
	n, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("memory: NVML device count: %s", nvml.ErrorString(ret))
	}
	var gpus []GPUInfo
	var errs []error
	for i := range n {
		dev, ret := nvml.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			errs = append(errs, fmt.Errorf("memory: NVML device %d: %s", i, nvml.ErrorString(ret)))
			continue
		}
		m, ret := nvml.DeviceGetMemoryInfo(dev)
		if ret != nvml.SUCCESS {
			errs = append(errs, fmt.Errorf("memory: NVML device %d memory: %s", i, nvml.ErrorString(ret)))
			continue
		}
		// The name is only a label; a device whose name cannot be read is still a GPU with memory.
		name, ret := nvml.DeviceGetName(dev)
		if ret != nvml.SUCCESS {
			name = fmt.Sprintf("GPU %d", i)
		}
		gpus = append(gpus, GPUInfo{Index: i, Name: name, MemTotal: m.Total, MemFree: m.Free})
	}
	return gpus, errors.Join(errs...)
}
