package main

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/memory"
)

// TreeRSS is the sum of the resident sets of the process and its children, each read here on its own from
// /proc/N/statm (pkg/memory's Sampler now calls TreeRSS itself, so comparing with it could not fail).
func TestTreeRSSSumsTheTree(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 5 & sleep 5 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	time.Sleep(300 * time.Millisecond)
	pid := cmd.Process.Pid
	kids := children(pid)
	if len(kids) != 2 {
		t.Fatalf("%d children, want 2", len(kids))
	}
	own := func(pid int) uint64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
		if err != nil {
			t.Fatal(err)
		}
		var size, resident uint64
		if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
			t.Fatal(err)
		}
		return resident * uint64(os.Getpagesize())
	}
	want := own(pid) + own(kids[0]) + own(kids[1])
	if got := memory.TreeRSS(pid); got != want || got == 0 {
		t.Fatalf("TreeRSS %d, the three processes' own RSS add up to %d", got, want)
	}
}

// The fair sum adds the maxima of processes alive together, never those of processes that ran one after another.
func TestFairSum(t *testing.T) {
	spans := []span{
		{start: 0, end: 1, maxRSS: 10},  // probe
		{start: 1, end: 5, maxRSS: 100}, // decoder 1
		{start: 1, end: 5, maxRSS: 200}, // encoder 1
		{start: 5, end: 9, maxRSS: 120}, // decoder 2
		{start: 5, end: 9, maxRSS: 190}, // encoder 2
		{start: 9, end: 10, maxRSS: 30}, // stitch
	}
	fair, naive := fairSum(spans, 1000)
	if fair != 1310 || naive != 1650 {
		t.Fatalf("fair %d naive %d, want 1310 and 1650", fair, naive)
	}
}

func TestRefusalLine(t *testing.T) {
	m := reNeed.FindStringSubmatch("error: /t.mp4: --max-memory 1 GB is too small for 3840x2160 with 2 workers: needs at least 2.7 GB")
	if m == nil || m[1] != "2.7" {
		t.Fatalf("%v", m)
	}
}
