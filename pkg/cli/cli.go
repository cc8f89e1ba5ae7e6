// Package cli defines the GNU-style command lines of the coordinator and the worker (roop's flag names) and wires
// them to the packages that do the work. It holds no logic beyond parsing and wiring.
package cli

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/memory"
	"github.com/facefleet/facefleet/pkg/ort"
	"github.com/facefleet/facefleet/pkg/standalone"
)

// OneLine flattens an error to the single line users see.
func OneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// Coordinator is the `coordinator` command tree.
func Coordinator() *cobra.Command {
	root := &cobra.Command{
		Use:   "coordinator",
		Short: "Facefleet: face swapping for long videos, on one machine or a fleet of workers",
		Example: examples("coordinator run -s face.jpg -t video.mp4 -o out.mp4",
			"coordinator submit -s face.jpg -t video.mp4 -o out.mp4",
			"coordinator models list"),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(runCmd(), modelsCmd(), serveCmd(), submitCmd(), statusCmd(), watchCmd(), cancelCmd(), deleteCmd(), retryCmd(), downloadCmd(), workersCmd(), inspectCmd())
	return withHelp(withConfig(withVersion(root)), runGroups)
}

// Help of the flags `run` and `worker` share: they mean the same on both (worker.BudgetConfig).
const (
	memoryOptimizationHelp = "trade speed for memory (one thread per ffmpeg, short encoder lookahead, one pass per frame processor)"
	batchSizeHelp          = "upper bound on frames per model call"
	maxGPUMemoryUsage      = "GPU memory budget in GB on the execution device for every session of this process (cuda, tensorrt; 0 = the device's free memory at start less a margin)"
)

// runFlags binds run's flags to cfg.
func runFlags(f *pflag.FlagSet, cfg *standalone.Config, logs *logFlags, quiet *bool) {
	f.SortFlags = false
	f.StringVarP(&cfg.Source, "source", "s", "", "source face image")
	f.StringVarP(&cfg.Target, "target", "t", "", "target video or image")
	f.StringVarP(&cfg.Output, "output", "o", "", "output file, or a directory for <source>-<target>.<ext>")
	faceFlags(f, &cfg.Face)
	referenceFlags(f, cfg)
	f.StringVar(&cfg.Detector, "face-detector-model", cfg.Detector, "yunet, yunet_2023mar, blazeface_front, blazeface_back, det_10g, or a YuNet/SCRFD/BlazeFace file")
	f.IntVar(&cfg.DetectorSize, "face-detector-size", 0, "detector input size, a multiple of 32 (0 = the detector's default)")
	f.Float32Var(&cfg.DetectorScore, "face-detector-score", 0, "minimum detection score (0 = the detector's default)")
	f.BoolVar(&cfg.KeepFPS, "keep-fps", false, "keep the target frame rate (always kept; accepted for roop compatibility)")
	f.BoolVar(&cfg.KeepFrames, "keep-frames", false, "keep every processed frame (000001.png, ...) in a folder beside "+
		"the output named after it: "+standalone.FramesDir("out.mp4")+"/ for out.mp4") // the code's own folder
	audioFlags(f, &cfg.SkipAudio)
	f.BoolVar(&cfg.ManyFaces, "many-faces", false, "swap every face, not only the one person")
	f.StringVar(&cfg.TempFrameFormat, "temp-frame-format", cfg.TempFrameFormat, "format of kept frames: png or jpg")
	f.IntVar(&cfg.TempFrameQuality, "temp-frame-quality", 0, "quality of kept frames, 0 (best) to 100")
	f.StringVar(&cfg.Encoder, "output-video-encoder", cfg.Encoder, "libx264, libx265 or libvpx-vp9")
	f.IntVar(&cfg.Quality, "output-video-quality", cfg.Quality, "0-100; crf = (q+1)*51/100")
	f.Var(sizeGB{&cfg.MaxMemoryGB}, "max-memory", "memory budget in GB for the whole job (0 = no budget)")
	f.Var(sizeGB{&cfg.MaxGPUMemoryGB}, "max-gpu-memory", maxGPUMemoryUsage)
	sessionFlags(f, &cfg.Session, &cfg.ExecutionThreads)
	f.BoolVar(&cfg.MemoryOptimization, "memory-optimization", false, memoryOptimizationHelp)
	f.IntVar(&cfg.BatchSize, "batch-size", cfg.BatchSize, batchSizeHelp)
	f.Float64Var(&cfg.SegmentSeconds, "segment-seconds", cfg.SegmentSeconds, "segment length in seconds, snapped to keyframes (0 = one segment)")
	f.IntVar(&cfg.Workers, "workers", cfg.Workers, "in-process workers")
	f.IntVar(&cfg.Limits.MaxWidth, "max-width", cfg.Limits.MaxWidth, "widest video target accepted, in pixels (0 = no limit)")
	f.IntVar(&cfg.Limits.MaxHeight, "max-height", cfg.Limits.MaxHeight, "tallest video target accepted, in pixels (0 = no limit)")
	f.StringVar(&cfg.ModelsDir, "models-dir", cfg.ModelsDir, "directory of model files")
	f.StringVar(&cfg.ORTLibrary, "onnxruntime-library", "", "path of libonnxruntime (default: the one make setup installs)")
	f.StringVar(&cfg.WorkDir, "work-dir", "", "parent directory for temporary work (default: system temp)")
	contentFilterFlags(f, &cfg.ContentFilter)
	watermarkFlag(f, &cfg.Watermark)
	logs.register(f, "")
	f.BoolVarP(quiet, "quiet", "q", false, "no progress line")
}

// faceFlags are the face-processing choices `run` and `submit` share (roop's and FaceFusion's names).
func faceFlags(f *pflag.FlagSet, o *job.FaceOptions) {
	f.StringSliceVar(&o.Processors, processorFlag, o.Processors, "frame processors, in order, comma- or space-separated: face_swapper, face_enhancer; or none alone (no detection, frames untouched: measures the pipeline)")
	f.StringVar(&o.Swapper, "face-swapper-model", o.Swapper, "mesh (468 landmarks, model-free), classical (5 points, model-free) or inswapper_128 (your model file)")
	f.StringVar(&o.Selector, "face-selector-mode", o.Selector, "one (one person, followed through the video: the face at --reference-face-position in frame --reference-frame-number, roop's default), many (every face) or reference (every face like that person's)")
	f.Float32Var(&o.SimilarDistance, "similar-face-distance", o.SimilarDistance, "reference mode (and mode one's re-identification by embedding): faces with |n1-n2|^2 below this are the same person (roop's 0.85)")
	f.StringVar(&o.Recognizer, "face-recognizer-model", o.Recognizer, "ArcFace model for reference mode and inswapper, and to re-identify the person mode one follows where it is on this machine: a manifest name or a file")
	f.Float32Var(&o.MaskBlur, "face-mask-blur", 0, "softness of the swap mask's edge, a fraction of the face size (0 = the swapper's default: mesh 0.3, classical 0.1)")
	f.Var(padding{&o.MaskPadding}, "face-mask-padding", "cut the mask back by top,right,bottom,left percent (1, 2 or 4 values)")
	f.StringVar(&o.Blend, "face-blend", o.Blend, "model-free swap blend: feather (fast) or poisson (seamlessClone, ~10x slower per face)")
	f.StringVar(&o.Enhancer, "face-enhancer-model", o.Enhancer, "gfpgan_1.4, codeformer, or a GFPGAN/CodeFormer file")
	f.IntVar(&o.EnhancerBlend, "face-enhancer-blend", o.EnhancerBlend, "percent of the enhanced face blended over the original")
}

// audioFlags are --skip-audio and roop's --keep-audio, its opposite (roop's default: the target's audio is kept).
func audioFlags(f *pflag.FlagSet, skip *bool) {
	f.BoolVar(skip, "skip-audio", false, "leave the target's audio out")
	f.Bool("keep-audio", true, "keep the target's audio (roop's flag; the opposite of --skip-audio)")
}

// audioChoice settles --keep-audio against --skip-audio once the flags are read: --keep-audio=false is --skip-audio,
// and the two given together must agree.
func audioChoice(f *pflag.FlagSet, skip *bool) error {
	if !f.Changed("keep-audio") {
		return nil
	}
	keep, err := f.GetBool("keep-audio")
	if err != nil {
		return err
	}
	if f.Changed("skip-audio") && *skip == keep {
		return fmt.Errorf("--keep-audio=%t and --skip-audio=%t contradict: give one of them", keep, *skip)
	}
	*skip = !keep
	return nil
}

// referenceFlags pick the person of --face-selector-mode one and reference (`run` and `submit`), as roop's do.
func referenceFlags(f *pflag.FlagSet, cfg *standalone.Config) {
	f.IntVar(&cfg.ReferencePosition, "reference-face-position", 0, "the person to swap (modes one and reference): their face's position, counted left to right")
	f.IntVar(&cfg.ReferenceFrame, "reference-frame-number", 0, "the person to swap (modes one and reference): the target frame they are found in")
}

// sessionFlags are the ONNX Runtime execution choices `run` and `worker` share.
func sessionFlags(f *pflag.FlagSet, s *ort.SessionConfig, threads *int) {
	f.StringVar(&s.Provider, "execution-provider", s.Provider, "ONNX Runtime execution provider: "+strings.Join(ort.Providers(), ", "))
	f.IntVar(&s.DeviceID, "execution-device-id", 0, "GPU device id (cuda, tensorrt)")
	f.Var(gigabytes{&s.GPUMemLimit}, "execution-gpu-mem-limit", "GPU memory limit of ONNX Runtime's arena in GB (cuda; 0 = none)")
	f.StringVar(&s.ArenaExtendStrategy, "execution-arena-extend-strategy", "", "cuda arena growth: kNextPowerOfTwo or kSameAsRequested")
	f.StringVar(&s.CuDNNConvAlgoSearch, "execution-cudnn-conv-algo-search", "", "cuDNN algorithm search: EXHAUSTIVE, HEURISTIC or DEFAULT")
	f.IntVar(threads, "execution-threads", runtime.NumCPU(), "ONNX Runtime intra-op threads, shared by the in-process workers or slots (at least 1 each; 0 = ONNX Runtime's default in each: all cores); the Face Mesh always runs on 1 on the CPU")
}

func runCmd() *cobra.Command {
	cfg := standalone.Default()
	var (
		logs  logFlags
		quiet bool
	)
	c := &cobra.Command{
		Use:   "run -s SOURCE -t TARGET -o OUTPUT",
		Short: "Swap the source face into a target video or image on this machine",
		Long: "Swap the face of SOURCE onto one person of TARGET (a video or an image; by default the leftmost face of its\n" +
			"first frame, followed through the video; every face with --many-faces) and write OUTPUT.\n" +
			"Runs the cluster's code on an embedded default: in-process NATS, a local-directory store, in-process workers.\n" +
			"For consented, lawful use only: every output is labelled as synthetic media.",
		Example: examples("coordinator run -s face.jpg -t video.mp4 -o out.mp4",
			"coordinator run -s face.jpg -t video.mp4 -o out.mp4 --frame-processor face_swapper face_enhancer --max-memory 6"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := audioChoice(cmd.Flags(), &cfg.SkipAudio); err != nil {
				return err
			}
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg.Log = log
			defer cfg.Log.Sync()
			if !quiet {
				cfg.Progress, cfg.Terminal = os.Stderr, memory.IsTerminal(os.Stderr)
			}
			res, err := standalone.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if res.Warning != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), res.Warning) // even with -q: the output is not what was asked for
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
	runFlags(c.Flags(), &cfg, &logs, &quiet)
	groupFlags(c.Flags(), runGroups)
	return c
}
