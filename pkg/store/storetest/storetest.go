// Package storetest is the conformance suite every store.Blob implementation must pass.
//
// An implementation's test calls Run with a constructor that returns a fresh, empty store for each subtest:
//
//	func TestLocal(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Blob {
//			b, err := store.NewLocal(store.LocalConfig{Dir: t.TempDir()})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return b
//		})
//	}
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/store"
)

// LargeSize is the size of the blob the large-blob subtest streams.
const LargeSize = 5<<20 + 123

// Run runs every conformance subtest, each against its own store from newBlob.
func Run(t *testing.T, newBlob func(t *testing.T) store.Blob) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b store.Blob)
	}{
		{"PutGet", testPutGet},
		{"PutUnknownSize", testPutUnknownSize},
		{"PutSizeMismatch", testPutSizeMismatch},
		{"Overwrite", testOverwrite},
		{"Stat", testStat},
		{"NotFound", testNotFound},
		{"List", testList},
		{"Delete", testDelete},
		{"DeletePrefix", testDeletePrefix},
		{"InvalidKeys", testInvalidKeys},
		{"OddValidKeys", testOddValidKeys},
		{"LargeBlob", testLargeBlob},
		{"PutFileGetFile", testPutFileGetFile},
		{"GetFileAtomic", testGetFileAtomic},
		{"ConcurrentOverwriteNeverPartial", testConcurrentOverwrite},
		{"CanceledContext", testCanceledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newBlob(t))
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func put(t *testing.T, b store.Blob, key string, data []byte) {
	t.Helper()
	if err := b.Put(ctx(t), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, b store.Blob, key string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Get(ctx(t), key, &buf); err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return buf.Bytes()
}

func keys(t *testing.T, b store.Blob, prefix string) []string {
	t.Helper()
	infos, err := b.List(ctx(t), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	if infos == nil {
		t.Fatalf("List(%q) returned nil, want an empty slice", prefix)
	}
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.Key
	}
	return out
}

func equalKeys(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

func randomBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func testPutGet(t *testing.T, b store.Blob) {
	data := []byte("segment bytes")
	put(t, b, "jobs/j1/segments/0000", data)
	if got := get(t, b, "jobs/j1/segments/0000"); !bytes.Equal(got, data) {
		t.Fatalf("Get = %q, want %q", got, data)
	}
	put(t, b, "empty", nil)
	if got := get(t, b, "empty"); len(got) != 0 {
		t.Fatalf("empty blob came back with %d bytes", len(got))
	}
	in, err := b.Stat(ctx(t), "empty")
	if err != nil || in.Size != 0 {
		t.Fatalf("Stat(empty) = %+v, %v", in, err)
	}
}

func testPutUnknownSize(t *testing.T, b store.Blob) {
	data := randomBytes(100_000, 1)
	// A reader with no Len or Seek: the store must stream it.
	if err := b.Put(ctx(t), "unknown", io.MultiReader(bytes.NewReader(data)), -1); err != nil {
		t.Fatalf("Put(size -1): %v", err)
	}
	if got := get(t, b, "unknown"); !bytes.Equal(got, data) {
		t.Fatalf("round trip with size -1 changed the data (%d bytes back)", len(got))
	}
}

func testPutSizeMismatch(t *testing.T, b store.Blob) {
	if err := b.Put(ctx(t), "short", strings.NewReader("abc"), 10); err == nil {
		t.Fatal("Put with a reader shorter than size succeeded")
	}
	if err := b.Put(ctx(t), "long", strings.NewReader("abcdefgh"), 3); err == nil {
		t.Fatal("Put with a reader longer than size succeeded")
	}
	equalKeys(t, "keys after failed puts", keys(t, b, ""), []string{})
	// A failed overwrite keeps the old blob.
	put(t, b, "keep", []byte("old"))
	if err := b.Put(ctx(t), "keep", io.MultiReader(strings.NewReader("new"), errReader{}), -1); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	if got := get(t, b, "keep"); string(got) != "old" {
		t.Fatalf("failed overwrite left %q, want %q", got, "old")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func testOverwrite(t *testing.T, b store.Blob) {
	put(t, b, "a/b", []byte("first version, longer"))
	put(t, b, "a/b", []byte("second"))
	if got := get(t, b, "a/b"); string(got) != "second" {
		t.Fatalf("after overwrite Get = %q", got)
	}
	in, err := b.Stat(ctx(t), "a/b")
	if err != nil || in.Size != int64(len("second")) {
		t.Fatalf("Stat after overwrite = %+v, %v", in, err)
	}
	equalKeys(t, "keys", keys(t, b, ""), []string{"a/b"})
}

func testStat(t *testing.T, b store.Blob) {
	before := time.Now().Add(-time.Minute)
	put(t, b, "x/y.mp4", make([]byte, 4321))
	in, err := b.Stat(ctx(t), "x/y.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if in.Key != "x/y.mp4" || in.Size != 4321 {
		t.Fatalf("Stat = %+v", in)
	}
	if in.ModTime.Before(before) || in.ModTime.After(time.Now().Add(time.Minute)) {
		t.Fatalf("ModTime %v is not about now", in.ModTime)
	}
	infos, err := b.List(ctx(t), "x/")
	if err != nil || len(infos) != 1 || infos[0].Size != 4321 || infos[0].Key != "x/y.mp4" || infos[0].ModTime.IsZero() {
		t.Fatalf("List = %+v, %v", infos, err)
	}
}

func testNotFound(t *testing.T, b store.Blob) {
	c := ctx(t)
	put(t, b, "dir/blob", []byte("x"))
	for _, key := range []string{"missing", "dir", "dir/missing", "dir/blob/deeper"} {
		if err := b.Get(c, key, io.Discard); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", key, err)
		}
		if _, err := b.Stat(c, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Stat(%q) = %v, want ErrNotFound", key, err)
		}
		dst := filepath.Join(t.TempDir(), "out")
		if err := b.GetFile(c, key, dst); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetFile(%q) = %v, want ErrNotFound", key, err)
		}
		if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("GetFile(%q) of a missing blob created %s", key, dst)
		}
		if err := b.Delete(c, key); err != nil {
			t.Errorf("Delete(%q) of a missing key = %v, want nil", key, err)
		}
	}
	if err := b.DeletePrefix(c, "nothing/"); err != nil {
		t.Errorf("DeletePrefix of an empty prefix range = %v", err)
	}
	equalKeys(t, "keys", keys(t, b, ""), []string{"dir/blob"})
}

func testList(t *testing.T, b store.Blob) {
	all := []string{"b", "a/2", "a/1", "a-x", "ab", "a/sub/deep", "jobs/7/segments/0001", "jobs/77/segments/0000", "jobs/7/segments/0000"}
	for i, k := range all {
		put(t, b, k, []byte{byte(i)})
	}
	cases := map[string][]string{
		"":                    {"a-x", "a/1", "a/2", "a/sub/deep", "ab", "b", "jobs/7/segments/0000", "jobs/7/segments/0001", "jobs/77/segments/0000"},
		"a":                   {"a-x", "a/1", "a/2", "a/sub/deep", "ab"},
		"a/":                  {"a/1", "a/2", "a/sub/deep"},
		"a/s":                 {"a/sub/deep"},
		"a/1":                 {"a/1"},
		"jobs/7":              {"jobs/7/segments/0000", "jobs/7/segments/0001", "jobs/77/segments/0000"},
		"jobs/7/":             {"jobs/7/segments/0000", "jobs/7/segments/0001"},
		"jobs/7/segments/000": {"jobs/7/segments/0000", "jobs/7/segments/0001"},
		"zzz":                 {},
		"zzz/":                {},
		"b/":                  {},
		"a/1/":                {},
	}
	for prefix, want := range cases {
		equalKeys(t, "List("+prefix+")", keys(t, b, prefix), want)
	}
}

func testDelete(t *testing.T, b store.Blob) {
	put(t, b, "d/1", []byte("1"))
	put(t, b, "d/2", []byte("2"))
	if err := b.Delete(ctx(t), "d/1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Get(ctx(t), "d/1", io.Discard); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	if err := b.Delete(ctx(t), "d/1"); err != nil {
		t.Fatalf("second Delete = %v", err)
	}
	equalKeys(t, "keys", keys(t, b, ""), []string{"d/2"})
	if err := b.Delete(ctx(t), "d/2"); err != nil {
		t.Fatal(err)
	}
	equalKeys(t, "keys", keys(t, b, ""), []string{})
	// The key space is reusable after everything under it is gone.
	put(t, b, "d", []byte("now a blob"))
	equalKeys(t, "keys", keys(t, b, ""), []string{"d"})
}

func testDeletePrefix(t *testing.T, b store.Blob) {
	for _, k := range []string{"jobs/a/segments/0", "jobs/a/segments/1", "jobs/a/results/0-1", "jobs/ab/segments/0", "jobs/b/segments/0", "inputs/a"} {
		put(t, b, k, []byte(k))
	}
	if err := b.DeletePrefix(ctx(t), "jobs/a/"); err != nil {
		t.Fatal(err)
	}
	equalKeys(t, "keys", keys(t, b, ""), []string{"inputs/a", "jobs/ab/segments/0", "jobs/b/segments/0"})
	if err := b.DeletePrefix(ctx(t), "jobs/"); err != nil {
		t.Fatal(err)
	}
	equalKeys(t, "keys", keys(t, b, ""), []string{"inputs/a"})
	if err := b.DeletePrefix(ctx(t), ""); !errors.Is(err, store.ErrInvalidKey) {
		t.Fatalf("DeletePrefix(\"\") = %v, want ErrInvalidKey", err)
	}
	equalKeys(t, "keys", keys(t, b, ""), []string{"inputs/a"})
}

// InvalidKeys lists keys every Blob must reject.
var InvalidKeys = []string{
	"", "/abs", "/", "../x", "..", ".", "a/../b", "a/./b", "a/..", "./a", "a//b", "a/", "a\\b", "..\\x",
	"a\x00b", "a\nb", "a\tb", "a\x7fb", "bad\xffutf8", strings.Repeat("k", store.MaxKeyLen+1),
}

func testInvalidKeys(t *testing.T, b store.Blob) {
	c := ctx(t)
	dst := filepath.Join(t.TempDir(), "out")
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, key := range InvalidKeys {
		if err := store.ValidKey(key); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("ValidKey(%q) = %v, want ErrInvalidKey", key, err)
		}
		check := func(op string, err error) {
			t.Helper()
			if !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("%s(%q) = %v, want ErrInvalidKey", op, key, err)
			}
		}
		check("Put", b.Put(c, key, strings.NewReader("x"), 1))
		check("PutFile", b.PutFile(c, key, src))
		check("Get", b.Get(c, key, io.Discard))
		check("GetFile", b.GetFile(c, key, dst))
		_, err := b.Stat(c, key)
		check("Stat", err)
		check("Delete", b.Delete(c, key))
	}
	for _, prefix := range []string{"/", "/abs", "../", "..", "a/../", "a//", "a\\", "a\x00"} {
		if _, err := b.List(c, prefix); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("List(%q) = %v, want ErrInvalidKey", prefix, err)
		}
		if err := b.DeletePrefix(c, prefix); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("DeletePrefix(%q) = %v, want ErrInvalidKey", prefix, err)
		}
	}
	equalKeys(t, "keys after invalid operations", keys(t, b, ""), []string{})
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("GetFile with an invalid key created %s", dst)
	}
	// Nothing escaped into the parent of a directory-backed store either.
	if _, err := os.Stat(filepath.Join(filepath.Dir(src), "x")); err == nil {
		t.Errorf("a write escaped the store")
	}
}

func testOddValidKeys(t *testing.T, b store.Blob) {
	odd := []string{"with space/file name.mp4", "ünïcödé/片段", "a.b/..c/d..", ".hidden/x", "-dash", "k" + strings.Repeat("/k", 100), maxLenKey()}
	if n := len(maxLenKey()); n != store.MaxKeyLen {
		t.Fatalf("maxLenKey has %d bytes", n)
	}
	for _, k := range odd {
		if err := store.ValidKey(k); err != nil {
			t.Fatalf("ValidKey(%q) = %v, want nil", k, err)
		}
		put(t, b, k, []byte(k))
		if got := get(t, b, k); string(got) != k {
			t.Fatalf("Get(%q) = %q", k, got)
		}
	}
	if n := len(keys(t, b, "")); n != len(odd) {
		t.Fatalf("List found %d keys, want %d", n, len(odd))
	}
}

// maxLenKey is a key of exactly store.MaxKeyLen bytes whose elements (100 bytes) fit any file system.
func maxLenKey() string {
	var b strings.Builder
	for b.Len() < store.MaxKeyLen {
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		n := min(100, store.MaxKeyLen-b.Len())
		b.WriteString(strings.Repeat("k", n))
	}
	return b.String()
}

func testLargeBlob(t *testing.T, b store.Blob) {
	data := randomBytes(LargeSize, 42)
	want := sha256.Sum256(data)
	// Stream through a pipe in odd-sized writes, size unknown.
	pr, pw := io.Pipe()
	go func() {
		rest := data
		for len(rest) > 0 {
			n := min(len(rest), 7919)
			if _, err := pw.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
		pw.Close()
	}()
	if err := b.Put(ctx(t), "large/unknown", pr, -1); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx(t), "large/known", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"large/unknown", "large/known"} {
		h := sha256.New()
		if err := b.Get(ctx(t), k, h); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("%s: content changed on the round trip", k)
		}
		in, err := b.Stat(ctx(t), k)
		if err != nil || in.Size != LargeSize {
			t.Fatalf("Stat(%s) = %+v, %v", k, in, err)
		}
	}
}

func testPutFileGetFile(t *testing.T, b store.Blob) {
	dir := t.TempDir()
	src := filepath.Join(dir, "in.mp4")
	data := randomBytes(300_000, 7)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.PutFile(ctx(t), "inputs/in.mp4", src); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "new", "sub", "out.mp4")
	if err := b.GetFile(ctx(t), "inputs/in.mp4", dst); err != nil {
		t.Fatalf("GetFile into missing directories: %v", err)
	}
	got, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GetFile wrote %d bytes (err %v), want the %d put", len(got), err, len(data))
	}
	if err := b.PutFile(ctx(t), "inputs/missing", filepath.Join(dir, "nope")); err == nil {
		t.Fatal("PutFile of a missing file succeeded")
	}
	if _, err := b.Stat(ctx(t), "inputs/missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("failed PutFile left a blob: %v", err)
	}
}

func testGetFileAtomic(t *testing.T, b store.Blob) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "segment.mp4")
	if err := os.WriteFile(dst, []byte("previous"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A failed GetFile leaves the old file and no temporary files.
	if err := b.GetFile(ctx(t), "missing", dst); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetFile(missing) = %v", err)
	}
	put(t, b, "big", randomBytes(LargeSize, 3))
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.GetFile(canceled, "big", dst); err == nil {
		t.Fatal("GetFile with a canceled context succeeded")
	}
	if got, _ := os.ReadFile(dst); string(got) != "previous" {
		t.Fatalf("failed GetFile changed the destination to %d bytes", len(got))
	}
	onlyFile(t, dir, "segment.mp4")

	// A successful one replaces it whole; a concurrent reader sees the old or the new file, never a mix.
	want := get(t, b, "big")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := os.ReadFile(dst)
			if err != nil || (string(got) != "previous" && !bytes.Equal(got, want)) {
				bad = errors.New("reader saw a partial file")
				return
			}
		}
	}()
	for range 3 {
		if err := b.GetFile(ctx(t), "big", dst); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if bad != nil {
		t.Fatal(bad)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, want) {
		t.Fatal("GetFile did not replace the destination")
	}
	onlyFile(t, dir, "segment.mp4")
}

func onlyFile(t *testing.T, dir, name string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != name {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %q, want only %q (temporary file left behind?)", names, name)
	}
}

func testConcurrentOverwrite(t *testing.T, b store.Blob) {
	const size = 1 << 20
	versions := [][]byte{bytes.Repeat([]byte{'a'}, size), bytes.Repeat([]byte{'b'}, size)}
	put(t, b, "hot", versions[0])
	c := ctx(t)
	done := make(chan error, 1)
	go func() {
		for i := range 20 {
			v := versions[i%2]
			if err := b.Put(c, "hot", bytes.NewReader(v), size); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for {
		var buf bytes.Buffer
		if err := b.Get(c, "hot", &buf); err != nil {
			t.Fatalf("Get during overwrite: %v", err)
		}
		got := buf.Bytes()
		if !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
			t.Fatalf("reader saw a partial or mixed blob (%d bytes)", len(got))
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
		}
	}
}

func testCanceledContext(t *testing.T, b store.Blob) {
	put(t, b, "exists", []byte("x"))
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Put(c, "new", strings.NewReader("x"), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with canceled context = %v", err)
	}
	if err := b.Get(c, "exists", io.Discard); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with canceled context = %v", err)
	}
	if _, err := b.List(c, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("List with canceled context = %v", err)
	}
	equalKeys(t, "keys", keys(t, b, ""), []string{"exists"})
}
