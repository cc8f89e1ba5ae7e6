package media

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSelfCheck: a directory the check cannot write is its failure, named, and is tried again; then the check
// passes with this machine's libraries and leaves nothing in its directory; after that, the process's libraries are
// known good and later calls answer at once, writing nothing.
func TestSelfCheck(t *testing.T) {
	selfChecked.Store(false)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	for range 2 {
		err := SelfCheck(context.Background(), missing)
		if !errors.Is(err, ErrSelfCheck) || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("self-check in a missing directory: %v", err)
		}
	}
	if err := SelfCheck(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the self-check left %v", left)
	}
	if err := SelfCheck(context.Background(), missing); err != nil {
		t.Errorf("a second check after one passed: %v, want nil without a directory", err)
	}
}
