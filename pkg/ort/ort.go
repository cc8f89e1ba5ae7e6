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
	initPath = abs
	return nil
}

// Initialized reports whether Init has succeeded in this process.
func Initialized() bool {
	initMu.Lock()
	defer initMu.Unlock()
	return initPath != ""
}

// ProviderCPU is the only execution provider of this build.
const ProviderCPU = "cpu"

// SessionConfig is how a model's session runs. The zero value is valid: CPU, ONNX Runtime's default thread counts.
type SessionConfig struct {
	// IntraOpThreads is the number of threads one operator may use; 0 lets ONNX Runtime choose (all cores).
	// On small machines set it explicitly: the decoder, the encoder and every session compete for the same cores.
	IntraOpThreads int
	// InterOpThreads is the number of threads running independent operators in parallel; 0 = ONNX Runtime default.
	InterOpThreads int
	// Provider is the execution provider: "" or "cpu".
	Provider string
}

// Validate reports a configuration this build cannot run.
func (c SessionConfig) Validate() error {
	if c.IntraOpThreads < 0 {
		return fmt.Errorf("ort: IntraOpThreads must be >= 0, got %d", c.IntraOpThreads)
	}
	if c.InterOpThreads < 0 {
		return fmt.Errorf("ort: InterOpThreads must be >= 0, got %d", c.InterOpThreads)
	}
	switch c.Provider {
	case "", ProviderCPU:
		return nil
	default:
		return fmt.Errorf("ort: execution provider %q is not available in this build", c.Provider)
	}
}

// NewSessionOptions builds session options for cfg. Init must have succeeded. The caller Destroys the result.
func NewSessionOptions(cfg SessionConfig) (*onnxruntime.SessionOptions, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !Initialized() {
		return nil, errors.New("ort: onnxruntime is not initialised (call ort.Init first)")
	}
	opts, err := onnxruntime.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: creating session options: %w", err)
	}
	if cfg.IntraOpThreads > 0 {
		if err := opts.SetIntraOpNumThreads(cfg.IntraOpThreads); err != nil {
			opts.Destroy()
			return nil, fmt.Errorf("ort: setting intra-op threads: %w", err)
		}
	}
	if cfg.InterOpThreads > 0 {
		if err := opts.SetInterOpNumThreads(cfg.InterOpThreads); err != nil {
			opts.Destroy()
			return nil, fmt.Errorf("ort: setting inter-op threads: %w", err)
		}
	}
	return opts, nil
}
