package memory

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// startTree starts a shell with kids sleeping children of its own and returns its pid once all of them run; they
// are killed when the test ends.
func startTree(t *testing.T, kids int) int {
	t.Helper()
	script := ""
	for range kids {
		script += "sleep 60 & "
	}
	cmd := exec.Command("sh", "-c", script+"wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, pid := range treeByScan([]int{cmd.Process.Pid})[1:] {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// The shell forks its children after it starts: wait (not for a time: for the count) until the scan sees them.
	for len(treeByScan([]int{cmd.Process.Pid})) < 1+kids {
		time.Sleep(10 * time.Millisecond)
	}
	return cmd.Process.Pid
}

// TestTreePIDs holds the children lists' walk (the one TreeRSS takes on this kernel) to the scan of every process's
// parent, on real process trees: this test process's own (children and grandchildren below it), a tree of its
// own, and a root given twice.
func TestTreePIDs(t *testing.T) {
	if !childrenLists() {
		t.Skip("this kernel keeps no /proc/<pid>/task/<tid>/children: TreeRSS scans, as before")
	}
	self := os.Getpid()
	two := startTree(t, 2)
	three := startTree(t, 3)
	for _, tc := range []struct {
		name  string
		roots []int
		want  int // processes in the trees
	}{
		{"a shell and its 2 children", []int{two}, 3},
		{"this process: 2 shells, 5 grandchildren", []int{self}, 1 + 2 + 5},
		{"two roots", []int{two, three}, 3 + 4},
		{"a root given twice and one inside it", []int{two, two, self}, 1 + 2 + 5},
		{"a process that is gone", []int{1 << 30}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, scan := treeByChildren(tc.roots), treeByScan(tc.roots)
			if len(got) != tc.want {
				t.Errorf("children lists: %d processes %v, want %d", len(got), got, tc.want)
			}
			slices.Sort(got)
			slices.Sort(scan)
			if !slices.Equal(got, scan) {
				t.Errorf("children lists found %v, the scan %v", got, scan)
			}
			if tc.roots[0] != 1<<30 && TreeRSS(tc.roots...) == 0 {
				t.Error("TreeRSS is 0")
			}
		})
	}
}
