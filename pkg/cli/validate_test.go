package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/facefleet/facefleet/pkg/config"
	"github.com/facefleet/facefleet/pkg/queue"
)

// noConfigFile keeps a test's commands away from the user's own config file and FACEFLEET_* variables.
func noConfigFile(t *testing.T) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, config.EnvPrefix) {
			t.Setenv(k, "")
		}
	}
}

// floatFlags lists every command of both binaries with each of its flags that holds a number with a fraction.
func floatFlags(t *testing.T) (out []struct {
	cmd  *cobra.Command
	flag string
}) {
	t.Helper()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			switch f.Value.Type() {
			case "float32", "float64", "GB":
				out = append(out, struct {
					cmd  *cobra.Command
					flag string
				}{c, f.Name})
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(Coordinator())
	walk(Worker())
	if len(out) < 10 {
		t.Fatalf("found only %d float flags", len(out))
	}
	return out
}

// NaN and infinities pass strconv.ParseFloat and every comparison with a limit: each float flag of each command
// must refuse them wherever they come from (the command line, FACEFLEET_*, the config file).
func TestFloatFlagsRefuseNonFinite(t *testing.T) {
	noConfigFile(t)
	for _, ff := range floatFlags(t) {
		for _, v := range []string{"NaN", "nan", "Inf", "-Inf", "+infinity"} {
			for _, from := range []string{config.FromFlag, config.FromEnv, config.FromFile} {
				name := ff.cmd.CommandPath() + " --" + ff.flag + " " + v + " from " + from
				t.Run(name, func(t *testing.T) {
					fs := ff.cmd.Flags()
					var err error
					switch from {
					case config.FromFlag:
						err = fs.Set(ff.flag, v)
					case config.FromEnv:
						t.Setenv(config.EnvName(ff.flag), v)
						_, err = config.Apply(fs, "", false)
					case config.FromFile:
						p := filepath.Join(t.TempDir(), "config.yaml")
						if err := os.WriteFile(p, []byte(ff.flag+": "+v+"\n"), 0o600); err != nil {
							t.Fatal(err)
						}
						_, err = config.Apply(fs, p, true)
					}
					if err == nil {
						t.Fatalf("accepted: the flag now holds %s", fs.Lookup(ff.flag).Value)
					}
					if !strings.Contains(err.Error(), "finite") && !strings.Contains(err.Error(), "want a size") {
						t.Fatalf("error %q does not say what is wanted", err)
					}
				})
			}
		}
	}
}

// sharedDir is the shared test media's parent (FACEFLEET_SHARED, as the Makefile exports it).
func sharedDir() string {
	if d := os.Getenv("FACEFLEET_SHARED"); d != "" {
		return d
	}
	return "../../../shared"
}

// embeddedCluster starts a real nats-server and a blob store directory; it returns the flags that reach them.
func embeddedCluster(t *testing.T) (flags []string, storeDir string) {
	t.Helper()
	srv, err := queue.StartEmbedded(queue.EmbeddedConfig{Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	storeDir = t.TempDir()
	return []string{"--nats", srv.URL(), "--store-dir", storeDir}, storeDir
}

// execute runs a command tree in process as main does, bounded by a deadline so that a value that should have been
// refused cannot leave a daemon running; it returns the command's error.
func execute(t *testing.T, root *cobra.Command, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	root.SetArgs(args)
	root.SetOut(&strings.Builder{})
	root.SetErr(&strings.Builder{})
	return root.ExecuteContext(ctx)
}

// files lists the regular files under dir.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// Out-of-range numbers are refused before anything starts: one line naming the flag, a non-zero exit (an error),
// nothing uploaded, no job queued, no daemon started.
func TestBadNumbersRefused(t *testing.T) {
	shared := sharedDir()
	noConfigFile(t)
	face := filepath.Join(shared, "assets", "faces", "astronaut_eileen_collins.png")
	video := filepath.Join(shared, "assets", "videos", "pd_astronaut_zoompan_4s.mp4")
	if _, err := os.Stat(video); err != nil {
		t.Skipf("test media: %v", err)
	}
	submit := []string{"submit", "-s", face, "-t", video}
	for _, tc := range []struct {
		name   string
		worker bool
		args   []string
		want   string
	}{
		{"worker no slots", true, []string{"--slots", "0"}, "--slots 0"},
		{"worker negative slots", true, []string{"--slots", "-3"}, "--slots -3"},
		{"worker negative budget", true, []string{"--max-memory", "-1"}, "max-memory"},
		{"worker absurd budget", true, []string{"--max-memory", "1e12"}, "max-memory"},
		{"worker negative threads", true, []string{"--execution-threads", "-2"}, "--execution-threads -2"},
		{"worker no batch", true, []string{"--batch-size", "0"}, "--batch-size 0"},
		{"worker negative grace", true, []string{"--grace", "-1s"}, "--grace"},
		{"run negative threads", false, []string{"run", "-s", face, "-t", video, "-o", filepath.Join(t.TempDir(), "o.mp4"), "--execution-threads", "-2"}, "--execution-threads -2"},
		{"run absurd budget", false, []string{"run", "-s", face, "-t", video, "-o", filepath.Join(t.TempDir(), "o.mp4"), "--max-memory", "1e12"}, "max-memory"},
		{"submit quality 200", false, append(submit, "--output-video-quality", "200"), "--output-video-quality 200"},
		{"submit bogus encoder", false, append(submit, "--output-video-encoder", "bogus"), "--output-video-encoder"},
		{"submit negative segments", false, append(submit, "--segment-seconds", "-1"), "--segment-seconds"},
		{"submit negative distance", false, append(submit, "--similar-face-distance", "-1"), "similar"},
		{"submit negative blur", false, append(submit, "--face-mask-blur", "-0.5"), "blur"},
		{"submit negative input size", false, append(submit, "--max-input-size", "-1"), "max-input-size"},
		{"submit enhancer blend", false, append(submit, "--face-enhancer-blend", "101"), "blend"},
		{"submit missing model file", false, append(submit, "--face-swapper-model", "/nonexistent/inswapper.onnx"), "/nonexistent/inswapper.onnx"},
		{"submit unknown model name", false, append(submit, "--frame-processor", "face_enhancer", "--face-enhancer-model", "gfpgan_9"), "gfpgan_9"},
		{"run reference position with many faces", false, []string{"run", "-s", face, "-t", video, "-o", filepath.Join(t.TempDir(), "o.mp4"), "--many-faces", "--reference-face-position", "1"}, "--reference-face-position and --reference-frame-number pick one person"},
		{"submit reference frame with mode many", false, append(submit, "--face-selector-mode", "many", "--reference-frame-number", "3"), "--reference-face-position and --reference-frame-number pick one person"},
		{"submit reference position past the faces", false, append(submit, "--reference-face-position", "5", "--models-dir", filepath.Join(shared, "models")), "--reference-face-position 5: the reference frame has 1 faces"},
		{"serve no jobs", false, []string{"serve", "--max-jobs", "0"}, "--max-jobs 0"},
		{"serve no segment length", false, []string{"serve", "--segment-seconds", "0"}, "--segment-seconds 0"},
		{"serve negative width", false, []string{"serve", "--max-width", "-1"}, "--max-width -1"},
		{"serve negative retention", false, []string{"serve", "--keep-ended", "-1h"}, "--keep-ended"},
		{"serve no park delay", false, []string{"serve", "--park-after", "0s"}, "--park-after 0s"},
		{"serve no heartbeat", false, []string{"serve", "--heartbeat", "0s"}, "--heartbeat 0s"},
		{"worker negative heartbeat", true, []string{"--heartbeat", "-1s"}, "--heartbeat -1s"},
		{"worker GPU budget on the CPU", true, []string{"--max-gpu-memory", "8"}, "--max-gpu-memory 8: applies to the cuda and tensorrt execution providers, not cpu"},
		{"worker negative GPU budget", true, []string{"--max-gpu-memory", "-1"}, "max-gpu-memory"},
		{"run GPU budget on the CPU", false, []string{"run", "-s", face, "-t", video, "-o", filepath.Join(t.TempDir(), "o.mp4"), "--max-gpu-memory", "0.5"}, "--max-gpu-memory 0.5: applies to the cuda and tensorrt execution providers, not cpu"},
		{"run absurd GPU budget", false, []string{"run", "-s", face, "-t", video, "-o", filepath.Join(t.TempDir(), "o.mp4"), "--execution-provider", "cuda", "--max-gpu-memory", "1e12"}, "max-gpu-memory"},
		{"submit no heartbeat", false, append(submit, "--heartbeat", "0s"), "--heartbeat 0s"},
		{"worker no replicas", true, []string{"--nats-replicas", "0"}, "--nats-replicas 0: want 1 to 5"},
		{"serve too many replicas", false, []string{"serve", "--nats-replicas", "7"}, "--nats-replicas 7: want 1 to 5"},
		{"status negative replicas", false, []string{"status", "--nats-replicas", "-1"}, "--nats-replicas -1: want 1 to 5"},
		{"worker replicas on a single server", true, []string{"--nats-replicas", "3"}, "--nats-replicas 3: the NATS server is not clustered"},
		{"serve replicas on a single server", false, []string{"serve", "--nats-replicas", "3"}, "--nats-replicas 3: the NATS server is not clustered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, store := embeddedCluster(t)
			var err error
			if tc.worker {
				err = execute(t, Worker(), append(append(cl, "--work-dir", t.TempDir()), tc.args...)...)
			} else if tc.args[0] == "run" {
				err = execute(t, Coordinator(), tc.args...)
			} else {
				err = execute(t, Coordinator(), append(tc.args, cl...)...)
			}
			if err == nil {
				t.Fatal("accepted")
			}
			msg := OneLine(err)
			if !strings.Contains(msg, tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line naming %q", err, tc.want)
			}
			if up := files(t, store); len(up) > 0 {
				t.Fatalf("refused, but stored %v", up)
			}
		})
	}
}

// TestWorkerDrainRefused: `worker drain` asks only a worker on this machine, and says what is missing in one line.
func TestWorkerDrainRefused(t *testing.T) {
	noConfigFile(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"without an address", nil, "--http-addr is required"},
		{"of another machine", []string{"--http-addr", "10.0.0.1:8080"}, "--http-addr 10.0.0.1:8080: drain asks only a worker on this machine"},
		{"of a host name", []string{"--http-addr", "worker-0.example:8080"}, "drain asks only a worker on this machine"},
		{"negative timeout", []string{"--http-addr", ":8080", "--timeout", "-1s"}, "--timeout -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := execute(t, Worker(), append([]string{"drain"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v: want one line naming %q", err, tc.want)
			}
		})
	}
}
