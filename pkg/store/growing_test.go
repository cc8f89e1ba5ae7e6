package store_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/store"
)

// multipartStore is a store that takes multipart uploads and a way to see the incomplete ones it holds.
type multipartStore struct {
	name       string
	blob       store.Blob
	incomplete func(t *testing.T) int // uploads begun and neither completed nor aborted
}

// multipartStores are both stores, real: a directory and versitygw.
func multipartStores(t *testing.T) []multipartStore {
	t.Helper()
	local := newLocal(t)
	srv := testenv.StartS3(t, testenv.S3Options{})
	s3 := newS3(t, srv)
	raw, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.Secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	return []multipartStore{
		{"local", local, func(t *testing.T) int {
			n := 0
			_ = filepath.WalkDir(local.Dir(), func(p string, d fs.DirEntry, err error) error {
				if err == nil && strings.HasPrefix(d.Name(), ".facefleet-tmp-") {
					n++
				}
				return nil
			})
			return n
		}},
		{"s3", s3, func(t *testing.T) int {
			n := 0
			for u := range raw.ListIncompleteUploads(context.Background(), s3.Bucket(), "", true) {
				if u.Err != nil {
					t.Fatal(u.Err)
				}
				n++
			}
			return n
		}},
	}
}

func randomBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestUpload: a multipart upload's parts may be put in any order and make the blob in the order of their numbers;
// a layout with a gap or a short part before the last is refused at Complete and leaves nothing; Abort and
// AbortUploads (what a restarted coordinator calls for its output's key) leave no incomplete upload behind.
func TestUpload(t *testing.T) {
	const mib = 1 << 20
	data := randomBytes(2*store.MinPartSize+3*mib, 1)
	type part struct {
		n         int
		off, size int64
	}
	full := []part{{3, 2 * store.MinPartSize, 3 * mib}, {1, 0, store.MinPartSize}, {2, store.MinPartSize, store.MinPartSize}}
	for _, st := range multipartStores(t) {
		for _, tc := range []struct {
			name   string
			parts  []part
			abort  bool
			stored bool // Complete succeeds
		}{
			{"parts out of order", full, false, true},
			{"one part", []part{{1, 0, 3 * mib}}, false, true},
			{"gap", []part{{1, 0, store.MinPartSize}, {3, 2 * store.MinPartSize, 3 * mib}}, false, false},
			{"short part before the last", []part{{1, 0, 3 * mib}, {2, 3 * mib, 3 * mib}}, false, false},
			{"aborted", full, true, false},
		} {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				ctx := testContext(t)
				key := "jobs/" + strings.ReplaceAll(tc.name, " ", "-") + "/output.mp4"
				u, err := store.NewUpload(ctx, st.blob, key)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range tc.parts {
					if err := u.PutPart(ctx, p.n, p.off, bytes.NewReader(data[p.off:p.off+p.size]), p.size); err != nil {
						t.Fatal(err)
					}
				}
				if tc.abort {
					err = u.Abort(ctx)
				} else {
					err = u.Complete(ctx)
				}
				if tc.stored != (err == nil) && !tc.abort {
					t.Fatalf("Complete: %v, want success %v", err, tc.stored)
				}
				var got bytes.Buffer
				gerr := st.blob.Get(ctx, key, &got)
				switch {
				case tc.stored && gerr != nil:
					t.Fatal(gerr)
				case tc.stored:
					last := tc.parts[0]
					for _, p := range tc.parts {
						last.off = max(last.off, p.off+p.size)
					}
					if !bytes.Equal(got.Bytes(), data[:last.off]) {
						t.Errorf("stored %d bytes, not the parts in order (%d)", got.Len(), last.off)
					}
				case !errors.Is(gerr, store.ErrNotFound):
					t.Errorf("Get after a failed upload: %v, want ErrNotFound", gerr)
				}
				if n := st.incomplete(t); n != 0 {
					t.Errorf("%d incomplete uploads left", n)
				}
			})
		}
		t.Run(st.name+"/AbortUploads", func(t *testing.T) {
			ctx := testContext(t)
			key, other := "jobs/j1/output.mp4", "jobs/j1/output.mp4.provenance.json"
			var ups []store.Upload
			for _, k := range []string{key, key, other} {
				u, err := store.NewUpload(ctx, st.blob, k)
				if err != nil {
					t.Fatal(err)
				}
				if err := u.PutPart(ctx, 1, 0, bytes.NewReader(data[:mib]), mib); err != nil {
					t.Fatal(err)
				}
				ups = append(ups, u)
			}
			if err := store.AbortUploads(ctx, st.blob, key); err != nil {
				t.Fatal(err)
			}
			if n := st.incomplete(t); n != 1 {
				t.Errorf("%d incomplete uploads left, want the other key's 1", n)
			}
			if err := ups[2].Complete(ctx); err != nil {
				t.Fatalf("the other key's upload: %v", err)
			}
		})
	}
}

// TestGrowingFile: a file uploaded while it is written, its first part changed at the end (as an MP4 muxer
// patches its mdat size), is stored as it ends, whatever the sizes at which it was seen growing; each byte goes up
// once; Abort leaves nothing stored and no incomplete upload. A first part put before the end would store the
// stale head.
func TestGrowingFile(t *testing.T) {
	const part = store.MinPartSize
	for _, st := range multipartStores(t) {
		for _, tc := range []struct {
			name  string
			steps []int // the file's size after each write
			abort bool
			part  int64 // the parts after the first; 0: MinPartSize
		}{
			{"many parts", []int{100, part + 7, 2*part + 1, 3 * part, 4*part + 5, 4*part + 9}, false, 0},
			{"ends on a part boundary", []int{part / 2, 2*part + 1, 3 * part}, false, 0},
			{"smaller than a part", []int{10, 1000}, false, 0},
			{"one part and a bit", []int{part, part + 1}, false, 0},
			{"aborted", []int{part + 7, 3*part + 1}, true, 0},
			{"parts bigger than the first", []int{part + 1, 3*part + 2, 5*part + 3}, false, 2 * part},
		} {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				ctx := testContext(t)
				var up int64
				blob := store.Counted(st.blob, func(n int64) { up += n }, func(int64) {})
				final := randomBytes(tc.steps[len(tc.steps)-1], 2)
				path := filepath.Join(t.TempDir(), "out.mp4")
				w, err := os.Create(path)
				if err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				r, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				key := "jobs/" + strings.ReplaceAll(tc.name, " ", "-") + "/output.mp4"
				size := tc.part
				if size == 0 {
					size = part
				}
				g, err := store.NewGrowingFile(ctx, blob, key, r, size)
				if err != nil {
					t.Fatal(err)
				}
				at := 0
				for _, n := range tc.steps {
					chunk := append([]byte(nil), final[at:n]...)
					if at == 0 {
						copy(chunk, "stale head") // what the muxer writes first and patches at the end
					}
					if _, err := w.Write(chunk); err != nil {
						t.Fatal(err)
					}
					at = n
					g.Grew(int64(n))
				}
				if tc.abort {
					g.Abort(ctx)
				} else {
					if _, err := w.WriteAt(final[:10], 0); err != nil {
						t.Fatal(err)
					}
					if err := g.Finish(ctx, int64(at)); err != nil {
						t.Fatal(err)
					}
					g.Abort(ctx) // after Finish: nothing to do
				}
				var got bytes.Buffer
				gerr := st.blob.Get(ctx, key, &got)
				switch {
				case tc.abort && !errors.Is(gerr, store.ErrNotFound):
					t.Errorf("Get after Abort: %v, want ErrNotFound", gerr)
				case !tc.abort && gerr != nil:
					t.Fatal(gerr)
				case !tc.abort && !bytes.Equal(got.Bytes(), final):
					t.Errorf("stored %d bytes, not the file as it ended (%d bytes; head %q)", got.Len(), len(final), got.Bytes()[:10])
				case !tc.abort && up != int64(len(final)):
					t.Errorf("%d bytes went up for a %d-byte file", up, len(final))
				}
				if n := st.incomplete(t); n != 0 {
					t.Errorf("%d incomplete uploads left", n)
				}
			})
		}
	}
}

func TestGrowingPartSize(t *testing.T) {
	for _, c := range []struct {
		expected, want int64
	}{
		{0, store.MinPartSize},
		{22_600_000, store.MinPartSize}, // the simulation's output: parts of 5 MiB, not one of 16
		{64 * store.MinPartSize, store.MinPartSize},
		{64*store.MinPartSize + 64*1024, store.MinPartSize + 1024},
		{64 * store.PartSize, store.PartSize},
		{1 << 40, store.PartSize},
		{math.MaxInt64, store.PartSize},
	} {
		if got := store.GrowingPartSize(c.expected); got != c.want {
			t.Errorf("GrowingPartSize(%d) = %d, want %d", c.expected, got, c.want)
		}
		// Under 1 GiB (above it, parts are PartSize as they always were) a file 50 times its estimate fits in MaxParts.
		if got := store.GrowingPartSize(c.expected); c.expected <= 64*store.PartSize && 50*c.expected/got >= store.MaxParts {
			t.Errorf("GrowingPartSize(%d) = %d: 50 times the estimate takes %d parts", c.expected, got, 50*c.expected/got)
		}
	}
}
