// Package models is the model manifest (names, files, sha256, licenses, contracts) and the code that fetches
// and verifies model files. It never holds weights: they live in a models directory outside the repository.
package models

import (
	"bufio"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

//go:embed manifest.tsv
var manifestTSV string

// Sentinels callers branch on.
var (
	ErrUnknown  = errors.New("unknown model")
	ErrMissing  = errors.New("model file missing")
	ErrMismatch = errors.New("model file does not match the manifest sha256")
)

// Entry is one model of the manifest.
type Entry struct {
	Name     string
	File     string
	SHA256   string
	Bytes    int64
	License  string
	Default  bool // fetched by `make setup` and `coordinator models fetch` without names
	URL      string
	Contract string
}

// Manifest returns every model the product knows, in manifest order.
func Manifest() []Entry {
	var out []Entry
	sc := bufio.NewScanner(strings.NewReader(manifestTSV))
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 8 {
			continue
		}
		n, _ := strconv.ParseInt(f[3], 10, 64)
		out = append(out, Entry{Name: f[0], File: f[1], SHA256: f[2], Bytes: n, License: f[4],
			Default: f[5] == "yes", URL: f[6], Contract: f[7]})
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
	return Entry{}, fmt.Errorf("%w: %q", ErrUnknown, name)
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

// Path is where an entry's file lives in dir.
func (e Entry) Path(dir string) string { return filepath.Join(dir, e.File) }

// Resolve returns the verified path of a model in dir, or a one-line error naming the file and the command that fetches it.
func Resolve(dir, name string) (string, error) {
	e, err := Lookup(name)
	if err != nil {
		return "", err
	}
	if err := Verify(dir, e); err != nil {
		return "", fmt.Errorf("%w (run: coordinator models fetch %s --mirror DIR --models-dir %s)", err, e.Name, dir)
	}
	return e.Path(dir), nil
}

// Verify checks that dir holds the entry's file with the manifest's size and sha256.
func Verify(dir string, e Entry) error {
	p := e.Path(dir)
	sum, n, err := hashFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w", p, ErrMissing)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if n != e.Bytes || sum != e.SHA256 {
		return fmt.Errorf("%s: %w (got %d bytes, sha256 %s)", p, ErrMismatch, n, sum)
	}
	return nil
}

// FetchFromMirror copies an entry from a mirror directory (a machine without internet) into dir, checking the
// sha256 before the file takes its final name, so dir never holds a wrong or partial model. An already verified
// file is left alone.
func FetchFromMirror(mirror, dir string, e Entry) error {
	if Verify(dir, e) == nil {
		return nil
	}
	src := e.Path(mirror)
	sum, _, err := hashFile(src)
	if err != nil {
		return fmt.Errorf("mirror %s: %w", src, err)
	}
	if sum != e.SHA256 {
		return fmt.Errorf("mirror %s: %w (sha256 %s)", src, ErrMismatch, sum)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, e.File+".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), e.Path(dir)); err != nil {
		return err
	}
	return Verify(dir, e)
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
