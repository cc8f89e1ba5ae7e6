package ort_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/ort"
	onnxruntime "github.com/yalue/onnxruntime_go"
)

// telemetryChild, set in a child's environment, makes TestNoTelemetry's child load the library and build a
// session, then exit.
const telemetryChild = "FACEFLEET_ORT_TELEMETRY_CHILD"

// TestNoTelemetry checks that a process that loads ONNX Runtime through Init keeps nothing for Microsoft's
// telemetry: the 1.30 library otherwise queues its events (session creations, the machine's OS, a device id) in
// ~/.cache/Microsoft/DeveloperTools/.onnxruntime for an HTTPS upload, and leaves a /tmp/mat-debug-<pid>.log
// behind in every process. The child runs with its own HOME and no ORT_DISABLE_TELEMETRY of the user's.
func TestNoTelemetry(t *testing.T) {
	if os.Getenv(telemetryChild) != "" {
		if err := ort.Init(os.Getenv(telemetryChild)); err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		opts, err := ort.NewSessionOptions(ort.SessionConfig{IntraOpThreads: 1})
		if err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		defer opts.Destroy()
		if _, _, err := onnxruntime.GetInputOutputInfoWithOptions(os.Getenv(telemetryChild+"_MODEL"), opts); err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		return
	}
	home := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestNoTelemetry$")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "HOME" && k != "XDG_CACHE_HOME" && k != "ORT_DISABLE_TELEMETRY" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+home, telemetryChild+"="+testenv.ORTLib(t),
		telemetryChild+"_MODEL="+testenv.Model(t, "face_detection_yunet_2026may.onnx"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(home, ".cache", "Microsoft")); !os.IsNotExist(err) {
		t.Errorf("the library kept telemetry in %s (stat: %v)", filepath.Join(home, ".cache", "Microsoft"), err)
	}
	debugLog := filepath.Join(os.TempDir(), fmt.Sprintf("mat-debug-%d.log", cmd.Process.Pid))
	if _, err := os.Stat(debugLog); !os.IsNotExist(err) {
		_ = os.Remove(debugLog)
		t.Errorf("the library's telemetry left %s (stat: %v)", debugLog, err)
	}
}
