package models

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
)

func TestManifestParses(t *testing.T) {
	m, err := parseManifest(manifestTSV)
	if err != nil {
		t.Fatal(err)
	}
	dist := map[Distribution]int{}
	for _, e := range m {
		dist[e.Distribution]++
		switch e.Distribution {
		case DistDefault, DistOptional:
			if !e.Known() || e.Bytes <= 0 {
				t.Errorf("%s: a shippable model needs a sha256 and a size", e.Name)
			}
		case DistUser, DistTestsOnly:
			if e.URL != "" {
				t.Errorf("%s: %s models must not have a download URL", e.Name, e.Distribution)
			}
		}
		if e.Kind == "" || e.License == "" || e.Source == "" || e.Contract == "" {
			t.Errorf("incomplete entry %+v", e)
		}
	}
	if dist[DistDefault] == 0 || dist[DistUser] == 0 || dist[DistTestsOnly] == 0 {
		t.Errorf("distributions %v", dist)
	}
	for _, name := range []string{"yunet", "yunet_2023mar", "face_landmark", "blazeface_front", "blazeface_back",
		"ultraface_rfb320", "inswapper_128", "det_10g", "w600k_r50", "gfpgan_1.4", "gfpgan_v1.4", "codeformer",
		"scrfd_500m_320", "scrfd_500m_640", "mobilefacenet_128d"} {
		if _, err := Lookup(name); err != nil {
			t.Error(err)
		}
	}
	for _, d := range Defaults() {
		if d.Distribution != DistDefault {
			t.Errorf("Defaults returned %s (%s)", d.Name, d.Distribution)
		}
	}
	if _, err := Lookup("nope"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Lookup unknown = %v", err)
	}
}

func TestManifestRejectsBadRows(t *testing.T) {
	header := strings.Join(manifestColumns, "\t") + "\n"
	sha := strings.Repeat("a", 64)
	row := func(f ...string) string { return header + strings.Join(f, "\t") + "\n" }
	for name, tsv := range map[string]string{
		"old header":        "name\tfile\tsha256\n",
		"short row":         row("x", "x.onnx", "detector"),
		"bad kind":          row("x", "x.onnx", "painter", "optional", sha, "1", "MIT", "", "s", "c"),
		"bad distribution":  row("x", "x.onnx", "detector", "sometimes", sha, "1", "MIT", "", "s", "c"),
		"short sha":         row("x", "x.onnx", "detector", "optional", "abc", "1", "MIT", "", "s", "c"),
		"upper-case sha":    row("x", "x.onnx", "detector", "optional", strings.Repeat("A", 64), "1", "MIT", "", "s", "c"),
		"size without sha":  row("x", "x.onnx", "detector", "optional", "", "1", "MIT", "", "s", "c"),
		"uneven digests":    row("x", "x.onnx", "detector", "user", sha+","+sha, "1", "MIT", "", "s", "c"),
		"default no URL":    row("x", "x.onnx", "detector", "default", sha, "1", "MIT", "", "s", "c"),
		"http URL":          row("x", "x.onnx", "detector", "optional", sha, "1", "MIT", "http://x/y", "s", "c"),
		"URL without size":  row("x", "x.onnx", "detector", "optional", sha, "", "MIT", "https://x/y", "s", "c"),
		"user with URL":     row("x", "x.onnx", "swapper", "user", sha, "1", "NC", "https://x/y", "s", "c"),
		"tests with URL":    row("x", "x.onnx", "detector", "tests-only", sha, "1", "NC", "https://x/y", "s", "c"),
		"path in file name": row("x", "../x.onnx", "detector", "optional", sha, "1", "MIT", "", "s", "c"),
		"duplicate": header + strings.Repeat(strings.Join([]string{"x", "x.onnx", "detector", "optional", sha, "1", "MIT",
			"", "s", "c"}, "\t")+"\n", 2),
	} {
		if _, err := parseManifest(tsv); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	m, err := parseManifest(row("x", "x.onnx", "swapper", "user", sha+","+strings.Repeat("b", 64), "10,20", "NC", "", "s", "c"))
	if err != nil || len(m) != 1 || m[0].Bytes != 10 || len(m[0].Alternates) != 1 || m[0].Alternates[0].Bytes != 20 {
		t.Fatalf("alternates: %+v, %v", m, err)
	}
}

// TestManifestAgreesWithShared checks every model in ../shared/models against its entry: the same sha256 and
// size as the shared MANIFEST.tsv, and the files there verify.
func TestManifestAgreesWithShared(t *testing.T) {
	shared := filepath.Join(testenv.SharedDir(t), "models")
	f, err := os.Open(filepath.Join(shared, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	byFile := map[string]Entry{}
	for _, e := range Manifest() {
		byFile[e.File] = e
	}
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	n := 0
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		file, sha := fields[0], fields[1]
		size, _ := strconv.ParseInt(fields[2], 10, 64)
		e, ok := byFile[file]
		if !ok {
			t.Errorf("%s is in the shared models but not in the manifest", file)
			continue
		}
		if e.SHA256 != sha || e.Bytes != size {
			t.Errorf("%s: manifest %s/%d, shared %s/%d", file, e.SHA256, e.Bytes, sha, size)
		}
		if strings.Contains(fields[4], "TESTS ONLY") != (e.Distribution == DistTestsOnly) {
			t.Errorf("%s: distribution %s, shared use %q", file, e.Distribution, fields[4])
		}
		if st, err := Check(shared, e); st != StatusOK {
			t.Errorf("%s: %s %v", file, st, err)
		}
		n++
	}
	if n < 9 {
		t.Errorf("only %d shared models checked", n)
	}
}

func TestCheckStatuses(t *testing.T) {
	dir := t.TempDir()
	body := []byte("model bytes")
	other := []byte("another build")
	e := Entry{Name: "m", File: "m.onnx", Distribution: DistUser, SHA256: sum(body), Bytes: int64(len(body)),
		Alternates: []Digest{{SHA256: sum(other), Bytes: int64(len(other))}}, License: "NC"}
	if st, err := Check(dir, e); st != StatusMissing || !errors.Is(err, ErrMissing) {
		t.Fatalf("missing: %s %v", st, err)
	}
	for _, b := range [][]byte{body, other} {
		write(t, e.Path(dir), b)
		if st, err := Check(dir, e); st != StatusOK || err != nil {
			t.Fatalf("%q: %s %v", b, st, err)
		}
	}
	write(t, e.Path(dir), []byte("model byteZ")) // right size, wrong hash
	if st, err := Check(dir, e); st != StatusMismatch || !errors.Is(err, ErrMismatch) || Verify(dir, e) == nil {
		t.Fatalf("wrong hash: %s %v", st, err)
	}
	write(t, e.Path(dir), []byte("short"))
	if st, err := Check(dir, e); st != StatusMismatch || !strings.Contains(err.Error(), "want 11 or 13") {
		t.Fatalf("wrong size: %s %v", st, err)
	}
	unknown := Entry{Name: "u", File: "m.onnx", Distribution: DistUser, License: "unclear"}
	if st, err := Check(dir, unknown); st != StatusUnverified || err != nil || Verify(dir, unknown) != nil {
		t.Fatalf("no sha256: %s %v", st, err)
	}
}

func TestResolveMessages(t *testing.T) {
	mirror := filepath.Join(testenv.SharedDir(t), "models")
	dir := t.TempDir()
	_, err := Resolve(dir, "yunet")
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("Resolve before fetch = %v, want ErrMissing", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "face_detection_yunet_2026may.onnx") ||
		!strings.Contains(msg, "run: coordinator models fetch yunet --models-dir "+dir) ||
		strings.Contains(msg, "--mirror") || strings.Contains(msg, "\n") {
		t.Errorf("yunet missing: %q", msg)
	}
	t.Setenv("FACEFLEET_MODELS", dir) // the default directory: no --models-dir in the command
	if _, err := Resolve(dir, "yunet"); err == nil || !strings.HasSuffix(err.Error(), "; run: coordinator models fetch yunet") {
		t.Errorf("default dir: %v", err)
	}
	_, err = Resolve(dir, "inswapper_128")
	if msg := err.Error(); !errors.Is(err, ErrMissing) || !strings.Contains(msg, "inswapper_128.onnx") ||
		!strings.Contains(msg, "user-supplied") || !strings.Contains(msg, "coordinator models fetch inswapper_128 --mirror DIR") {
		t.Errorf("inswapper missing: %q", msg)
	}
	_, err = Resolve(dir, "scrfd_500m_320")
	if msg := err.Error(); !strings.Contains(msg, "coordinator models fetch scrfd_500m_320 --include-tests --mirror DIR") {
		t.Errorf("tests-only missing: %q", msg)
	}

	e, _ := Lookup("yunet")
	if err := Fetch(t.Context(), FetchConfig{Dir: dir, Mirror: mirror}, e); err != nil {
		t.Fatal(err)
	}
	if p, err := Resolve(dir, "yunet"); err != nil || p != e.Path(dir) {
		t.Fatalf("Resolve = %q, %v", p, err)
	}
	write(t, e.Path(dir), []byte("not a model"))
	if _, err := Resolve(dir, "yunet"); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "coordinator models fetch yunet") {
		t.Fatalf("corrupted: %v", err)
	}
	// Fetch replaces the corrupted file.
	if err := Fetch(t.Context(), FetchConfig{Dir: dir, Mirror: mirror}, e); err != nil {
		t.Fatal(err)
	}
	if err := Verify(dir, e); err != nil {
		t.Fatal(err)
	}
	// A user model without a known sha256 resolves as soon as it is there.
	write(t, filepath.Join(dir, "GFPGANv1.4.onnx"), []byte("somebody's export"))
	if _, err := Resolve(dir, "gfpgan_v1.4"); err != nil {
		t.Fatal(err)
	}
}

func TestFetchFromMirror(t *testing.T) {
	mirror := filepath.Join(testenv.SharedDir(t), "models")
	dir := t.TempDir()
	var progress strings.Builder
	for _, e := range Defaults() {
		if err := Fetch(t.Context(), FetchConfig{Dir: dir, Mirror: mirror, Progress: &progress}, e); err != nil {
			t.Fatal(err)
		}
		if err := Verify(dir, e); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(progress.String(), "face_landmark: 2.3 MiB / 2.3 MiB (100%)") {
		t.Errorf("progress:\n%s", progress.String())
	}
	// Tests-only entries need IncludeTests, from a mirror as from anywhere.
	scrfd, _ := Lookup("scrfd_500m_320")
	if err := Fetch(t.Context(), FetchConfig{Dir: dir, Mirror: mirror}, scrfd); !errors.Is(err, ErrTestsOnly) ||
		!strings.Contains(err.Error(), "--include-tests") {
		t.Fatalf("tests-only without IncludeTests: %v", err)
	}
	if err := Fetch(t.Context(), FetchConfig{Dir: dir, Mirror: mirror, IncludeTests: true}, scrfd); err != nil {
		t.Fatal(err)
	}
	// A user model the mirror lacks, and a mirror holding a wrong file.
	insw, _ := Lookup("inswapper_128")
	if err := Fetch(t.Context(), FetchConfig{Dir: dir, Mirror: mirror}, insw); !errors.Is(err, ErrMissing) ||
		!strings.Contains(err.Error(), "inswapper_128.onnx is not in the mirror") {
		t.Fatalf("user model not in mirror: %v", err)
	}
	bad := t.TempDir()
	yunet, _ := Lookup("yunet")
	write(t, yunet.Path(bad), []byte("not a model"))
	if err := Fetch(t.Context(), FetchConfig{Dir: t.TempDir(), Mirror: bad}, yunet); !errors.Is(err, ErrMismatch) {
		t.Fatalf("fetch from a bad mirror = %v, want ErrMismatch", err)
	}
	// Same size, wrong bytes: refused after the copy, and nothing is left behind.
	wrong := make([]byte, yunet.Bytes)
	write(t, yunet.Path(bad), wrong)
	target := t.TempDir()
	if err := Fetch(t.Context(), FetchConfig{Dir: target, Mirror: bad}, yunet); !errors.Is(err, ErrMismatch) {
		t.Fatalf("same-size wrong mirror file = %v, want ErrMismatch", err)
	}
	assertEmpty(t, target)
}

func write(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left behind in %s: %s", dir, e.Name())
	}
}

// A verified file is not hashed again while its size and time stand; a new time makes Check hash it again.
func TestCheckRemembersVerifiedFiles(t *testing.T) {
	dir := t.TempDir()
	body := []byte("model bytes")
	e := Entry{Name: "m", File: "m.onnx", Distribution: DistUser, SHA256: sum(body), Bytes: int64(len(body)), License: "NC"}
	old := time.Now().Add(-time.Hour)
	write(t, e.Path(dir), body)
	if err := os.Chtimes(e.Path(dir), old, old); err != nil {
		t.Fatal(err)
	}
	if st, err := Check(dir, e); st != StatusOK || err != nil {
		t.Fatalf("first check: %s %v", st, err)
	}
	write(t, e.Path(dir), []byte("model byteZ")) // same size; the time is put back: only a hash could tell
	if err := os.Chtimes(e.Path(dir), old, old); err != nil {
		t.Fatal(err)
	}
	if st, _ := Check(dir, e); st != StatusOK {
		t.Fatalf("an unchanged size and time were hashed again: %s", st)
	}
	if err := os.Chtimes(e.Path(dir), old, old.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if st, err := Check(dir, e); st != StatusMismatch || !errors.Is(err, ErrMismatch) {
		t.Fatalf("a new time was not hashed again: %s %v", st, err)
	}
}
