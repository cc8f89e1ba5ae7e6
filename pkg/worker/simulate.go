package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/pipeline"
)

// SimulateEnv must be "1" in a worker's environment for it to run a Simulation: the synthetic processor is a
// benchmark's tool (the control-plane simulation of issue 16), never something a task or a config file alone selects.
const SimulateEnv = "FACEFLEET_SIMULATE"

// ErrSimulationRefused is a simulation asked for without SimulateEnv=1.
var ErrSimulationRefused = errors.New("the synthetic frame processor is for benchmarks only: set " + SimulateEnv + "=1 to use it")

// Simulation replaces a worker's frame work with a stated synthetic cost: FrameCost per frame of sleep, and the
// downloaded segment piece's packets copied into the result, without decoding or encoding them, so that many worker
// processes fit on a few cores. Everything around it stays real: the queue, leases, heartbeats, progress records,
// downloads, uploads, commits, and the coordinator's stitch of the pieces.
type Simulation struct {
	FrameCost time.Duration
}

// NewSimulation is the simulation a worker runs with cost per frame, refused unless getenv(SimulateEnv) is "1".
func NewSimulation(cost time.Duration, getenv func(string) string) (*Simulation, error) {
	if getenv(SimulateEnv) != "1" {
		return nil, ErrSimulationRefused
	}
	if cost < 0 {
		return nil, fmt.Errorf("simulated frame cost %s is negative", cost)
	}
	return &Simulation{FrameCost: cost}, nil
}

// run spends the segment's frames' cost, reporting the frames done to progress at most every wake (the worker's
// ProgressEvery: between its progress records a worker does nothing the control plane sees, and a wake per frame,
// 25 a second in each of 64 processes on 2 cores, was scheduler work that only the simulation did: a real worker's
// frames cost computation, not sleeps), then writes in's packets into out as the container a real worker's encoder
// writes (media.CopyVideo: one open and probe of the piece, then the muxing a real worker's encoder does beyond
// encoding): the stitch then sees what it sees of real results, an MP4 whose header states its frame count, not the
// split's matroska piece it would count packet by packet.
func (s *Simulation) run(ctx context.Context, in, out string, frames int, wake time.Duration, progress func(done int)) (int, error) {
	start := time.Now()
	end := start.Add(time.Duration(frames) * s.FrameCost)
	for done := 0; done < frames; {
		// The first wake after one frame, as a real worker's first report (a progress record at once); the others a
		// wake after the last one's report, not on a fixed grid: a late timer must not bring a report within wake
		// of the last, where the worker would drop it and write fewer progress records than a real one.
		next := wake
		if done == 0 {
			next = s.FrameCost
		}
		if d := min(next, time.Until(end)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return 0, ctx.Err()
			case <-t.C:
			}
		}
		done = frames
		if now := time.Now(); now.Before(end) {
			done = min(frames-1, int(now.Sub(start)/s.FrameCost))
		}
		progress(done)
	}
	n, err := media.CopyVideo(ctx, in, out)
	if err != nil {
		return 0, fmt.Errorf("simulation: %w", err)
	}
	if n != frames {
		return 0, fmt.Errorf("simulation: %s holds %d frames, its task says %d: %w", in, n, frames, media.ErrFrameCount)
	}
	return frames, nil
}

// SimulatedEngine is the Engine of a simulating worker: it loads no models, and a worker with a Simulation never
// asks it for a processor.
type SimulatedEngine struct{}

// ForJob refuses: a simulating worker never runs the pipeline.
func (SimulatedEngine) ForJob(string, string, job.FaceOptions) (pipeline.Processor, error) {
	return nil, errors.New("simulated engine: no frame processor")
}

// Close does nothing.
func (SimulatedEngine) Close() error { return nil }
