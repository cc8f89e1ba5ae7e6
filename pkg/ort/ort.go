// Package ort owns the process-wide ONNX Runtime environment: where the shared library is, loading it once, and the
// session options every model in Facefleet is created with. It knows nothing about particular models and never runs
// one; model code (pkg/processor) builds its sessions from NewSessionOptions.
package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	onnxruntime "github.com/yalue/onnxruntime_go"
)

// LibraryVersion is the ONNX Runtime release Facefleet is built and tested against.
const LibraryVersion = "1.30.0"

// telemetryEnv turns ONNX Runtime's telemetry off when "1".
const telemetryEnv = "ORT_DISABLE_TELEMETRY"

// init turns ONNX Runtime's telemetry off unless the user set telemetryEnv: the 1.30 library queues events for
// Microsoft (session creations, the OS, a device id) in ~/.cache/Microsoft and leaves a /tmp/mat-debug-<pid>.log in
// every process unless the variable is set before it loads, and a face-swapping tool keeps what it runs on to
// itself. Set here, before main, because setenv racing a C thread's getenv (libav's, in another goroutine's call)
// is undefined.
func init() {
	if _, set := os.LookupEnv(telemetryEnv); !set {
		_ = os.Setenv(telemetryEnv, "1")
	}
}

// ErrLibraryMissing is returned (wrapped) by Init when the ONNX Runtime shared library is not at the given path.
var ErrLibraryMissing = errors.New("onnxruntime library not found")

// DefaultLibraryPath is $FACEFLEET_ORT_LIB if set, else
// ($FACEFLEET_CACHE or ~/.cache/facefleet)/onnxruntime-1.30.0/libonnxruntime.so.1, where `make setup` installs it.
func DefaultLibraryPath() string {
	if p := os.Getenv("FACEFLEET_ORT_LIB"); p != "" {
		return p
	}
	cache := os.Getenv("FACEFLEET_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		cache = filepath.Join(home, ".cache", "facefleet")
	}
	return filepath.Join(cache, "onnxruntime-"+LibraryVersion, "libonnxruntime.so.1")
}

var (
	initMu   sync.Mutex
	initPath string // absolute path of the library loaded by a successful Init; "" before
)

// Init loads the ONNX Runtime shared library at libPath (made absolute) and creates the process-wide environment.
// It runs once per process: a later call with the same path is a no-op, a call with a different path is an error
// (a process cannot hold two ONNX Runtime libraries). A failed Init may be retried.
func Init(libPath string) error {
	if libPath == "" {
		return errors.New("ort: empty onnxruntime library path")
	}
	abs, err := filepath.Abs(libPath)
	if err != nil {
		return fmt.Errorf("ort: library path %q: %w", libPath, err)
	}
	initMu.Lock()
	defer initMu.Unlock()
	if initPath != "" {
		if initPath == abs {
			return nil
		}
		return fmt.Errorf("ort: onnxruntime already initialised from %s, cannot switch to %s", initPath, abs)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("%w at %s (run make setup, or set FACEFLEET_ORT_LIB): %v", ErrLibraryMissing, abs, err)
	}
	if st.IsDir() {
		return fmt.Errorf("%w at %s: it is a directory (run make setup, or set FACEFLEET_ORT_LIB)", ErrLibraryMissing, abs)
	}
	if onnxruntime.IsInitialized() {
		// Someone bypassed this package; we cannot tell which library they loaded.
		return errors.New("ort: onnxruntime environment was initialised outside pkg/ort")
	}
	onnxruntime.SetSharedLibraryPath(abs)
	if err := onnxruntime.InitializeEnvironment(onnxruntime.WithLogLevelError()); err != nil {
		return fmt.Errorf("ort: initialising onnxruntime from %s: %w", abs, err)
	}
	if os.Getenv(telemetryEnv) == "1" {
		// The environment's own switch too, for events the variable does not cover.
		if err := onnxruntime.DisableTelemetry(); err != nil {
			return fmt.Errorf("ort: %w", err)
		}
	}
	initPath = abs
	return nil
}

// Initialized reports whether Init has succeeded in this process.
func Initialized() bool {
	initMu.Lock()
	defer initMu.Unlock()
	return initPath != ""
}

// Version is the loaded library's own version ("1.30.0"), "" before Init.
func Version() string {
	if !Initialized() {
		return ""
	}
	return onnxruntime.GetVersion()
}
