// Package models is the model manifest (names, files, kinds, distribution, sha256, licenses, contracts) and the
// code that fetches and verifies model files. It never holds weights: they live in a models directory outside the
// repository. The embedded manifest.tsv is the single source of what the product knows about a model.
package models

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed manifest.tsv
var manifestTSV string

// Sentinels callers branch on.
var (
	ErrUnknown   = errors.New("unknown model")
	ErrMissing   = errors.New("model file missing")
	ErrMismatch  = errors.New("model file does not match the manifest sha256")
	ErrNoURL     = errors.New("model has no download URL")
	ErrTestsOnly = errors.New("model is a test fixture")
)

// Kind is what a model does.
type Kind string

// The kinds of model the product uses.
const (
	Detector   Kind = "detector"
	Landmarker Kind = "landmarker"
	Recognizer Kind = "recognizer"
	Swapper    Kind = "swapper"
	Enhancer   Kind = "enhancer"
	// ContentFilter models score a picture (content_filter.go): its contract column declares how to feed it.
	ContentFilter Kind = "content_filter"
)

// Distribution says how a model reaches a machine.
type Distribution string

const (
	// DistDefault models may ship; `make setup` and `coordinator models fetch` without names fetch them.
	DistDefault Distribution = "default"
	// DistOptional models may ship; they are fetched only when named.
	DistOptional Distribution = "optional"
	// DistUser models are never downloaded (non-commercial or unclear licence): users copy their own files into
	// the models directory (or fetch them from their own mirror). Verified only when the manifest knows a sha256.
	DistUser Distribution = "user"
	// DistTestsOnly models are test fixtures: never shipped, fetched only with --include-tests.
	DistTestsOnly Distribution = "tests-only"
)

// Digest is one published build of a model file.
type Digest struct {
	SHA256 string
	Bytes  int64 // 0 = size not known
}

// Entry is one model of the manifest.
type Entry struct {
	Name         string
	File         string
	Kind         Kind
	Distribution Distribution
	SHA256       string // the build URL serves; "" = no sha256 known (user-supplied, several exports circulate)
	Bytes        int64  // size of that build; 0 = not known
	// Alternates are other published builds of the same file that Verify also accepts.
	Alternates []Digest
	License    string
	URL        string // "" = never downloaded over the network (mirror or user copy only)
	Source     string // where the file and its sha256 come from
	Contract   string // inputs -> outputs
	// Filter is a content_filter model's declared input, output and threshold, parsed from its contract.
	Filter *FilterSpec
}

// Known reports whether the manifest knows a sha256 for the entry, so its file can be verified.
func (e Entry) Known() bool { return e.SHA256 != "" }

// Digests is every build Verify accepts, the one URL serves first.
func (e Entry) Digests() []Digest {
	if !e.Known() {
		return nil
	}
	return append([]Digest{{SHA256: e.SHA256, Bytes: e.Bytes}}, e.Alternates...)
}

// Path is where an entry's file lives in dir.
func (e Entry) Path(dir string) string { return filepath.Join(dir, e.File) }

// FetchCommand is the command that puts the entry's file into dir: `--mirror DIR` only where the entry cannot be
// downloaded, `--models-dir` only where dir is not the default.
func (e Entry) FetchCommand(dir string) string {
	cmd := "coordinator models fetch " + e.Name
	if e.Distribution == DistTestsOnly {
		cmd += " --include-tests"
	}
	if e.URL == "" {
		cmd += " --mirror DIR"
	}
	if dir != DefaultDir() {
		cmd += " --models-dir " + dir
	}
	return cmd
}

// remedy is the one-line advice for a missing or wrong file.
func (e Entry) remedy(dir string) string {
	if e.Distribution == DistUser {
		return fmt.Sprintf("it is user-supplied (%s): copy your own %s into %s, or run: %s",
			e.License, e.File, dir, e.FetchCommand(dir))
	}
	return "run: " + e.FetchCommand(dir)
}

var manifest = sync.OnceValues(func() ([]Entry, error) { return parseManifest(manifestTSV) })

// Manifest returns every model the product knows, in manifest order.
func Manifest() []Entry {
	m, err := manifest()
	if err != nil {
		panic(err) // the manifest is embedded: a malformed one is a build defect, caught by the package tests
	}
	return slices.Clone(m)
}

// Defaults returns the entries `coordinator models fetch` fetches when given no names.
func Defaults() []Entry {
	var out []Entry
	for _, e := range Manifest() {
		if e.Distribution == DistDefault {
			out = append(out, e)
		}
	}
	return out
}

// Lookup finds a manifest entry by name.
func Lookup(name string) (Entry, error) {
	for _, e := range Manifest() {
		if e.Name == name {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("%w: %q (see coordinator models list)", ErrUnknown, name)
}

var manifestColumns = []string{"name", "file", "kind", "distribution", "sha256", "bytes", "license", "url", "source", "contract"}

func parseManifest(s string) ([]Entry, error) {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if got := strings.Split(lines[0], "\t"); !slices.Equal(got, manifestColumns) {
		return nil, fmt.Errorf("models: manifest header %q, want %q", got, manifestColumns)
	}
	var out []Entry
	names, files := map[string]bool{}, map[string]bool{}
	for i, line := range lines[1:] {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("models: manifest line %d: "+format, append([]any{i + 2}, a...)...)
		}
		f := strings.Split(line, "\t")
		if len(f) != len(manifestColumns) {
			return nil, bad("%d fields, want %d", len(f), len(manifestColumns))
		}
		e := Entry{Name: f[0], File: f[1], Kind: Kind(f[2]), Distribution: Distribution(f[3]), License: f[6], URL: f[7],
			Source: f[8], Contract: f[9]}
		if e.Name == "" || e.File == "" || e.License == "" || filepath.Base(e.File) != e.File {
			return nil, bad("name, a plain file name and license are required")
		}
		if names[e.Name] || files[e.File] {
			return nil, bad("duplicate name %q or file %q", e.Name, e.File)
		}
		names[e.Name], files[e.File] = true, true
		switch e.Kind {
		case Detector, Landmarker, Recognizer, Swapper, Enhancer:
		case ContentFilter:
			fs, err := ParseFilterSpec(e.Contract)
			if err != nil {
				return nil, bad("content_filter contract: %v", err)
			}
			e.Filter = &fs
		default:
			return nil, bad("unknown kind %q", e.Kind)
		}
		switch e.Distribution {
		case DistDefault, DistOptional, DistUser, DistTestsOnly:
		default:
			return nil, bad("unknown distribution %q", e.Distribution)
		}
		digests, err := parseDigests(f[4], f[5])
		if err != nil {
			return nil, bad("%v", err)
		}
		if len(digests) > 0 {
			e.SHA256, e.Bytes, e.Alternates = digests[0].SHA256, digests[0].Bytes, digests[1:]
		}
		if e.URL != "" && (!strings.HasPrefix(e.URL, "https://") || !e.Known() || e.Bytes <= 0) {
			return nil, bad("a download URL must be https and come with a sha256 and a size")
		}
		if e.Distribution == DistDefault && e.URL == "" {
			return nil, bad("a default model needs a download URL")
		}
		if e.URL != "" && (e.Distribution == DistUser || e.Distribution == DistTestsOnly) {
			return nil, bad("%s models are never downloaded: leave the URL empty", e.Distribution)
		}
		out = append(out, e)
	}
	return out, nil
}

// parseDigests reads the sha256 and bytes columns: comma-separated lists of the same length, or both empty.
func parseDigests(shas, sizes string) ([]Digest, error) {
	if shas == "" {
		if sizes != "" {
			return nil, errors.New("a size without a sha256")
		}
		return nil, nil
	}
	ss, ns := strings.Split(shas, ","), strings.Split(sizes, ",")
	if sizes == "" {
		ns = make([]string, len(ss))
	}
	if len(ss) != len(ns) {
		return nil, fmt.Errorf("%d sha256 values but %d sizes", len(ss), len(ns))
	}
	out := make([]Digest, len(ss))
	for i := range ss {
		if b, err := hex.DecodeString(ss[i]); err != nil || len(b) != sha256.Size || strings.ToLower(ss[i]) != ss[i] {
			return nil, fmt.Errorf("sha256 %q is not 64 lowercase hex digits", ss[i])
		}
		out[i].SHA256 = ss[i]
		if ns[i] != "" {
			n, err := strconv.ParseInt(ns[i], 10, 64)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("size %q is not a positive integer", ns[i])
			}
			out[i].Bytes = n
		}
	}
	return out, nil
}

// DefaultDir is $FACEFLEET_MODELS, else the models folder of the Facefleet cache ($FACEFLEET_CACHE or ~/.cache/facefleet).
func DefaultDir() string {
	if d := os.Getenv("FACEFLEET_MODELS"); d != "" {
		return d
	}
	return filepath.Join(CacheDir(), "models")
}

// CacheDir is $FACEFLEET_CACHE, else ~/.cache/facefleet.
func CacheDir() string {
	if d := os.Getenv("FACEFLEET_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "facefleet")
}

// Status is the state of a model file in a models directory.
type Status string

// The statuses `coordinator models list` shows.
const (
	StatusOK         Status = "ok"
	StatusMissing    Status = "missing"
	StatusMismatch   Status = "MISMATCH"
	StatusUnverified Status = "unverified" // present, but the manifest knows no sha256 for it
)

// Check reports the state of the entry's file in dir. The error, nil for ok and unverified, names the file and
// what is wrong with it (it wraps ErrMissing or ErrMismatch). A file whose size matches no known build is a
// mismatch without being read.
func Check(dir string, e Entry) (Status, error) {
	p := e.Path(dir)
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return StatusMissing, fmt.Errorf("%s: %w", p, ErrMissing)
	}
	if err != nil {
		return StatusMissing, fmt.Errorf("%s: %w", p, err)
	}
	if !st.Mode().IsRegular() {
		return StatusMismatch, fmt.Errorf("%s: %w (not a regular file)", p, ErrMismatch)
	}
	if !e.Known() {
		return StatusUnverified, nil
	}
	if !e.sizeMatches(st.Size()) {
		return StatusMismatch, fmt.Errorf("%s: %w (got %d bytes, want %s)", p, ErrMismatch, st.Size(), e.wantBytes())
	}
	if verified.has(p, st) {
		return StatusOK, nil
	}
	sum, n, err := hashFile(p)
	if err != nil {
		return StatusMismatch, fmt.Errorf("%s: %w", p, err)
	}
	if !e.matches(sum, n) {
		return StatusMismatch, fmt.Errorf("%s: %w (got %d bytes, sha256 %s)", p, ErrMismatch, n, sum)
	}
	verified.add(p, st)
	return StatusOK, nil
}

// verified remembers files whose sha256 matched, by path, size and modification time: every worker slot resolves
// every model it loads (and --memory-optimization reloads them each segment), and hashing a 0.5 GB model each
// time would read it all again. A file changed since (new size or time) is hashed again.
var verified = &verifiedFiles{m: map[string]fileStamp{}}

type fileStamp struct {
	size    int64
	modTime time.Time
}

type verifiedFiles struct {
	mu sync.Mutex
	m  map[string]fileStamp
}

func (v *verifiedFiles) has(p string, st fs.FileInfo) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	got, ok := v.m[p]
	return ok && got == fileStamp{st.Size(), st.ModTime()}
}

func (v *verifiedFiles) add(p string, st fs.FileInfo) {
	if time.Since(st.ModTime()) < 2*time.Second {
		return // file times are coarse: a file rewritten within the same tick would look unchanged
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m[p] = fileStamp{st.Size(), st.ModTime()}
}

// Verify checks that dir holds the entry's file with a size and sha256 the manifest knows. A present file whose
// entry has no known sha256 (some user-supplied models) cannot be checked and is accepted; Check tells it apart.
func Verify(dir string, e Entry) error {
	st, err := Check(dir, e)
	if st == StatusUnverified {
		return nil
	}
	return err
}

// Resolve returns the path of a model in dir, verified where the manifest knows its sha256, or a one-line error
// naming the file and the command that fetches it.
func Resolve(dir, name string) (string, error) {
	e, err := Lookup(name)
	if err != nil {
		return "", err
	}
	if err := Verify(dir, e); err != nil {
		return "", fmt.Errorf("%w; %s", err, e.remedy(dir))
	}
	return e.Path(dir), nil
}

func (e Entry) sizeMatches(n int64) bool {
	for _, d := range e.Digests() {
		if d.Bytes == 0 || d.Bytes == n {
			return true
		}
	}
	return false
}

func (e Entry) matches(sum string, n int64) bool {
	for _, d := range e.Digests() {
		if d.SHA256 == sum && (d.Bytes == 0 || d.Bytes == n) {
			return true
		}
	}
	return false
}

func (e Entry) wantBytes() string {
	var s []string
	for _, d := range e.Digests() {
		s = append(s, strconv.FormatInt(d.Bytes, 10))
	}
	return strings.Join(s, " or ")
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
