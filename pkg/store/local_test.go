package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/pkg/store"
	"github.com/facefleet/facefleet/pkg/store/storetest"
)

func newLocal(t *testing.T) *store.Local {
	t.Helper()
	b, err := store.NewLocal(store.LocalConfig{Dir: filepath.Join(t.TempDir(), "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLocalConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Blob { return newLocal(t) })
}

func TestLocalConfig(t *testing.T) {
	if err := (store.LocalConfig{}).Validate(); err == nil {
		t.Fatal("empty Dir validated")
	}
	if _, err := store.NewLocal(store.LocalConfig{Dir: " "}); err == nil {
		t.Fatal("NewLocal accepted a blank Dir")
	}
	dir := filepath.Join(t.TempDir(), "a", "b")
	b, err := store.NewLocal(store.LocalConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("NewLocal did not create %s: %v", dir, err)
	}
	if b.Dir() != dir {
		t.Fatalf("Dir() = %q, want %q", b.Dir(), dir)
	}
}

func TestLocalLayoutAndCleanup(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t)
	if err := b.Put(ctx, "jobs/j1/segments/0000", strings.NewReader("seg"), 3); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(b.Dir(), "jobs", "j1", "segments", "0000"))
	if err != nil || string(got) != "seg" {
		t.Fatalf("blob not at its plain path: %q, %v", got, err)
	}
	// Stray temporary files (a crash mid-Put) are never listed.
	stray := filepath.Join(b.Dir(), "jobs", "j1", "segments", ".facefleet-tmp-123")
	if err := os.WriteFile(stray, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	infos, err := b.List(ctx, "")
	if err != nil || len(infos) != 1 {
		t.Fatalf("List = %+v, %v; want only the real blob", infos, err)
	}
	if err := b.Put(ctx, "jobs/.facefleet-tmp-1/x", strings.NewReader("x"), 1); !errors.Is(err, store.ErrInvalidKey) {
		t.Fatalf("Put with a reserved element = %v, want ErrInvalidKey", err)
	}
	if err := os.Remove(stray); err != nil {
		t.Fatal(err)
	}
	// Deleting the last blob removes the directories it leaves empty, but never the root.
	if err := b.DeletePrefix(ctx, "jobs/j1/"); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(b.Dir())
	if err != nil || len(ents) != 0 {
		t.Fatalf("root holds %v after deleting everything (err %v)", ents, err)
	}
}

func TestLocalFileDirectoryClash(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t)
	if err := b.Put(ctx, "a", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	// Local cannot hold both "a" and "a/b"; it must fail cleanly rather than corrupt "a".
	if err := b.Put(ctx, "a/b", strings.NewReader("y"), 1); err == nil {
		t.Fatal("Put(a/b) over blob a succeeded")
	}
	if err := b.Put(ctx, "c/d", strings.NewReader("y"), 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "c", strings.NewReader("x"), 1); err == nil {
		t.Fatal("Put(c) over directory c succeeded")
	}
	if err := b.Delete(ctx, "c"); err != nil {
		t.Fatalf("Delete of a directory name = %v, want nil (no such blob)", err)
	}
	infos, err := b.List(ctx, "")
	if err != nil || len(infos) != 2 || infos[0].Key != "a" || infos[1].Key != "c/d" {
		t.Fatalf("List = %+v, %v", infos, err)
	}
}

func TestLocalLongElement(t *testing.T) {
	b := newLocal(t)
	key := "a/" + strings.Repeat("x", 256)
	if err := store.ValidKey(key); err != nil {
		t.Fatalf("ValidKey = %v; the 255-byte element limit is Local's, not the interface's", err)
	}
	if err := b.Put(context.Background(), key, strings.NewReader("x"), 1); !errors.Is(err, store.ErrInvalidKey) {
		t.Fatalf("Put with a 256-byte element = %v, want ErrInvalidKey", err)
	}
}
