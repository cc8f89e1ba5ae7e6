package memory

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
)

// TreeRSS sums the RSS of the trees rooted at roots (each process once), from the resident pages in their statm,
// the number gopsutil's MemoryInfo reads. (stat's own rss field is the kernel's approximate per-CPU counter and
// reads a little low on this kernel.)
func TreeRSS(roots ...int) uint64 {
	var total uint64
	for _, pid := range treePIDs(roots) {
		total += readRSS(pid)
	}
	return total
}

// maxTreeDepth bounds the walk below a root: a deeper tree is not one this program made.
const maxTreeDepth = 16

// treePIDs lists the processes of the trees rooted at roots, roots first. It reads the kernel's children lists
// (treeByChildren), so a sample costs what the tree holds; where the kernel keeps none (built without
// CONFIG_PROC_CHILDREN) it scans every process's parent (treeByScan), whose cost grows with what the machine runs:
// with 64 simulated workers on this 2-core machine each worker's heartbeat read ~250 stat files, a third of the
// workers' CPU (docs/BENCHMARKS.md, control-plane simulation).
func treePIDs(roots []int) []int {
	if childrenLists() {
		return treeByChildren(roots)
	}
	return treeByScan(roots)
}

// childrenLists reports whether this kernel keeps /proc/<pid>/task/<tid>/children (this process's main thread's
// list always exists where any does).
var childrenLists = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/self/task/" + strconv.Itoa(os.Getpid()) + "/children")
	return err == nil
})

// treeByChildren walks down from roots through each process's threads' children lists: a process's children are
// listed under the thread that started them (a Go process starts them from any of its threads).
func treeByChildren(roots []int) []int {
	return walkTree(roots, func(pid int) []int {
		dir := "/proc/" + strconv.Itoa(pid) + "/task/"
		tasks, err := os.ReadDir(dir)
		if err != nil {
			return nil // gone
		}
		var kids []int
		for _, t := range tasks {
			b, err := os.ReadFile(dir + t.Name() + "/children")
			if err != nil {
				continue // the thread ended
			}
			for _, f := range strings.Fields(string(b)) {
				if k, err := strconv.Atoi(f); err == nil {
					kids = append(kids, k)
				}
			}
		}
		return kids
	})
}

// treeByScan finds every process's parent from its stat in one pass over /proc, then walks down from roots.
func treeByScan(roots []int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
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
	return walkTree(roots, func(pid int) []int { return kids[pid] })
}

// walkTree lists roots and their descendants down to maxTreeDepth, each once.
func walkTree(roots []int, children func(pid int) []int) []int {
	seen := map[int]bool{}
	var out []int
	var walk func(pid, depth int)
	walk = func(pid, depth int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		out = append(out, pid)
		if depth > maxTreeDepth {
			return
		}
		for _, k := range children(pid) {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return out
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
