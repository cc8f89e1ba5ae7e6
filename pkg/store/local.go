package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// tmpPrefix starts the name of every file Local is still writing. Such files sit next to their final name (so the
// rename is atomic), never show up in List, and key elements may not start with it.
const tmpPrefix = ".facefleet-tmp-"

// LocalConfig configures a Local store.
type LocalConfig struct {
	// Dir is the root directory; it is created if missing.
	Dir string
	// Link makes PutFile and GetFile hard-link a file instead of copying it wherever both sides share a file
	// system (a copy otherwise), for a store whose files live no longer than one process that only reads them
	// (coordinator run): a multi-GB target is then never copied. Nothing writes a stored file in place (every Put
	// is a new file renamed over its key), so a linked file is never changed through the store.
	Link bool
}

// Validate reports a configuration NewLocal cannot use.
func (c LocalConfig) Validate() error {
	if strings.TrimSpace(c.Dir) == "" {
		return errors.New("store: local: Dir is required")
	}
	return nil
}

// Local is a Blob kept in a directory tree: key "a/b/c" is the file Dir/a/b/c.
//
// Beyond ValidKey, Local rejects (with ErrInvalidKey) keys with an element longer than 255 bytes or starting with
// ".facefleet-tmp-". Because a name cannot be a file and a directory at once, Local cannot hold both "a" and "a/b" (S3 can): the
// second Put fails. Directories left empty by Delete are removed.
type Local struct {
	dir  string
	link bool
}

var _ Blob = (*Local)(nil)

// NewLocal creates cfg.Dir if needed and returns a store rooted there.
func NewLocal(cfg LocalConfig) (*Local, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("store: local: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: local: %w", err)
	}
	return &Local{dir: dir, link: cfg.Link}, nil
}

// Dir returns the absolute root directory.
func (l *Local) Dir() string { return l.dir }

// Put implements Blob.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := l.put(ctx, key, r, size); err != nil {
		return fmt.Errorf("store: put %s: %w", clip(key), err)
	}
	return nil
}

func (l *Local) put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := l.checkKey(key); err != nil {
		return err
	}
	if size < -1 {
		return fmt.Errorf("negative size %d", size)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dst := l.path(key)
	src := io.Reader(ctxReader{ctx, r})
	if size >= 0 {
		// One byte more than promised, to notice a reader that is too long.
		src = io.LimitReader(src, size+1)
	}
	return writeAtomic(dst, durable, func(f *os.File) error {
		n, err := io.Copy(f, src)
		if err != nil {
			return err
		}
		if size >= 0 && n != size {
			return fmt.Errorf("size mismatch: reader gave %d bytes, expected %d", n, size)
		}
		return nil
	})
}

// PutFile implements Blob.
func (l *Local) PutFile(ctx context.Context, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: put %s: %w", clip(key), err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: put %s: %w", clip(key), err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("store: put %s: %s is not a regular file", clip(key), path)
	}
	if l.link && l.checkKey(key) == nil && ctx.Err() == nil && linkAtomic(path, st, l.path(key)) == nil {
		return nil
	}
	return l.Put(ctx, key, f, st.Size())
}

// Get implements Blob.
func (l *Local) Get(ctx context.Context, key string, w io.Writer) error {
	if err := l.get(ctx, key, w); err != nil {
		return fmt.Errorf("store: get %s: %w", clip(key), err)
	}
	return nil
}

func (l *Local) get(ctx context.Context, key string, w io.Writer) error {
	f, err := l.open(ctx, key)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(ctxWriter{ctx, w}, f)
	return err
}

// GetFile implements Blob.
func (l *Local) GetFile(ctx context.Context, key, path string) error {
	if err := l.getFile(ctx, key, path); err != nil {
		return fmt.Errorf("store: get %s: %w", clip(key), err)
	}
	return nil
}

func (l *Local) getFile(ctx context.Context, key, path string) error {
	// Open first, so a missing blob leaves no trace at path.
	f, err := l.open(ctx, key)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && l.link && linkAtomic(f.Name(), st, path) == nil {
		return nil
	}
	return writeAtomic(path, localCopy, func(dst *os.File) error {
		_, err := io.Copy(dst, ctxReader{ctx, f})
		return err
	})
}

// Stat implements Blob.
func (l *Local) Stat(ctx context.Context, key string) (Info, error) {
	if err := l.checkKey(key); err != nil {
		return Info{}, fmt.Errorf("store: stat %s: %w", clip(key), err)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("store: stat %s: %w", clip(key), err)
	}
	st, err := os.Stat(l.path(key))
	if err == nil && !st.Mode().IsRegular() {
		err = ErrNotFound
	}
	if err != nil {
		return Info{}, fmt.Errorf("store: stat %s: %w", clip(key), mapNotFound(err))
	}
	return Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// List implements Blob.
func (l *Local) List(ctx context.Context, prefix string) ([]Info, error) {
	out, err := l.list(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("store: list %s: %w", clip(prefix), err)
	}
	return out, nil
}

func (l *Local) list(ctx context.Context, prefix string) ([]Info, error) {
	if err := ValidPrefix(prefix); err != nil {
		return nil, err
	}
	// Walk only the deepest directory that every match lives under.
	base := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		base = prefix[:i]
	}
	root := l.dir
	if base != "" {
		root = l.path(base)
	}
	out := []Info{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return nil // removed while we walked, or base names a blob rather than a directory
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == l.dir {
			return nil
		}
		rel, err := filepath.Rel(l.dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if p == root {
				return nil
			}
			dk := key + "/"
			if !strings.HasPrefix(dk, prefix) && !strings.HasPrefix(prefix, dk) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), tmpPrefix) || !strings.HasPrefix(key, prefix) {
			return nil
		}
		st, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		out = append(out, Info{Key: key, Size: st.Size(), ModTime: st.ModTime()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements Blob.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := l.checkKey(key); err != nil {
		return fmt.Errorf("store: delete %s: %w", clip(key), err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: delete %s: %w", clip(key), err)
	}
	if err := l.remove(l.path(key)); err != nil {
		return fmt.Errorf("store: delete %s: %w", clip(key), err)
	}
	return nil
}

// DeletePrefix implements Blob.
func (l *Local) DeletePrefix(ctx context.Context, prefix string) error {
	if prefix == "" {
		return fmt.Errorf("store: delete prefix: %w: empty prefix", ErrInvalidKey)
	}
	infos, err := l.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, in := range infos {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("store: delete prefix %s: %w", clip(prefix), err)
		}
		if err := l.remove(l.path(in.Key)); err != nil {
			return fmt.Errorf("store: delete prefix %s: %w", clip(prefix), err)
		}
	}
	return nil
}

// remove deletes the blob file at p (a directory there is not a blob) and then the directories it leaves empty.
func (l *Local) remove(p string) error {
	st, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return err
	}
	if st.IsDir() {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Best effort: os.Remove fails on a non-empty directory, which ends the climb. A concurrent Put that loses its
	// fresh directory here recreates it (see writeAtomic).
	for d := filepath.Dir(p); d != l.dir && strings.HasPrefix(d, l.dir+string(filepath.Separator)); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
	return nil
}

func (l *Local) open(ctx context.Context, key string) (*os.File, error) {
	if err := l.checkKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(l.path(key))
	if err != nil {
		return nil, mapNotFound(err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, ErrNotFound
	}
	return f, nil
}

// maxElementLen is the usual file-system limit on one name (NAME_MAX).
const maxElementLen = 255

// checkKey is ValidKey plus what a directory tree adds: no element may look like one of Local's temporary files or
// be longer than a file name can be.
func (l *Local) checkKey(key string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	for _, el := range strings.Split(key, "/") {
		if strings.HasPrefix(el, tmpPrefix) {
			return fmt.Errorf("%w %q: element starts with reserved %q", ErrInvalidKey, clip(key), tmpPrefix)
		}
		if len(el) > maxElementLen {
			return fmt.Errorf("%w %q: element longer than %d bytes", ErrInvalidKey, clip(key), maxElementLen)
		}
	}
	return nil
}

func (l *Local) path(key string) string {
	return filepath.Join(l.dir, filepath.FromSlash(key))
}

func mapNotFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return ErrNotFound
	}
	return err
}

// linkAtomic hard-links src, the file want describes, to dst through a temporary name beside dst, so that dst
// appears whole or not at all. A symlink is followed: a link to the link itself would dangle or point elsewhere.
func linkAtomic(src string, want os.FileInfo, dst string) error {
	src, err := filepath.EvalSymlinks(src)
	if err != nil {
		return err
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var r [8]byte
	_, _ = rand.Read(r[:])
	tmp := filepath.Join(dir, tmpPrefix+hex.EncodeToString(r[:]))
	if err := os.Link(src, tmp); err != nil {
		return err
	}
	if st, err := os.Lstat(tmp); err != nil || !os.SameFile(st, want) { // replaced since it was opened
		_ = os.Remove(tmp)
		return errors.New("store: the file changed while it was linked")
	}
	err = os.Rename(tmp, dst)
	_ = os.Remove(tmp) // renaming a link over another link of the same file leaves both (rename(2))
	return err
}

// durability says whether writeAtomic syncs the file before its rename.
type durability bool

const (
	// durable: a stored blob, which must survive a crash once Put returns.
	durable durability = true
	// localCopy: a blob's copy (GetFile), which the store still holds: syncing it cost each of 64 simulated
	// workers a journal commit per segment (1.4-3.2 ms alone on this machine's disk, queued behind the others'),
	// for a file a crash only makes the caller fetch again. Callers that keep one say so (SyncFile).
	localCopy durability = false
)

// writeAtomic creates dst's directory, lets fill write a temporary file beside dst, syncs it when sync is durable
// and renames it over dst. On any error the temporary file is removed and dst is untouched.
func writeAtomic(dst string, sync durability, fill func(*os.File) error) (err error) {
	dir := filepath.Dir(dst)
	var f *os.File
	// A concurrent Delete may remove a directory that was empty between MkdirAll and CreateTemp; retry then.
	for attempt := 0; ; attempt++ {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		f, err = os.CreateTemp(dir, tmpPrefix+"*")
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt >= 10 {
			return err
		}
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if sync == durable {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// SyncFile makes a file GetFile wrote durable, with the rename that put it in place: a caller that keeps the copy
// as the user's file (a download) calls it; scratch copies skip it.
func SyncFile(path string) error {
	for _, p := range []string{path, filepath.Dir(path)} {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("store: sync %s: %w", p, err)
		}
	}
	return nil
}
