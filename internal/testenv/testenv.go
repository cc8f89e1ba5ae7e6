// Package testenv finds what tests need outside the repository: the shared models and media
// (../shared beside the checkout) and the ONNX Runtime library that `make setup` installs.
// Tests call these helpers instead of hard-coding paths, so a fresh clone and CI resolve them the same way.
package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot walks up from the working directory to the directory holding go.mod.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// SharedDir is ../shared beside the checkout, or $FACEFLEET_SHARED.
func SharedDir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("FACEFLEET_SHARED"); d != "" {
		return d
	}
	d := filepath.Join(RepoRoot(tb), "..", "shared")
	if _, err := os.Stat(d); err != nil {
		tb.Fatalf("shared test data not found at %s (set FACEFLEET_SHARED): %v", d, err)
	}
	return d
}

// Face returns the path of a face image in shared/assets/faces.
func Face(tb testing.TB, name string) string {
	tb.Helper()
	return mustExist(tb, filepath.Join(SharedDir(tb), "assets", "faces", name))
}

// Video returns the path of a video in shared/assets/videos.
func Video(tb testing.TB, name string) string {
	tb.Helper()
	return mustExist(tb, filepath.Join(SharedDir(tb), "assets", "videos", name))
}

// Model returns the path of a model file in shared/models.
func Model(tb testing.TB, name string) string {
	tb.Helper()
	return mustExist(tb, filepath.Join(SharedDir(tb), "models", name))
}

// ORTLib is the ONNX Runtime shared library installed by `make setup`, or $FACEFLEET_ORT_LIB.
func ORTLib(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("FACEFLEET_ORT_LIB"); p != "" {
		return mustExist(tb, p)
	}
	home, _ := os.UserHomeDir()
	cache := os.Getenv("FACEFLEET_CACHE")
	if cache == "" {
		cache = filepath.Join(home, ".cache", "facefleet")
	}
	return mustExist(tb, filepath.Join(cache, "onnxruntime-1.30.0", "libonnxruntime.so.1"))
}

func mustExist(tb testing.TB, p string) string {
	tb.Helper()
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("test input missing (run make setup?): %v", err)
	}
	return p
}
