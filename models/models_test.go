package models

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
)

func TestManifestParses(t *testing.T) {
	m := Manifest()
	if len(m) < 2 {
		t.Fatalf("manifest has %d entries", len(m))
	}
	defaults := 0
	for _, e := range m {
		if len(e.SHA256) != 64 || e.Bytes <= 0 || e.File == "" || e.License == "" {
			t.Errorf("incomplete entry %+v", e)
		}
		if e.Default {
			defaults++
		}
	}
	if defaults == 0 {
		t.Error("no default model")
	}
}

func TestFetchFromMirrorAndVerify(t *testing.T) {
	mirror := filepath.Join(testenv.SharedDir(t), "models")
	dir := t.TempDir()
	e, err := Lookup("yunet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(dir, "yunet"); !errors.Is(err, ErrMissing) {
		t.Fatalf("Resolve before fetch = %v, want ErrMissing", err)
	}
	if err := FetchFromMirror(mirror, dir, e); err != nil {
		t.Fatal(err)
	}
	p, err := Resolve(dir, "yunet")
	if err != nil || p != e.Path(dir) {
		t.Fatalf("Resolve = %q, %v", p, err)
	}
	// A corrupted file is refused, and a mirror holding a wrong file is refused too.
	if err := os.WriteFile(p, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Verify(dir, e); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify corrupted = %v, want ErrMismatch", err)
	}
	if err := FetchFromMirror(dir, t.TempDir(), e); !errors.Is(err, ErrMismatch) {
		t.Fatalf("fetch from a bad mirror = %v, want ErrMismatch", err)
	}
	if _, err := Lookup("nope"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Lookup unknown = %v", err)
	}
}
