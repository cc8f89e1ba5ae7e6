package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// testFlags is one flag of each type the daemons use.
func testFlags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("nats", "nats://default", "")
	fs.Int("slots", 1, "")
	fs.BoolP("verbose", "v", false, "")
	fs.Duration("timeout", time.Second, "")
	fs.Float64("max-memory", 0.5, "")
	fs.StringSlice("frame-processor", []string{"face_swapper"}, "")
	fs.String("s3-secret-key", "", "")
	fs.String("config", "", "")
	return fs
}

func writeFile(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEnvName(t *testing.T) {
	if got := EnvName("s3-access-key"); got != "FACEFLEET_S3_ACCESS_KEY" {
		t.Fatalf("EnvName = %q", got)
	}
}

func TestPrecedence(t *testing.T) {
	type layer struct{ arg, env, file string } // "" = not set at that layer
	for _, tc := range []struct {
		flag string
		layer
		want, src string
	}{
		{"nats", layer{}, "nats://default", FromDefault},
		{"nats", layer{file: "nats://file"}, "nats://file", FromFile},
		{"nats", layer{env: "nats://env", file: "nats://file"}, "nats://env", FromEnv},
		{"nats", layer{arg: "nats://arg", env: "nats://env", file: "nats://file"}, "nats://arg", FromFlag},
		{"slots", layer{}, "1", FromDefault},
		{"slots", layer{file: "2"}, "2", FromFile},
		{"slots", layer{env: "3", file: "2"}, "3", FromEnv},
		{"slots", layer{arg: "4", env: "3", file: "2"}, "4", FromFlag},
		{"verbose", layer{file: "true"}, "true", FromFile},
		{"verbose", layer{env: "false", file: "true"}, "false", FromEnv},
		{"verbose", layer{arg: "true", env: "false", file: "false"}, "true", FromFlag},
		{"timeout", layer{}, "1s", FromDefault},
		{"timeout", layer{file: "90s"}, "1m30s", FromFile},
		{"timeout", layer{env: "2m", file: "90s"}, "2m0s", FromEnv},
		{"timeout", layer{arg: "5s", env: "2m", file: "90s"}, "5s", FromFlag},
		{"max-memory", layer{file: "1.5"}, "1.5", FromFile},
		{"max-memory", layer{env: "2.25", file: "1.5"}, "2.25", FromEnv},
		{"max-memory", layer{arg: "3", env: "2.25", file: "1.5"}, "3", FromFlag},
		{"frame-processor", layer{file: "face_swapper,face_enhancer"}, "[face_swapper,face_enhancer]", FromFile},
		{"frame-processor", layer{env: "face_enhancer", file: "face_swapper"}, "[face_enhancer]", FromEnv},
		// An empty variable is unset, so the file still counts.
		{"slots", layer{env: "", file: "2"}, "2", FromFile},
	} {
		t.Run(tc.flag+"/"+tc.src, func(t *testing.T) {
			fs := testFlags()
			var args []string
			if tc.arg != "" {
				args = append(args, "--"+tc.flag+"="+tc.arg)
			}
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			t.Setenv(EnvName(tc.flag), tc.env)
			path := filepath.Join(t.TempDir(), "absent.yaml")
			if tc.file != "" {
				path = writeFile(t, tc.flag+": "+tc.file+"\n", 0o600)
			}
			src, err := Apply(fs, path, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := fs.Lookup(tc.flag).Value.String(); got != tc.want {
				t.Errorf("value = %q, want %q", got, tc.want)
			}
			if src[tc.flag] != tc.src {
				t.Errorf("source = %q, want %q", src[tc.flag], tc.src)
			}
			if src["slots"] == "" || src["nats"] == "" {
				t.Errorf("sources miss flags: %v", src)
			}
		})
	}
}

func TestWholeFile(t *testing.T) {
	path := writeFile(t, `# written by make cluster
nats: nats://127.0.0.1:4222
slots: 2
verbose: yes-no-maybe-not # overridden by the flag, so never parsed
timeout: 1m
max-memory: 0.75
frame-processor:
  - face_swapper
  - "odd,name"
s3-bucket: facefleet # a flag of other commands
`, 0o600)
	fs := testFlags()
	if err := fs.Parse([]string{"-v"}); err != nil {
		t.Fatal(err)
	}
	src, err := Apply(fs, path, true, WithKnown(map[string]bool{"s3-bucket": true}))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := fs.GetStringSlice("frame-processor")
	if !reflect.DeepEqual(got, []string{"face_swapper", "odd,name"}) {
		t.Errorf("list = %q", got)
	}
	if n, _ := fs.GetInt("slots"); n != 2 || src["slots"] != FromFile || src["verbose"] != FromFlag {
		t.Errorf("slots = %d, sources %v", n, src)
	}
	if !fs.Lookup("slots").Changed {
		t.Error("a flag set from the file must count as Changed, for required flags")
	}
	if _, ok := src["s3-bucket"]; ok {
		t.Error("a key of another command was reported as a source of this one")
	}
}

func TestBadValueNamesSource(t *testing.T) {
	t.Run("env", func(t *testing.T) {
		t.Setenv("FACEFLEET_SLOTS", "x")
		_, err := Apply(testFlags(), "", false)
		if err == nil || !strings.HasPrefix(err.Error(), `FACEFLEET_SLOTS="x": invalid argument "x" for "--slots" flag`) {
			t.Fatalf("err = %v", err)
		}
	})
	for _, tc := range []struct{ body, want string }{
		{"nats: a\nslots: x\n", `config.yaml:2: slots: invalid argument "x" for "--slots" flag`},
		{"timeout: soon\n", `config.yaml:1: timeout: invalid argument "soon" for "--timeout" flag`},
		{"verbose: maybe\n", `config.yaml:1: verbose: invalid argument "maybe" for "-v, --verbose" flag`},
		{"slots: [1, 2]\n", `config.yaml:1: slots: a list, but the flag takes one int`},
		{"slots: {a: 1}\n", `config.yaml:1: slots: want a value or a list of values`},
		{"slots: 1\nslots: 2\n", `config.yaml:2: slots: repeated (first at line 1)`},
		{"- slots\n", `config.yaml:1: want a mapping`},
		{"slots: [\n", `config.yaml: yaml: line `},
		{"config: other.yaml\n", `config.yaml:1: config: cannot be set in a config file`},
	} {
		path := writeFile(t, tc.body, 0o600)
		_, err := Apply(testFlags(), path, true)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.body, err, tc.want)
		}
	}
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	if _, err := Apply(testFlags(), path, false); err != nil {
		t.Fatalf("missing default file: %v", err)
	}
	if _, err := Apply(testFlags(), path, true); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("missing explicit file: err = %v, want one naming %s", err, path)
	}
	for _, body := range []string{"", "# only a comment\n", "~\n"} {
		if _, err := Apply(testFlags(), writeFile(t, body, 0o600), true); err != nil {
			t.Errorf("%q: %v", body, err)
		}
	}
}

func TestUnknownKey(t *testing.T) {
	path := writeFile(t, "nats: nats://x\ns3-bucket: b\nslot: 2\n", 0o600)
	known := map[string]bool{"nats": true, "s3-bucket": true}
	_, err := Apply(testFlags(), path, true, WithKnown(known))
	if err == nil || !strings.Contains(err.Error(), `config.yaml:3: unknown key "slot"`) {
		t.Fatalf("err = %v", err)
	}
	// Without a list of known keys there is no telling a typo from another command's flag.
	if _, err := Apply(testFlags(), path, true); err != nil {
		t.Fatal(err)
	}
}

func TestSecretPermissionWarning(t *testing.T) {
	for _, tc := range []struct {
		body string
		mode os.FileMode
		warn bool
	}{
		{"s3-secret-key: k\n", 0o644, true},
		{"s3-secret-key: k\n", 0o640, true},
		{"nats-password: k\n", 0o604, true},
		{"s3-secret-key: k\n", 0o600, false},
		{"nats: nats://x\n", 0o644, false},
	} {
		path := writeFile(t, tc.body, 0o600)
		if err := os.Chmod(path, tc.mode); err != nil { // WriteFile's mode is cut by the umask
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := Apply(testFlags(), path, true, WithWarnings(&buf)); err != nil {
			t.Fatal(err)
		}
		key := strings.TrimSuffix(strings.SplitN(tc.body, ":", 2)[0], ":")
		got := buf.String()
		if tc.warn && (!strings.Contains(got, path) || !strings.Contains(got, key) || strings.Count(got, "\n") != 1) {
			t.Errorf("%q mode %o: warning %q, want one line naming %s and %s", tc.body, tc.mode, got, path, key)
		}
		if !tc.warn && got != "" {
			t.Errorf("%q mode %o: unexpected warning %q", tc.body, tc.mode, got)
		}
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	t.Setenv(EnvConfig, "")
	t.Setenv("XDG_CONFIG_HOME", "")
	if got := DefaultPath(); got != "/home/u/.config/facefleet/config.yaml" {
		t.Errorf("home: %q", got)
	}
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	if got := DefaultPath(); got != "/xdg/facefleet/config.yaml" {
		t.Errorf("xdg: %q", got)
	}
	fs := testFlags()
	if p, explicit := Locate(fs, "config"); p != "/xdg/facefleet/config.yaml" || explicit {
		t.Errorf("Locate default = %q, %v", p, explicit)
	}
	t.Setenv(EnvConfig, "/etc/ff.yaml")
	if got := DefaultPath(); got != "/etc/ff.yaml" {
		t.Errorf("env: %q", got)
	}
	if p, explicit := Locate(fs, "config"); p != "/etc/ff.yaml" || !explicit {
		t.Errorf("Locate env = %q, %v", p, explicit)
	}
	if err := fs.Parse([]string{"--config", "/arg.yaml"}); err != nil {
		t.Fatal(err)
	}
	if p, explicit := Locate(fs, "config"); p != "/arg.yaml" || !explicit {
		t.Errorf("Locate flag = %q, %v", p, explicit)
	}
}

// TestCobra is the intended wiring: one PersistentPreRunE on the root, a required flag filled from the file.
func TestCobra(t *testing.T) {
	t.Setenv(EnvConfig, "")
	var storeDir string
	worker := &cobra.Command{Use: "worker", RunE: func(*cobra.Command, []string) error { return nil }}
	worker.Flags().StringVar(&storeDir, "store-dir", "", "")
	_ = worker.MarkFlagRequired("store-dir")
	serve := &cobra.Command{Use: "serve", RunE: func(*cobra.Command, []string) error { return nil }}
	serve.Flags().Int("port", 0, "")
	root := &cobra.Command{Use: "root", SilenceUsage: true, SilenceErrors: true}
	root.PersistentFlags().String("config", "", "")
	root.AddCommand(worker, serve)
	known := FlagNames(root)
	var sources Sources
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		path, explicit := Locate(cmd.Flags(), "config")
		var err error
		sources, err = Apply(cmd.Flags(), path, explicit, WithKnown(known), WithWarnings(cmd.ErrOrStderr()))
		return err
	}
	for _, k := range []string{"config", "store-dir", "port"} {
		if !known[k] {
			t.Errorf("FlagNames misses %s: %v", k, known)
		}
	}

	path := writeFile(t, "store-dir: /srv/blobs\nport: 9\n", 0o600)
	root.SetArgs([]string{"worker", "--config", path})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if storeDir != "/srv/blobs" || sources["store-dir"] != FromFile || sources["config"] != FromFlag {
		t.Fatalf("store-dir = %q, sources %v", storeDir, sources)
	}
	var buf bytes.Buffer
	if err := sources.Write(&buf, worker.Flags()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "store-dir: /srv/blobs # file\n") {
		t.Errorf("Write:\n%s", buf.String())
	}

	root.SetArgs([]string{"worker", "--config", writeFile(t, "store-dri: /x\n", 0o600)})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), `"store-dri"`) {
		t.Fatalf("typo: err = %v", err)
	}
}

func TestWriteMasksSecrets(t *testing.T) {
	fs := testFlags()
	if err := fs.Parse([]string{"--s3-secret-key", "hunter2"}); err != nil {
		t.Fatal(err)
	}
	src, err := Apply(fs, "", false)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := src.Write(&buf, fs); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); strings.Contains(out, "hunter2") || !strings.Contains(out, "s3-secret-key: *** # flag\n") ||
		!strings.Contains(out, "slots: 1 # default\n") {
		t.Errorf("Write:\n%s", out)
	}
}
