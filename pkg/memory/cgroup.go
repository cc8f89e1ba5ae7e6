package memory

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shirou/gopsutil/v4/mem"
)

// Where the kernel shows this process's cgroups; CgroupReader's defaults.
const (
	DefaultProcCgroup  = "/proc/self/cgroup"
	DefaultCgroupMount = "/sys/fs/cgroup"
)

const (
	// cgroupNoLimit: a limit this large is none. Cgroup v1 shows "unlimited" as 2^63-1 rounded down to a page
	// (9223372036854771712 with 4 KiB pages, less with larger ones), so the test is a bound, not one value.
	cgroupNoLimit = 1 << 62
	// cgroupFileMax is the most read from one cgroup file: memory.stat is 1-2 KiB, the rest a line. A longer file
	// is not what the kernel writes.
	cgroupFileMax = 64 << 10
)

// CgroupReader reads the memory limit of this process's cgroup and what the kernel charges against it. The zero
// value reads the real ones; tests point it at a tree they write. Both cgroup versions are read:
//   - v2 (the "0::/path" line of /proc/self/cgroup): memory.max, memory.current, memory.stat's inactive_file, under
//     Mount (Mount/unified on a hybrid host);
//   - v1 (the line whose controllers include "memory"): memory.limit_in_bytes, memory.usage_in_bytes,
//     memory.stat's total_inactive_file, under Mount/memory.
//
// Inside a container with a cgroup namespace the path is "/" and the files are at the mount's root; outside one it
// is a directory below the mount. A path that is not there (a container that mounts its own cgroup at the root
// without a namespace) reads the mount's root. A limit set on an ancestor (a systemd slice) counts: the effective
// limit is the smallest from the process's cgroup up to the root.
type CgroupReader struct {
	ProcCgroup string // this process's cgroup list; DefaultProcCgroup when ""
	Mount      string // where the cgroup file systems are mounted; DefaultCgroupMount when ""
	// RAM is the machine's memory (0: read from /proc/meminfo). A limit above it is no limit: the machine runs out
	// first, and the machine's own numbers say more.
	RAM uint64
}

// CgroupInfo is one reading of a cgroup's memory. Version 0 means no memory controller was found.
type CgroupInfo struct {
	Version int    // 1 or 2; 0 when there is no memory controller to read
	Dir     string // the directory whose limit applies (the process's own when there is none)
	Limit   uint64 // bytes; 0 = no limit
	// Usage, InactiveFile and WorkingSet are read only when Limit is set (0 otherwise), from Dir, the cgroup whose
	// usage the kernel weighs against Limit.
	Usage        uint64 // bytes charged, page cache included (memory.current, memory.usage_in_bytes)
	InactiveFile uint64 // page cache the kernel reclaims before it kills anything
	// WorkingSet is Usage less InactiveFile, never below 0: what the kernel's OOM decision effectively weighs
	// (kubelet's working set).
	WorkingSet uint64
}

// Limited reports whether the cgroup has a memory limit.
func (c CgroupInfo) Limited() bool { return c.Limit > 0 }

// cgroupFiles are one version's file names.
type cgroupFiles struct {
	version            int
	limit, usage, stat string
	inactiveKey        string
	subdir             string // the hierarchy's directory under Mount (v1)
}

var (
	cgroupV1 = cgroupFiles{1, "memory.limit_in_bytes", "memory.usage_in_bytes", "memory.stat", "total_inactive_file", "memory"}
	cgroupV2 = cgroupFiles{2, "memory.max", "memory.current", "memory.stat", "inactive_file", ""}
)

// Read reads the process's cgroup now. Missing files and a missing memory controller read as no limit, never an
// error; content that is not what the kernel writes is an error naming the file.
func (r CgroupReader) Read() (CgroupInfo, error) {
	if r.ProcCgroup == "" {
		r.ProcCgroup = DefaultProcCgroup
	}
	if r.Mount == "" {
		r.Mount = DefaultCgroupMount
	}
	b, err := readCgroupFile(r.ProcCgroup)
	if errors.Is(err, fs.ErrNotExist) {
		return CgroupInfo{}, nil
	}
	if err != nil {
		return CgroupInfo{}, err
	}
	v1, v2, hybrid, err := parseProcCgroup(r.ProcCgroup, b)
	if err != nil {
		return CgroupInfo{}, err
	}
	switch {
	case v1 != "": // a hybrid host's memory controller is on v1 when a v1 line names it
		return r.read(cgroupV1, filepath.Join(r.Mount, cgroupV1.subdir), v1)
	case v2 != "":
		root := r.Mount
		if hybrid && isDir(filepath.Join(r.Mount, "unified")) {
			root = filepath.Join(r.Mount, "unified")
		}
		return r.read(cgroupV2, root, v2)
	}
	return CgroupInfo{}, nil
}

// parseProcCgroup reads /proc/self/cgroup's "id:controllers:path" lines: v1 is the memory controller's path, v2
// the unified hierarchy's ("0::path"), hybrid whether there are v1 lines beside it.
func parseProcCgroup(name string, b []byte) (v1, v2 string, hybrid bool, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			return "", "", false, fmt.Errorf("memory: cgroup: %s: line %d: %q is not id:controllers:path", name, n, clip(line))
		}
		if _, err := strconv.ParseUint(f[0], 10, 32); err != nil || !strings.HasPrefix(f[2], "/") {
			return "", "", false, fmt.Errorf("memory: cgroup: %s: line %d: %q is not id:controllers:path", name, n, clip(line))
		}
		if f[0] == "0" && f[1] == "" {
			v2 = f[2]
			continue
		}
		hybrid = true
		for _, c := range strings.Split(f[1], ",") {
			if c == "memory" {
				v1 = f[2]
			}
		}
	}
	return v1, v2, hybrid, nil
}

// read walks from the process's cgroup directory up to root for the smallest limit, then reads the usage of the
// directory that set it (an ancestor's limit is weighed against the ancestor's usage, its other members included).
func (r CgroupReader) read(v cgroupFiles, root, path string) (CgroupInfo, error) {
	root = filepath.Clean(root)
	dir := filepath.Join(root, filepath.Clean("/"+path)) // "/"+ keeps an untrusted "../.." under root
	if !isDir(dir) {
		dir = root
	}
	info := CgroupInfo{Version: v.version, Dir: dir}
	for d := dir; ; d = filepath.Dir(d) {
		lim, err := readLimit(filepath.Join(d, v.limit))
		if err != nil {
			return CgroupInfo{}, err
		}
		if lim > 0 && (info.Limit == 0 || lim <= info.Limit) { // a tie goes to the ancestor: its usage is the larger
			info.Limit, info.Dir = lim, d
		}
		if d == root || len(d) <= len(root) {
			break
		}
	}
	if info.Limit == 0 {
		return info, nil
	}
	ram := r.RAM
	if ram == 0 {
		if vm, err := mem.VirtualMemory(); err == nil {
			ram = vm.Total
		}
	}
	if ram > 0 && info.Limit > ram {
		return CgroupInfo{Version: v.version, Dir: dir}, nil
	}
	usage, err := readCount(filepath.Join(info.Dir, v.usage))
	if err != nil {
		return CgroupInfo{}, err
	}
	inactive, err := readStat(filepath.Join(info.Dir, v.stat), v.inactiveKey)
	if err != nil {
		return CgroupInfo{}, err
	}
	info.Usage, info.InactiveFile = usage, inactive
	if usage > inactive {
		info.WorkingSet = usage - inactive
	}
	return info, nil
}

// readLimit reads a limit file: 0 when it is missing, "max", or too large to be one (cgroupNoLimit).
func readLimit(name string) (uint64, error) {
	v, err := readValue(name, true)
	if err != nil || v >= cgroupNoLimit {
		return 0, err
	}
	return v, nil
}

// readCount reads a file holding one byte count; 0 when it is missing.
func readCount(name string) (uint64, error) { return readValue(name, false) }

// readValue reads a file holding one byte count, or "max" (0) where maxOK; 0 when it is missing.
func readValue(name string, maxOK bool) (uint64, error) {
	b, err := readCgroupFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if maxOK && s == "max" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("memory: cgroup: %s: %q is not a byte count", name, clip(s))
	}
	return v, nil
}

// readStat reads key's value from a memory.stat file ("key value" lines); 0 when the file or the key is missing.
func readStat(name, key string) (uint64, error) {
	b, err := readCgroupFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != key {
			continue
		}
		if len(f) != 2 {
			return 0, fmt.Errorf("memory: cgroup: %s: %q is not \"%s bytes\"", name, clip(sc.Text()), key)
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("memory: cgroup: %s: %s %q is not a byte count", name, key, clip(f[1]))
		}
		return v, nil
	}
	return 0, nil
}

// readCgroupFile reads at most cgroupFileMax bytes of name; a longer file is an error.
func readCgroupFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("memory: cgroup: %w", err) // the *PathError names the file
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, cgroupFileMax+1))
	if err != nil {
		return nil, fmt.Errorf("memory: cgroup: %w", err)
	}
	if len(b) > cgroupFileMax {
		return nil, fmt.Errorf("memory: cgroup: %s: longer than %d bytes", name, cgroupFileMax)
	}
	return b, nil
}

func isDir(name string) bool {
	st, err := os.Stat(name)
	return err == nil && st.IsDir()
}

// clip shortens untrusted text quoted in an error to one short line's worth.
func clip(s string) string {
	const n = 40
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// The margin ContainerBudget leaves between a container's memory limit and the budget it gives a worker started
// without --max-memory: 10% of the limit, at least ContainerMarginMin, at most half the limit. The kernel kills the
// whole container the moment its charge reaches the limit, with no warning, while the governor reacts once a
// second and only pauses admissions at 95% of the budget: with 10% off, that pause line sits at 85.5% of the limit,
// so the next second's growth (a 4K batch of frames is 8 x 24 MiB; an encoder's lookahead filling) lands before
// the kill line. The margin also covers what the plan does not model and the kernel still charges: other processes
// in the container (a shell from `kubectl exec`, a probe), page tables, socket buffers, dirty page cache being
// written back. ContainerMarginMin (256 MiB) keeps that room on small limits, where 10% would be a few frames;
// half the limit is the most it takes (a container under 512 MiB runs nothing anyway, and Plan says so).
const (
	ContainerMarginFraction = 0.10
	ContainerMarginMin      = 256 * mib
)

// ContainerMargin is the part of limit that ContainerBudget leaves out of the budget.
func ContainerMargin(limit uint64) uint64 {
	m := max(uint64(float64(limit)*ContainerMarginFraction), ContainerMarginMin)
	return min(m, limit/2)
}

// ContainerBudget is the memory budget of a process in cgroup c given --max-memory maxMemory (bytes, 0 = none):
//   - no limit: maxMemory as given (0 = no budget);
//   - a limit and no --max-memory: the limit less ContainerMargin;
//   - --max-memory above that: the same, and note is a one-line warning naming both numbers;
//   - --max-memory at or below it: maxMemory.
func ContainerBudget(maxMemory uint64, c CgroupInfo) (total uint64, note string) {
	if !c.Limited() {
		return maxMemory, ""
	}
	fit := c.Limit - ContainerMargin(c.Limit)
	switch {
	case maxMemory == 0:
		return fit, ""
	case maxMemory > fit:
		return fit, fmt.Sprintf("--max-memory %s is above the container's memory limit %s less a %s margin: the budget is %s",
			FormatGB(maxMemory), FormatGB(c.Limit), FormatGB(c.Limit-fit), FormatGB(fit))
	}
	return maxMemory, ""
}
