package media

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSelfCheck: the check passes with this machine's libraries and leaves nothing in its directory; a directory
// it cannot write is its failure, named.
func TestSelfCheck(t *testing.T) {
	dir := t.TempDir()
	if err := SelfCheck(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the self-check left %v", left)
	}
	err := SelfCheck(context.Background(), filepath.Join(dir, "missing"))
	if !errors.Is(err, ErrSelfCheck) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("self-check in a missing directory: %v", err)
	}
}
