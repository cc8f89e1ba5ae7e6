// Command fixedcost times a job's fixed coordinator steps on one target, in process, with the coordinator's own
// calls and a local-directory store (docs/BENCHMARKS.md, "Fixed costs (issue 16)"):
//
//	go run ./internal/fixedcost TARGET PIECE ROUNDS
//
// split: probe, packet scan, plan (10 s segments), cut and store every piece (SplitEach, as the coordinator does:
// its first task is queued once the first piece is stored); stitch: from the last commit to the stored output, with every segment's result a copy of PIECE (an MP4 of
// one segment's length), "recount" as the coordinator did before issue 16 (every result fetched after the last
// commit, every piece and the output re-counted packet by packet) and "trusted" as it does now (results fetched as
// their commits come, all but the last before the window; StitchConfig.Frames), rounds alternating.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/store"
)

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	target, piece := os.Args[1], os.Args[2]
	rounds, _ := strconv.Atoi(os.Args[3])
	ctx := context.Background()
	work, err := os.MkdirTemp("/tmp", "fixedbench-")
	must(err)
	defer os.RemoveAll(work)
	blob, err := store.NewLocal(store.LocalConfig{Dir: filepath.Join(work, "store")})
	must(err)
	pn, err := media.ScanFrames(ctx, piece)
	must(err)

	split := func(r int) (segs []job.Segment) {
		t0 := time.Now()
		info, err := media.Probe(ctx, target)
		must(err)
		idx, err := media.ScanFrames(ctx, target)
		must(err)
		t1 := time.Now()
		segs, err = job.Plan(idx, 10)
		must(err)
		starts := make([]int, len(segs))
		for i, s := range segs {
			starts[i] = s.Start
		}
		var first time.Time // the first piece stored: when the coordinator queues the first task
		_, err = media.SplitEach(ctx, target, starts, idx.Count, filepath.Join(work, fmt.Sprintf("split-%d", r)),
			func(i int, p string) error {
				if err := blob.PutFile(ctx, job.SegmentKey("j", i), p); err != nil {
					return err
				}
				if i == 0 {
					first = time.Now()
				}
				return os.Remove(p)
			})
		must(err)
		t3 := time.Now()
		_ = info
		fmt.Printf("split round %d: %d segments, probe+scan %.2f s, first piece stored at %.2f s, cut+check+store %.2f s, total %.2f s\n",
			r, len(segs), t1.Sub(t0).Seconds(), first.Sub(t0).Seconds(), t3.Sub(t1).Seconds(), t3.Sub(t0).Seconds())
		return segs
	}
	segs := split(0)
	for i := range segs {
		must(blob.PutFile(ctx, job.ResultKey("j", i, 0, 1), piece)) // every result: the same 10 s piece
	}
	stitch := func(r int, old bool) {
		dir := filepath.Join(work, fmt.Sprintf("stitch-%d-%v", r, old))
		must(os.MkdirAll(dir, 0o755))
		defer os.RemoveAll(dir)
		results, frames := make([]string, len(segs)), make([]int, len(segs))
		fetch := func(i int) {
			results[i] = filepath.Join(dir, fmt.Sprintf("result-%05d.mp4", i))
			must(blob.GetFile(ctx, job.ResultKey("j", i, 0, 1), results[i]))
			frames[i] = pn.Count
		}
		if !old { // the coordinator fetched these as their commits came, while the last segment was processed
			for i := 0; i < len(segs)-1; i++ {
				fetch(i)
			}
		}
		t0 := time.Now()
		for i := range segs {
			if old || i == len(segs)-1 {
				fetch(i)
			}
		}
		t1 := time.Now()
		out := filepath.Join(dir, "output.mp4")
		if old {
			for _, p := range results {
				got, err := media.ScanFrames(ctx, p)
				must(err)
				if got.Count != pn.Count {
					must(fmt.Errorf("count"))
				}
			}
			must(media.Stitch(ctx, media.StitchConfig{Pieces: results, AudioFrom: target, Output: out}))
			o, err := media.ScanFrames(ctx, out)
			must(err)
			if o.Count != pn.Count*len(segs) {
				must(fmt.Errorf("out count"))
			}
		} else {
			must(media.Stitch(ctx, media.StitchConfig{Pieces: results, Frames: frames, AudioFrom: target, Output: out}))
		}
		t2 := time.Now()
		must(blob.PutFile(ctx, "jobs/j/output.mp4", out))
		t3 := time.Now()
		name := "trusted"
		if old {
			name = "recount"
		}
		fmt.Printf("stitch round %d %s: fetch %.2f s, verify+stitch %.2f s, store %.2f s, total %.2f s\n",
			r, name, t1.Sub(t0).Seconds(), t2.Sub(t1).Seconds(), t3.Sub(t2).Seconds(), t3.Sub(t0).Seconds())
	}
	for r := 1; r <= rounds; r++ {
		stitch(r, true)
		stitch(r, false)
	}
	for r := 1; r < rounds; r++ {
		split(r)
	}
}
