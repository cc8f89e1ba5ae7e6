// Package cli defines the GNU-style command lines of the coordinator and the worker (roop's flag names) and wires
// them to the packages that do the work. It holds no logic beyond parsing and wiring.
package cli

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/facefleet/facefleet/pkg/memory"
	"github.com/facefleet/facefleet/pkg/standalone"
)

// OneLine flattens an error to the single line users see.
func OneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// Coordinator is the `coordinator` command tree.
func Coordinator() *cobra.Command {
	root := &cobra.Command{
		Use:           "coordinator",
		Short:         "Facefleet: face swapping for long videos, on one machine or a fleet of workers",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(runCmd(), modelsCmd())
	return root
}

func newLogger(verbose bool) *zap.Logger {
	if !verbose {
		return zap.NewNop()
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(zapcore.InfoLevel)
	cfg.OutputPaths = []string{"stderr"}
	l, err := cfg.Build()
	if err != nil {
		return zap.NewNop()
	}
	return l
}

func runCmd() *cobra.Command {
	cfg := standalone.Default()
	var verbose, quiet bool
	c := &cobra.Command{
		Use:   "run -s SOURCE -t TARGET -o OUTPUT",
		Short: "Swap the source face into a target video or image on this machine",
		Long: "Swap the largest face of SOURCE into TARGET (a video or an image) and write OUTPUT.\n" +
			"Runs the cluster's code on an embedded default: in-process NATS, a local-directory store, in-process workers.\n" +
			"For consented, lawful use only: every output is labelled as synthetic media.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Log = newLogger(verbose)
			defer cfg.Log.Sync()
			if !quiet {
				cfg.Progress, cfg.Terminal = os.Stderr, memory.IsTerminal(os.Stderr)
			}
			if cfg.MaxMemoryGB > 0 {
				// The Go heap's share of the budget; the memory governor sizes the rest (frames, models, ffmpeg).
				debug.SetMemoryLimit(int64(cfg.MaxMemoryGB * (1 << 30) / 4))
			}
			res, err := standalone.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if res.Segments == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "Output: %s (image, %.1fs)\n", res.Output, res.Wall.Seconds())
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Output: %s (%d frames, %d segments, %.1fs, peak memory %.2fGB)\n",
				res.Output, res.Frames, res.Segments, res.Wall.Seconds(), float64(res.PeakRSS)/(1<<30))
			return nil
		},
	}
	f := c.Flags()
	f.SortFlags = false
	f.StringVarP(&cfg.Source, "source", "s", "", "source face image")
	f.StringVarP(&cfg.Target, "target", "t", "", "target video or image")
	f.StringVarP(&cfg.Output, "output", "o", "", "output file, or a directory for <source>-<target>.<ext>")
	f.StringSliceVar(&cfg.FrameProcessors, "frame-processor", cfg.FrameProcessors, "frame processors: face_swapper")
	f.BoolVar(&cfg.KeepFPS, "keep-fps", false, "keep the target frame rate (always kept; accepted for roop compatibility)")
	f.BoolVar(&cfg.KeepFrames, "keep-frames", false, "keep the processed frames in <output>-frames/")
	f.BoolVar(&cfg.SkipAudio, "skip-audio", false, "leave the target's audio out")
	f.BoolVar(&cfg.ManyFaces, "many-faces", false, "swap every face, not only the largest")
	f.StringVar(&cfg.Blend, "face-blend", cfg.Blend, "classical swap blend: feather (fast) or poisson (seamlessClone, ~10x slower per face)")
	f.StringVar(&cfg.TempFrameFormat, "temp-frame-format", cfg.TempFrameFormat, "format of kept frames: png or jpg")
	f.IntVar(&cfg.TempFrameQuality, "temp-frame-quality", 0, "quality of kept frames, 0 (best) to 100")
	f.StringVar(&cfg.Encoder, "output-video-encoder", cfg.Encoder, "libx264, libx265 or libvpx-vp9")
	f.IntVar(&cfg.Quality, "output-video-quality", cfg.Quality, "0-100; crf = (q+1)*51/100")
	f.Float64Var(&cfg.MaxMemoryGB, "max-memory", 0, "memory budget in GB for the whole job (0 = no budget)")
	f.StringVar(&cfg.ExecutionProvider, "execution-provider", cfg.ExecutionProvider, "ONNX Runtime execution provider: cpu")
	f.IntVar(&cfg.ExecutionThreads, "execution-threads", runtime.NumCPU(), "ONNX Runtime threads, shared by the workers")
	f.BoolVar(&cfg.MemoryOptimization, "memory-optimization", false, "trade speed for memory (single-threaded ffmpeg)")
	f.IntVar(&cfg.BatchSize, "batch-size", cfg.BatchSize, "upper bound on frames per model call")
	f.Float64Var(&cfg.SegmentSeconds, "segment-seconds", cfg.SegmentSeconds, "segment length in seconds, snapped to keyframes")
	f.IntVar(&cfg.Workers, "workers", cfg.Workers, "in-process workers")
	f.StringVar(&cfg.ModelsDir, "models-dir", cfg.ModelsDir, "directory of model files")
	f.StringVar(&cfg.ORTLibrary, "onnxruntime-library", "", "path of libonnxruntime (default: the one make setup installs)")
	f.StringVar(&cfg.WorkDir, "work-dir", "", "parent directory for temporary work (default: system temp)")
	f.BoolVarP(&verbose, "verbose", "v", false, "log every step as JSON on stderr")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress line")
	return c
}
