package ort_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/ort"
	onnxruntime "github.com/yalue/onnxruntime_go"
)

func TestDefaultLibraryPath(t *testing.T) {
	t.Setenv("FACEFLEET_ORT_LIB", "/x/lib.so")
	if got := ort.DefaultLibraryPath(); got != "/x/lib.so" {
		t.Errorf("with FACEFLEET_ORT_LIB: got %q", got)
	}
	t.Setenv("FACEFLEET_ORT_LIB", "")
	t.Setenv("FACEFLEET_CACHE", "/c")
	if got, want := ort.DefaultLibraryPath(), "/c/onnxruntime-1.30.0/libonnxruntime.so.1"; got != want {
		t.Errorf("with FACEFLEET_CACHE: got %q, want %q", got, want)
	}
	t.Setenv("FACEFLEET_CACHE", "")
	t.Setenv("HOME", "/home/u")
	if got, want := ort.DefaultLibraryPath(), "/home/u/.cache/facefleet/onnxruntime-1.30.0/libonnxruntime.so.1"; got != want {
		t.Errorf("default: got %q, want %q", got, want)
	}
}

func TestSessionConfigValidate(t *testing.T) {
	for _, c := range []ort.SessionConfig{{}, {Provider: "cpu", IntraOpThreads: 2, InterOpThreads: 1}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// TestInit runs the whole lifecycle in order because the environment is process-wide.
func TestInit(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	err := ort.Init(missing)
	if !errors.Is(err, ort.ErrLibraryMissing) || !strings.Contains(err.Error(), missing) ||
		!strings.Contains(err.Error(), "run make setup") {
		t.Fatalf("missing library: got %v", err)
	}
	if ort.Initialized() {
		t.Fatal("Initialized after a failed Init")
	}
	if _, err := ort.NewSessionOptions(ort.SessionConfig{}); err == nil {
		t.Fatal("NewSessionOptions before Init succeeded")
	}

	lib := testenv.ORTLib(t)
	if err := ort.Init(lib); err != nil {
		t.Fatal(err)
	}
	if err := ort.Init(lib); err != nil {
		t.Fatalf("second Init with the same path: %v", err)
	}
	if err := ort.Init(missing); err == nil || !strings.Contains(err.Error(), "already initialised") {
		t.Fatalf("Init with another path: got %v", err)
	}
	if v := onnxruntime.GetVersion(); !strings.HasPrefix(v, "1.30") {
		t.Errorf("onnxruntime version %q, want 1.30.x", v)
	}

	opts, err := ort.NewSessionOptions(ort.SessionConfig{IntraOpThreads: 1, InterOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := opts.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := ort.NewSessionOptions(ort.SessionConfig{Provider: "tensorrt"}); err == nil {
		t.Fatal("tensorrt options succeeded")
	}

	// The options work for a real session.
	model := testenv.Model(t, "face_detection_yunet_2026may.onnx")
	opts, err = ort.NewSessionOptions(ort.SessionConfig{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer opts.Destroy()
	in, out, err := onnxruntime.GetInputOutputInfoWithOptions(model, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 1 || len(out) != 12 {
		t.Fatalf("yunet: %d inputs, %d outputs", len(in), len(out))
	}
	for _, i := range append(in, out...) {
		t.Log(i.String())
	}
}
