package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/facefleet/facefleet/models"
	"github.com/facefleet/facefleet/pkg/client"
	"github.com/facefleet/facefleet/pkg/cluster"
	"github.com/facefleet/facefleet/pkg/config"
	"github.com/facefleet/facefleet/pkg/contentfilter"
	"github.com/facefleet/facefleet/pkg/coordinator"
	"github.com/facefleet/facefleet/pkg/dashboard"
	"github.com/facefleet/facefleet/pkg/engine"
	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/fault"
	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/health"
	"github.com/facefleet/facefleet/pkg/imagefile"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/memory"
	"github.com/facefleet/facefleet/pkg/metrics"
	"github.com/facefleet/facefleet/pkg/ort"
	"github.com/facefleet/facefleet/pkg/queue"
	"github.com/facefleet/facefleet/pkg/standalone"
)

// clusterFlags adds the flags that say how to reach the cluster: NATS (URL, one way to authenticate, TLS) and the
// blob store (S3 with keys from flags, env or files, TLS; or a shared directory).
func clusterFlags(f *pflag.FlagSet, c *cluster.Config) {
	n := &c.NATS
	f.StringVar(&n.URL, "nats", "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated (tls:// for TLS)")
	f.StringVar(&n.User, "nats-user", "", "NATS user (with --nats-password)")
	f.StringVar(&n.Password, "nats-password", "", "NATS password")
	f.StringVar(&n.Token, "nats-token", "", "NATS token")
	f.StringVar(&n.CredsFile, "nats-creds", "", "NATS credentials file (JWT + NKey)")
	f.StringVar(&n.NKeyFile, "nats-nkey", "", "NATS NKey seed file")
	f.StringVar(&n.TLSCAFile, "nats-ca", "", "CA certificate (PEM) the NATS server's certificate must chain to")
	f.StringVar(&n.TLSCertFile, "nats-cert", "", "client certificate (PEM) for NATS TLS")
	f.StringVar(&n.TLSKeyFile, "nats-key", "", "client key (PEM) for NATS TLS")
	s := &c.S3
	f.StringVar(&s.Endpoint, "s3-endpoint", "", "S3 endpoint, host:port or http(s)://host:port")
	f.StringVar(&s.Bucket, "s3-bucket", "facefleet", "S3 bucket")
	f.StringVar(&s.Region, "s3-region", "", "S3 region")
	f.StringVar(&s.AccessKey, "s3-access-key", "", "S3 access key")
	f.StringVar(&s.SecretKey, "s3-secret-key", "", "S3 secret key")
	f.StringVar(&s.AccessKeyFile, "s3-access-key-file", "", "file holding the S3 access key")
	f.StringVar(&s.SecretKeyFile, "s3-secret-key-file", "", "file holding the S3 secret key")
	f.BoolVar(&s.TLS, "s3-tls", false, "use https for S3")
	f.StringVar(&s.CAFile, "s3-ca", "", "CA certificate (PEM) the S3 server's certificate must chain to")
	f.BoolVar(&s.CreateBucket, "s3-create-bucket", false, "create the bucket if it does not exist")
	f.StringVar(&c.StoreDir, "store-dir", "", "a blob store directory every process shares, instead of S3 (one machine)")
	f.IntVar(&c.Replicas, "nats-replicas", 1, "servers of a NATS cluster that keep the task stream and KV buckets (1-5): created so, raised on start when they have fewer, never lowered")
	f.DurationVar(&c.Heartbeat, "heartbeat", fleet.DefaultInterval, "fleet heartbeat interval; a process is presumed dead after 3 missed (every process must use the same)")
}

// withConfig adds --config to a command tree's root and fills every flag not given on the command line from
// FACEFLEET_* environment variables, then the config file (see pkg/config).
func withConfig(root *cobra.Command) *cobra.Command {
	root.PersistentFlags().String("config", "", "config file (default $FACEFLEET_CONFIG or ~/.config/facefleet/config.yaml)")
	finiteFloats(root)
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		path, explicit := config.Locate(cmd.Flags(), "config")
		_, err := config.Apply(cmd.Flags(), path, explicit, config.WithKnown(knownFlags()), config.WithWarnings(os.Stderr))
		return err
	}
	return root
}

// knownFlags are the keys a shared config file may hold: every flag of both binaries.
func knownFlags() map[string]bool {
	return config.FlagNames(Coordinator(), Worker())
}

// signalContext ends on SIGINT or SIGTERM: daemons drain, clients stop waiting.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

func openCluster(ctx context.Context, cfg cluster.Config, name string, log *zap.Logger) (*cluster.Cluster, error) {
	// cluster.Config takes 0 for the default; from the command line a zero or negative interval is a mistake.
	if cfg.Heartbeat <= 0 {
		return nil, fmt.Errorf("--heartbeat %s: want > 0", cfg.Heartbeat)
	}
	if cfg.Replicas < 1 { // 0 is 1 to cluster.Config; from the command line it is a mistake
		return nil, fmt.Errorf("--nats-replicas %d: want 1 to %d", cfg.Replicas, queue.MaxReplicas)
	}
	cfg.NATS.Name = name
	return cluster.Open(ctx, cfg, log)
}

// checkServe refuses daemon settings that cannot work, with the flag's name: a value is never changed silently.
func checkServe(sc coordinator.ServiceConfig, lim coordinator.Limits) error {
	switch {
	case sc.SegmentSeconds <= 0:
		return fmt.Errorf("--segment-seconds %g: want > 0", sc.SegmentSeconds)
	case sc.MaxJobs < 1:
		return fmt.Errorf("--max-jobs %d: want at least 1", sc.MaxJobs)
	case sc.KeepEnded < 0:
		return fmt.Errorf("--keep-ended %s: want >= 0", sc.KeepEnded)
	case sc.ParkAfter <= 0:
		return fmt.Errorf("--park-after %s: want > 0", sc.ParkAfter)
	}
	return lim.Validate()
}

func serveCmd() *cobra.Command {
	var (
		cc       cluster.Config
		sc       coordinator.ServiceConfig
		lim      = coordinator.DefaultLimits()
		inputGB  float64
		logs     logFlags
		httpAddr string
		apiToken string
		filter   = contentfilter.Default()
	)
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the coordinator daemon: split queued jobs into segment tasks, follow the workers, stitch outputs",
		Example: examples("coordinator serve --nats nats://127.0.0.1:4222 --s3-endpoint 127.0.0.1:7070 --http-addr 127.0.0.1:8080",
			"coordinator serve --config cluster.yaml --keep-ended 168h --max-jobs 2"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkServe(sc, lim); err != nil {
				return err
			}
			screen, err := serveFilter(filter, cmd.ErrOrStderr()) // before connecting: a bad classifier stops here
			if err != nil {
				return err
			}
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync()
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			cl, err := openCluster(ctx, cc, "facefleet-coordinator", log)
			if err != nil {
				return err
			}
			defer cl.Close()
			beat := health.NewBeat(0, nil)
			probes, stopProbes, err := startProbes(httpAddr, cl, beat)
			if err != nil {
				return err
			}
			defer stopProbes()
			reg := metricsRegistry(httpAddr)
			m := metrics.NewCoordinator(reg)
			serveMetrics(probes, reg, cl, m.Store())
			if err := serveDashboard(ctx, probes, cl, apiToken); err != nil {
				return err
			}
			lim.MaxInputBytes = int64(inputGB * (1 << 30))
			// The record's interval is the bucket's: left at the 5 s default under --heartbeat 1s (a 3 s TTL), the
			// coordinator vanished from the fleet 40% of the time ("no coordinator is running" while it ran).
			sc.Limits, sc.Heartbeat = lim, cc.Heartbeat
			deps := coordinator.ServiceDeps{Tasks: cl.Tasks, State: cl.State, Fleet: cl.Fleet, Blob: cl.Blob, Log: log,
				Tick: beat.Tick, Metrics: m}
			if screen != nil { // a nil *Filter in the interface would not be nil
				deps.Screen = screen
			}
			svc, err := coordinator.NewService(sc, deps)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "coordinator %s serving (NATS %s)\n", svc.ID(), cc.NATS.URL)
			return svc.Run(ctx)
		},
	}
	f := c.Flags()
	clusterFlags(f, &cc)
	f.StringVar(&sc.ID, "id", "", "coordinator id, stable across restarts (default coordinator-<host>)")
	f.StringVar(&sc.WorkDir, "work-dir", filepath.Join(os.TempDir(), "facefleet-coordinator"), "scratch directory for splits and stitches")
	f.Float64Var(&sc.SegmentSeconds, "segment-seconds", cluster.DefaultSegmentSeconds, "default segment length in seconds, snapped to keyframes (> 0)")
	f.IntVar(&sc.MaxJobs, "max-jobs", 4, "jobs split, followed and stitched at once")
	f.DurationVar(&sc.ParkAfter, "park-after", coordinator.DefaultParkAfter, "park a job no live worker fits after this long: its tasks leave the queue (an autoscaler is not held at its maximum) until a worker that may fit joins, or coordinator retry JOB")
	f.DurationVar(&sc.KeepEnded, "keep-ended", 0, "delete ended jobs (their files, the uploaded face among them) this long after they end, e.g. 168h (0 = keep until coordinator delete)")
	inputGB = float64(lim.MaxInputBytes) / (1 << 30)
	f.Var(sizeGB{&inputGB}, "max-input-size", "largest target accepted, in GB (0 = no limit)")
	f.IntVar(&lim.MaxWidth, "max-width", lim.MaxWidth, "widest target accepted, in pixels (0 = no limit)")
	f.IntVar(&lim.MaxHeight, "max-height", lim.MaxHeight, "tallest target accepted, in pixels (0 = no limit)")
	f.DurationVar(&lim.MaxDuration, "max-duration", lim.MaxDuration, "longest target accepted (0 = no limit)")
	f.StringVar(&filter.ModelsDir, "models-dir", filter.ModelsDir, "directory of model files (the content classifier)")
	f.StringVar(&filter.ORTLibrary, "onnxruntime-library", "", "path of libonnxruntime, for the content classifier (default: the one make setup installs)")
	contentFilterFlags(f, &filter)
	httpAddrFlag(f, &httpAddr)
	f.StringVar(&apiToken, "api-token", "", "bearer token the status API's writes (cancel, delete) need on --http-addr; empty = writes refused (use FACEFLEET_API_TOKEN: a flag shows in ps)")
	logs.register(f, "info")
	return c
}

// serveDashboard puts the status API and the dashboard on the coordinator's HTTP server (nothing without
// --http-addr).
func serveDashboard(ctx context.Context, probes *health.Server, cl *cluster.Cluster, token string) error {
	d, err := dashboard.New(dashboard.Config{Token: token}, dashboard.Deps{Client: newClient(cl), State: cl.State,
		Fleet: cl.Fleet, Tasks: cl.Tasks, Done: ctx})
	if err != nil {
		return err
	}
	d.Register(probes.Handle)
	return nil
}

// submitOptions are the processing choices a cluster job carries; the rest (detector, providers, memory) belong to
// each worker.
type submitOptions struct {
	req          client.SubmitRequest
	manyFaces    bool
	wait         bool
	output       string
	maxInputGB   float64
	remoteModels bool
	// ref finds the reference identity for --face-selector-mode reference (its models, frame and position).
	ref standalone.Config
}

// checkOptions refuses, before anything is read or uploaded, what `run` would refuse of the options (its own
// validation, shared) and a model no worker can have.
func (o *submitOptions) checkOptions() error {
	if o.req.Source == "" || o.req.Target == "" {
		return errors.New("-s/--source and -t/--target are required")
	}
	run := o.ref
	run.Source, run.Target = o.req.Source, o.req.Target
	run.Face, run.ManyFaces = o.req.Spec.Face, o.manyFaces
	run.Encoder, run.Quality, run.SegmentSeconds = o.req.Spec.Encoder, o.req.Spec.Quality, o.req.SegmentSeconds
	if err := run.ValidateOptions(); err != nil {
		return err
	}
	o.req.Spec.Face = run.Face // --many-faces is the selector now
	return checkJobModels(&o.req.Spec.Face, o.remoteModels)
}

// checkInputs refuses, before anything is uploaded, inputs the cluster would refuse and an output that cannot be
// written or would overwrite an input; it returns the target's probe. -o implies --wait.
func (o *submitOptions) checkInputs(ctx context.Context) (*media.Info, error) {
	info, err := checkSubmitInputs(ctx, o.req.Source, o.req.Target)
	if err != nil {
		return nil, err
	}
	if o.output == "" {
		if o.wait {
			return nil, errors.New("--wait needs -o/--output")
		}
		return info, nil
	}
	o.wait = true
	o.output = standalone.ResolveOutput(o.req.Source, o.req.Target, o.output)
	if err := standalone.CheckOutput(o.output, o.req.Source, o.req.Target); err != nil {
		return nil, err
	}
	if err := standalone.CheckOutputFormat(o.output, o.req.Target, false); err != nil {
		return nil, err
	}
	o.req.OutputExt = strings.ToLower(filepath.Ext(o.output))
	return info, nil
}

// checkSubmitInputs reads the inputs here as the cluster will, so that a file it would refuse is refused now, by its
// path on this machine and before any upload (found by a worker, a bad source was named "the source image" of
// segment 0 of the target): the source must decode as a picture, the target must be a video, whose probe it
// returns. Whether the source shows a face needs the models, which are the workers'.
func checkSubmitInputs(ctx context.Context, source, target string) (*media.Info, error) {
	for _, p := range []string{source, target} {
		if err := media.CheckInput(p); err != nil {
			return nil, err
		}
	}
	m, err := imagefile.Read(source)
	if err != nil {
		return nil, err
	}
	_ = m.Close()
	info, err := media.Probe(ctx, target)
	if err != nil {
		return nil, err
	}
	if info.IsImage {
		return nil, fmt.Errorf("%s: %w", target, coordinator.ErrImageTarget)
	}
	return info, nil
}

// followAhead finds the person to follow (standalone.FollowReference) in the background from now: with this
// machine's models, it is the longest step of a submit (0.2-0.3 s here against 0.1 s for the checks and uploads),
// so it starts as soon as the options are known, beside the input checks, the cluster's connection and the
// uploads. The function it returns waits for it, or for its own ctx to end, and gives the job's face options with
// the person set. ctx ending stops it.
func (o *submitOptions) followAhead(ctx context.Context, stderr io.Writer) func(context.Context) (job.FaceOptions, error) {
	ref := o.ref
	ref.Target, ref.Face = o.req.Target, o.req.Spec.Face
	done := make(chan error, 1)
	go func() { done <- standalone.FollowReference(ctx, &ref) }()
	return func(wait context.Context) (job.FaceOptions, error) {
		var err error
		select {
		case err = <-done:
		case <-wait.Done():
			return job.FaceOptions{}, wait.Err()
		}
		switch {
		case err == nil:
			return ref.Face, nil
		case errors.Is(err, fault.ErrModel):
			// A client without the detector and landmark models can still submit, told what it costs.
			fmt.Fprintf(stderr, "%s: cannot find the person to follow on this machine (%s): each "+
				"segment will follow the largest face it meets first\n", o.req.Target, OneLine(err))
			return o.req.Spec.Face, nil
		}
		return job.FaceOptions{}, err
	}
}

// checkJobModels refuses a model the job names that the workers cannot have: a name must be the manifest's, of the
// right kind (the workers fetch it into their --models-dir); a file must exist on this machine and goes to the
// workers as an absolute path (theirs must hold the same file there), unless remote says the paths are the
// workers' own, which this machine cannot check.
func checkJobModels(opt *job.FaceOptions, remote bool) error {
	for _, m := range engine.JobModels(*opt) {
		if engine.IsModelFile(m.Name) {
			if remote {
				continue
			}
			if st, err := os.Stat(m.Name); err != nil || !st.Mode().IsRegular() {
				return fmt.Errorf("%s: model file not found on this machine (a file only the workers have: add --remote-models)", m.Name)
			}
			continue
		}
		e, err := models.Lookup(m.Name)
		if err != nil {
			return err
		}
		if e.Kind != m.Kind {
			return fmt.Errorf("model %s is of kind %s: want a %s", m.Name, e.Kind, m.Kind)
		}
	}
	if !remote {
		for _, p := range []*string{&opt.Swapper, &opt.Enhancer, &opt.Recognizer} {
			if engine.IsModelFile(*p) {
				if abs, err := filepath.Abs(*p); err == nil {
					*p = abs
				}
			}
		}
	}
	return nil
}

func submitCmd() *cobra.Command {
	var (
		cc cluster.Config
		o  = submitOptions{req: client.SubmitRequest{Spec: defaultSpec()}, ref: standalone.Default()}
	)
	c := &cobra.Command{
		Use:   "submit -s SOURCE -t TARGET [-o OUTPUT]",
		Short: "Submit a job to the cluster; with -o follow it and download the output",
		Long: "Upload SOURCE (a face image) and TARGET (a video) and queue the job. It prints the job id.\n" +
			"With -o (or --wait) it follows the job to its end and downloads the output.\n" +
			"For consented, lawful use only: every output is labelled as synthetic media.",
		Example: examples("coordinator submit -s face.jpg -t video.mp4",
			"coordinator submit -s face.jpg -t video.mp4 -o out.mp4 --frame-processor face_swapper face_enhancer"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := audioChoice(cmd.Flags(), &o.req.SkipAudio); err != nil {
				return err
			}
			// The person to follow is found with this machine's models beside the uploads; the library they run
			// on (0.17 s to load here) loads during the checks before them. A failure is the engine's to report:
			// its own Init tries again.
			go func() { _ = ort.Init(cmp.Or(o.ref.ORTLibrary, ort.DefaultLibraryPath())) }()
			if err := o.checkOptions(); err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			var followed func(context.Context) (job.FaceOptions, error)
			if standalone.Follows(o.req.Spec.Face) {
				// Every segment's worker follows the same person, found here once.
				followed = o.followAhead(ctx, cmd.ErrOrStderr())
			}
			info, err := o.checkInputs(ctx)
			if err != nil {
				return err
			}
			if o.req.Spec.Face.Selector == face.SelectReference {
				// The identity is found here, in the target this client uploads, with this machine's models.
				o.ref.Target, o.ref.Face = o.req.Target, o.req.Spec.Face
				ref, model, err := standalone.ReferenceIdentity(ctx, o.ref)
				if err != nil {
					return err
				}
				o.req.Spec.Face.Reference, o.req.Spec.Face.ReferenceModel = ref, model
			}
			if followed != nil {
				// While the inputs upload.
				o.req.Complete = func(ctx context.Context, spec *job.Spec) error {
					f, err := followed(ctx)
					if err == nil {
						spec.Face = f
					}
					return err
				}
			}
			if err := engine.CheckOptions(o.req.Spec.Face); err != nil {
				return errors.New(strings.TrimPrefix(err.Error(), engine.ErrBadInput.Error()+": "))
			}
			o.req.MaxInputBytes = int64(o.maxInputGB * (1 << 30))
			// An odd size the codec cannot code is padded, never silently (the coordinator logs it too).
			cfg := media.EncoderConfig{Width: info.Width, Height: info.Height, Codec: o.req.Spec.Encoder}
			if note := cfg.SizeNote(); note != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", o.req.Target, note)
			}
			cl, err := openCluster(ctx, cc, "facefleet-client", nil)
			if err != nil {
				return err
			}
			defer cl.Close()
			cli := newClient(cl)
			id, err := cli.Submit(ctx, o.req)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), id)
			if !o.wait {
				hintQueued(ctx, cmd.ErrOrStderr(), cli, id)
				return nil
			}
			return waitAndDownload(ctx, cmd.ErrOrStderr(), cli, id, o.output)
		},
	}
	f := c.Flags()
	clusterFlags(f, &cc)
	f.StringVarP(&o.req.Source, "source", "s", "", "source face image")
	f.StringVarP(&o.req.Target, "target", "t", "", "target video")
	f.StringVarP(&o.output, "output", "o", "", "follow the job and write its output here (implies --wait); a directory means <source>-<target>.<ext> in it")
	f.BoolVar(&o.wait, "wait", false, "follow the job to its end and download the output (needs -o, which implies it)")
	audioFlags(f, &o.req.SkipAudio)
	f.Float64Var(&o.req.SegmentSeconds, "segment-seconds", 0, "segment length in seconds (0 = the coordinator's default)")
	o.maxInputGB = float64(coordinator.DefaultLimits().MaxInputBytes) / (1 << 30)
	f.Var(sizeGB{&o.maxInputGB}, "max-input-size",
		"refuse inputs larger than this many GB before uploading (0 = no limit; the coordinator's default limit)")
	f.BoolVar(&o.manyFaces, "many-faces", false, "swap every face, not only the one person")
	faceFlags(f, &o.req.Spec.Face)
	watermarkFlag(f, &o.req.Spec.Watermark)
	f.BoolVar(&o.remoteModels, "remote-models", false, "model files given by path are on the workers, not on this machine: send the paths unchecked")
	referenceFlags(f, &o.ref)
	f.StringVar(&o.ref.Detector, "face-detector-model", o.ref.Detector, "reference mode: the detector that finds the reference face here")
	f.StringVar(&o.ref.ModelsDir, "models-dir", o.ref.ModelsDir, "reference mode: this machine's model files")
	f.StringVar(&o.ref.ORTLibrary, "onnxruntime-library", "", "reference mode: path of libonnxruntime (default: the one make setup installs)")
	f.StringVar(&o.req.Spec.Encoder, "output-video-encoder", o.req.Spec.Encoder, "libx264, libx265 or libvpx-vp9")
	f.IntVar(&o.req.Spec.Quality, "output-video-quality", o.req.Spec.Quality, "0-100; crf = (q+1)*51/100")
	return c
}

// defaultSpec is a cluster job's processing with `coordinator run`'s defaults.
func defaultSpec() job.Spec {
	d := standalone.Default()
	return job.Spec{Face: d.Face, Encoder: d.Encoder, Quality: d.Quality}
}

// newClient is the client of an open cluster.
func newClient(cl *cluster.Cluster) *client.Client {
	return &client.Client{Tasks: cl.Tasks, State: cl.State, Blob: cl.Blob, Fleet: cl.Fleet}
}

// noCoordinator is the note of a queued job while no coordinator's heartbeat is alive.
const noCoordinator = "no coordinator is running (start `coordinator serve`)"

// queuedNote is noCoordinator for a queued job when no coordinator runs, else "".
func queuedNote(ctx context.Context, cli *client.Client, r job.Record) string {
	if r.State != job.Queued {
		return ""
	}
	if ok, err := cli.CoordinatorRunning(ctx); err != nil || ok {
		return ""
	}
	return noCoordinator
}

// hintQueued prints one line when job id is queued and no coordinator will take it.
func hintQueued(ctx context.Context, w io.Writer, cli *client.Client, id string) {
	if r, err := cli.Get(ctx, id); err == nil {
		if note := queuedNote(ctx, cli, r); note != "" {
			fmt.Fprintf(w, "%s queued: %s\n", id, note)
		}
	}
}

// waitAndDownload follows a job with a progress line and downloads its output.
func waitAndDownload(ctx context.Context, w io.Writer, cli *client.Client, id, out string) error {
	hintQueued(ctx, w, cli, id)
	r, err := cli.Watch(ctx, id, progressPrinter(w))
	if err != nil {
		return err
	}
	switch r.State {
	case job.Done:
	case job.Failed:
		return jobFailed(r)
	default:
		return fmt.Errorf("job %s %s", id, r.State)
	}
	if err := cli.Download(ctx, id, out); err != nil {
		return err
	}
	fmt.Fprintf(w, "Output: %s\n", out)
	if r.Warning != "" {
		fmt.Fprintln(w, r.Warning)
	}
	return nil
}

// jobFailed is a failed job's line: "job <id> failed: <why>" (the reason's own "job failed: " dropped: it said it
// twice).
func jobFailed(r job.Record) error {
	return fmt.Errorf("job %s failed: %s", r.ID, strings.TrimPrefix(r.Error, coordinator.ErrJobFailed.Error()+": "))
}

// progressPrinter shows a job's progress: one line redrawn in place on a terminal; elsewhere (logs, CI) a line when
// the state, the waiting note or the error changes, and at most one every 5 s for frames alone.
func progressPrinter(w io.Writer) func(job.Record) {
	f, ok := w.(*os.File)
	term := ok && memory.IsTerminal(f)
	var last job.Record
	var lastAt time.Time
	return func(r job.Record) {
		line := statusLine(r)
		if term {
			end := ""
			if r.State.Terminal() {
				end = "\n"
			}
			fmt.Fprintf(w, "\r\033[K%s%s", line, end)
			return
		}
		changed := r.State != last.State || r.Waiting != last.Waiting || r.Error != last.Error
		if !changed && time.Since(lastAt) < 5*time.Second {
			return
		}
		last, lastAt = r, time.Now()
		fmt.Fprintln(w, line)
	}
}

func statusLine(r job.Record) string {
	s := fmt.Sprintf("%s %-9s %5.1f%% %d/%d frames", r.ID, r.State, r.Percent(), r.FramesDone, r.TotalFrames)
	if r.Segments > 0 {
		s += fmt.Sprintf(", %d segments", r.Segments)
	}
	if r.Waiting != "" {
		s += ", waiting: " + r.Waiting
	}
	if r.Error != "" {
		s += ", error: " + r.Error
	}
	if r.Warning != "" {
		s += ", " + r.Warning
	}
	return s
}

// exampleJob is a job id in the verbs' examples (job.NewID's form).
const exampleJob = "j261207-4f2a9c81d3e6b705"

// clientCmd builds a client verb that needs an open cluster.
func clientCmd(use, short, example string, args cobra.PositionalArgs, run func(ctx context.Context, cmd *cobra.Command, cl *cluster.Cluster, cli *client.Client, args []string) error) *cobra.Command {
	var cc cluster.Config
	c := &cobra.Command{
		Use: use, Short: short, Example: example, Args: args,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			cl, err := openCluster(ctx, cc, "facefleet-client", nil)
			if err != nil {
				return err
			}
			defer cl.Close()
			return run(ctx, cmd, cl, newClient(cl), args)
		},
	}
	clusterFlags(c.Flags(), &cc)
	return c
}

func statusCmd() *cobra.Command {
	return clientCmd("status [JOB]", "Show one job, or every job",
		examples("coordinator status", "coordinator status "+exampleJob), cobra.MaximumNArgs(1),
		func(ctx context.Context, cmd *cobra.Command, _ *cluster.Cluster, cli *client.Client, args []string) error {
			if len(args) == 1 {
				r, err := cli.Get(ctx, args[0])
				if errors.Is(err, job.ErrInvalid) { // shown, so that it can be cancelled or deleted
					fmt.Fprintln(cmd.OutOrStdout(), err)
					return nil
				}
				if err != nil {
					return err
				}
				if note := queuedNote(ctx, cli, r); note != "" && r.Waiting == "" {
					r.Waiting = note
				}
				fmt.Fprintln(cmd.OutOrStdout(), statusLine(r))
				return nil
			}
			rs, err := cli.List(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tSTATE\tDONE\tFRAMES\tSEGMENTS\tTARGET\tUPDATED\tNOTE")
			for _, r := range rs {
				if r.Invalid != nil {
					fmt.Fprintf(tw, "%s\tinvalid\t-\t-\t-\t-\t-\t%v\n", r.ID, r.Invalid)
					continue
				}
				target, note := "-", r.Error
				if r.Submission != nil {
					target = r.Submission.TargetName
				}
				if note == "" {
					note = r.Waiting
				}
				if note == "" {
					note = queuedNote(ctx, cli, r.Record)
				}
				fmt.Fprintf(tw, "%s\t%s\t%.1f%%\t%d/%d\t%d\t%s\t%s\t%s\n", r.ID, r.State, r.Percent(), r.FramesDone,
					r.TotalFrames, r.Segments, target, r.Updated.Local().Format(time.DateTime), note)
			}
			return tw.Flush()
		})
}

func watchCmd() *cobra.Command {
	return clientCmd("watch JOB", "Follow a job's progress until it ends", examples("coordinator watch "+exampleJob),
		cobra.ExactArgs(1),
		func(ctx context.Context, cmd *cobra.Command, _ *cluster.Cluster, cli *client.Client, args []string) error {
			hintQueued(ctx, cmd.OutOrStdout(), cli, args[0])
			r, err := cli.Watch(ctx, args[0], progressPrinter(cmd.OutOrStdout()))
			if err != nil {
				return err
			}
			if r.State == job.Failed {
				return jobFailed(r)
			}
			return nil
		})
}

func cancelCmd() *cobra.Command {
	return clientCmd("cancel JOB", "Cancel a job: its queued tasks are removed and workers stop on it",
		examples("coordinator cancel "+exampleJob), cobra.ExactArgs(1),
		func(ctx context.Context, cmd *cobra.Command, _ *cluster.Cluster, cli *client.Client, args []string) error {
			if err := cli.Cancel(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s cancelled\n", args[0])
			return nil
		})
}

func deleteCmd() *cobra.Command {
	return clientCmd("delete JOB", "Delete an ended job: its uploaded face and target, output and records",
		examples("coordinator delete "+exampleJob), cobra.ExactArgs(1),
		func(ctx context.Context, cmd *cobra.Command, _ *cluster.Cluster, cli *client.Client, args []string) error {
			if err := cli.Delete(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s deleted\n", args[0])
			return nil
		})
}

func retryCmd() *cobra.Command {
	return clientCmd("retry JOB [SEGMENT]", "Queue an ended or parked job again: every unfinished segment, or redo one segment",
		examples("coordinator retry "+exampleJob, "coordinator retry "+exampleJob+" 3"), cobra.RangeArgs(1, 2),
		func(ctx context.Context, cmd *cobra.Command, _ *cluster.Cluster, cli *client.Client, args []string) error {
			seg := -1
			if len(args) == 2 {
				n, err := strconv.Atoi(args[1])
				if err != nil || n < 0 {
					return fmt.Errorf("segment %q: want a segment number (0, 1, ...)", args[1])
				}
				seg = n
			}
			if err := cli.Retry(ctx, args[0], seg); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s queued again\n", args[0])
			return nil
		})
}

func downloadCmd() *cobra.Command {
	var out string
	c := clientCmd("download JOB -o OUTPUT", "Download a finished job's output and its provenance record",
		examples("coordinator download "+exampleJob+" -o out.mp4"), cobra.ExactArgs(1),
		func(ctx context.Context, cmd *cobra.Command, _ *cluster.Cluster, cli *client.Client, args []string) error {
			if out == "" {
				return errors.New("-o/--output is required")
			}
			if err := standalone.CheckOutput(out); err != nil {
				return err
			}
			if err := cli.Download(ctx, args[0], out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Output: %s\n", out)
			return nil
		})
	c.Flags().StringVarP(&out, "output", "o", "", "where the output is written")
	return c
}

func workersCmd() *cobra.Command {
	return clientCmd("workers", "Show the fleet: every live worker's memory, GPUs, batch size and work",
		examples("coordinator workers", "coordinator workers --config cluster.yaml"), cobra.NoArgs,
		func(ctx context.Context, cmd *cobra.Command, cl *cluster.Cluster, _ *client.Client, _ []string) error {
			hs, bad, err := fleet.List(ctx, cl.Fleet, fleet.KindWorker)
			if err != nil {
				return err
			}
			fleet.WriteTable(cmd.OutOrStdout(), hs, time.Now())
			for _, u := range bad {
				fmt.Fprintf(cmd.ErrOrStderr(), "skipped the unreadable record %s: %v\n", u.Key, u.Err)
			}
			if pending, ack, err := cl.Tasks.Pending(ctx); err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "queue: %d segments waiting, %d in progress\n", pending, ack)
			}
			return nil
		})
}
