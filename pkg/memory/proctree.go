package memory

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// TreeRSS sums the RSS of the trees rooted at roots from one pass over /proc: every process's parent from its
// stat, then the resident pages of the tree's processes from their statm, the number gopsutil's MemoryInfo reads. (stat's own rss field is the kernel's approximate per-CPU counter and reads a little
// low on this kernel.) Measured: 2.4 ms per sample on a busy job, where
// walking the tree through gopsutil (which lists each process's children by rereading every /proc/N/stat) took
// 58-129 ms, 5-26% of a core at one sample a second.
func TreeRSS(roots ...int) uint64 {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	kids := make(map[int][]int, len(ents))
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if ppid, ok := readPPID(pid); ok {
			kids[ppid] = append(kids[ppid], pid)
		}
	}
	var total uint64
	var walk func(pid, depth int)
	walk = func(pid, depth int) {
		total += readRSS(pid)
		if depth > 16 {
			return
		}
		for _, k := range kids[pid] {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return total
}

var pageSize = uint64(os.Getpagesize())

// readPPID reads a process's parent from /proc/pid/stat.
func readPPID(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state), f[1] the parent
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}

// readRSS reads a process's resident set (bytes) from /proc/pid/statm; 0 if it is gone.
func readRSS(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * pageSize
}
