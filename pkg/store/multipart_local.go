package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

var _ Multipart = (*Local)(nil)

// uploadPrefix names a Local upload's file beside its key's: a hash of the key's last element (which may be 255
// bytes long) and a random tail, so that AbortUploads finds every upload to one key.
func uploadPrefix(dst string) string {
	h := sha256.Sum256([]byte(filepath.Base(dst)))
	return tmpPrefix + "upload-" + hex.EncodeToString(h[:8]) + "-"
}

// NewUpload implements Multipart: parts are written at their offsets into a temporary file beside the key's,
// renamed over it by Complete.
func (l *Local) NewUpload(ctx context.Context, key string) (Upload, error) {
	if err := l.checkKey(key); err != nil {
		return nil, fmt.Errorf("store: upload %s: %w", clip(key), err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: upload %s: %w", clip(key), err)
	}
	dst := l.path(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil, fmt.Errorf("store: upload %s: %w", clip(key), err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	f, err := os.OpenFile(filepath.Join(filepath.Dir(dst), uploadPrefix(dst)+hex.EncodeToString(rnd[:])), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: upload %s: %w", clip(key), err)
	}
	return &localUpload{key: key, dst: dst, f: f}, nil
}

// AbortUploads implements Multipart: the temporary files of key's uploads are removed.
func (l *Local) AbortUploads(ctx context.Context, key string) error {
	if err := l.checkKey(key); err != nil {
		return fmt.Errorf("store: abort uploads %s: %w", clip(key), err)
	}
	dst := l.path(key)
	names, err := filepath.Glob(filepath.Join(filepath.Dir(dst), uploadPrefix(dst)+"*"))
	if err != nil {
		return fmt.Errorf("store: abort uploads %s: %w", clip(key), err)
	}
	for _, n := range names {
		if err := os.Remove(n); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: abort uploads %s: %w", clip(key), err)
		}
	}
	return nil
}

type localUpload struct {
	key, dst string
	parts    partList
	mu       sync.Mutex
	f        *os.File // nil once completed or aborted
}

func (u *localUpload) PutPart(ctx context.Context, n int, off int64, r io.Reader, size int64) error {
	if err := u.parts.check(n, off, size); err != nil {
		return fmt.Errorf("store: upload %s: %w", clip(u.key), err)
	}
	u.mu.Lock()
	f := u.f
	u.mu.Unlock()
	if f == nil {
		return fmt.Errorf("store: upload %s: part %d: the upload has ended", clip(u.key), n)
	}
	got, err := io.Copy(io.NewOffsetWriter(f, off), io.LimitReader(ctxReader{ctx, r}, size+1))
	if err == nil && got != size {
		err = fmt.Errorf("size mismatch: reader gave %d bytes, expected %d", got, size)
	}
	if err != nil {
		return fmt.Errorf("store: upload %s: part %d: %w", clip(u.key), n, err)
	}
	u.parts.add(n, off, size)
	return nil
}

func (u *localUpload) Complete(ctx context.Context) error {
	parts, err := u.parts.sorted()
	if err == nil {
		err = ctx.Err()
	}
	u.mu.Lock()
	f := u.f
	u.f = nil
	u.mu.Unlock()
	if f == nil {
		return fmt.Errorf("store: upload %s: the upload has ended", clip(u.key))
	}
	if err == nil {
		last := parts[len(parts)-1]
		err = f.Truncate(last.off + last.size) // a part put again shorter leaves no tail behind
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), u.dst)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("store: upload %s: %w", clip(u.key), err)
	}
	return nil
}

func (u *localUpload) Abort(context.Context) error {
	u.mu.Lock()
	f := u.f
	u.f = nil
	u.mu.Unlock()
	if f == nil {
		return nil
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: upload %s: abort: %w", clip(u.key), err)
	}
	return nil
}
