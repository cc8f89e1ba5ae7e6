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

// A linking store passes the same conformance suite as a copying one.
func TestLocalLinkConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Blob {
		b, err := store.NewLocal(store.LocalConfig{Dir: filepath.Join(t.TempDir(), "blobs"), Link: true})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// With Link, PutFile and GetFile share the file (through a symlink too) instead of copying it, and nothing the store
// does later (a Put over the key, a Delete) changes the file it linked.
func TestLocalLinks(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name          string
		link, symlink bool
	}{
		{"copy", false, false},
		{"link", true, false},
		{"link through a symlink", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b, err := store.NewLocal(store.LocalConfig{Dir: filepath.Join(dir, "blobs"), Link: tc.link})
			if err != nil {
				t.Fatal(err)
			}
			src := filepath.Join(dir, "target.mp4")
			if err := os.WriteFile(src, []byte("user's"), 0o600); err != nil {
				t.Fatal(err)
			}
			put := src
			if tc.symlink {
				put = filepath.Join(dir, "alias.mp4")
				if err := os.Symlink("target.mp4", put); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.PutFile(ctx, "jobs/j1/segments/00000.mkv", put); err != nil {
				t.Fatal(err)
			}
			stored := filepath.Join(b.Dir(), "jobs", "j1", "segments", "00000.mkv")
			got := filepath.Join(dir, "work", "segment.mkv")
			if err := b.GetFile(ctx, "jobs/j1/segments/00000.mkv", got); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{stored, got} {
				if same(t, src, p) != tc.link {
					t.Errorf("%s shares the user's file: %v, want %v", p, !tc.link, tc.link)
				}
				if b, err := os.ReadFile(p); err != nil || string(b) != "user's" {
					t.Errorf("%s holds %q, %v", p, b, err)
				}
			}
			if err := b.Put(ctx, "jobs/j1/segments/00000.mkv", strings.NewReader("new"), 3); err != nil {
				t.Fatal(err)
			}
			if err := b.DeletePrefix(ctx, "jobs/j1/"); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(src); err != nil || string(b) != "user's" {
				t.Fatalf("the user's file after a Put over its key and a delete: %q, %v", b, err)
			}
			if leftovers, _ := filepath.Glob(filepath.Join(dir, "work", ".facefleet-tmp-*")); len(leftovers) != 0 {
				t.Fatalf("temporary links left: %v", leftovers)
			}
		})
	}
}

func same(t *testing.T, a, b string) bool {
	t.Helper()
	sa, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	return os.SameFile(sa, sb)
}
