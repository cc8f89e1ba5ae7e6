package cli

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/facefleet/facefleet/models"
	"github.com/facefleet/facefleet/pkg/engine"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/ort"
	"github.com/facefleet/facefleet/pkg/queue"
	"github.com/facefleet/facefleet/pkg/store"
	"github.com/facefleet/facefleet/pkg/worker"
)

// Worker is the `worker` command: a daemon against a NATS server and a blob store the coordinator shares.
func Worker() *cobra.Command {
	var (
		natsURL, storeDir, modelsDir, ortLib, workDir, id string
		detector                                          string
		session                                           = ort.SessionConfig{Provider: ort.ProviderCPU}
		slots, threads                                    int
		verbose                                           bool
	)
	c := &cobra.Command{
		Use:           "worker --nats URL --store-dir DIR",
		Short:         "Process Facefleet segment tasks from NATS JetStream",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(verbose)
			defer log.Sync()
			ctx := cmd.Context()
			conn, err := queue.Connect(ctx, queue.ConnConfig{URL: natsURL, Name: "facefleet-worker"})
			if err != nil {
				return err
			}
			defer conn.Close()
			tasks, err := conn.Tasks(ctx, queue.TasksConfig{Stream: "FACEFLEET_TASKS", Subjects: []string{job.SubjectAll}, Consumer: "workers"})
			if err != nil {
				return err
			}
			state, err := conn.State(ctx, queue.StateConfig{Bucket: "facefleet"})
			if err != nil {
				return err
			}
			blob, err := store.NewLocal(store.LocalConfig{Dir: storeDir})
			if err != nil {
				return err
			}
			w, err := worker.New(worker.Config{ID: id, WorkDir: workDir, Slots: slots},
				worker.Deps{Tasks: tasks, State: state, Blob: blob, Log: log, NewEngine: func() (worker.Engine, error) {
					s := session
					s.IntraOpThreads = max(1, threads/slots)
					return engine.New(engine.Config{ORTLibrary: ortLib, ModelsDir: modelsDir, Detector: detector, Session: s})
				}})
			if err != nil {
				return err
			}
			return w.Run(ctx)
		},
	}
	f := c.Flags()
	f.StringVar(&natsURL, "nats", "nats://127.0.0.1:4222", "NATS server URL")
	f.StringVar(&storeDir, "store-dir", "", "blob store directory shared with the coordinator")
	f.StringVar(&modelsDir, "models-dir", models.DefaultDir(), "directory of model files")
	f.StringVar(&ortLib, "onnxruntime-library", "", "path of libonnxruntime (default: the one make setup installs)")
	f.StringVar(&workDir, "work-dir", filepath.Join(os.TempDir(), "facefleet-worker"), "scratch directory")
	f.StringVar(&id, "id", "", "worker id (default host-pid)")
	f.IntVar(&slots, "slots", 1, "segments processed at once")
	f.StringVar(&detector, "face-detector-model", engine.DefaultDetector, "face detector: a manifest name or a file")
	f.StringVar(&session.Provider, "execution-provider", session.Provider, "ONNX Runtime execution provider: "+strings.Join(ort.Providers(), ", "))
	f.IntVar(&session.DeviceID, "execution-device-id", 0, "GPU device id")
	f.Var(gigabytes{&session.GPUMemLimit}, "execution-gpu-mem-limit", "GPU memory limit of ONNX Runtime's arena in GB (0 = none)")
	f.IntVar(&threads, "execution-threads", runtime.NumCPU(), "ONNX Runtime threads, shared by the slots")
	f.BoolVarP(&verbose, "verbose", "v", false, "log as JSON on stderr")
	_ = c.MarkFlagRequired("store-dir")
	return c
}
