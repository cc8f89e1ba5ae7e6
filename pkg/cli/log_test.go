package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/queue"
)

func TestParseLevel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want zapcore.Level
		bad  bool
	}{
		{"debug", zapcore.DebugLevel, false},
		{"info", zapcore.InfoLevel, false},
		{"INFO", zapcore.InfoLevel, false},
		{" warn ", zapcore.WarnLevel, false},
		{"warning", zapcore.WarnLevel, false},
		{"error", zapcore.ErrorLevel, false},
		{"", 0, true},
		{"fatal", 0, true}, // nothing logs it: a typo for error, refused rather than silencing errors
		{"verbose", 0, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseLevel(tc.in)
			switch {
			case tc.bad && (err == nil || !errors.Is(err, errLogFlag) || !strings.Contains(err.Error(), "--log-level")):
				t.Errorf("got %v, %v: want an error naming --log-level", got, err)
			case !tc.bad && (err != nil || got != tc.want):
				t.Errorf("got %v, %v: want %v", got, err, tc.want)
			}
		})
	}
}

func TestChooseFormat(t *testing.T) {
	for _, tc := range []struct {
		in       string
		terminal bool
		want     string
		bad      bool
	}{
		{"auto", true, formatConsole, false},
		{"auto", false, formatJSON, false}, // a pod's log, a file, a pipe
		{"", false, formatJSON, false},
		{"console", false, formatConsole, false},
		{"JSON", true, formatJSON, false},
		{"text", true, "", true},
	} {
		t.Run(tc.in+map[bool]string{true: " on a terminal", false: " off a terminal"}[tc.terminal], func(t *testing.T) {
			got, err := chooseFormat(tc.in, tc.terminal)
			switch {
			case tc.bad && (err == nil || !errors.Is(err, errLogFlag) || !strings.Contains(err.Error(), "--log-format")):
				t.Errorf("got %q, %v: want an error naming --log-format", got, err)
			case !tc.bad && (err != nil || got != tc.want):
				t.Errorf("got %q, %v: want %q", got, err, tc.want)
			}
		})
	}
}

var iso8601 = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`)

// The flags as a daemon and `run` parse them: the lowest level logged, and the format written to a file (not a
// terminal: JSON unless console is asked for).
func TestLogFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		def     string
		args    []string
		lowest  zapcore.Level
		console bool
	}{
		{"daemon default", "info", nil, zapcore.InfoLevel, false},
		{"run default: nothing", "", nil, zapcore.InvalidLevel, false},
		{"run asked for warnings", "", []string{"--log-level", "warn"}, zapcore.WarnLevel, false},
		{"-v is debug", "info", []string{"-v"}, zapcore.DebugLevel, false},
		{"-v on run", "", []string{"--verbose"}, zapcore.DebugLevel, false},
		{"-v wins over a level", "info", []string{"-v", "--log-level", "error"}, zapcore.DebugLevel, false},
		{"error only", "info", []string{"--log-level", "error"}, zapcore.ErrorLevel, false},
		{"console forced", "info", []string{"--log-format", "console"}, zapcore.InfoLevel, true},
		{"json forced", "info", []string{"--log-format", "json"}, zapcore.InfoLevel, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lf logFlags
			fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
			lf.register(fs, tc.def)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			out, err := os.Create(filepath.Join(t.TempDir(), "log"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			log, err := lf.logger(out)
			if err != nil {
				t.Fatal(err)
			}
			for l := zapcore.DebugLevel; l <= zapcore.ErrorLevel; l++ {
				if got := log.Core().Enabled(l); got != (l >= tc.lowest) {
					t.Errorf("level %v enabled %v, want lowest %v", l, got, tc.lowest)
				}
			}
			if tc.lowest == zapcore.InvalidLevel { // nothing at all
				return
			}
			log.Error("boom", zapcore.Field{Key: "k", Type: zapcore.StringType, String: "v"})
			b, _ := os.ReadFile(out.Name())
			var rec map[string]any
			isJSON := json.Unmarshal(bytes.TrimSpace(b), &rec) == nil
			switch {
			case tc.console && (isJSON || !strings.Contains(string(b), "ERROR\tboom")):
				t.Errorf("want a console line, got %q", b)
			case !tc.console && (!isJSON || rec["level"] != "error" || rec["msg"] != "boom" || rec["k"] != "v"):
				t.Errorf("want a JSON line at level error, got %q", b)
			}
			// ISO8601 times, not epoch floats, in either format.
			if !iso8601.Match(b) {
				t.Errorf("no ISO8601 time in %q", b)
			}
		})
	}
	t.Run("bad values refused", func(t *testing.T) {
		for _, lf := range []logFlags{{level: "loud", format: formatAuto}, {level: "info", format: "xml"}} {
			if _, err := lf.logger(&bytes.Buffer{}); !errors.Is(err, errLogFlag) {
				t.Errorf("%+v: %v", lf, err)
			}
		}
	})
}

// A daemon started without -v writes its warnings: `coordinator serve` (no flag but the cluster's) loses its NATS
// server and says so on stderr, as a JSON line at level warn. Before, it wrote nothing without -v.
func TestDaemonLogsWithoutVerbose(t *testing.T) {
	srv, err := queue.StartEmbedded(queue.EmbeddedConfig{Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr testenv.SyncBuffer
	none := filepath.Join(t.TempDir(), "none.yaml") // no user's config leaks in
	if err := os.WriteFile(none, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	root := Coordinator()
	root.SetArgs([]string{"serve", "--nats", srv.URL(), "--store-dir", t.TempDir(), "--work-dir", t.TempDir(),
		"--config", none})
	root.SetOut(&stderr)
	root.SetErr(&stderr)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	waitFor := func(what string, cond func(string) bool) {
		t.Helper()
		for !cond(stderr.String()) {
			select {
			case err := <-done:
				t.Fatalf("serve ended before %s: %v\n%s", what, err, stderr.String())
			case <-ctx.Done():
				t.Fatalf("no %s:\n%s", what, stderr.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	waitFor("start line", func(s string) bool { return strings.Contains(s, "serving") })
	srv.Shutdown()
	var warn map[string]any
	waitFor("warning", func(s string) bool {
		for _, line := range strings.Split(s, "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["level"] == "warn" && rec["msg"] == "nats disconnected" {
				warn = rec
				return true
			}
		}
		return false
	})
	if ts, _ := warn["ts"].(string); !iso8601.MatchString(ts) {
		t.Errorf("warning without an ISO8601 time: %v", warn)
	}
	cancel()
	<-done
}
