package main

import (
	"os/exec"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/memory"
)

// The fast sampler reads the same number as pkg/memory's Sampler on the same tree.
func TestTreeRSSMatchesSampler(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 5 & sleep 5 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	time.Sleep(300 * time.Millisecond)
	pid := cmd.Process.Pid
	if n := len(children(pid)); n != 2 {
		t.Fatalf("%d children, want 2", n)
	}
	fast := memory.TreeRSS(pid)
	s, err := memory.NewSampler(pid).Sample()
	if err != nil {
		t.Fatal(err)
	}
	if fast == 0 || fast != s.RSS {
		t.Fatalf("TreeRSS %d, Sampler %d", fast, s.RSS)
	}
	if one := memory.TreeRSS(children(pid)[0]); one == 0 || one >= fast {
		t.Fatalf("one child %d of the tree's %d", one, fast)
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
	w := rePlanNums.FindStringSubmatch("4 frames in flight, batch 1, ffmpeg threads 2 decode / 1 encode, lookahead 5, estimated peak 0.62 GB")
	if w == nil || w[1] != "2" || w[2] != "1" || w[3] != "5" {
		t.Fatalf("%v", w)
	}
}
