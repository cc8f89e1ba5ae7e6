package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/store"
	"github.com/facefleet/facefleet/pkg/store/storetest"
)

// tally is what Counted reported.
type tally struct{ up, down int64 }

func (t *tally) counted(b store.Blob) store.Blob {
	return store.Counted(b, func(n int64) { t.up += n }, func(n int64) { t.down += n })
}

// TestCounted checks that the bytes of every successful transfer are reported in its direction, on the local store
// and on real S3 (versitygw), and that failed ones report nothing; Counted must stay a conforming Blob.
func TestCounted(t *testing.T) {
	srv := testenv.StartS3(t, testenv.S3Options{})
	stores := []struct {
		name string
		make func(t *testing.T) store.Blob
	}{
		{"local", func(t *testing.T) store.Blob { return newLocal(t) }},
		{"s3", func(t *testing.T) store.Blob { return newS3(t, srv) }},
	}
	for _, s := range stores {
		t.Run(s.name+"/conformance", func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Blob { return (&tally{}).counted(s.make(t)) })
		})
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			var got tally
			b := got.counted(s.make(t))
			dir := t.TempDir()
			file := filepath.Join(dir, "in")
			if err := os.WriteFile(file, bytes.Repeat([]byte("x"), 1000), 0o644); err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				name     string
				op       func() error
				up, down int64 // totals after the step
				fails    bool
			}{
				{"PutFile", func() error { return b.PutFile(ctx, "a/file", file) }, 1000, 0, false},
				{"Put sized", func() error { return b.Put(ctx, "a/sized", strings.NewReader("12345"), 5) }, 1005, 0, false},
				{"Put unsized", func() error { return b.Put(ctx, "a/unsized", strings.NewReader("123"), -1) }, 1008, 0, false},
				{"Put short", func() error { return b.Put(ctx, "a/short", strings.NewReader("12"), 5) }, 1008, 0, true},
				{"GetFile", func() error { return b.GetFile(ctx, "a/file", filepath.Join(dir, "out")) }, 1008, 1000, false},
				{"Get", func() error { return b.Get(ctx, "a/sized", &bytes.Buffer{}) }, 1008, 1005, false},
				{"GetFile missing", func() error { return b.GetFile(ctx, "a/none", filepath.Join(dir, "none")) }, 1008, 1005, true},
				{"Get missing", func() error { return b.Get(ctx, "a/none", &bytes.Buffer{}) }, 1008, 1005, true},
			}
			for _, st := range steps {
				err := st.op()
				if (err != nil) != st.fails {
					t.Fatalf("%s: err = %v, want failure %v", st.name, err, st.fails)
				}
				if st.name == "GetFile missing" && !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("%s: %v, want ErrNotFound", st.name, err)
				}
				if got.up != st.up || got.down != st.down {
					t.Fatalf("after %s: up %d down %d, want up %d down %d", st.name, got.up, got.down, st.up, st.down)
				}
			}
		})
	}
}
