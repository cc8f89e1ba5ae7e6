package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// FetchConfig is where Fetch puts a model and where it gets it from.
type FetchConfig struct {
	// Dir is the models directory the file lands in (created if needed).
	Dir string
	// Mirror, if set, is a directory holding the model files (a machine without internet): Fetch copies from it
	// and never touches the network.
	Mirror string
	// Client downloads; nil means http.DefaultClient. Cancel or time out a fetch through its context.
	Client *http.Client
	// Progress, if set, receives progress: one line rewritten with \r when it is a terminal, else a line per ~10%.
	Progress io.Writer
	// IncludeTests allows tests-only entries, which are refused otherwise.
	IncludeTests bool
}

// Fetch puts the entry's file into cfg.Dir: from cfg.Mirror if set, else by downloading e.URL into
// <file>.part, resuming a partial download with a Range request. The size and sha256 are checked before the file
// takes its final name, so the directory never holds a wrong model under that name: a bad download is deleted
// and reported as ErrMismatch, an interrupted one stays as <file>.part for the next call to resume. A file already
// present and verified (or present and unverifiable, for user models without a known sha256) is left alone; a
// present file that fails verification is replaced.
func Fetch(ctx context.Context, cfg FetchConfig, e Entry) error {
	if cfg.Dir == "" {
		return errors.New("models: fetch: no models directory")
	}
	if e.Distribution == DistTestsOnly && !cfg.IncludeTests {
		return fmt.Errorf("models: %s (%s): %w, never fetched by default; add --include-tests", e.Name, e.File, ErrTestsOnly)
	}
	switch st, err := Check(cfg.Dir, e); st {
	case StatusOK, StatusUnverified:
		return nil
	case StatusMissing:
		if !errors.Is(err, ErrMissing) {
			return err // unreadable directory or file
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("models: %w", err)
	}
	if cfg.Mirror != "" {
		return fetchMirror(ctx, cfg, e)
	}
	if e.URL == "" {
		if e.Distribution == DistUser {
			return fmt.Errorf("models: %s: %w: %s is user-supplied (%s) and never downloaded: copy your own into %s (--models-dir), or give --mirror DIR",
				e.Name, ErrNoURL, e.File, e.License, cfg.Dir)
		}
		return fmt.Errorf("models: %s: %w: copy %s into %s (--models-dir), or give --mirror DIR", e.Name, ErrNoURL, e.File, cfg.Dir)
	}
	if !e.Known() || e.Bytes <= 0 {
		return fmt.Errorf("models: %s: refusing to download %s without a known sha256 and size", e.Name, e.URL)
	}
	return download(ctx, cfg, e)
}

// fetchMirror copies the entry from the mirror directory through a temporary file, hashing as it copies.
func fetchMirror(ctx context.Context, cfg FetchConfig, e Entry) error {
	src := e.Path(cfg.Mirror)
	in, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("models: %s: %w: %s is not in the mirror %s", e.Name, ErrMissing, e.File, cfg.Mirror)
	}
	if err != nil {
		return fmt.Errorf("models: mirror: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("models: mirror: %w", err)
	}
	if e.Known() && !e.sizeMatches(st.Size()) {
		return fmt.Errorf("models: mirror %s: %w (got %d bytes, want %s)", src, ErrMismatch, st.Size(), e.wantBytes())
	}
	tmp, err := os.CreateTemp(cfg.Dir, e.File+".part-*")
	if err != nil {
		return fmt.Errorf("models: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	p := newProgress(cfg.Progress, e.Name, 0, st.Size())
	n, err := io.Copy(io.MultiWriter(tmp, h, p), ctxReader{ctx, in})
	p.finish()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("models: copying %s: %w", src, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); e.Known() && !e.matches(sum, n) {
		return fmt.Errorf("models: mirror %s: %w (got %d bytes, sha256 %s)", src, ErrMismatch, n, sum)
	}
	if err := os.Rename(tmp.Name(), e.Path(cfg.Dir)); err != nil {
		return fmt.Errorf("models: %w", err)
	}
	os.Remove(e.Path(cfg.Dir) + ".part") // an earlier interrupted download, now moot
	return nil
}

// download fetches e.URL into <file>.part (resuming it), verifies it and renames it into place.
func download(ctx context.Context, cfg FetchConfig, e Entry) error {
	final := e.Path(cfg.Dir)
	part := final + ".part"
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("models: %w", err)
	}
	err = fill(ctx, cfg, e, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if st, serr := os.Stat(part); serr == nil && st.Size() == 0 {
			os.Remove(part) // nothing to resume
		}
		return err // the .part stays for the next call to resume
	}
	sum, n, err := hashFile(part)
	if err != nil {
		return fmt.Errorf("models: %w", err)
	}
	if !e.matches(sum, n) {
		os.Remove(part)
		return fmt.Errorf("models: %s from %s: %w (got %d bytes, sha256 %s; the download was deleted)", e.File, e.URL, ErrMismatch, n, sum)
	}
	if err := os.Rename(part, final); err != nil {
		return fmt.Errorf("models: %w", err)
	}
	return nil
}

// fill completes the partial file f from e.URL: a Range request from its size, a restart when the server ignores
// the range (200) or refuses it (416 for a part that is not the whole file).
func fill(ctx context.Context, cfg FetchConfig, e Entry, f *os.File) error {
	client := cfg.Client
	if client == nil {
		client = http.DefaultClient
	}
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("models: %w", err)
	}
	restart := func() error {
		off = 0
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("models: %w", err)
		}
		_, err := f.Seek(0, io.SeekStart)
		return err
	}
	if off > e.Bytes { // longer than the model: not a prefix of it
		if err := restart(); err != nil {
			return err
		}
	}
	if off == e.Bytes {
		return nil // complete; the caller verifies it
	}
	for range 2 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.URL, nil)
		if err != nil {
			return fmt.Errorf("models: %s: %w", e.Name, err)
		}
		if off > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("models: fetching %s: %w (without internet, use --mirror DIR)", e.File, err)
		}
		switch resp.StatusCode {
		case http.StatusPartialContent:
			if start, _, ok := contentRange(resp.Header.Get("Content-Range")); !ok || start != off {
				resp.Body.Close()
				if err := restart(); err != nil {
					return err
				}
				continue
			}
		case http.StatusOK:
			if off > 0 { // the server ignored the range: start over with this body
				if err := restart(); err != nil {
					resp.Body.Close()
					return err
				}
			}
		case http.StatusRequestedRangeNotSatisfiable:
			resp.Body.Close()
			if _, total, ok := contentRange(resp.Header.Get("Content-Range")); ok && total == off {
				return nil // the part already holds the whole file
			}
			if err := restart(); err != nil {
				return err
			}
			continue
		default:
			resp.Body.Close()
			return fmt.Errorf("models: fetching %s from %s: %s", e.File, e.URL, resp.Status)
		}
		p := newProgress(cfg.Progress, e.Name, off, e.Bytes)
		// Read at most one byte past the model's size: a longer body fails verification without filling the disk.
		n, err := io.Copy(io.MultiWriter(f, p), io.LimitReader(resp.Body, e.Bytes-off+1))
		p.finish()
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("models: download of %s interrupted at %d of %d bytes (%s is kept: fetch again to resume): %w",
				e.File, off+n, e.Bytes, e.File+".part", err)
		}
		if off+n < e.Bytes && resp.ContentLength < 0 {
			// No length to hold the body to: the connection may have been cut. Keep the part.
			return fmt.Errorf("models: download of %s ended at %d of %d bytes (%s is kept: fetch again to resume)",
				e.File, off+n, e.Bytes, e.File+".part")
		}
		// A short body of announced length is all the server has: the verification refuses it.
		return nil
	}
	return fmt.Errorf("models: fetching %s from %s: the server does not honour range requests", e.File, e.URL)
}

// contentRange parses "bytes START-END/TOTAL" and "bytes */TOTAL"; start is -1 for the second form, total -1
// when the server does not know it.
func contentRange(h string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(h, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		n, err := strconv.ParseInt(tot, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total = n
	}
	if rng == "*" {
		return -1, total, true
	}
	first, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return start, total, true
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// progressStepMin is the smallest file that gets a line per 10% when progress is not a terminal; smaller ones
// (local mirror copies of small models, mostly) get the final line only.
const progressStepMin = 8 << 20

// progress is an io.Writer counting bytes and reporting them: on a terminal one line rewritten at most every
// 100ms, elsewhere a line at each 10% step of a large file, and the final state.
type progress struct {
	w            io.Writer
	tty          bool
	name         string
	done, total  int64
	lastDecile   int64
	lastPrint    time.Time
	printedFinal bool
}

func newProgress(w io.Writer, name string, done, total int64) *progress {
	p := &progress{w: w, tty: isTerminal(w), name: name, done: done, total: total, lastDecile: -1}
	if w != nil && done > 0 {
		fmt.Fprintf(w, "%s: resuming at %s\n", name, size(done))
	}
	if total > 0 {
		p.lastDecile = done * 10 / total
	}
	return p
}

func (p *progress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if p.w == nil {
		return len(b), nil
	}
	if p.tty {
		if now := time.Now(); now.Sub(p.lastPrint) >= 100*time.Millisecond {
			p.lastPrint = now
			fmt.Fprintf(p.w, "\r%s", p.line())
		}
		return len(b), nil
	}
	if p.total >= progressStepMin {
		if d := p.done * 10 / p.total; d > p.lastDecile && d < 10 {
			p.lastDecile = d
			fmt.Fprintln(p.w, p.line())
		}
	}
	return len(b), nil
}

// finish prints the final state once.
func (p *progress) finish() {
	if p.w == nil || p.printedFinal {
		return
	}
	p.printedFinal = true
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\n", p.line())
		return
	}
	fmt.Fprintln(p.w, p.line())
}

func (p *progress) line() string {
	if p.total <= 0 {
		return fmt.Sprintf("%s: %s", p.name, size(p.done))
	}
	return fmt.Sprintf("%s: %s / %s (%d%%)", p.name, size(p.done), size(p.total), p.done*100/p.total)
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
